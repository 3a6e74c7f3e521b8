"""Result objects shared by all estimators, so notebooks and the pipeline handle them alike."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Number
from typing import Any

import numpy as np
import pandas as pd

_CORE = (
    "estimand",
    "outcome",
    "estimate",
    "std_error",
    "ci_low",
    "ci_high",
    "p_value",
    "n_treated",
    "n_control",
    "n_obs",
    "n_units",
    "df_resid",
    "method",
)


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, (bool, np.bool_)):
        return str(bool(v))
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        if not math.isfinite(v):
            return "nan"
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e6):
            return f"{v:.{digits - 1}e}"
        return f"{v:.{digits}f}"
    return str(v)


def _is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (str, bool, np.bool_, Number, np.number))


def flatten_scalars(d: dict, prefix: str = "") -> dict:
    """Scalar entries of a (nested) dict as `parent_child` keys; lists, arrays and frames are skipped."""
    out: dict = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_scalars(v, prefix=f"{key}_"))
        elif _is_scalar(v):
            out[key] = v.item() if isinstance(v, np.generic) else v
    return out


@dataclass(repr=False)
class WaldTest:
    """Joint test that a set of coefficients is zero (F with df/df_denom, or chi2 when df_denom is None)."""

    statistic: float
    df: int
    p_value: float
    df_denom: float | None = None
    distribution: str = "F"
    chi2_statistic: float = float("nan")
    chi2_p_value: float = float("nan")
    hypothesis: str = ""

    def __str__(self) -> str:
        dfs = f"{self.df}" if self.df_denom is None else f"{self.df}, {_fmt(self.df_denom, 0)}"
        return (
            f"{self.hypothesis}: {self.distribution}({dfs}) = {_fmt(self.statistic)}, "
            f"p = {_fmt(self.p_value)}"
        )

    __repr__ = __str__


@dataclass(repr=False)
class EffectResult:
    """Headline effect, 95% interval, counts for disclosure control, and estimator diagnostics."""

    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    n_treated: int
    n_control: int
    n_obs: int
    n_units: int | None
    df_resid: float | None
    method: str
    estimand: str
    outcome: str
    diagnostics: dict = field(default_factory=dict)

    _title = "Effect estimate"
    _treated_label = "n treated"
    _control_label = "n control"

    def _header(self) -> str:
        return f"{self._title} ({self.estimand}) on '{self.outcome}'"

    def _extra_lines(self) -> list[str]:
        return []

    def summary(self) -> str:
        lines = [
            self._header(),
            f"Method: {self.method}",
            "-" * 72,
            f"  estimate   {_fmt(self.estimate):>12}    std. error {_fmt(self.std_error):>12}",
            f"  95% CI     [{_fmt(self.ci_low)}, {_fmt(self.ci_high)}]    p-value {_fmt(self.p_value)}",
            f"  {self._treated_label} {_fmt(self.n_treated)}   {self._control_label} {_fmt(self.n_control)}"
            f"   n obs {_fmt(self.n_obs)}   n units {_fmt(self.n_units)}   df resid {_fmt(self.df_resid, 0)}",
        ]
        lines += self._extra_lines()
        diag = flatten_scalars(self.diagnostics)
        if diag:
            lines.append("Diagnostics:")
            width = max(len(k) for k in diag)
            lines += [f"  {k:<{width}}  {_fmt(v)}" for k, v in diag.items()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(estimand={self.estimand!r}, estimate={self.estimate:.4g}, "
            f"std_error={self.std_error:.4g}, n_obs={self.n_obs})"
        )

    def _frame_extra(self) -> dict:
        return {}

    def to_frame(self) -> pd.DataFrame:
        """One row: the core fields, then every scalar diagnostic (nested dicts as `key_sub`)."""
        row = {k: getattr(self, k) for k in _CORE}
        row.update(self._frame_extra())
        for k, v in flatten_scalars(self.diagnostics).items():
            row[k if k not in row else f"diag_{k}"] = v
        return pd.DataFrame([row])


@dataclass(repr=False)
class TreatmentEffectResult(EffectResult):
    """Binary-treatment effect (ATT/ATE) from AIPW, IPW, regression adjustment or a raw comparison."""

    treatment: str = ""
    _title = "Treatment effect"

    def _header(self) -> str:
        return f"{self._title} ({self.estimand}) of '{self.treatment}' on '{self.outcome}'"


@dataclass(repr=False)
class DiscontinuityResult(EffectResult):
    """RD jump at the cutoff; n_treated/n_control count observations right/left within the bandwidth.

    ``estimate`` is bias-corrected and ``std_error``, the interval and ``p_value`` are the robust ones
    around it; the conventional estimate (biased at the MSE-optimal bandwidth) and its SE are kept
    for comparison.
    """

    running: str = ""
    cutoff: float = float("nan")
    _title = "Regression discontinuity"
    _treated_label = "n right (>= cutoff)"
    _control_label = "n left"

    @property
    def estimate_conventional(self) -> float:
        return float(self.diagnostics.get("estimate_conventional", float("nan")))

    @property
    def std_error_conventional(self) -> float:
        return float(self.diagnostics.get("std_error_conventional", float("nan")))

    def _header(self) -> str:
        return f"{self._title} ({self.estimand}) in '{self.outcome}' at {self.running} = {self.cutoff:g}"

    def _extra_lines(self) -> list[str]:
        return [
            f"  (bias-corrected estimate, robust SE; conventional estimate "
            f"{_fmt(self.estimate_conventional)}, conventional SE {_fmt(self.std_error_conventional)})"
        ]


@dataclass(repr=False)
class EventStudyResult(EffectResult):
    """Event-time coefficients relative to the reference period, with a joint pre-trend test."""

    coefficients: pd.DataFrame = field(default_factory=pd.DataFrame)
    pretrend_test: WaldTest | None = None
    _title = "Event study"

    def _extra_lines(self) -> list[str]:
        lines = []
        if self.pretrend_test is not None:
            lines.append(f"  Pre-trend test: {self.pretrend_test}")
        if len(self.coefficients):
            lines.append("Event-time coefficients:")
            tab = self.coefficients.copy()
            lines += [
                "  " + s for s in tab.to_string(float_format=lambda v: f"{v:.4f}").splitlines()
            ]
        return lines

    def _frame_extra(self) -> dict:
        t = self.pretrend_test
        if t is None:
            return {}
        return {
            "pretrend_statistic": t.statistic,
            "pretrend_df": t.df,
            "pretrend_df_denom": t.df_denom,
            "pretrend_p_value": t.p_value,
        }
