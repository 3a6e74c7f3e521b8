"""Sensitivity of an event study to violations of parallel trends (Rambachan & Roth 2023).

A port of the R package HonestDiD: the relative-magnitudes analysis
(`createSensitivityResults_relativeMagnitudes`, `computeConditionalCS_DeltaRM` and the
Andrews-Roth-Pakes conditional / least-favourable hybrid test it inverts, method "C-LF"), and the
smoothness restriction Delta^SD with the fixed-length interval (`createSensitivityResults`, "FLCI").

Input is an event study: `betahat` holds the pre-period coefficients first (earliest first), then
the post-period ones, the reference period left out. As in the package the reference period is the
last one before treatment (event time -1), so the pre-period coefficients are consecutive periods
ending just before it and the post-period ones start at treatment. `sigma` is their covariance.
The target is theta = l_vec' tau_post. As in HonestDiD the default l_vec is the first post period;
pass `l_vec=np.full(k, 1 / k)` for the average over k post periods.

Delta^RM(Mbar): every post-period first difference of the trend violation is at most Mbar times
the largest pre-period first difference in absolute value. The set is a union over where that
maximum sits (pre-period s) and its sign, so the confidence set is the union of the ARP sets of
the 2 x num_pre_periods polyhedral pieces, each inverted over the package's grid of theta values.

The least-favourable critical value is simulated from 1000 normal draws. By default the draws are
R's own (`set.seed(0)`, Mersenne-Twister with inversion, `mvtnorm::rmvnorm` by eigen-decomposition),
so the intervals match the package's to its grid, not only up to simulation noise.

Cost: the ARP linear programs are solved in closed form over the vertices of their dual, enumerated
once per piece (up to 9 post periods). Measured on 1 December 2026 with the default 1000-point grid,
per Mbar: 5 pre / 2 post periods 0.2 s; 9 pre / 6 post 0.8 s; 9 pre / 9 post 19 s. With more post
periods HiGHS solves them grid point by grid point, about 50 times slower than the closed form:
bin event time when the window is long.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import optimize, sparse, special, stats
from scipy.optimize import linprog

METHOD = "C-LF"
_LF_SIMS = 1000
_TOL_LAMBDA = 1e-6  # a dual weight above this marks a binding moment (as in HonestDiD)
_MAX_VERTEX_BASES = (
    50_000  # above this many candidate bases the dual LPs are solved by HiGHS instead
)


# ---------------------------------------------------------------------------------------------------
# R's normal draws, so the least-favourable critical value is the package's, not a noisy cousin of it


def r_normal_draws(n: int, seed: int = 0) -> np.ndarray:
    """`set.seed(seed); rnorm(n)` of R (Mersenne-Twister, Inversion), as float64."""
    mask = 0xFFFFFFFF
    s = int(seed) & mask
    for _ in range(50):
        s = (69069 * s + 1) & mask
    key = np.empty(625, dtype=np.uint32)
    for j in range(625):
        s = (69069 * s + 1) & mask
        key[j] = s
    bitgen = np.random.MT19937()
    bitgen.state = {"bit_generator": "MT19937", "state": {"key": key[1:], "pos": 624}}
    u = bitgen.random_raw(2 * n).astype(float) * 2.3283064365386963e-10
    half_ulp = 0.5 * 2.328306437080797e-10
    u = np.where(u <= 0.0, half_ulp, np.where(1.0 - u <= 0.0, 1.0 - half_ulp, u))
    big = 134217728.0
    return special.ndtri((np.floor(big * u[0::2]) + u[1::2]) / big)


def r_rmvnorm(n: int, cov: np.ndarray, seed: int = 0) -> np.ndarray:
    """`set.seed(seed); mvtnorm::rmvnorm(n, sigma = cov)` (method "eigen", draws filled by row)."""
    cov = np.asarray(cov, dtype=float)
    p = cov.shape[0]
    vals, vecs = np.linalg.eigh(cov)
    root = (vecs * np.sqrt(np.maximum(vals, 0.0))) @ vecs.T
    return r_normal_draws(n * p, seed).reshape(n, p) @ root


# ---------------------------------------------------------------------------------------------------
# Delta^RM as polyhedra {A delta <= 0}


def _rm_constraints(
    num_pre: int, num_post: int, mbar: float, s: int, max_positive: bool
) -> np.ndarray:
    """HonestDiD's `.create_A_RM`: the piece of Delta^RM where pre-period difference s is the max."""
    n = num_pre + num_post
    a_tilde = np.zeros((n, n + 1))
    for r in range(n):
        a_tilde[r, r : r + 2] = (-1.0, 1.0)
    v_max = np.zeros(n + 1)
    v_max[num_pre + s - 1 : num_pre + s + 1] = (-1.0, 1.0)
    if not max_positive:
        v_max = -v_max
    a_ub = np.vstack([np.tile(v_max, (num_pre, 1)), np.tile(mbar * v_max, (num_post, 1))])
    a = np.vstack([a_tilde - a_ub, -a_tilde - a_ub])
    a = a[np.einsum("ij,ij->i", a, a) > 1e-10]
    return np.delete(a, num_pre, axis=1)


