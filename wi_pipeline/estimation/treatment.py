"""Binary-treatment effects under selection on observables (AIPW / IPW / regression adjustment).

Participation in re-integration measures is selective, so the default is the doubly robust
estimator: consistent if either the logit propensity score or the linear outcome model is right.
Standard errors come from the influence function, including the estimation effect of the
propensity score and outcome regressions, and are summed per cluster when `cluster` is given.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy.special import expit

from . import _validation as V
from ._inference import if_std_error, interval
from .results import TreatmentEffectResult

_PS_QUANTILES = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.50,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}


class _Data:
    """Validated arrays for one analysis sample."""

    def __init__(self, y, d, X, s, clusters, names):
        self.y, self.d, self.X, self.s, self.clusters, self.names = y, d, X, s, clusters, names

    @property
    def n(self) -> int:
        return self.y.shape[0]

    def subset(self, keep: np.ndarray) -> _Data:
        cl = None
        if self.clusters is not None:
            cl = pd.factorize(self.clusters[keep])[0].astype(np.int64)
        s = self.s[keep]
        return _Data(self.y[keep], self.d[keep], self.X[keep], s / s.mean(), cl, self.names)


def _prepare(df, outcome, treatment, covariates, cluster, weights) -> _Data:
    V.check_dataframe(df)
    covs = V.as_list(covariates)
    cols = [outcome, treatment, *covs]
    extra = [c for c in (cluster, weights) if c is not None]
    V.check_columns(df, cols + extra)
    arrays = {c: V.numeric_column(df, c) for c in cols}
    V.check_finite(arrays, len(df))
    d = V.binary_column(arrays[treatment], treatment)
    n1 = int(d.sum())
    if n1 == 0 or n1 == len(d):
        arm = "treated (1)" if n1 == 0 else "control (0)"
        raise ValueError(
            f"treatment column '{treatment}' has no {arm} observations; both arms are needed"
        )
    X = np.column_stack([np.ones(len(df))] + [arrays[c] for c in covs])
    s = V.sampling_weights(df, weights, len(df))
    cl = V.group_codes(df, cluster) if cluster is not None else None
    return _Data(arrays[outcome], d, X, s, cl, ["const", *covs])


def _fit_propensity(
    data: _Data, start: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Logit propensity score: statsmodels Logit (Newton), or GLM-binomial when sampling weights vary."""
    weighted = not np.allclose(data.s, 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            if weighted:
                res = sm.GLM(data.d, data.X, family=sm.families.Binomial(), var_weights=data.s).fit(
                    start_params=start
                )
                converged = bool(getattr(res, "converged", True))
            else:
                # the rank check (a full QR of X) only sets df_model, which is not used here
                res = sm.Logit(data.d, data.X, check_rank=False).fit(
                    start_params=start, method="newton", disp=0, maxiter=100
                )
                converged = bool(res.mle_retvals.get("converged", True))
        except Exception as exc:  # statsmodels raises several types on separation / singularity
            raise ValueError(f"propensity-score logit failed: {exc}") from exc
    gamma = np.asarray(res.params)
    ps = expit(data.X @ gamma)
    return ps, gamma, converged


def _wls(X: np.ndarray, y: np.ndarray, w: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of y on X: beta and the (pseudo-)inverse of X'WX / n.

    n is the size of the whole sample the influence functions average over (rows with w = 0,
    e.g. other arms, may be left out of X). The influence function of beta is
    (X * (w * (y - X @ beta))[:, None]) @ Binv.
    """
    B = (X * w[:, None]).T @ X / n
    Binv = np.linalg.pinv(B)
    beta = Binv @ ((X * w[:, None]).T @ y / n)
    return beta, Binv


def _ols_arm(data: _Data, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(W)LS of y on X within one arm: fitted values for everyone and the influence function of beta."""
    X, y, w = data.X, data.y, data.s * mask
    beta, Binv = _wls(X, y, w, data.n)
    m = X @ beta
    if_beta = (X * (w * (y - m))[:, None]) @ Binv
    return m, if_beta


def _if_gamma(data: _Data, ps: np.ndarray) -> np.ndarray:
    X, s = data.X, data.s
    H = (X * (s * ps * (1 - ps))[:, None]).T @ X / data.n
    return (X * (s * (data.d - ps))[:, None]) @ np.linalg.pinv(H)


def _wmean_rows(w: np.ndarray, v: np.ndarray) -> np.ndarray:
    return (v * w[:, None]).sum(axis=0) / w.sum()


def _estimate(data: _Data, ps: np.ndarray, estimand: str, method: str) -> tuple[float, np.ndarray]:
    """Point estimate and influence function (estimate - truth ~ mean(psi))."""
    y, d, X, s, n = data.y, data.d, data.X, data.s, data.n
    use_ps = method in ("aipw", "ipw")
    use_om = method in ("aipw", "regression")
    zeros = np.zeros(n)
    if use_om:
        m0, if_b0 = _ols_arm(data, d == 0)
        if estimand == "ATE":
            m1, if_b1 = _ols_arm(data, d == 1)
    else:
        m0 = m1 = zeros
    if use_ps:
        if_g = _if_gamma(data, ps)

    if estimand == "ATT":
        wt = s * d
        r_t = y - m0
        if use_ps:
            wc = s * (1 - d) * ps / (1 - ps)
            eta_t = np.sum(wt * r_t) / wt.sum()
            eta_c = np.sum(wc * (y - m0)) / wc.sum()
            tau = eta_t - eta_c
            psi = wt * (r_t - eta_t) / wt.mean() - wc * (y - m0 - eta_c) / wc.mean()
            M_g = ((wc * (y - m0 - eta_c))[:, None] * X).mean(axis=0) / wc.mean()
            psi -= if_g @ M_g
            if use_om:
                psi += if_b0 @ (_wmean_rows(wc, X) - _wmean_rows(wt, X))
        else:  # regression adjustment on the treated
            tau = np.sum(wt * r_t) / wt.sum()
            psi = wt * (r_t - tau) / wt.mean() - if_b0 @ _wmean_rows(wt, X)
        return float(tau), psi

    # ATE
    if use_ps:
        w1 = s * d / ps
        w0 = s * (1 - d) / (1 - ps)
        eta1 = np.sum(w1 * (y - m1)) / w1.sum()
        eta0 = np.sum(w0 * (y - m0)) / w0.sum()
        base = np.sum(s * (m1 - m0)) / n
        tau = base + eta1 - eta0
        psi = (
            s * (m1 - m0 - base)
            + w1 * (y - m1 - eta1) / w1.mean()
            - w0 * (y - m0 - eta0) / w0.mean()
        )
        M1 = -((w1 * (1 - ps) * (y - m1 - eta1))[:, None] * X).mean(axis=0) / w1.mean()
        M0 = ((w0 * ps * (y - m0 - eta0))[:, None] * X).mean(axis=0) / w0.mean()
        psi += if_g @ (M1 - M0)
        if use_om:
            xbar = _wmean_rows(s, X)
            psi += if_b1 @ (xbar - _wmean_rows(w1, X)) - if_b0 @ (xbar - _wmean_rows(w0, X))
    else:
        tau = np.sum(s * (m1 - m0)) / n
        xbar = _wmean_rows(s, X)
        psi = s * (m1 - m0 - tau) + if_b1 @ xbar - if_b0 @ xbar
    return float(tau), psi


def _pooled_sd(X: np.ndarray, d: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Unweighted (sampling weights only) pooled SD of each column: the SMD's fixed denominator."""
    X2 = X**2

    def wvar(w):
        mu = (w @ X) / w.sum()
        return np.maximum((w @ X2) / w.sum() - mu**2, 0.0)

    return np.sqrt((wvar(s * d) + wvar(s * (1 - d))) / 2)


def _smd(
    X: np.ndarray, d: np.ndarray, w_t: np.ndarray, w_c: np.ndarray, sd: np.ndarray
) -> np.ndarray:
    """Standardised mean differences with weights w_t/w_c over the fixed pooled SD."""
    diff = ((w_t * d) @ X) / (w_t * d).sum() - ((w_c * (1 - d)) @ X) / (w_c * (1 - d)).sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(sd > 0, diff / sd, np.where(np.abs(diff) < 1e-12, 0.0, np.nan))
    return out


def _kish(w: np.ndarray) -> float:
    return float(w.sum() ** 2 / np.sum(w**2)) if np.sum(w**2) > 0 else float("nan")


def _inference(
    data: _Data, tau: float, psi: np.ndarray
) -> tuple[float, float, float, float, int | None]:
    se, g = if_std_error(psi, data.clusters)
    lo, hi, p = interval(tau, se, df=None if g is None else g - 1)
    return se, lo, hi, p, g


def _variance_label(cluster: str | None, g: int | None) -> str:
    if cluster is None:
        return "influence-function (robust) SE, normal CI"
    return f"influence-function SE clustered by '{cluster}' ({g} clusters), t({g - 1}) CI"


def estimate_treatment_effect(
    df: pd.DataFrame,
    outcome: str,
    treatment: str,
    covariates: Sequence[str] | None = None,
    *,
    estimand: str = "ATT",
    method: str = "aipw",
    cluster: str | None = None,
    weights: str | None = None,
    trim: tuple[float, float] | None = (0.01, 0.99),
) -> TreatmentEffectResult:
    """Effect of a binary `treatment` on `outcome`, adjusting for `covariates`.

    method: "aipw" (doubly robust; for ATT the Sant'Anna & Zhao 2020 DR estimator), "ipw"
    (normalised inverse-probability weighting) or "regression" (OLS per arm, averaged).
    trim: observations with a propensity score outside [low, high] are dropped and the score
    re-fitted on the rest; it applies to every method so that methods compare on one sample.
    weights: sampling weights (normalised to mean 1). cluster: id column for clustered SEs.
    """
    return estimate_treatment_effects(
        df,
        [outcome],
        treatment,
        covariates,
        estimand=estimand,
        method=method,
        cluster=cluster,
        weights=weights,
        trim=trim,
    )[0]


def estimate_treatment_effects(
    df: pd.DataFrame,
    outcomes: Sequence[str],
    treatment: str,
    covariates: Sequence[str] | None = None,
    *,
    estimand: str = "ATT",
    method: str = "aipw",
    cluster: str | None = None,
    weights: str | None = None,
    trim: tuple[float, float] | None = (0.01, 0.99),
) -> list[TreatmentEffectResult]:
    """The effect on each of several outcomes observed on the same rows, from one propensity model
    (the score does not depend on the outcome; fitting it once per outcome only costs time)."""
    estimand = str(estimand).upper()
    if estimand not in ("ATT", "ATE"):
        raise ValueError(f"estimand must be 'ATT' or 'ATE', got {estimand!r}")
    method = str(method).lower()
    if method not in ("aipw", "ipw", "regression"):
        raise ValueError(f"method must be 'aipw', 'ipw' or 'regression', got {method!r}")
    if trim is not None:
        lo, hi = trim
        if not (0 <= lo < hi <= 1):
            raise ValueError(f"trim must be (low, high) with 0 <= low < high <= 1, got {trim!r}")

    outcomes = V.as_list(outcomes)
    if not outcomes:
        raise ValueError("outcomes must name at least one column")
    data = _prepare(df, outcomes[0], treatment, covariates, cluster, weights)
    V.check_columns(df, outcomes[1:])
    others = {o: V.numeric_column(df, o) for o in outcomes[1:]}
    V.check_finite(others, len(df))
    ys = [data.y, *others.values()]
    n_input = data.n
    ps, gamma, converged = _fit_propensity(data)
    diag: dict = {}
    if trim is not None:
        keep = (ps >= trim[0]) & (ps <= trim[1])
        diag["trim_low"], diag["trim_high"] = float(trim[0]), float(trim[1])
        diag["n_trimmed_treated"] = int(((~keep) & (data.d == 1)).sum())
        diag["n_trimmed_control"] = int(((~keep) & (data.d == 0)).sum())
        if not keep.all():
            n1, n0 = int((keep & (data.d == 1)).sum()), int((keep & (data.d == 0)).sum())
            if n1 == 0 or n0 == 0:
                raise ValueError(
                    f"after trimming propensity scores outside {trim} one arm is empty "
                    f"({n1} treated, {n0} control); the arms do not overlap"
                )
            data = data.subset(keep)
            ys = [y[keep] for y in ys]
            ps, gamma, converged = _fit_propensity(data, start=gamma)
    else:
        diag["n_trimmed_treated"] = diag["n_trimmed_control"] = 0

    g = None if data.clusters is None else int(data.clusters.max()) + 1
    d, s = data.d, data.s
    for arm, m in (("treated", d == 1), ("control", d == 0)):
        q = np.quantile(ps[m], list(_PS_QUANTILES.values()))
        diag[f"ps_{arm}_min"] = float(ps[m].min())
        diag.update({f"ps_{arm}_{k}": float(v) for k, v in zip(_PS_QUANTILES, q)})
        diag[f"ps_{arm}_max"] = float(ps[m].max())
        diag[f"ps_{arm}_mean"] = float(np.average(ps[m], weights=s[m]))
    diag["propensity_converged"] = converged

    if estimand == "ATT":
        w_t, w_c = s * d, s * (1 - d) * ps / (1 - ps)
    else:
        w_t, w_c = s * d / ps, s * (1 - d) / (1 - ps)
    covs = data.names[1:]
    if covs:
        Xc = data.X[:, 1:]
        sd = _pooled_sd(Xc, d, s)
        before = _smd(Xc, d, s, s, sd)
        after = _smd(Xc, d, w_t, w_c, sd)
        diag["smd_before"] = dict(zip(covs, map(float, before)))
        diag["smd_after"] = dict(zip(covs, map(float, after)))
        for label, v in (("before", before), ("after", after)):
            known = np.abs(v[np.isfinite(v)])  # NaN where a covariate is constant in both arms
            diag[f"max_abs_smd_{label}"] = float(known.max()) if known.size else float("nan")
    diag["ess_treated_weighted"] = _kish(w_t[d == 1])
    diag["ess_control_weighted"] = _kish(w_c[d == 0])
    diag["n_input"] = n_input
    if g is not None:
        diag["n_clusters"] = g
        diag["df_inference"] = g - 1

    k = data.X.shape[1]
    n_params = {
        "aipw": k + (k if estimand == "ATT" else 2 * k),
        "ipw": k,
        "regression": k if estimand == "ATT" else 2 * k,
    }[method] + 1

    wlabel = "" if weights is None else f", weighted by '{weights}'"
    ls = "WLS" if weights is not None else "OLS"
    desc = {
        (
            "aipw",
            "ATT",
        ): f"Doubly robust ATT (Sant'Anna & Zhao 2020): logit propensity score, {ls} outcome model "
        "for controls, normalised weights",
        (
            "aipw",
            "ATE",
        ): f"Doubly robust AIPW ATE: logit propensity score, {ls} outcome model per arm, "
        "normalised (Hajek) weights",
        ("ipw", "ATT"): "IPW ATT: logit propensity score, odds weights for controls, normalised",
        (
            "ipw",
            "ATE",
        ): "IPW ATE: logit propensity score, normalised (Hajek) inverse-probability weights",
        ("regression", "ATT"): f"Regression adjustment ATT: {ls} outcome model for controls, "
        "imputed for the treated",
        (
            "regression",
            "ATE",
        ): f"Regression adjustment ATE: {ls} outcome model per arm, averaged over the sample",
    }[(method, estimand)]
    trim_label = "" if trim is None else f"; propensity trimmed to [{trim[0]:g}, {trim[1]:g}]"
    results = []
    for outcome, y in zip(outcomes, ys):
        one = _Data(y, data.d, data.X, data.s, data.clusters, data.names)
        tau, psi = _estimate(one, ps, estimand, method)
        se, ci_lo, ci_hi, p, g = _inference(one, tau, psi)
        results.append(
            TreatmentEffectResult(
                estimate=tau,
                std_error=se,
                ci_low=ci_lo,
                ci_high=ci_hi,
                p_value=p,
                n_treated=int(d.sum()),
                n_control=int((1 - d).sum()),
                n_obs=data.n,
                n_units=g,
                df_resid=float(data.n - n_params),
                method=f"{desc}{wlabel}{trim_label}; {_variance_label(cluster, g)}",
                estimand=estimand,
                outcome=outcome,
                treatment=treatment,
                diagnostics=dict(diag),
            )
        )
    return results


def naive_difference(
    df: pd.DataFrame,
    outcome: str,
    treatment: str,
    *,
    cluster: str | None = None,
    weights: str | None = None,
) -> TreatmentEffectResult:
    """Raw difference in mean outcome between treated and untreated (no adjustment).

    Shown next to the adjusted estimates: with selective participation it is biased.
    """
    data = _prepare(df, outcome, treatment, None, cluster, weights)
    y, d, s = data.y, data.d, data.s
    w1, w0 = s * d, s * (1 - d)
    mu1, mu0 = np.sum(w1 * y) / w1.sum(), np.sum(w0 * y) / w0.sum()
    tau = float(mu1 - mu0)
    psi = w1 * (y - mu1) / w1.mean() - w0 * (y - mu0) / w0.mean()
    se, lo, hi, p, g = _inference(data, tau, psi)
    diag = {"mean_treated": float(mu1), "mean_control": float(mu0)}
    if g is not None:
        diag["n_clusters"] = g
        diag["df_inference"] = g - 1
    wlabel = "" if weights is None else f", weighted by '{weights}'"
    return TreatmentEffectResult(
        estimate=tau,
        std_error=se,
        ci_low=lo,
        ci_high=hi,
        p_value=p,
        n_treated=int(d.sum()),
        n_control=int((1 - d).sum()),
        n_obs=data.n,
        n_units=g,
        df_resid=float(data.n - 2),
        method=f"Naive difference in means (no adjustment){wlabel}; {_variance_label(cluster, g)}",
        estimand="naive",
        outcome=outcome,
        treatment=treatment,
        diagnostics=diag,
    )
