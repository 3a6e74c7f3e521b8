"""Variance, intervals and p-values from influence functions or cluster sums."""

from __future__ import annotations

import numpy as np
from scipy import stats


def if_std_error(psi: np.ndarray, clusters: np.ndarray | None) -> tuple[float, int | None]:
    """SE of a mean-zero influence function psi (estimate - truth ~ mean(psi)).

    Without clusters every observation is its own cluster; both use the G/(G-1) correction.
    Returns the SE and the number of clusters (None when unclustered).
    """
    n = psi.shape[0]
    if clusters is None:
        g = n
        total = np.sum(psi**2)
        n_clusters = None
    else:
        sums = np.bincount(clusters, weights=psi)
        g = sums.shape[0]
        total = np.sum(sums**2)
        n_clusters = g
    if g < 2:
        return float("nan"), n_clusters
    return float(np.sqrt(total * g / (g - 1)) / n), n_clusters


def if_covariance(psi: np.ndarray, clusters: np.ndarray | None) -> tuple[np.ndarray, int | None]:
    """Joint covariance of several estimates from their influence functions (the columns of psi, n x k).

    The matrix version of `if_std_error` (its diagonal is the squared SEs): summed per cluster
    when clusters are given, with the same G/(G-1) correction.
    """
    psi = np.asarray(psi, dtype=float)
    if psi.ndim == 1:
        psi = psi[:, None]
    n = psi.shape[0]
    if clusters is None:
        sums, n_clusters = psi, None
    else:
        g = int(clusters.max()) + 1
        sums = np.column_stack([np.bincount(clusters, weights=col, minlength=g) for col in psi.T])
        n_clusters = g
    return meat_covariance(sums.T @ sums, n, sums.shape[0]), n_clusters


def meat_covariance(meat: np.ndarray, n: int, g: int) -> np.ndarray:
    """Covariance from the cross-product of per-cluster (or per-row) influence-function sums.

    meat = sum over the g clusters of Psi_g Psi_g' with Psi_g the sum of psi over the rows of
    cluster g; n is the number of rows psi averages over. NaN when there are fewer than 2 clusters.
    """
    if g < 2:
        return np.full(np.shape(meat), np.nan)
    return np.asarray(meat, dtype=float) * (g / (g - 1)) / n**2


def interval(
    estimate: float, se: float, df: float | None = None, level: float = 0.95
) -> tuple[float, float, float]:
    """CI bounds and two-sided p-value: normal when df is None, else Student t with df."""
    if not np.isfinite(se) or se <= 0:
        return float("nan"), float("nan"), float("nan")
    alpha = 1 - level
    if df is None:
        q = stats.norm.ppf(1 - alpha / 2)
        p = 2 * stats.norm.sf(abs(estimate / se))
    else:
        q = stats.t.ppf(1 - alpha / 2, df)
        p = 2 * stats.t.sf(abs(estimate / se), df)
    return float(estimate - q * se), float(estimate + q * se), float(p)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment; NaN p-values stay NaN and do not count as tests.

    (statsmodels' multipletests runs a full garbage collection per call: far too slow for
    hundreds of families.)
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m:
        order = np.argsort(p[ok], kind="stable")
        stepped = np.maximum.accumulate((m - np.arange(m)) * p[ok][order]).clip(max=1.0)
        adjusted = np.empty(m)
        adjusted[order] = stepped
        out[ok] = adjusted
    return out


def omitted_variable_scale(residual_variance: float, riesz_second_moment: float) -> float:
    """S = sqrt(E[(y - g(D,X))^2] E[alpha^2]): how far a latent confounder can move a linear functional
    of the outcome regression (Chernozhukov, Cinelli, Newey, Sharma & Syrgkanis 2022, "Long story short").

    alpha is the Riesz representer of the functional (for APO(a) - APO(b): 1{D=a}/p_a - 1{D=b}/p_b).
    The bias is at most rho * sqrt(C_Y^2 C_D^2 / (1 - C_D^2)) * S, with C_Y^2 the share of the outcome's
    residual variance a confounder explains and C_D^2 the share of the Riesz representer's variation it
    explains (rho <= 1 its correlation)."""
    return float(np.sqrt(max(residual_variance, 0.0) * max(riesz_second_moment, 0.0)))


def omitted_variable_bound(scale: float, cy2: float, cd2: float, rho: float = 1.0) -> float:
    """Largest bias of a confounder with outcome strength cy2 and treatment strength cd2 (both
    R^2-type, < 1)."""
    if not (0 <= cy2 <= 1 and 0 <= cd2 < 1):
        raise ValueError(
            f"confounder strengths need 0 <= cy2 <= 1 and 0 <= cd2 < 1, got {cy2}, {cd2}"
        )
    return float(abs(rho) * np.sqrt(cy2 * cd2 / (1 - cd2)) * scale)


def robustness_value(
    estimate: float, scale: float, std_error: float = 0.0, level: float | None = None
) -> float:
    """Equal strength C_Y^2 = C_D^2 of a confounder (rho = 1) whose bias bound reaches the estimate.

    Solves r / sqrt(1 - r) = |estimate| / scale, the same form as Cinelli & Hazlett's (2020) robustness
    value. With `level`, the estimate is replaced by its confidence bound nearest zero: the strength
    that would make the interval reach zero (0 when it already does); the bound's own sampling
    error is not added.
    """
    if not np.isfinite(estimate) or not np.isfinite(scale) or scale <= 0:
        return float("nan")
    x = abs(estimate)
    if level is not None:
        x = max(x - stats.norm.ppf(1 - (1 - level) / 2) * std_error, 0.0)
    x /= scale
    return float(0.5 * (np.sqrt(x**4 + 4 * x**2) - x**2))