def _construct_gamma(l_vec: np.ndarray) -> np.ndarray:
    """Invertible matrix with l' as first row (HonestDiD's `.construct_Gamma`, pivots of rref[l I])."""
    cols = np.column_stack([l_vec, np.eye(l_vec.size)])
    chosen: list[int] = []
    for j in range(cols.shape[1]):
        if np.linalg.matrix_rank(cols[:, chosen + [j]]) > len(chosen):
            chosen.append(j)
        if len(chosen) == l_vec.size:
            break
    return cols[:, chosen].T


# ---------------------------------------------------------------------------------------------------
# The ARP linear program  eta(y) = min_{eta, delta} eta  s.t.  y - X delta <= eta * sd,
# whose dual is  max gamma'y  over  P = {gamma >= 0, gamma'sd = 1, X'gamma = 0}.


class _DualProgram:
    """eta(y), its dual vertex and the truncation bounds of the dual approach for one (X, sd)."""

    def __init__(self, x: np.ndarray, sd: np.ndarray):
        self.x, self.sd = x, sd
        self.w = np.column_stack([sd, x])
        m, k1 = self.w.shape
        self.vertices = (
            self._enumerate_vertices() if math.comb(m, k1) <= _MAX_VERTEX_BASES else None
        )

    def _enumerate_vertices(self) -> np.ndarray:
        """Vertices of P: basic solutions W_B' gamma_B = e1 with gamma_B >= 0."""
        m, k1 = self.w.shape
        bases = np.array(list(itertools.combinations(range(m), k1)), dtype=np.intp).reshape(-1, k1)
        wb = self.w[bases].transpose(0, 2, 1)  # (nb, k1, k1): rows of W_B' ...
        ok = np.abs(np.linalg.det(wb)) > 1e-12 * np.maximum(1.0, np.abs(wb).max(axis=(1, 2))) ** k1
        e1 = np.zeros(k1)
        e1[0] = 1.0
        g = np.linalg.solve(wb[ok], np.broadcast_to(e1, (int(ok.sum()), k1))[..., None])[..., 0]
        keep = (g >= -1e-12).all(axis=1)
        out = np.zeros((int(keep.sum()), m))
        np.put_along_axis(out, bases[ok][keep], np.maximum(g[keep], 0.0), axis=1)
        out = np.unique(np.round(out, 12), axis=0)
        if out.shape[0] == 0:
            raise ValueError("the moment inequalities have no dual vertex (degenerate covariance)")
        return out

    def solve(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """eta and an optimal dual vertex for every row of y (n x m)."""
        if self.vertices is not None:
            vals = y @ self.vertices.T
            best = np.argmax(vals, axis=1)
            return vals[np.arange(y.shape[0]), best], self.vertices[best]
        return self._solve_lp(y)

    def _solve_lp(self, y: np.ndarray, chunk: int = 500) -> tuple[np.ndarray, np.ndarray]:
        n, m = y.shape
        k1 = self.w.shape[1]
        eta, lam = np.full(n, np.nan), np.full((n, m), np.nan)
        for start in range(0, n, chunk):
            rows = y[start : start + chunk]
            g = rows.shape[0]
            a = sparse.block_diag([-self.w] * g, format="csr")
            c = np.tile(np.r_[1.0, np.zeros(k1 - 1)], g)
            res = linprog(c, A_ub=a, b_ub=-rows.ravel(), bounds=(None, None), method="highs-ds")
            if res.status != 0:
                raise RuntimeError(f"the ARP linear program failed: {res.message}")
            eta[start : start + g] = res.x.reshape(g, k1)[:, 0]
            lam[start : start + g] = -res.ineqlin.marginals.reshape(g, m)
        return eta, lam

    def _max_dual(self, f: np.ndarray) -> tuple[float, np.ndarray]:
        if self.vertices is not None:
            vals = self.vertices @ f
            i = int(np.argmax(vals))
            return float(vals[i]), self.vertices[i]
        m, k1 = self.w.shape
        beq = np.zeros(k1)
        beq[0] = 1.0
        res = linprog(-f, A_eq=self.w.T, b_eq=beq, bounds=(0, None), method="highs-ds")
        if res.status != 0:
            raise RuntimeError(f"the ARP dual program failed: {res.message}")
        return float(-res.fun), res.x

    def truncation(
        self, y: np.ndarray, eta: float, gamma: np.ndarray, sigma: np.ndarray
    ) -> tuple[float, float]:
        """[vlo, vup]: the values c of gamma'y for which gamma stays an optimal vertex (ARP appendix D).

        V(c) = max_{g in P} g'(s + b c) is convex and >= c; the set {V(c) = c} is an interval found
        exactly by HonestDiD's shortcut c <- g's / (1 - g'b), iterated from far out.
        """
        b = sigma @ gamma / float(gamma @ sigma @ gamma)
        s = y - b * float(gamma @ y)
        tol = 1e-6
        if abs(self._max_dual(s + b * eta)[0] - eta) > tol:
            return eta, math.inf
        sigma_b = math.sqrt(float(gamma @ sigma @ gamma))
        bounds = []
        for start in (max(100.0, eta + 20 * sigma_b), min(-100.0, eta - 20 * sigma_b)):
            c = start
            value, g = self._max_dual(s + b * c)
            if abs(value - c) <= tol:
                bounds.append(math.inf if start > 0 else -math.inf)
                continue
            for _ in range(100):
                denom = 1.0 - float(g @ b)
                num = float(g @ s)
                c = (0.0 if abs(num) < np.finfo(float).eps ** 0.75 else num) / denom
                value, g = self._max_dual(s + b * c)
                if abs(value - c) <= tol:
                    break
            bounds.append(c)
        return bounds[1], bounds[0]


def _lf_cv_nuisance(program: _DualProgram, sigma: np.ndarray, kappa: float, seed: int) -> float:
    """HonestDiD's `.compute_least_favorable_cv` with nuisance parameters: 1-kappa quantile of eta(xi)."""
    xi = r_rmvnorm(_LF_SIMS, sigma, seed)
    eta, _ = program.solve(xi)
    return float(np.nanquantile(eta, 1.0 - kappa))


def _lf_cv_no_nuisance(sigma: np.ndarray, kappa: float, seed: int) -> float:
    xi = r_rmvnorm(_LF_SIMS, sigma, seed) / np.sqrt(np.diag(sigma))
    return float(np.quantile(xi.max(axis=1), 1.0 - kappa))


def _accept_nuisance(
    y: np.ndarray, x: np.ndarray, sigma: np.ndarray, alpha: float, kappa: float, seed: int
) -> np.ndarray:
    """ARP hybrid (least favourable) test of E[y - X delta] <= 0 for each row of y; True = not rejected.

    HonestDiD's `.lp_conditional_test_fn` with hybrid_flag "LF", vectorised over the theta grid.
    """
    sd = np.sqrt(np.diag(sigma))
    program = _DualProgram(x, sd)
    lf_cv = _lf_cv_nuisance(program, sigma, kappa, seed)
    mod_size = (alpha - kappa) / (1.0 - kappa)
    eta, lam = program.solve(y)
    accept = np.zeros(y.shape[0], dtype=bool)
    k1 = x.shape[1] + 1
    todo = np.flatnonzero(eta <= lf_cv)  # the first stage rejects the rest outright
    binding = lam > _TOL_LAMBDA
    groups: dict[bytes, list[int]] = {}
    for i in todo:
        groups.setdefault(binding[i].tobytes(), []).append(int(i))
    dual_points = []
    for key, idx_list in groups.items():
        idx = np.asarray(idx_list)
        b_index = np.frombuffer(key, dtype=bool)
        xb = x[b_index]
        full_rank = xb.size > 0 and np.linalg.matrix_rank(xb) == min(xb.shape)
        if b_index.sum() == k1 and full_rank:
            accept[idx] = _primal_accept(y[idx], eta[idx], b_index, x, sd, sigma, lf_cv, mod_size)
        else:
            dual_points.extend(idx_list)
    if dual_points:
        idx = np.asarray(dual_points)
        if program.vertices is not None:
            accept[idx] = _dual_accept_vertices(
                program.vertices, y[idx], eta[idx], lam[idx], sigma, lf_cv, mod_size
            )
        else:
            for i in idx:
                accept[i] = _dual_accept(program, y[i], eta[i], lam[i], sigma, lf_cv, mod_size)
    return accept


def _primal_accept(y, eta, b_index, x, sd, sigma, lf_cv, mod_size) -> np.ndarray:
    """Primal approach of ARP for grid points sharing the binding set B (vectorised)."""
    m = y.shape[1]
    wb = np.column_stack([sd[b_index], x[b_index]])
    wbc = np.column_stack([sd[~b_index], x[~b_index]])
    wb_inv = np.linalg.inv(wb)
    s_b = np.eye(m)[b_index]
    gamma_b = wbc @ wb_inv @ s_b - np.eye(m)[~b_index]
    v_b = wb_inv[0] @ s_b
    sigma2_b = float(v_b @ sigma @ v_b)
    sigma_b = math.sqrt(sigma2_b)
    rho = gamma_b @ sigma @ v_b / sigma2_b
    bound = (-(y @ gamma_b.T)) / rho + (y @ v_b)[:, None]
    with np.errstate(invalid="ignore"):
        vlo = (
            np.where(rho > 0, bound, -np.inf).max(axis=1)
            if (rho > 0).any()
            else np.full(len(y), -np.inf)
        )
        vup = (
            np.where(rho < 0, bound, np.inf).min(axis=1)
            if (rho < 0).any()
            else np.full(len(y), np.inf)
        )
    return _second_stage(eta / sigma_b, vlo / sigma_b, np.minimum(vup, lf_cv) / sigma_b, mod_size)


def _dual_accept(program, y, eta, gamma, sigma, lf_cv, mod_size) -> bool:
    sigma_b2 = float(gamma @ sigma @ gamma)
    if abs(sigma_b2) < np.finfo(float).eps:
        return not eta > 0
    vlo, vup = program.truncation(y, float(eta), gamma, sigma)
    sigma_b = math.sqrt(sigma_b2)
    return bool(
        _second_stage(
            np.array([eta / sigma_b]),
            np.array([vlo / sigma_b]),
            np.array([min(vup, lf_cv) / sigma_b]),
            mod_size,
        )[0]
    )


def _dual_accept_vertices(vertices, y, eta, gamma, sigma, lf_cv, mod_size) -> np.ndarray:
    """Dual approach of ARP for many grid points at once, with the exact truncation interval.

    V(c) = max_v v'(s + b c) over the dual vertices v; gamma stays optimal for exactly the c with
    v's <= (1 - v'b) c for every v, which gives [vlo, vup] in closed form. HonestDiD finds the same
    end points by Newton steps and bisection and reports +-inf beyond max(100, eta + 20 sigma_B).
    """
    var = np.einsum("ij,jk,ik->i", gamma, sigma, gamma)
    accept = np.zeros(y.shape[0], dtype=bool)
    flat = np.abs(var) < np.finfo(float).eps
    accept[flat] = ~(eta[flat] > 0)
    ok = ~flat
    if not ok.any():
        return accept
    g, yy, e, v2 = gamma[ok], y[ok], eta[ok], var[ok]
    b = (g @ sigma) / v2[:, None]
    s = yy - b * np.einsum("ij,ij->i", g, yy)[:, None]
    num = s @ vertices.T
    num = np.where(np.abs(num) < np.finfo(float).eps ** 0.75, 0.0, num)
    den = 1.0 - b @ vertices.T
    tol = 1e-12
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = num / den
    vlo = np.where(den > tol, ratio, -np.inf).max(axis=1)
    vup = np.where(den < -tol, ratio, np.inf).min(axis=1)
    sigma_b = np.sqrt(v2)
    vup = np.where(vup >= np.maximum(100.0, e + 20 * sigma_b), np.inf, vup)
    vlo = np.where(vlo <= np.minimum(-100.0, e - 20 * sigma_b), -np.inf, vlo)
    accept[ok] = _second_stage(
        e / sigma_b, vlo / sigma_b, np.minimum(vup, lf_cv) / sigma_b, mod_size
    )
    return accept


def _second_stage(
    maxstat: np.ndarray, zlo: np.ndarray, zup: np.ndarray, mod_size: float
) -> np.ndarray:
    """Reject when the statistic exceeds max(0, the 1 - size quantile of N(0,1) truncated to [zlo, zup]).

    As in HonestDiD, a statistic outside its own truncation interval (numerical noise) is not rejected.
    """
    inside = (zlo <= maxstat) & (maxstat <= zup)
    accept = ~inside
    if inside.any():
        cval = np.maximum(0.0, stats.truncnorm.ppf(1.0 - mod_size, zlo[inside], zup[inside]))
        accept[inside] = ~(maxstat[inside] > cval)
    return accept


def _accept_no_nuisance(betahat, sigma, a, theta_grid, num_pre, alpha, kappa, seed) -> np.ndarray:
    """HonestDiD's `.testInIdentifiedSet_LF_Hybrid` over the grid (one post period, d = 0)."""
    sigma_a = a @ sigma @ a.T
    lf_cv = _lf_cv_no_nuisance(sigma_a, kappa, seed)
    alpha_tilde = (alpha - kappa) / (1.0 - kappa)
    a_norm = a / np.sqrt(np.diag(sigma_a))[:, None]
    y = np.repeat(betahat[None, :], theta_grid.size, axis=0)
    y[:, num_pre] -= theta_grid
    moments = y @ a_norm.T
    top = np.argmax(moments, axis=1)
    max_moment = moments[np.arange(theta_grid.size), top]
    accept = np.zeros(theta_grid.size, dtype=bool)
    for j in np.unique(top):
        idx = np.flatnonzero((top == j) & (max_moment <= lf_cv))  # the first stage rejects the rest
        if idx.size == 0:
            continue
        gamma = a_norm[j]
        a_bar = a_norm - a_norm[j]
        var = float(gamma @ sigma @ gamma)
        c = sigma @ gamma / var
        z = y[idx] - np.outer(y[idx] @ gamma, c)
        ac = a_bar @ c
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = -(z @ a_bar.T) / ac
        vlo = np.where(ac < 0, ratio, -np.inf).max(axis=1)
        vup = np.where(ac > 0, ratio, np.inf).min(axis=1)
        sd = math.sqrt(var)
        cval = np.maximum(0.0, sd * stats.truncnorm.ppf(1.0 - alpha_tilde, vlo / sd, vup / sd))
        accept[idx] = ~(max_moment[idx] > cval)
    return accept


def _accept_rm_piece(
    betahat, sigma, num_pre, num_post, l_vec, mbar, s, max_positive, alpha, theta_grid, seed
) -> np.ndarray:
    """`.computeConditionalCS_DeltaRM_fixedS`, post-period moments only, hybrid "LF"."""
    kappa = alpha / 10.0
    a = _rm_constraints(num_pre, num_post, mbar, s, max_positive)
    if num_post == 1:
        a = a[a[:, -1] != 0]
        return _accept_no_nuisance(betahat, sigma, a, theta_grid, num_pre, alpha, kappa, seed)
    rows = np.flatnonzero((a[:, num_pre:] != 0).any(axis=1))
    a_gamma_inv = a[:, num_pre:] @ np.linalg.inv(_construct_gamma(l_vec))
    y = a @ betahat
    sigma_y = a @ sigma @ a.T
    y_grid = (y[None, :] - np.outer(theta_grid, a_gamma_inv[:, 0]))[:, rows]
    return _accept_nuisance(
        y_grid, a_gamma_inv[rows, 1:], sigma_y[np.ix_(rows, rows)], alpha, kappa, seed
    )


# ---------------------------------------------------------------------------------------------------
# Public API


def _check_inputs(betahat, sigma, num_pre_periods, num_post_periods, l_vec):
    betahat = np.asarray(betahat, dtype=float).ravel()
    sigma = np.asarray(sigma, dtype=float)
    if int(num_pre_periods) != num_pre_periods or int(num_post_periods) != num_post_periods:
        raise ValueError("num_pre_periods and num_post_periods must be integers")
    num_pre, num_post = int(num_pre_periods), int(num_post_periods)
    if num_pre < 1 or num_post < 1:
        raise ValueError(
            f"need at least one pre and one post period (got {num_pre} and {num_post})"
        )
    n = num_pre + num_post
    if betahat.size != n:
        raise ValueError(
            f"betahat has {betahat.size} coefficients, expected num_pre_periods + "
            f"num_post_periods = {n} (the reference period excluded)"
        )
    if sigma.shape != (n, n):
        raise ValueError(f"sigma has shape {sigma.shape}, expected ({n}, {n})")
    if not (np.isfinite(betahat).all() and np.isfinite(sigma).all()):
        raise ValueError("betahat and sigma must be finite")
    if not np.allclose(sigma, sigma.T, rtol=1e-6, atol=1e-12 * max(1.0, np.abs(sigma).max())):
        raise ValueError("sigma must be symmetric")
    if np.linalg.eigvalsh((sigma + sigma.T) / 2).min() < -1e-8 * max(1.0, np.abs(sigma).max()):
        raise ValueError("sigma must be positive semi-definite")
    if l_vec is None:
        l_vec = np.zeros(num_post)
        l_vec[0] = 1.0
    l_vec = np.asarray(l_vec, dtype=float).ravel()
    if l_vec.size != num_post or not np.isfinite(l_vec).all() or not np.any(l_vec):
        raise ValueError(f"l_vec must be {num_post} finite weights, not all zero")
    if num_post == 1 and l_vec[0] != 1.0:
        raise ValueError(
            "with one post period l_vec must be [1] (the package tests the coefficient itself)"
        )
    return betahat, (sigma + sigma.T) / 2, num_pre, num_post, l_vec


def original_ci(
    betahat, sigma, num_pre_periods: int, num_post_periods: int, l_vec=None, alpha: float = 0.05
) -> pd.DataFrame:
    """Conventional interval for theta = l_vec' tau_post (HonestDiD's `constructOriginalCS`).

    One row: estimate, std_error, ci_low, ci_high, method ("original").
    """
    betahat, sigma, num_pre, num_post, l_vec = _check_inputs(
        betahat, sigma, num_pre_periods, num_post_periods, l_vec
    )
    post = slice(num_pre, num_pre + num_post)
    est = float(l_vec @ betahat[post])
    se = math.sqrt(float(l_vec @ sigma[post, post] @ l_vec))
    z = stats.norm.ppf(1 - alpha / 2)
    return pd.DataFrame(
        {
            "estimate": [est],
            "std_error": [se],
            "ci_low": [est - z * se],
            "ci_high": [est + z * se],
            "method": ["original"],
        }
    )


def relative_magnitudes(
    betahat,
    sigma,
    num_pre_periods: int,
    num_post_periods: int,
    mbar: Sequence[float] = (0, 0.5, 1, 1.5, 2),
    l_vec=None,
    alpha: float = 0.05,
    grid_points: int = 1000,
    grid_lb: float | None = None,
    grid_ub: float | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Robust confidence sets for theta = l_vec' tau_post under Delta^RM(Mbar), one row per Mbar.

    Defaults are HonestDiD's: l_vec = first post period, a grid of 1000 theta values on
    +-20 SE of the original estimate around 0, method "C-LF" (kappa = alpha / 10), seed 0.
    Columns: mbar, ci_low, ci_high (the extreme accepted grid points: precision is one grid step),
    method, open_at_grid_edge (the set reaches the end of the grid, so its bound is the grid's; widen
    grid_lb/grid_ub). An empty set (no grid point accepted) gives NaN bounds.
    """
    betahat, sigma, num_pre, num_post, l_vec = _check_inputs(
        betahat, sigma, num_pre_periods, num_post_periods, l_vec
    )
    mbars = np.atleast_1d(np.asarray(mbar, dtype=float))
    if mbars.size == 0 or not np.isfinite(mbars).all() or (mbars < 0).any():
        raise ValueError("mbar must be one or more finite values >= 0")
    if int(grid_points) < 2:
        raise ValueError("grid_points must be at least 2")
    post = slice(num_pre, num_pre + num_post)
    sd_theta = math.sqrt(float(l_vec @ sigma[post, post] @ l_vec))
    lb = -20 * sd_theta if grid_lb is None else float(grid_lb)
    ub = 20 * sd_theta if grid_ub is None else float(grid_ub)
    if not lb < ub:
        raise ValueError(f"grid_lb ({lb}) must be below grid_ub ({ub})")
    theta_grid = np.linspace(lb, ub, int(grid_points))
    rows = []
    for mb in mbars:
        accept = np.zeros(theta_grid.size, dtype=bool)
        for s in range(-(num_pre - 1), 1):
            for max_positive in (True, False):
                accept |= _accept_rm_piece(
                    betahat,
                    sigma,
                    num_pre,
                    num_post,
                    l_vec,
                    mb,
                    s,
                    max_positive,
                    alpha,
                    theta_grid,
                    seed,
                )
        hit = theta_grid[accept]
        rows.append(
            {
                "mbar": float(mb),
                "ci_low": float(hit.min()) if hit.size else math.nan,
                "ci_high": float(hit.max()) if hit.size else math.nan,
                "method": METHOD,
                "open_at_grid_edge": bool(accept[0] or accept[-1]),
            }
        )
    return pd.DataFrame(rows)


def breakdown_mbar(results: pd.DataFrame, null: float = 0.0) -> float:
    """Largest Mbar up to which every robust interval in `results` excludes `null` (0.0 if none does).

    `results` is the frame of `relative_magnitudes`. HonestDiD reports the breakdown value read off
    the Mbar grid this way ("significant up to Mbar = ..."); a finer mbar grid gives a finer value.
    The smallest Mbar on the grid already covering the null (or an empty set) stops the count, so a
    non-monotone grid artefact further up cannot raise it.
    """
    if not {"mbar", "ci_low", "ci_high"} <= set(results.columns):
        raise ValueError(
            "results must have columns mbar, ci_low, ci_high (from relative_magnitudes)"
        )
    best = 0.0
    for _, row in results.sort_values("mbar").iterrows():
        lo, hi = row["ci_low"], row["ci_high"]
        if not (np.isfinite(lo) and np.isfinite(hi)) or lo <= null <= hi:
            break
        best = float(row["mbar"])
    return best


# ---------------------------------------------------------------------------------------------------
# Smoothness restriction Delta^SD(M) with the fixed-length confidence interval (HonestDiD `findOptimalFLCI`)

_FOLDED_SIMS = 10**6
_folded_draws: np.ndarray | None = None


def _folded_normal_quantile(p: float, mu: float) -> float:
    """HonestDiD's `.qfoldednormal`: the p quantile of |Z + mu| over R's `set.seed(0); rnorm(1e6)`.

    Exact on those draws (R's quantile type 7) but read from a window of the sorted draws around the
    population quantile, so a call costs microseconds instead of a partition of a million values.
    """
    global _folded_draws
    if _folded_draws is None:
        _folded_draws = np.sort(r_normal_draws(_FOLDED_SIMS, 0))
    z, n, mu = _folded_draws, _FOLDED_SIMS, float(mu)
    h = (n - 1) * p
    k = int(math.floor(h))
    q0 = optimize.brentq(
        lambda q: special.ndtr(q - mu) - special.ndtr(-q - mu) - p, 0.0, abs(mu) + 40.0
    )
    width = 0.02
    while True:
        lo, hi = q0 - width, q0 + width
        if lo <= 0:
            vals = np.sort(np.abs(z + mu))
            below = 0
        else:
            below = int(np.searchsorted(z, lo - mu, "left") - np.searchsorted(z, -lo - mu, "right"))
            right = z[np.searchsorted(z, lo - mu, "left") : np.searchsorted(z, hi - mu, "right")]
            left = z[np.searchsorted(z, -hi - mu, "left") : np.searchsorted(z, -lo - mu, "right")]
            vals = np.sort(np.abs(np.concatenate([left, right]) + mu))
        i = k - below
        if 0 <= i and i + 1 < vals.size:
            return float(vals[i] + (h - k) * (vals[i + 1] - vals[i]))
        width *= 4


def _flci_pieces(sigma: np.ndarray, num_pre: int, num_post: int, l_vec: np.ndarray):
    w_to_l = np.eye(num_pre) - np.eye(num_pre, k=-1)
    quad = w_to_l.T @ sigma[:num_pre, :num_pre] @ w_to_l
    lin = 2 * w_to_l.T @ sigma[:num_pre, num_pre:] @ l_vec
    const = float(l_vec @ sigma[num_pre:, num_pre:] @ l_vec)
    target = float(np.arange(1, num_post + 1) @ l_vec)
    bias_const = sum(
        abs(float(np.arange(1, s + 1) @ l_vec[num_post - s :])) for s in range(1, num_post + 1)
    )
    return quad, lin, const, w_to_l, target, bias_const - target


class _FlciProblem:
    """The affine estimators l_pre' beta_pre + l_vec' beta_post of HonestDiD's FLCI, indexed by weights w.

    Variance and worst-case bias over Delta^SD(1) as in `.createMatricesForVarianceFromW` and
    `.findWorstCaseBiasGivenH`; the conic program is solved by SLSQP on (U, w) with U >= |cumsum(w)|.
    """

    def __init__(self, sigma: np.ndarray, num_pre: int, num_post: int, l_vec: np.ndarray):
        self.num_pre = num_pre
        self.quad, self.lin, self.const, self.w_to_l, self.target, self.bias_const = _flci_pieces(
            sigma, num_pre, num_post, l_vec
        )
        self.cum = np.tril(np.ones((num_pre, num_pre)))
        kkt = np.block(
            [[2 * self.quad, np.ones((num_pre, 1))], [np.ones((1, num_pre)), np.zeros((1, 1))]]
        )
        self.w_min_var = np.linalg.lstsq(kkt, np.r_[-self.lin, self.target], rcond=None)[0][
            :num_pre
        ]
        self.h_min = math.sqrt(max(self.variance(self.w_min_var), 0.0))
        w_min_bias = np.r_[np.zeros(num_pre - 1), self.target]
        self.h_min_bias = math.sqrt(max(self.variance(w_min_bias), 0.0))
        self._last_w: np.ndarray | None = None

    def variance(self, w: np.ndarray) -> float:
        return float(w @ self.quad @ w + self.lin @ w + self.const)

    def worst_case_bias(self, h: float) -> tuple[float, np.ndarray]:
        """Smallest worst-case bias (per unit of M) of an estimator with SD <= h, and its weights w."""
        k, cum = self.num_pre, self.cum
        w0 = self.w_min_var if self._last_w is None else self._last_w  # neighbouring h: warm start
        x0 = np.r_[np.abs(cum @ w0) + 1e-9, w0]
        constraints = [
            {
                "type": "ineq",
                "fun": lambda x: np.r_[x[:k] - cum @ x[k:], x[:k] + cum @ x[k:]],
                "jac": lambda x: np.block([[np.eye(k), -cum], [np.eye(k), cum]]),
            },
            {
                "type": "eq",
                "fun": lambda x: np.array([x[k:].sum() - self.target]),
                "jac": lambda x: np.r_[np.zeros(k), np.ones(k)][None, :],
            },
            {
                "type": "ineq",
                "fun": lambda x: np.array([h * h - self.variance(x[k:])]),
                "jac": lambda x: np.r_[np.zeros(k), -(2 * self.quad @ x[k:] + self.lin)][None, :],
            },
        ]
        res = optimize.minimize(
            lambda x: x[:k].sum(),
            x0,
            jac=lambda x: np.r_[np.ones(k), np.zeros(k)],
            constraints=constraints,
            method="SLSQP",
            options={"ftol": 1e-15, "maxiter": 1000},
        )
        # SLSQP at this tolerance often ends on "positive directional derivative" at the optimum, so
        # judge the answer by feasibility, not by its status
        u, w = res.x[:k], res.x[k:]
        feasible = (
            abs(w.sum() - self.target) <= 1e-8 * max(1.0, abs(self.target))
            and self.variance(w) <= h * h * (1 + 1e-6)
            and np.all(u >= np.abs(cum @ w) - 1e-8 * max(1.0, np.abs(w).max()))
        )
        if not (feasible and np.isfinite(res.fun)):
            return math.inf, self.w_min_var
        self._last_w = w
        return float(self.bias_const + np.abs(cum @ w).sum()), w

    def half_length(self, h: float, m: float, alpha: float) -> float:
        bias, _ = self.worst_case_bias(h)
        if not math.isfinite(bias):
            return math.nan
        return _folded_normal_quantile(1 - alpha, m * bias / h) * h


def _optimal_h(problem: _FlciProblem, m: float, alpha: float, num_points: int = 100) -> float:
    """HonestDiD's `.findOptimalCIDerivativeBisection` (half-length is convex in h); grid if that fails."""

    def f(h: float) -> float:
        return problem.half_length(h, m, alpha)

    a, b = problem.h_min, problem.h_min_bias
    if not b > a:
        return a
    dif = min((b - a) / num_points, abs(b) * np.finfo(float).eps ** (1 / 3))
    fa, fb = f(a), f(b)
    fpa, fpb = (f(a + dif) - fa) / dif, (f(b - dif) - fb) / -dif
    failtol = np.finfo(float).eps ** 0.5
    maxiter = 10 * math.ceil(math.log(abs(b - a) / dif) / math.log(2))
    failed = fpa > fpb or math.isnan(fa) or math.isnan(fb)
    if not failed:
        if fpb < 0:
            return b
        if fpa > 0:
            return a
        it = 1
        while not failed and abs(b - a) > dif:
            it += 1
            x = (a + b) / 2
            fpx = (f(x + dif) - f(x - dif)) / (2 * dif)
            failed = fpx > fpb + failtol or fpx + failtol < fpa or it > maxiter
            if fpx > 0:
                b = x
            else:
                a = x
        if not failed:
            return (a + b) / 2
    grid = np.linspace(problem.h_min, problem.h_min_bias, num_points)
    lengths = np.array([f(h) for h in grid])
    if np.isnan(lengths).all():
        raise RuntimeError("no affine estimator found for the FLCI (the variance program failed)")
    return float(grid[np.nanargmin(lengths)])


def smoothness_flci(
    betahat,
    sigma,
    num_pre_periods: int,
    num_post_periods: int,
    m: Sequence[float],
    l_vec=None,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Fixed-length confidence intervals for theta = l_vec' tau_post under Delta^SD(M), one row per M.

    Delta^SD(M): the slope of the trend violation changes by at most M between consecutive periods
    (M = 0: the pre-trend continues linearly). HonestDiD's `createSensitivityResults(method = "FLCI")`;
    M is in the units of betahat per period squared. Columns: m, ci_low, ci_high, half_length, method.
    """
    betahat, sigma, num_pre, num_post, l_vec = _check_inputs(
        betahat, sigma, num_pre_periods, num_post_periods, l_vec
    )
    ms = np.atleast_1d(np.asarray(m, dtype=float))
    if ms.size == 0 or not np.isfinite(ms).all() or (ms < 0).any():
        raise ValueError("m must be one or more finite values >= 0")
    problem = _FlciProblem(sigma, num_pre, num_post, l_vec)
    rows = []
    for mm in ms:
        h = _optimal_h(problem, float(mm), alpha)
        bias, w = problem.worst_case_bias(h)
        half = _folded_normal_quantile(1 - alpha, mm * bias / h) * h
        centre = float((problem.w_to_l @ w) @ betahat[:num_pre] + l_vec @ betahat[num_pre:])
        rows.append(
            {
                "m": float(mm),
                "ci_low": centre - half,
                "ci_high": centre + half,
                "half_length": half,
                "method": "FLCI",
            }
        )
    return pd.DataFrame(rows)
