"""Confidence sets for ranks (Mogstad, Romano, Shaikh & Wilhelm 2024, Review of Economic Studies).

A league table of estimated effects invites statements like "measure A works best", but the
ranking of point estimates ignores their sampling error. Following MRSW (2024) we invert a
family of pairwise one-sided tests H_{j,k}: theta_j <= theta_k, controlling the family-wise
error with a max-t critical value from a parametric bootstrap of N(0, Sigma), optionally with
their stepdown refinement. Rejecting H_{j,k} shows that j is above k; counting, for each unit,
the units shown above it and below it gives the bounds of its rank confidence set.

Port of the authors' R package `csranks` (functions `csranks`, `csranks_simul`, `csranks_marg`,
`csdiffmeans`, `cstaubest`) with its conventions: rank 1 is the LARGEST value, and ties share
the best rank, rank_j = 1 + #{k : theta_k > theta_j} (their `irank` with omega = 0).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd

# Relative tolerances: asymmetry / negative eigenvalues of the covariance beyond these are
# errors, and a difference whose variance is below the second is treated as known exactly.
_SYM_TOL = 1e-8
_PSD_TOL = 1e-8
_ZERO_VAR_TOL = 1e-12


def rank_confidence_sets(
    estimates,
    covariance,
    *,
    level=0.95,
    simultaneous=True,
    stepdown=True,
    draws=10_000,
    seed=0,
    labels=None,
) -> pd.DataFrame:
    """Two-sided confidence sets {rank_low, ..., rank_high} for the rank of every estimate.

    simultaneous=True covers all true ranks jointly with probability >= level (MRSW 2024; use
    it for statements about the whole table); False gives marginal sets, each covering its own
    rank (for statements about one unit). The stepdown re-tests the remaining pairs at a
    smaller critical value once some are rejected, which keeps the error guarantee and never
    widens the sets. The normal approximation theta_hat - theta ~ N(0, covariance) is assumed,
    as in the paper. The point rank uses rank 1 for the highest estimate, ties sharing the best
    rank, as in `csranks`.
    """
    x, cov, index = _validate(estimates, covariance, labels)
    level, draws = _check_options(level, draws)
    p = x.shape[0]
    rank = 1 + (x[None, :] > x[:, None]).sum(axis=1)
    low = np.ones(p, dtype=np.int64)
    high = np.full(p, p, dtype=np.int64)
    if p > 1:
        t_stat, null_draws, known = _pairwise_statistics(x, cov, draws, seed)
        if simultaneous:
            rej = _reject_pairs(
                t_stat, null_draws, known, _pair_family(p, range(p)), level, stepdown
            )
            low, high = _rank_bounds(rej)
        else:
            # `csranks_marg`: one family per unit, all pairs that involve it, same draws for each.
            for i in range(p):
                rej = _reject_pairs(
                    t_stat, null_draws, known, _pair_family(p, [i]), level, stepdown
                )
                lo, hi = _rank_bounds(rej)
                low[i], high[i] = lo[i], hi[i]
    return pd.DataFrame(
        {"estimate": x, "rank": rank.astype(np.int64), "rank_low": low, "rank_high": high},
        index=index,
    )


def best_set(estimates, covariance, *, level=0.95, draws=10_000, seed=0, labels=None) -> list:
    """Labels that cannot be ruled out as the best: contains the truly best with prob >= level.

    The tau-best confidence set of MRSW (2024) / `cstaubest` with tau = 1: keep j unless some
    k is shown to be above it by the simultaneous one-sided lower confidence bounds for all
    ranks, with stepdown. Units tied for the top all have rank 1 and the guarantee covers all
    of them. Labels are returned in input order.
    """
    x, cov, index = _validate(estimates, covariance, labels)
    level, draws = _check_options(level, draws)
    p = x.shape[0]
    if p == 1:
        return index.tolist()
    t_stat, null_draws, known = _pairwise_statistics(x, cov, draws, seed)
    # The one-sided lower family is all ordered pairs: the same family as the two-sided
    # simultaneous sets, so this equals {j : rank_low_j == 1} there (as in `csranks`).
    rej = _reject_pairs(t_stat, null_draws, known, _pair_family(p, range(p)), level, stepdown=True)
    low, _ = _rank_bounds(rej)
    return index[low <= 1].tolist()


# --- the procedure -------------------------------------------------------------------------


def _pair_family(p: int, units) -> np.ndarray:
    """Ordered pairs (j, k) whose test is needed for the ranks of `units` (`initialize_I0`).

    The lower bound of j's rank needs H_{k,j} for all k, the upper bound H_{j,k}: so the
    rows and the columns of the units of interest, never the diagonal.
    """
    family = np.zeros((p, p), dtype=bool)
    units = list(units)
    family[units, :] = True
    family[:, units] = True
    np.fill_diagonal(family, False)
    return family


def _scaled_differences(z: np.ndarray, sd_diff: np.ndarray) -> np.ndarray:
    """(Z_j - Z_k) / sd(theta_j - theta_k) for every draw: the null law of the pairwise t-statistics."""
    return (z[:, :, None] - z[:, None, :]) / sd_diff[None, :, :]


def _pairwise_statistics(x: np.ndarray, cov: np.ndarray, draws: int, seed):
    """t-statistics for theta_j > theta_k, their bootstrap null draws, and the exactly known pairs.

    A pair whose difference has zero variance is known exactly (e.g. perfectly correlated
    estimates): it is decided by the sign of the estimated difference and left out of the
    bootstrap maximum, instead of dividing by zero.
    """
    p = x.shape[0]
    w, v = np.linalg.eigh(cov)
    factor = v * np.sqrt(np.clip(w, 0.0, None))
    cov_psd = factor @ factor.T
    var = np.diag(cov_psd)
    var_diff = var[:, None] + var[None, :] - 2.0 * cov_psd
    known = var_diff <= _ZERO_VAR_TOL * max(float(var.max()), 0.0)
    np.fill_diagonal(known, True)
    sd = np.sqrt(np.where(known, 1.0, var_diff))
    diff = x[:, None] - x[None, :]
    t_stat = np.where(known, np.where(diff > 0, np.inf, -np.inf), diff / sd)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((draws, p)) @ factor.T
    return t_stat, _scaled_differences(z, sd), known


def _reject_pairs(t_stat, null_draws, known, family, level, stepdown) -> np.ndarray:
    """Rejected H_{j,k} (theta_j <= theta_k) in `family`, family-wise error <= 1 - level.

    Max-t test of `csdiffmeans`: the critical value is the level-quantile of the maximum of the
    null draws over the pairs still in play; with stepdown, repeat on the unrejected pairs until
    nothing new is rejected (MRSW 2024). Reusing one set of draws makes the critical values
    monotone in the set of pairs, so the stepdown can only add rejections.
    """
    rejected = family & known & np.isposinf(t_stat)
    active = family & ~known
    while active.any():
        crit = np.quantile(null_draws[:, active].max(axis=1), level)
        new = active & (t_stat > crit)
        if not new.any():
            break
        rejected |= new
        active &= ~new
        if not stepdown:
            break
    return rejected


def _rank_bounds(rejected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """rank_low = 1 + #{k shown above j}, rank_high = p - #{k shown below j} (`csranks_simul`)."""
    p = rejected.shape[0]
    low = 1 + rejected.sum(axis=0)
    high = p - rejected.sum(axis=1)
    return low.astype(np.int64), high.astype(np.int64)


