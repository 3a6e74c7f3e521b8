"""Staggered difference-in-differences (Callaway & Sant'Anna 2021, *Difference-in-Differences with
Multiple Time Periods*, J. Econometrics 225(2)).

A port of the authors' R packages: `did` (att_gt / compute.att_gt for the group-time effects,
aggte / compute.aggte for the aggregations, the Wald pre-test of att_gt) and `DRDID` (drdid_panel,
the doubly robust 2x2 that `did` runs per cell for est_method = "dr"; reg_did_panel for "reg").
Inference is did's analytic path (bstrap = FALSE): every ATT(g,t) has an influence function per
unit, the aggregations combine them (with the extra term for the estimated cohort-share weights),
and standard errors are sqrt(sum of squared cluster sums) / n, without a small-sample factor, as in
did. With the default cluster (the unit) every number equals did's on a balanced panel.

Differences from did, all chosen so the exemption design (monthly cohorts x ~100 months) runs in
seconds: ``event_window`` computes only the cells with t - g inside it (the aggregations then use
those cells, like aggte's min_e / max_e), and without covariates the 2x2s are computed for all
cells at once. Units missing a period enter the 2x2s whose two periods they are observed in
(on a balanced panel this changes nothing; did would drop them or switch to its repeated
cross-section estimator).

Pre-tests: ``pretrend_test`` is did's Wald test that every pre-treatment ATT(g,t) is zero. Its
covariance is estimated from the clusters, so with hundreds of cells it over-rejects: on the
exemption's design (708 pre-treatment cells, 6,330 parents) pure noise gave chi2(708) of 824-929,
p = 4e-8 to 0.002, in five of five draws. The dynamic aggregation's ``pretrend_test`` (the pre-treatment
event times jointly, a dozen restrictions) kept its size there (p = 0.06-0.80) and is the one to read
when cells are many; ``pretrend_restrictions_per_cluster`` in the diagnostics says how many that is.
For a Rambachan-Roth sensitivity analysis use base_period="universal" (as HonestDiD does with did) and
``AggregatedEffect.event_time_inputs()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from . import _validation as V
from .results import EffectResult, WaldTest

CONTROL_GROUPS = {
    "never_treated": "never_treated",
    "nevertreated": "never_treated",
    "not_yet_treated": "not_yet_treated",
    "notyettreated": "not_yet_treated",
}
AGGREGATIONS = ("simple", "dynamic", "group", "calendar")
_ZERO_SE = (
    np.sqrt(np.finfo(float).eps) * 10
)  # did's threshold below which a standard error is "zero" (NA)
_CHUNK_BYTES = 64 * 2**20  # working memory per block of cells in the vectorised path


# ---------------------------------------------------------------------------------------------
# The 2x2 estimators of DRDID (panel data), returning the ATT and its influence function


def _logit(
    X: np.ndarray, d: np.ndarray, max_iter: int = 50, tol: float = 1e-10
) -> tuple[np.ndarray, bool]:
    """Maximum-likelihood logistic regression by Newton steps (what fastglm fits in drdid_panel)."""
    beta = np.zeros(X.shape[1])
    for _ in range(max_iter):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ beta, -35, 35)))
        w = p * (1 - p)
        step = np.linalg.solve(X.T @ (w[:, None] * X), X.T @ (d - p))
        beta += step
        if np.max(np.abs(step)) < tol:
            return beta, True
    return beta, False


def _ols(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    XtX = X.T @ X
    if np.linalg.cond(XtX) > 1 / np.finfo(float).eps:
        raise np.linalg.LinAlgError(
            "the outcome regression on the controls is singular; remove collinear covariates"
        )
    return np.linalg.solve(XtX, X.T @ y)


def drdid_panel(
    dy: np.ndarray, d: np.ndarray, X: np.ndarray, trim_level: float = 0.995
) -> tuple[float, np.ndarray]:
    """Sant'Anna & Zhao (2020) doubly robust DiD for panel data: DRDID::drdid_panel (unit weights).

    dy: change in the outcome, d: 1 for the treated cohort, X: covariates with an intercept column.
    Returns the ATT and its influence function (one value per row, mean zero).
    """
    n = len(d)
    gamma, converged = _logit(X, d)
    ps = 1.0 / (1.0 + np.exp(-np.clip(X @ gamma, -35, 35)))
    ps = np.minimum(ps, 1 - 1e-6)
    trim = np.where(d == 1, True, ps < trim_level)
    W = ps * (1 - ps)
    ctrl = d == 0
    beta = _ols(X[ctrl], dy[ctrl])
    out_delta = X @ beta
    w_treat = trim * d
    w_cont = trim * ps * (1 - d) / (1 - ps)
    att_treat, att_cont = w_treat * (dy - out_delta), w_cont * (dy - out_delta)
    eta_treat = att_treat.mean() / w_treat.mean()
    eta_cont = att_cont.mean() / w_cont.mean()
    wols_x = (1 - d)[:, None] * X
    asy_wols = ((1 - d) * (dy - out_delta))[:, None] * X @ np.linalg.inv(wols_x.T @ X / n)
    score_ps = (d - ps)[:, None] * X
    asy_ps = score_ps @ (np.linalg.inv(X.T @ (W[:, None] * X)) * n)
    m1 = (w_treat[:, None] * X).mean(axis=0)
    inf_treat = (att_treat - w_treat * eta_treat - asy_wols @ m1) / w_treat.mean()
    m2 = (w_cont * (dy - out_delta - eta_cont))[:, None] * X
    inf_cont = (
        att_cont
        - w_cont * eta_cont
        + asy_ps @ m2.mean(axis=0)
        - asy_wols @ (w_cont[:, None] * X).mean(axis=0)
    ) / w_cont.mean()
    if not converged:
        raise np.linalg.LinAlgError("the propensity score model did not converge")
    return float(eta_treat - eta_cont), inf_treat - inf_cont


def reg_did_panel(dy: np.ndarray, d: np.ndarray, X: np.ndarray) -> tuple[float, np.ndarray]:
    """Heckman, Ichimura & Todd outcome-regression DiD for panel data: DRDID::reg_did_panel."""
    n = len(d)
    ctrl = d == 0
    beta = _ols(X[ctrl], dy[ctrl])
    out_delta = X @ beta
    eta_treat = (d * dy).mean() / d.mean()
    eta_cont = (d * out_delta).mean() / d.mean()
    wols_x = (1 - d)[:, None] * X
    asy_ols = ((1 - d) * (dy - out_delta))[:, None] * X @ np.linalg.inv(wols_x.T @ X / n)
    inf_treat = (d * dy - d * eta_treat) / d.mean()
    inf_cont = (d * out_delta - d * eta_cont + asy_ols @ (d[:, None] * X).mean(axis=0)) / d.mean()
    return float(eta_treat - eta_cont), inf_treat - inf_cont


_TWO_BY_TWO = {"dr": drdid_panel, "reg": reg_did_panel}


# ---------------------------------------------------------------------------------------------
# Results


def _se(psi: np.ndarray, clusters: np.ndarray, n: int) -> np.ndarray:
    """did's getSE for one or more influence functions (columns): sqrt(sum of squared cluster sums) / n."""
    psi = psi if psi.ndim == 2 else psi[:, None]
    sums = _cluster_sums(psi, clusters)
    se = np.sqrt(np.einsum("ij,ij->j", sums, sums)) / n
    return np.where(se <= _ZERO_SE, np.nan, se)


