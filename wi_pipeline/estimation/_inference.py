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


def interval(estimate: float, se: float, df: float | None = None, level: float = 0.95) -> tuple[float, float, float]:
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