# --- input checks --------------------------------------------------------------------------


def _check_options(level, draws) -> tuple[float, int]:
    if isinstance(level, bool) or not isinstance(level, Real) or not (0.0 < float(level) < 1.0):
        raise ValueError(f"level must be a number strictly between 0 and 1, got {level!r}")
    if isinstance(draws, bool) or not isinstance(draws, Integral) or draws < 1:
        raise ValueError(f"draws must be a positive integer, got {draws!r}")
    return float(level), int(draws)


def _validate(estimates, covariance, labels) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Float estimates, a symmetric PSD covariance aligned with them, and their labels."""
    if isinstance(estimates, pd.DataFrame):
        raise ValueError("estimates must be 1-dimensional (a Series or array), got a DataFrame")
    try:
        x = np.asarray(estimates, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"estimates must be numeric: {exc}") from None
    if x.ndim != 1:
        raise ValueError(f"estimates must be 1-dimensional, got shape {x.shape}")
    p = x.shape[0]
    if p == 0:
        raise ValueError("estimates is empty: need at least one value to rank")

    if labels is not None:
        index = pd.Index(list(labels) if not isinstance(labels, pd.Index) else labels)
        if len(index) != p:
            raise ValueError(f"labels has {len(index)} entries but there are {p} estimates")
    elif isinstance(estimates, pd.Series):
        index = estimates.index
    else:
        index = pd.RangeIndex(p)
    if index.has_duplicates:
        dup = index[index.duplicated()].unique().tolist()
        raise ValueError(f"labels must be unique; duplicated: {dup}")
    labelled = labels is not None or isinstance(estimates, pd.Series)

    if isinstance(covariance, pd.DataFrame) and labelled:
        if set(covariance.index) != set(index) or set(covariance.columns) != set(index):
            raise ValueError(
                "covariance index and columns must hold the same labels as the estimates; "
                f"estimates: {index.tolist()}, covariance index: {covariance.index.tolist()}, "
                f"columns: {covariance.columns.tolist()}"
            )
        covariance = covariance.loc[index, index]
    try:
        cov = np.asarray(covariance, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"covariance must be a numeric matrix: {exc}") from None
    if cov.ndim == 1 and cov.shape[0] == p and p > 1:
        raise ValueError(
            "covariance must be a p x p matrix, got a vector; if these are variances of "
            "independent estimates, pass np.diag(variances)"
        )
    if cov.ndim == 0 and p == 1:
        cov = cov.reshape(1, 1)
    if cov.shape != (p, p):
        raise ValueError(
            f"covariance must have shape ({p}, {p}) to match the {p} estimates, got {cov.shape}"
        )

    bad = ~np.isfinite(x)
    if bad.any():
        raise ValueError(f"estimates contain non-finite values (NaN/inf) at {index[bad].tolist()}")
    if not np.isfinite(cov).all():
        rows = np.unique(np.nonzero(~np.isfinite(cov))[0])
        raise ValueError(
            f"covariance contains non-finite values (NaN/inf) in rows {index[rows].tolist()}"
        )
    scale = float(np.abs(cov).max())
    if np.abs(cov - cov.T).max() > _SYM_TOL * max(scale, np.finfo(float).tiny):
        raise ValueError("covariance is not symmetric")
    cov = (cov + cov.T) / 2.0
    if (np.diag(cov) < 0).any():
        neg = index[np.diag(cov) < 0].tolist()
        raise ValueError(f"covariance has negative variances for {neg}")
    min_eig = float(np.linalg.eigvalsh(cov).min())
    if min_eig < -_PSD_TOL * scale:
        raise ValueError(
            f"covariance is not positive semi-definite (smallest eigenvalue {min_eig:.3g}, "
            f"largest entry {scale:.3g})"
        )
    return x, cov, index


__all__ = ["rank_confidence_sets", "best_set"]