def _cluster_sums(psi: np.ndarray, clusters: np.ndarray) -> np.ndarray:
    g = int(clusters.max()) + 1
    if g == len(clusters) and np.array_equal(clusters, np.arange(g)):  # one unit per cluster
        return psi
    n = len(clusters)
    S = sp.csr_matrix((np.ones(n), (clusters, np.arange(n))), shape=(g, n))
    return np.asarray(S @ psi)


def _ci(est, se, level):
    q = stats.norm.ppf(1 - (1 - level) / 2)
    est, se = np.asarray(est, dtype=float), np.asarray(se, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2 * stats.norm.sf(np.abs(est / se))
    return est - q * se, est + q * se, p


def _wald(
    b: np.ndarray, psi: np.ndarray, clusters: np.ndarray, n: int, hypothesis: str
) -> tuple[WaldTest | None, str]:
    """did's pre-test: W = b' V^-1 b with V the (cluster) influence-function covariance, chi2(q).

    None with the reason when did would not report it (no cells, a zero variance, a singular V)."""
    if len(b) == 0:
        return None, "no pre-treatment cells"
    sums = _cluster_sums(psi, clusters)
    Vb = sums.T @ sums / n**2
    if np.isnan(Vb).any():
        return None, "a pre-treatment cell has no variance"
    if 1 / np.linalg.cond(Vb) <= np.finfo(float).eps:
        return None, (
            f"the covariance of the {len(b)} pre-treatment estimates is singular "
            f"({sums.shape[0]} clusters)"
        )
    W = float(b @ np.linalg.solve(Vb, b))
    q = len(b)
    return WaldTest(
        statistic=W,
        df=q,
        p_value=float(stats.chi2.sf(W, q)),
        df_denom=None,
        distribution="chi2",
        chi2_statistic=W,
        chi2_p_value=float(stats.chi2.sf(W, q)),
        hypothesis=hypothesis,
    ), ""


@dataclass(repr=False)
class AggregatedEffect:
    """An aggregation of the ATT(g,t) (aggte): the overall effect, the per event time / cohort /
    period table, its joint covariance (`vcov`, rows and columns as the table) and the influence
    functions behind both (n units x (rows + 1), the last column the overall effect)."""

    kind: str
    overall: EffectResult
    table: pd.DataFrame
    vcov: pd.DataFrame
    influence: np.ndarray = field(repr=False)
    pretrend_test: WaldTest | None = None

    def __str__(self) -> str:
        lines = [
            self.overall.summary(),
            f"{self.kind} aggregation:",
            *(
                "  " + s
                for s in self.table.to_string(float_format=lambda v: f"{v:.4f}").splitlines()
            ),
        ]
        if self.pretrend_test is not None:
            lines.append(f"  Joint test of the pre-treatment event times: {self.pretrend_test}")
        return "\n".join(lines)

    __repr__ = __str__

    def event_time_inputs(self) -> tuple[np.ndarray, np.ndarray, int, int]:
        """(betahat, sigma, num_pre_periods, num_post_periods) for a Rambachan-Roth sensitivity analysis:
        the dynamic estimates and their covariance without the reference period (universal base: its
        estimate is 0 by construction) and with pre-periods first."""
        if self.kind != "dynamic":
            raise ValueError("event-time inputs need the dynamic aggregation")
        keep = self.table["std_error"].notna().to_numpy()
        e = self.table.index.to_numpy()[keep]
        return (
            self.table["estimate"].to_numpy()[keep],
            self.vcov.to_numpy()[np.ix_(keep, keep)],
            int((e < 0).sum()),
            int((e >= 0).sum()),
        )


@dataclass(repr=False)
class StaggeredDiDResult:
    """Group-time average treatment effects ATT(g,t) with their influence functions."""

    outcome: str
    group_time: pd.DataFrame
    influence: np.ndarray = field(repr=False)  # n units x cells
    cohort_of_unit: np.ndarray = field(
        repr=False
    )  # 0 = never treated (or treated after the last period)
    clusters: np.ndarray = field(repr=False)
    in_treated: np.ndarray = field(
        repr=False
    )  # n units x cells: the unit is in the cell's treated arm
    in_control: np.ndarray = field(repr=False)
    cell_weights: np.ndarray = field(repr=False)  # each cell's cohort share (aggte's pg)
    pretrend_test: WaldTest | None
    settings: dict
    diagnostics: dict = field(default_factory=dict)
    level: float = 0.95

    @property
    def n_units(self) -> int:
        return len(self.cohort_of_unit)

    def __str__(self) -> str:
        cols = [
            "cohort",
            "time",
            "estimate",
            "std_error",
            "ci_low",
            "ci_high",
            "n_treated",
            "n_control",
        ]
        gt, s = self.group_time[cols], self.settings
        lines = [
            f"Group-time average treatment effects on '{self.outcome}' (Callaway & Sant'Anna 2021)",
            f"  control group: {s['control_group']}, base period: {s['base_period']}, "
            f"estimator: {s['est_method']}, {self.n_units} units, {len(gt)} cells",
            *(
                "  " + r
                for r in gt.to_string(index=False, float_format="{:.4f}".format).splitlines()
            ),
        ]
        if self.pretrend_test is not None:
            lines.append(f"  Pre-test of parallel trends: {self.pretrend_test}")
        return "\n".join(lines)

    __repr__ = __str__

    # -- aggregation (compute.aggte) ------------------------------------------------------------

    def _wif(
        self, cells: np.ndarray, pg: np.ndarray, att: np.ndarray, cohorts: np.ndarray
    ) -> np.ndarray:
        """did's wif %*% att: the influence of estimating the weights pg (cohort shares) themselves."""
        spg = pg.sum()
        centered = (self.cohort_of_unit[:, None] == cohorts[None, :]).astype(float) - pg[None, :]
        return centered @ att / spg - centered.sum(axis=1) * (pg @ att) / spg**2

    def _combine(
        self, cells: np.ndarray, weights: np.ndarray, with_wif: bool
    ) -> tuple[float, np.ndarray]:
        gt = self.group_time
        att = gt["estimate"].to_numpy()[cells]
        pg = self.cell_weights[cells]
        est = float(weights @ att)
        psi = self.influence[:, cells] @ weights
        if with_wif:
            psi = psi + self._wif(cells, pg, att, gt["cohort"].to_numpy()[cells])
        return est, psi

    def _arms(self, cells: np.ndarray) -> tuple[int, int]:
        """Distinct units in the treated and in the control arm of any of these cells."""
        if len(cells) == 0:
            return 0, 0
        return (
            int(self.in_treated[:, cells].any(axis=1).sum()),
            int(self.in_control[:, cells].any(axis=1).sum()),
        )

    def aggregate(self, kind: str = "dynamic", na_rm: bool = False) -> AggregatedEffect:
        """aggte(type = kind): "simple", "dynamic" (event study), "group" (per cohort) or "calendar".

        na_rm: leave out the ATT(g,t) that could not be estimated (aggte's na.rm; for "group" a cohort
        with any such post-treatment cell is left out whole, as aggte does); otherwise they are an error."""
        if kind not in AGGREGATIONS:
            raise ValueError(f"unknown aggregation {kind!r}; choose from {', '.join(AGGREGATIONS)}")
        gt = self.group_time
        g, t, pg = gt["cohort"].to_numpy(), gt["time"].to_numpy(), self.cell_weights
        e = gt["event_time"].to_numpy()
        usable = gt["estimate"].notna().to_numpy()
        if not usable.all() and not na_rm:
            raise ValueError(
                f"{int((~usable).sum())} ATT(g,t) could not be estimated (see "
                "group_time['failure']); aggregate with na_rm=True to leave them out"
            )
        if kind == "group":
            bad = np.unique(g[~usable & (g <= t)])
            usable &= ~np.isin(g, bad)
        g, t, e = (
            np.where(usable, g, np.nan),
            np.where(usable, t, np.nan),
            np.where(usable, e, np.nan),
        )
        post = np.flatnonzero(usable & (g <= t))
        if len(post) == 0:
            raise ValueError("no post-treatment cells (t >= g) to aggregate")
        psis, ests, arms, keys = [], [], [], []

        if kind == "simple":
            w = pg[post] / pg[post].sum()
            est, psi = self._combine(post, w, True)
            overall_cells = post
        elif kind == "dynamic":
            for k in np.unique(e[usable]):
                cells = np.flatnonzero(e == k)
                est_k, psi_k = self._combine(cells, pg[cells] / pg[cells].sum(), True)
                (
                    keys.append(int(k)),
                    ests.append(est_k),
                    psis.append(psi_k),
                    arms.append(self._arms(cells)),
                )
            keys_a = np.array(keys)
            pos = keys_a >= 0
            est = float(np.mean(np.array(ests)[pos]))
            psi = np.column_stack(psis)[:, pos].mean(axis=1)
            overall_cells = post
        elif kind == "group":
            cohorts = np.unique(g[post])
            for c in cohorts:
                cells = post[g[post] == c]
                est_c, psi_c = self._combine(cells, np.full(len(cells), 1 / len(cells)), False)
                (
                    keys.append(c),
                    ests.append(est_c),
                    psis.append(psi_c),
                    arms.append(self._arms(cells)),
                )
            pgg = np.array([pg[g == c][0] for c in cohorts])
            att_g = np.array(ests)
            est = float(att_g @ pgg / pgg.sum())
            psi = np.column_stack(psis) @ (pgg / pgg.sum())
            spg = pgg.sum()
            centered = (self.cohort_of_unit[:, None] == cohorts[None, :]).astype(float) - pgg[
                None, :
            ]
            psi = psi + centered @ att_g / spg - centered.sum(axis=1) * (pgg @ att_g) / spg**2
            overall_cells = post
        else:  # calendar
            for tt in np.unique(t[post]):
                cells = post[t[post] == tt]
                est_t, psi_t = self._combine(cells, pg[cells] / pg[cells].sum(), True)
                (
                    keys.append(tt),
                    ests.append(est_t),
                    psis.append(psi_t),
                    arms.append(self._arms(cells)),
                )
            est = float(np.mean(ests))
            psi = np.column_stack(psis).mean(axis=1)
            overall_cells = post

        n = self.n_units
        se = float(_se(psi, self.clusters, n)[0])
        lo, hi, p = _ci(est, se, self.level)
        n_t, n_c = self._arms(overall_cells)
        index_name = {"dynamic": "event_time", "group": "cohort", "calendar": "time"}.get(kind)
        columns = [
            "estimate",
            "std_error",
            "ci_low",
            "ci_high",
            "p_value",
            "n_treated",
            "n_control",
        ]
        table = pd.DataFrame(columns=columns, index=pd.Index(keys, name=index_name))
        pretrend = None
        if keys:
            P = np.column_stack(psis)
            sums = _cluster_sums(P, self.clusters)
            vc = sums.T @ sums / n**2
            se_k = _se(P, self.clusters, n)
            lo_k, hi_k, p_k = _ci(ests, se_k, self.level)
            table = pd.DataFrame(
                {
                    "estimate": ests,
                    "std_error": se_k,
                    "ci_low": lo_k,
                    "ci_high": hi_k,
                    "p_value": p_k,
                    "n_treated": [a[0] for a in arms],
                    "n_control": [a[1] for a in arms],
                },
                index=table.index,
            )
            vcov = pd.DataFrame(vc, index=table.index, columns=table.index)
            if kind == "dynamic":
                pre = np.flatnonzero((np.array(keys) < 0) & np.isfinite(se_k))
                pretrend, _ = _wald(
                    np.array(ests)[pre],
                    P[:, pre],
                    self.clusters,
                    n,
                    f"all {len(pre)} pre-treatment event-time effects = 0",
                )
            influence = np.column_stack([P, psi])
        else:
            vcov = pd.DataFrame()
            influence = psi[:, None]
        diag = {
            "aggregation": kind,
            "n_cells": int(len(overall_cells)),
            "n_rows": len(keys),
            "n_cells_left_out": int((~usable).sum()),
            "n_cohorts": int(len(np.unique(g[post]))),
            "n_clusters": int(self.clusters.max()) + 1,
            **self.diagnostics,
        }
        if self.pretrend_test is not None:
            pt = self.pretrend_test
            diag.update(
                pretrend_cells_chi2=pt.statistic,
                pretrend_cells_df=pt.df,
                pretrend_cells_p_value=pt.p_value,
            )
        else:
            diag["pretrend_cells_unavailable"] = self.diagnostics.get("pretrend_unavailable", "")
        if pretrend is not None:
            diag.update(
                pretrend_event_chi2=pretrend.statistic,
                pretrend_event_df=pretrend.df,
                pretrend_event_p_value=pretrend.p_value,
            )
        estimand = {
            "simple": "ATT (cohort-size weighted average of the post-treatment ATT(g,t))",
            "dynamic": "ATT averaged over event times 0..max (event study)",
            "group": "ATT averaged over cohorts (cohort-size weights)",
            "calendar": "ATT averaged over calendar periods",
        }[kind]
        s = self.settings
        method = (
            f"Callaway & Sant'Anna (2021) staggered DiD, {s['est_method'].upper()} 2x2 per cell "
            f"({'covariates ' + ', '.join(s['covariates']) if s['covariates'] else 'no covariates'}), "
            f"{s['control_group'].replace('_', '-')} controls, {s['base_period']} base period"
            + (", event times {}..{}".format(*s["event_window"]) if s["event_window"] else "")
            + f"; aggte '{kind}' with influence functions (weights' estimation included), "
            f"clustered by {s['cluster']}"
        )
        overall = EffectResult(
            estimate=est,
            std_error=se,
            ci_low=float(lo),
            ci_high=float(hi),
            p_value=float(p),
            n_treated=n_t,
            n_control=n_c,
            n_obs=int(self.diagnostics.get("n_obs", 0)),
            n_units=n,
            df_resid=None,
            method=method,
            estimand=estimand,
            outcome=self.outcome,
            diagnostics=diag,
        )
        return AggregatedEffect(kind, overall, table, vcov, influence, pretrend)


# ---------------------------------------------------------------------------------------------
# Estimation (att_gt / compute.att_gt)


def _cells(
    tlist: np.ndarray, glist: np.ndarray, base_period: str, window
) -> list[tuple[float, int, int]]:
    """(cohort, index of t, index of the base period) for every cell att_gt estimates."""
    out = []
    for g in glist:
        before = np.flatnonzero(tlist < g)
        if len(before) == 0:
            continue
        pret_g = before[-1]
        for ti in range(len(tlist)):
            if base_period == "varying":
                if ti == 0:
                    continue
                base = ti - 1 if tlist[ti] < g else pret_g
            else:
                base = pret_g
            if window is not None and not window[0] <= tlist[ti] - g <= window[1]:
                continue
            out.append((g, ti, base))
    return out


def estimate_staggered_did(
    df: pd.DataFrame,
    outcome: str,
    unit: str,
    time: str,
    cohort: str,
    covariates: Sequence[str] | None = None,
    control_group: str = "never_treated",
    cluster: str | None = None,
    *,
    base_period: str = "varying",
    event_window: tuple[int, int] | None = None,
    est_method: str = "dr",
    level: float = 0.95,
) -> StaggeredDiDResult:
    """ATT(g,t) for every cohort g (first treated period; 0 = never treated) and period t.

    df: long panel, one row per unit and period. cohort: constant per unit; a cohort after the last
    period counts as never treated and one at or before the first period is dropped (did's rules).
    control_group: "never_treated" or "not_yet_treated" (units not treated by max(t, base period)).
    base_period: "varying" (did's default: pre-treatment cells compare t with t-1) or "universal"
    (every cell against g-1, whose own cell is 0). event_window: (lo, hi) event times t - g to
    compute, in the units of `time`; None computes every cell. covariates: read at the earlier of
    the two periods of each 2x2 (did's rule), adjusted for by est_method "dr" (drdid_panel) or "reg".
    cluster: a column constant within unit; None clusters by unit (did's analytic default).
    """
    V.check_dataframe(df)
    covs = V.as_list(covariates)
    if control_group not in CONTROL_GROUPS:
        raise ValueError(
            f"control_group must be 'never_treated' or 'not_yet_treated', got {control_group!r}"
        )
    control_group = CONTROL_GROUPS[control_group]
    if base_period not in ("varying", "universal"):
        raise ValueError(f"base_period must be 'varying' or 'universal', got {base_period!r}")
    if est_method not in _TWO_BY_TWO:
        raise ValueError(f"est_method must be 'dr' or 'reg', got {est_method!r}")
    if event_window is not None:
        event_window = (int(event_window[0]), int(event_window[1]))
        if event_window[0] > event_window[1]:
            raise ValueError(f"event_window {event_window} must be (low, high) with low <= high")
    cluster_col = unit if cluster is None else cluster
    ids = [unit] + ([cluster] if cluster not in (None, unit) else [])
    V.check_columns(df, [outcome, time, cohort, *covs, *ids])
    arrays = {c: V.numeric_column(df, c) for c in [outcome, time, cohort, *covs]}
    V.check_finite(arrays, len(df))
    ucodes = V.group_codes(df, unit)
    n = int(ucodes.max()) + 1
    tvals = arrays[time]
    tlist = np.unique(tvals)
    if len(tlist) < 2:
        raise ValueError(
            f"'{time}' has {len(tlist)} period(s); a difference-in-differences needs at least 2"
        )
    tcodes = np.searchsorted(tlist, tvals)
    if pd.Series(ucodes * len(tlist) + tcodes).duplicated().any():
        raise ValueError(
            f"more than one row for some ({unit}, {time}) pairs; "
            "the panel needs one row per unit and period"
        )

    def per_unit(values: np.ndarray, name: str) -> np.ndarray:
        first = np.full(n, np.nan)
        first[ucodes[::-1]] = values[::-1]
        if np.any(values != first[ucodes]):
            raise ValueError(f"'{name}' must be constant within each {unit}")
        return first

    g_unit = per_unit(arrays[cohort], cohort)
    if np.any(g_unit < 0):
        raise ValueError(f"'{cohort}' must be 0 (never treated) or the first treated period")
    ccodes = ucodes if cluster_col == unit else V.group_codes(df, cluster_col)
    cl_unit = per_unit(ccodes.astype(float), cluster_col).astype(np.int64)
    never_rule = g_unit > tlist[-1]
    g_unit = np.where(never_rule, 0.0, g_unit)
    always = (g_unit > 0) & (g_unit <= tlist[0])
    keep_unit = ~always
    if not keep_unit.all():  # did drops units already treated in the first period
        old = np.flatnonzero(keep_unit)
        remap = np.full(n, -1)
        remap[old] = np.arange(len(old))
        rows = keep_unit[ucodes]
        ucodes, tcodes = remap[ucodes[rows]], tcodes[rows]
        arrays = {k: v[rows] for k, v in arrays.items()}
        g_unit, cl_unit = g_unit[keep_unit], cl_unit[keep_unit]
        n = len(g_unit)
    _, cl_unit = np.unique(cl_unit, return_inverse=True)
    if n < 2:
        raise ValueError("fewer than 2 units left")
    T = len(tlist)
    Y = np.full((n, T), np.nan)
    Y[ucodes, tcodes] = arrays[outcome]
    X = None
    if covs:
        X = np.full((n, T, len(covs) + 1), np.nan)
        X[:, :, 0] = 1.0
        for j, c in enumerate(covs):
            X[ucodes, tcodes, j + 1] = arrays[c]
    obs = ~np.isnan(Y)
    glist = np.unique(g_unit[g_unit > 0])
    if len(glist) == 0:
        raise ValueError(f"no treated cohort: every unit has '{cohort}' 0 or after the last period")
    if control_group == "never_treated" and not np.any(g_unit == 0):
        raise ValueError(
            "no never-treated units (cohort 0 or after the last period); "
            "use control_group='not_yet_treated'"
        )
    cells = _cells(tlist, glist, base_period, event_window)
    if not cells:
        raise ValueError(f"no (cohort, period) cell lies inside event_window {event_window}")
    cg = np.array([c[0] for c in cells])
    cti = np.array([c[1] for c in cells])
    cbi = np.array([c[2] for c in cells])
    ct, cb = tlist[cti], tlist[cbi]
    threshold = np.maximum(ct, cb)

    def arms(sl: slice) -> tuple[np.ndarray, np.ndarray]:
        both = obs[:, cti[sl]] & obs[:, cbi[sl]]
        treated = (g_unit[:, None] == cg[None, sl]) & both
        if control_group == "never_treated":
            control = (g_unit == 0)[:, None] & both
        else:
            control = (
                (g_unit[:, None] == 0)
                | ((g_unit[:, None] > threshold[None, sl]) & (g_unit[:, None] != cg[None, sl]))
            ) & both
        return treated, control

    k = len(cells)
    att = np.full(k, np.nan)
    psi = np.zeros((n, k))
    in_t = np.zeros((n, k), dtype=bool)
    in_c = np.zeros((n, k), dtype=bool)
    failure = np.full(k, "", dtype=object)
    universal_ref = (base_period == "universal") & (cti == cbi)
    step = max(1, _CHUNK_BYTES // (8 * n * 6))
    for start in range(0, k, step):
        sl = slice(start, min(start + step, k))
        tr, co = arms(sl)
        in_t[:, sl], in_c[:, sl] = tr, co
        dy = Y[:, cti[sl]] - Y[:, cbi[sl]]
        n_t, n_c = tr.sum(axis=0), co.sum(axis=0)
        if X is None:
            with np.errstate(invalid="ignore", divide="ignore"):
                m_t = np.where(tr, dy, 0).sum(axis=0) / n_t
                m_c = np.where(co, dy, 0).sum(axis=0) / n_c
                att[sl] = m_t - m_c
                # drdid_panel without covariates, scaled by n / n1 as compute.att_gt does
                psi[:, sl] = np.where(tr, n * (dy - m_t) / n_t, 0) - np.where(
                    co, n * (dy - m_c) / n_c, 0
                )
            continue
        for j in range(sl.start, sl.stop):
            jj = j - sl.start
            if n_t[jj] == 0 or n_c[jj] == 0 or universal_ref[j]:
                continue
            rows = np.flatnonzero(tr[:, jj] | co[:, jj])
            Xc = X[rows, min(cti[j], cbi[j])]
            try:
                a, inf = _TWO_BY_TWO[est_method](dy[rows, jj], tr[rows, jj].astype(float), Xc)
            except np.linalg.LinAlgError as err:
                failure[j] = str(err)
                continue
            att[j] = a
            psi[rows, j] = inf * n / len(rows)
    n_t_all, n_c_all = in_t.sum(axis=0), in_c.sum(axis=0)
    no_control = (n_t_all > 0) & (n_c_all == 0) & ~universal_ref
    failure[no_control] = "no control units observed in both periods"
    att[no_control] = np.nan
    att[universal_ref] = 0.0
    psi[:, universal_ref] = 0.0
    psi[:, np.isnan(att)] = 0.0
    # a cohort not observed in a cell's periods (an unbalanced panel's edges) has no such cell
    seen = (n_t_all > 0) | universal_ref
    n_unobserved = int((~seen).sum())
    if not seen.any():
        raise ValueError("no cohort is observed in both periods of any of its cells")
    if n_unobserved:
        cg, ct, cb, att, psi, in_t, in_c, failure = (
            cg[seen],
            ct[seen],
            cb[seen],
            att[seen],
            psi[:, seen],
            in_t[:, seen],
            in_c[:, seen],
            failure[seen],
        )
        n_t_all, n_c_all, k = n_t_all[seen], n_c_all[seen], int(seen.sum())

    se = _se(psi, cl_unit, n)
    se[np.isnan(att)] = np.nan
    lo, hi, p = _ci(att, se, level)
    pg = np.array([np.mean(g_unit == g) for g in cg])
    gt = pd.DataFrame(
        {
            "cohort": cg,
            "time": ct,
            "event_time": ct - cg,
            "base_time": cb,
            "estimate": att,
            "std_error": se,
            "ci_low": lo,
            "ci_high": hi,
            "p_value": p,
            "post": cg <= ct,
            "n_treated": n_t_all,
            "n_control": n_c_all,
            "failure": failure,
        }
    )
    pre = np.flatnonzero((cg > ct) & np.isfinite(se) & np.isfinite(att))
    pretrend, why = _wald(
        att[pre], psi[:, pre], cl_unit, n, f"all {len(pre)} pre-treatment ATT(g,t) = 0"
    )
    diag = {
        "n_obs": int(len(arrays[outcome])),
        "n_cohorts": int(len(glist)),
        "n_periods": T,
        "n_cells": k,
        "n_cells_failed": int(np.isnan(att).sum()),
        "n_cells_unobserved": n_unobserved,
        "balanced": bool(obs.all()),
        "n_never_treated_units": int(np.sum(g_unit == 0)),
        "n_treated_after_last_period": int(never_rule.sum()),
        "n_dropped_treated_in_first_period": int(always.sum()),
    }
    if pretrend is None:
        diag["pretrend_unavailable"] = why
    else:
        diag["pretrend_restrictions_per_cluster"] = round(pretrend.df / (int(cl_unit.max()) + 1), 4)
    settings = {
        "control_group": control_group,
        "base_period": base_period,
        "est_method": est_method,
        "covariates": covs,
        "event_window": event_window,
        "cluster": cluster_col,
    }
    return StaggeredDiDResult(
        outcome=outcome,
        group_time=gt,
        influence=psi,
        cohort_of_unit=g_unit,
        clusters=cl_unit,
        in_treated=in_t,
        in_control=in_c,
        cell_weights=pg,
        pretrend_test=pretrend,
        settings=settings,
        diagnostics=diag,
        level=level,
    )
