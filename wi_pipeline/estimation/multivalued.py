"""Average potential outcomes of a multi-valued treatment under selection on observables.

People on social assistance take part in one of several re-integration instruments (or none);
comparing all of them needs the average potential outcome (APO) of every arm for the same
population, not a string of binary comparisons on different samples. Following Imbens (2000),
Lechner (2001) and Cattaneo (2010, J. Econometrics), the generalised propensity score p_k(x)
is a multinomial logit and the APO of arm k is the doubly robust (AIPW) estimate with
normalised weights,

    APO_k = mean_s(m_k(x)) + sum(w_k (y - m_k(x))) / sum(w_k),   w_k = s 1{D=k} / p_k(x),

with m_k the (W)LS outcome regression within arm k and s the sampling weights. For two arms
the contrast APO(1) - APO(0) is exactly the AIPW ATE of `treatment.estimate_treatment_effect`.

Inference uses the influence functions of all APOs jointly, including the estimation effect of
the multinomial logit and of the outcome regressions, summed per cluster (person) when given.
APOs within subgroups reuse the same nuisance fits and share one joint covariance with the
overall APOs, so differences across arms and across subgroups are tested properly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.linalg.blas import dsyrk

from . import _validation as V
from ._inference import (
    if_covariance,
    interval,
    meat_covariance,
    omitted_variable_scale,
    robustness_value,
)
from .results import TreatmentEffectResult, WaldTest, _fmt, flatten_scalars
from .treatment import _PS_QUANTILES, _kish, _variance_label, _wls

# Newton steps use the Hessian of a row subsample of this size (the gradient and the likelihood
# always use every row); the exact full-sample Hessian is formed once at the solution, for a
# final Newton step and for inference. Smaller samples use the full Hessian throughout.
_HESSIAN_ROWS = 50_000
_CHUNK_ROWS = 16_384  # rows per block when forming scores and influence functions
_GPS_MAXITER = 60
_GPS_TOL = 1e-8  # on the largest Newton step (covariates are standardised)
_GPS_TOL_SUBSAMPLE = 1e-6  # with a subsample Hessian, before the exact final step
_GPS_DECREMENT_TOL = (
    1e-10  # Newton decrement: twice the rise in mean log-likelihood the next step predicts
)


# --------------------------------------------------------------------------------------------
# input


@dataclass
class _Sample:
    """Validated arrays of the analysis sample, rows ordered by cluster (clusters contiguous)."""

    Z: np.ndarray  # n x p: [1, standardised covariates]
    D: np.ndarray  # arm codes 0..K-1
    s: np.ndarray  # sampling weights, mean 1
    cl: np.ndarray | None  # cluster codes 0..G-1, non-decreasing; None = every row its own cluster
    rows: np.ndarray  # position of each row in the input DataFrame

    @property
    def n(self) -> int:
        return self.D.shape[0]

    @property
    def n_clusters(self) -> int:
        return self.n if self.cl is None else int(self.cl[-1]) + 1

    def subset(self, keep: np.ndarray) -> _Sample:
        cl = None
        if self.cl is not None:
            c = self.cl[keep]
            cl = np.concatenate([[0], np.cumsum(c[1:] != c[:-1])]).astype(np.int64)
        s = self.s[keep]
        rows = np.flatnonzero(keep)
        return _Sample(
            np.take(self.Z, rows, axis=0), self.D[rows], s / s.mean(), cl, self.rows[rows]
        )

    def cluster_starts(self) -> np.ndarray | None:
        if self.cl is None:
            return None
        return np.flatnonzero(np.concatenate([[True], self.cl[1:] != self.cl[:-1]]))


def _sorted_labels(col: pd.Series, name: str, what: str) -> tuple[np.ndarray, list]:
    """Integer codes of a label column in sorted label order; missing labels are an error."""
    try:
        codes, uniques = pd.factorize(col, sort=True)
    except TypeError:  # mixed types: order by their text
        codes, uniques = pd.factorize(col, sort=False)
        order = np.argsort([str(u) for u in uniques], kind="stable")
        remap = np.empty(len(order), dtype=np.int64)
        remap[order] = np.arange(len(order))
        codes = np.where(codes >= 0, remap[np.maximum(codes, 0)], -1)
        uniques = np.asarray(uniques, dtype=object)[order]
    k = int((codes < 0).sum())
    if k:
        raise ValueError(f"{what} column '{name}' has missing values in {k} of {len(col)} rows")
    labels = uniques.tolist() if hasattr(uniques, "tolist") else list(uniques)
    return codes.astype(np.int64), labels


def _prepare(df, outcomes, treatment, covariates, cluster, weights, groups, allow_missing):
    V.check_dataframe(df)
    outcomes = V.as_list(outcomes)
    if not outcomes:
        raise ValueError("outcomes must name at least one column")
    covs = V.as_list(covariates)
    groups = V.as_list(groups)
    extra = [c for c in (cluster, weights) if c is not None]
    V.check_columns(df, [*outcomes, treatment, *covs, *extra])
    V.check_columns(df, groups)  # a group column may also be a covariate
    clash = [g for g in groups if g in (treatment, cluster, weights, *outcomes)]
    if clash:
        raise ValueError(
            f"group column(s) {clash} are also used as outcome, treatment, cluster or weights"
        )
    n = len(df)
    ys = {o: V.numeric_column(df, o) for o in outcomes}
    xs = {c: V.numeric_column(df, c) for c in covs}
    V.check_finite({**ys, **xs}, n, allow_nan=outcomes if allow_missing else ())

    D, arms = _sorted_labels(df[treatment], treatment, "treatment")
    K = len(arms)
    if K < 2:
        raise ValueError(
            f"treatment column '{treatment}' has a single arm ({arms[0]!r}); at least two are needed"
        )
    counts = np.bincount(D, minlength=K)
    few = [f"{a!r} ({c} row{'s' if c != 1 else ''})" for a, c in zip(arms, counts) if c < 2]
    if few:
        raise ValueError(
            f"treatment column '{treatment}': every arm needs at least 2 rows; "
            f"too few in {', '.join(few)}"
        )
    p = len(covs) + 1
    n_params = _n_params(K, p)
    if n <= n_params:
        raise ValueError(
            f"too few rows ({n}) for {len(covs)} covariate(s) and {K} arms: the propensity and "
            f"outcome models and the APOs have {n_params} parameters"
        )

    s = V.sampling_weights(df, weights, n)
    cl = None
    rows = np.arange(n)
    if cluster is not None:
        codes = V.group_codes(df, cluster)
        rows = np.argsort(codes, kind="stable")
        c = codes[rows]
        cl = np.concatenate([[0], np.cumsum(c[1:] != c[:-1])]).astype(np.int64)
    Z = np.empty((n, p))
    Z[:, 0] = 1.0
    for j, c in enumerate(covs, start=1):
        x = xs[c][rows]
        sd = x.std()
        Z[:, j] = (x - x.mean()) / (
            sd if sd > 0 else 1.0
        )  # a reparametrisation: fits are unchanged
    sample = _Sample(Z, D[rows], s[rows], cl, rows)
    gcodes = {g: _sorted_labels(df[g], g, "group") for g in groups}
    return sample, arms, ys, gcodes


def _n_params(K: int, p: int) -> int:
    return (K - 1) * p + K * p + K  # logit, one regression per arm, the APOs


# --------------------------------------------------------------------------------------------
# generalised propensity score


class _GPS:
    """Multinomial logit of the arm on Z by sampling-weighted maximum likelihood (Newton).

    Arm `ref` is the base category; theta stacks the coefficient vectors of the other arms J
    (arm-major, p each). `H` is the Fisher information per row, sum_i s_i (diag(p_i) - p_i p_i')
    kron x_i x_i' / n over the arms J, and the score of row i is s_i (1{D_i=j} - p_ij) x_i.
    """

    def __init__(self, sample: _Sample, K: int, ref: int):
        self.sample, self.K = sample, K
        self.J = np.array([k for k in range(K) if k != ref])
        self.p = sample.Z.shape[1]
        self.q = (K - 1) * self.p
        self.theta = np.zeros(self.q)
        self.H: np.ndarray | None = None
        self.converged, self.iterations = False, 0

    def _evaluate(self, theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        """Mean log-likelihood, probabilities (n x K) and mean score at theta (in row blocks,
        arms in rows)."""
        Z, D, s, n = self.sample.Z, self.sample.D, self.sample.s, self.sample.n
        coefT = np.zeros((self.K, self.p))
        coefT[self.J] = theta.reshape(self.K - 1, self.p)
        P = np.empty((n, self.K))
        ll, G = 0.0, np.zeros((self.K, self.p))
        for a in range(0, n, _CHUNK_ROWS):
            b = min(a + _CHUNK_ROWS, n)
            Zc, sc, Dc, ar = Z[a:b], s[a:b], D[a:b], np.arange(b - a)
            E = coefT @ Zc.T
            E -= E.max(axis=0)
            own = E[Dc, ar]
            np.exp(E, out=E)
            tot = E.sum(axis=0)
            E /= tot
            ll += float(sc @ (own - np.log(tot)))
            P[a:b] = E.T
            E *= -sc  # now the residuals s (1{D=k} - p_k)
            E[Dc, ar] += sc
            G += E @ Zc
        return ll / n, P, G[self.J].ravel() / n

    def residuals(self, P: np.ndarray, rows: slice = slice(None)) -> np.ndarray:
        """s (1{D=k} - p_k) for all K arms; the score of row i is its J columns kron x_i."""
        D, s = self.sample.D[rows], self.sample.s[rows]
        R = P[rows] * -s[:, None]
        R[np.arange(len(D)), D] += s
        return R

    def _hessian(self, P: np.ndarray, rows: np.ndarray | None) -> np.ndarray:
        Z, s, J, p, q = self.sample.Z, self.sample.s, self.J, self.p, self.q
        total = self.sample.n if rows is None else len(rows)
        Hf = np.zeros((q, q), order="F")
        diag = np.zeros((self.K - 1, p, p))
        A = np.empty((_CHUNK_ROWS, q))
        B = np.empty((_CHUNK_ROWS, p))
        for a in range(0, total, _CHUNK_ROWS):
            idx = slice(a, a + _CHUNK_ROWS) if rows is None else rows[a : a + _CHUNK_ROWS]
            if rows is None:
                Zc, Pc, sc = Z[idx], P[idx], s[idx]
            else:
                Zc, Pc, sc = np.take(Z, idx, axis=0), np.take(P, idx, axis=0), s[idx]
            m = Zc.shape[0]
            W = Pc[:, J] * sc[:, None]
            for j in range(self.K - 1):  # diagonal blocks: sum s p_j x x'
                np.multiply(Zc, W[:, j : j + 1], out=B[:m])
                diag[j] += B[:m].T @ Zc
            Am = _kron_rows(Pc[:, J] * np.sqrt(sc)[:, None], Zc, out=A[:m])
            Hf = dsyrk(
                -1.0, Am.T, beta=1.0, c=Hf, trans=0, overwrite_c=1
            )  # - sum s (p kron x)(p kron x)'
        H = np.triu(Hf) + np.triu(Hf, 1).T
        for j in range(self.K - 1):
            H[j * p : (j + 1) * p, j * p : (j + 1) * p] += diag[j]
        return H / total

    def fit(
        self,
        start: np.ndarray | None = None,
        Hinv: np.ndarray | None = None,
        decrement_tol: float = _GPS_DECREMENT_TOL,
    ) -> np.ndarray:
        """Newton-Raphson with step halving; returns the fitted probabilities (n x K).

        On large samples the Newton steps use the information of a row subsample, kept fixed once
        the steps are small (`Hinv` may pass one in), and stop at a looser tolerance: `finish`
        then takes an exact full-sample step, which lands on the solution (quadratic convergence).
        """
        n = self.sample.n
        theta = np.zeros(self.q) if start is None else start.copy()
        sub, tol = None, _GPS_TOL
        if n > 2 * _HESSIAN_ROWS:
            sub = np.sort(np.random.default_rng(0).choice(n, _HESSIAN_ROWS, replace=False))
            tol = _GPS_TOL_SUBSAMPLE
        ll, P, grad = self._evaluate(theta)
        self.converged = False
        last = np.inf if Hinv is None else 0.0
        for it in range(1, _GPS_MAXITER + 1):
            self.iterations = it
            if (
                sub is None or Hinv is None or last > 1e-2
            ):  # near the solution a subsample Hessian is kept
                Hinv = np.linalg.pinv(self._hessian(P, sub))
            step = Hinv @ grad
            if float(grad @ step) < decrement_tol:
                # the log-likelihood cannot rise by more than this: under quasi-separation a coefficient
                # would otherwise crawl towards infinity for many more steps without changing the fit
                self.converged = True
                break
            t = 1.0
            for _ in range(30):
                ll_new, P_new, grad_new = self._evaluate(theta + t * step)
                if ll_new >= ll - 1e-12 * (1 + abs(ll)):
                    break
                t /= 2
            theta, ll, P, grad = theta + t * step, ll_new, P_new, grad_new
            last = np.max(np.abs(t * step))
            if last < tol:
                self.converged = True
                break
        self.theta, self.P, self.grad, self.Hinv = theta, P, grad, Hinv
        return P

    def finish(self) -> np.ndarray:
        """The full-sample information at the solution, then one exact Newton step."""
        self.H = self._hessian(self.P, None)
        self.theta = self.theta + np.linalg.pinv(self.H) @ self.grad
        _, self.P, self.grad = self._evaluate(self.theta)
        return self.P


def _kron_rows(W: np.ndarray, Z: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Row-wise Kronecker products [W_i1 x_i, ..., W_im x_i] (rows x m*p, C order)."""
    m, k, p = W.shape[0], W.shape[1], Z.shape[1]
    out = np.empty((m, k * p)) if out is None else out
    np.multiply(W[:, :, None], Z[:, None, :], out=out.reshape(m, k, p))
    return out


def _trim_rows(P: np.ndarray, D: np.ndarray, K: int, trim) -> np.ndarray | None:
    if trim is None:
        return None
    if isinstance(trim, str):  # Lechner (2001): common support for every arm's score
        lo = np.max([P[D == j].min(axis=0) for j in range(K)], axis=0)
        hi = np.min([P[D == j].max(axis=0) for j in range(K)], axis=0)
        return np.all((P >= lo) & (P <= hi), axis=1)
    return P.min(axis=1) >= trim


def _check_trim(trim, K: int):
    if trim is None:
        return None
    if isinstance(trim, str):
        if trim.lower() != "minmax":
            raise ValueError(
                f"trim must be None, 'minmax' or a float lower bound on the scores, got {trim!r}"
            )
        return "minmax"
    if isinstance(trim, (bool, np.bool_)) or not isinstance(
        trim, (int, float, np.floating, np.integer)
    ):
        raise ValueError(
            f"trim must be None, 'minmax' or a float lower bound on the scores, got {trim!r}"
        )
    if not 0 <= trim < 1 / K:
        raise ValueError(
            f"a float trim is a lower bound on every arm's score: it needs 0 <= trim < 1/{K} "
            f"with {K} arms, got {trim!r}"
        )
    return float(trim)


# --------------------------------------------------------------------------------------------
# subgroups ("populations") and the cell layout


@dataclass
class _Population:
    """The whole sample (name None) or one subgroup dimension, with its rows sorted two ways."""

    name: str | None
    values: list
    codes: np.ndarray  # value code of every row
    base: int  # first cell: cells base + v*K + k
    order_v: np.ndarray  # rows by value (then cluster)
    order_vk: np.ndarray  # rows by (value, arm) (then cluster)
    bounds_vk: np.ndarray  # cell boundaries in order_vk

    @property
    def V(self) -> int:
        return len(self.values)


def _populations(sample: _Sample, K: int, gcodes: dict) -> list[_Population]:
    pops = []
    base = 0
    dims = [(None, ["(all)"], np.zeros(sample.n, dtype=np.int64))]
    for name, (codes, labels) in gcodes.items():
        c = codes[sample.rows]
        used = np.flatnonzero(np.bincount(c, minlength=len(labels)))
        remap = np.full(len(labels), -1)
        remap[used] = np.arange(len(used))
        dims.append((name, [labels[u] for u in used], remap[c]))
    for name, values, codes in dims:
        Vn = len(values)
        small = np.int16 if Vn * K < 2**15 else np.int64  # radix sort for small codes
        cell = (codes * K + sample.D).astype(small)
        order_vk = np.argsort(cell, kind="stable")
        bounds = np.concatenate([[0], np.cumsum(np.bincount(cell, minlength=Vn * K))])
        order_v = np.argsort(codes.astype(small), kind="stable")
        pops.append(_Population(name, values, codes, base, order_v, order_vk, bounds))
        base += Vn * K
    return pops


def _distinct_units(cl, order, codes, n_codes, obs) -> np.ndarray:
    """Distinct clusters per code among observed rows; `order` sorts rows by code then cluster."""
    o = order[obs[order]]
    c = codes[o]
    if cl is None:
        return np.bincount(c, minlength=n_codes)
    u = cl[o]
    first = np.ones(len(o), dtype=bool)
    first[1:] = (u[1:] != u[:-1]) | (c[1:] != c[:-1])
    return np.bincount(c[first], minlength=n_codes)


# --------------------------------------------------------------------------------------------
# estimation


@dataclass
class _OutcomeFit:
    """Per-outcome nuisance fits, cell estimates and the pieces of the influence functions."""

    name: str
    y0: np.ndarray  # outcome, 0 where missing
    obs: np.ndarray  # observed rows
    MT: np.ndarray  # K x n fitted outcome regressions
    beta: np.ndarray  # p x K coefficients
    Binv: list  # per arm, inverse of X'WX/n
    sO: np.ndarray = None  # s * observed
    w: np.ndarray = None  # s * observed / p_D(x): the IPW weight of a row for its own arm
    eps: np.ndarray = None  # y - m_D(x) on observed rows, else 0
    cells: dict = field(default_factory=dict)  # per population: arrays by (value, arm)


def _fit_outcomes(
    ys: dict, sample: _Sample, P: np.ndarray, K: int, arm_pop: _Population
) -> list[_OutcomeFit]:
    """(W)LS of each outcome on Z within each arm on its observed rows, predicted for every row."""
    n, Z, D, s = sample.n, sample.Z, sample.D, sample.s
    obs = {o: ~np.isnan(y) for o, y in ys.items()}
    y0 = {o: np.where(obs[o], y, 0.0) for o, y in ys.items()}
    beta = np.zeros((Z.shape[1], K * len(ys)))
    Binv = {o: [] for o in ys}
    bd = arm_pop.bounds_vk
    for k in range(K):
        idx = arm_pop.order_vk[bd[k] : bd[k + 1]]
        Zk, sk = np.take(Z, idx, axis=0), s[idx]
        for i, o in enumerate(ys):
            beta[:, i * K + k], Bi = _wls(Zk, y0[o][idx], sk * obs[o][idx], n)
            Binv[o].append(Bi)
    MT_all = beta.T @ Z.T  # arms in rows: the influence-function loops run along the rows
    ar = np.arange(n)
    own_p = P[ar, D]
    fits = []
    for i, o in enumerate(ys):
        MT = MT_all[i * K : (i + 1) * K]
        sO = s * obs[o]
        fits.append(
            _OutcomeFit(
                o,
                y0[o],
                obs[o],
                MT,
                beta[:, i * K : (i + 1) * K],
                Binv[o],
                sO=sO,
                w=sO / own_p,
                eps=np.where(obs[o], y0[o] - MT[D, ar], 0.0),
            )
        )
    return fits


def _cell_sums(
    fit: _OutcomeFit, pop: _Population, sample: _Sample, K: int, units_cache: dict
) -> dict:
    """Sums by value and by (value, arm) for the point estimates (before the covariate sums)."""
    Vn, D = pop.V, sample.D
    cell = pop.codes * K + D
    Bsum = np.bincount(pop.codes, weights=fit.sO, minlength=Vn)
    Dsum = np.bincount(cell, weights=fit.w, minlength=Vn * K).reshape(Vn, K)
    Esum = np.bincount(cell, weights=fit.w * fit.eps, minlength=Vn * K).reshape(Vn, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.where(Dsum > 0, Esum / Dsum, 0.0)
    everyone = bool(fit.obs.all())
    if everyone and pop.name in units_cache:  # counts only depend on which rows are observed
        counts = units_cache[pop.name]
    else:
        counts = dict(
            n_obs=np.bincount(cell[fit.obs], minlength=Vn * K).reshape(Vn, K),
            n_units=_distinct_units(sample.cl, pop.order_vk, cell, Vn * K, fit.obs).reshape(Vn, K),
            pop_obs=np.bincount(pop.codes[fit.obs], minlength=Vn),
            pop_units=_distinct_units(sample.cl, pop.order_v, pop.codes, Vn, fit.obs),
        )
        if everyone:
            units_cache[pop.name] = counts
    return dict(Bsum=Bsum, Dsum=Dsum, eta=eta, **counts)


def _covariate_sums(
    fits: list[_OutcomeFit], pop: _Population, sample: _Sample, P: np.ndarray, gps: _GPS
):
    """For every cell (value v, arm k) and outcome: sum_i w_i (eps_i - eta_vk)(1{k=j} - p_ij) x_i for j in J
    (the logit gradient of the cell's weighted residual mean), sum_i w_i x_i, and sum_i s_i O_i x_i."""
    K, Z, J, p = gps.K, sample.Z, gps.J, gps.p
    m = K - 1
    width = (m + 2) * len(fits)
    for f in fits:
        f.cells[pop.name].update(
            GV=np.zeros((pop.V, K, m * p)), WX=np.zeros((pop.V, K, p)), SOX=np.zeros((pop.V, p))
        )
    for cell in range(pop.V * K):
        lo, hi = pop.bounds_vk[cell], pop.bounds_vk[cell + 1]
        if hi == lo:
            continue
        v, k = divmod(cell, K)
        idx = pop.order_vk[lo:hi]
        dzT = (J == k)[:, None] - np.take(P, idx, axis=0)[:, J].T  # 1{k=j} - p_j, arms in rows
        coefT = np.empty((width, hi - lo))
        for o, f in enumerate(fits):
            w = np.take(f.w, idx)
            r = o * (m + 2)
            np.multiply(
                dzT,
                w * (np.take(f.eps, idx) - f.cells[pop.name]["eta"][v, k]),
                out=coefT[r : r + m],
            )
            coefT[r + m] = w
            coefT[r + m + 1] = np.take(f.sO, idx)
        T = coefT @ np.take(Z, idx, axis=0)
        for o, f in enumerate(fits):
            r = o * (m + 2)
            cs = f.cells[pop.name]
            cs["GV"][v, k] = T[r : r + m].ravel()
            cs["WX"][v, k] = T[r + m]
            cs["SOX"][v] += T[r + m + 1]


def _cell_parameters(f: _OutcomeFit, pops: list[_Population], sample: _Sample, K: int):
    """Estimates and influence-function ingredients of every cell (population, value, arm).

    Returns the estimates (C), the outcome-regression vectors b_c = Binv_k a_c (p x C) with
    a_c = xbar_v - (w-weighted mean of x in the cell), and the logit gradients g_c = d APO_c / d gamma
    ((K-1)p x C); stores the direct-term constants (mu, 1/B, 1/D) per population in f.cells.
    """
    n = sample.n
    est, Bcols, Gcols = [], [], []
    for pop in pops:
        cs = f.cells[pop.name]
        Bsum, Dsum = cs["Bsum"], cs["Dsum"]
        okB, okD = Bsum > 0, Dsum > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            xbar = np.where(okB[:, None], cs["SOX"] / Bsum[:, None], 0.0)
            mu = np.where(okB[:, None], (cs["SOX"] @ f.beta) / Bsum[:, None], 0.0)
            xw = np.where(okD[:, :, None], cs["WX"] / Dsum[:, :, None], 0.0)
            g = np.where(okD[:, :, None], -cs["GV"] / Dsum[:, :, None], 0.0)
            cs["invB"] = np.where(okB, n / Bsum, 0.0)
            cs["invD"] = np.where(okD, n / Dsum, 0.0)
        cs["muT"] = np.ascontiguousarray(mu.T)
        apo = mu + cs["eta"]
        apo[~(okB[:, None] & okD)] = np.nan
        est.append(apo.ravel())
        for v in range(pop.V):
            for k in range(K):
                Bcols.append(f.Binv[k] @ (xbar[v] - xw[v, k]))
                Gcols.append(g[v, k])
    return np.concatenate(est), np.column_stack(Bcols), np.column_stack(Gcols)


def _chunk_bounds(n: int, starts: np.ndarray | None) -> np.ndarray:
    if starts is None:
        return np.unique(np.r_[np.arange(0, n, _CHUNK_ROWS), n])
    cut = starts[np.minimum(np.searchsorted(starts, np.arange(0, n, _CHUNK_ROWS)), len(starts) - 1)]
    return np.unique(np.r_[cut, n])


def _joint_meat(fits, pops, sample: _Sample, gps: _GPS, P, K, Bfull, Theta) -> list[np.ndarray]:
    """Cross-products of the cluster sums of all cells' influence functions, one C x C matrix per outcome.

    psi_ic = 1_v O_i s_i (m_k(x_i) - mu_c) / B_c + 1_v 1{D_i=k} w_i (eps_i - eta_c) / D_c   (direct)
           + 1{D_i=k} s_i O_i eps_i x_i' b_c                                              (outcome regression)
           + score_i' Theta_c,  Theta_c = H^-1 g_c                               (multinomial logit)
    Rows are processed in blocks of whole clusters. A row touches few cells directly (K per
    population, and the (C/K) cells of its own arm through its outcome regression), so those
    terms are summed per (cluster, cell) with one bincount; the logit term is a product of the
    per-cluster score sums with Theta (the n x (K-1)p influence matrix of the logit is never formed).
    """
    Z, D, n = sample.Z, sample.D, sample.n
    C = Bfull[0].shape[1]
    n_fits = len(fits)
    npop = len(pops)
    width = npop * K + C // K
    Bk = [
        [np.ascontiguousarray(B[:, k::K].T) for k in range(K)] for B in Bfull
    ]  # arm k's cells: every K-th
    group_of_cell = np.arange(C // K) * K  # first cell (arm 0) of each (population, value)
    meats = [np.zeros((C, C), order="F") for _ in range(n_fits)]
    Theta_all = np.hstack(Theta)
    bounds = _chunk_bounds(n, sample.cluster_starts())
    for a, b in zip(bounds[:-1], bounds[1:]):
        m = b - a
        Zc, Dc = Z[a:b], D[a:b]
        score = _kron_rows(gps.residuals(P, slice(a, b))[:, gps.J], Zc)
        if sample.cl is None:
            cb, g = np.arange(m), m
        else:  # sum rows by cluster within the block (clusters never straddle blocks)
            cb = sample.cl[a:b] - sample.cl[a]
            g = int(cb[-1]) + 1
            score = sparse.csr_matrix((np.ones(m), (cb, np.arange(m))), shape=(g, m)) @ score
        L = score @ Theta_all
        del score
        # flat (cluster, cell) index of every term a row contributes; terms in rows, data rows in columns
        idx = np.empty((width, m), dtype=np.int64)
        rowbase = cb * C
        for j, pop in enumerate(pops):
            idx[j * K : (j + 1) * K] = (rowbase + pop.base + pop.codes[a:b] * K)[
                None, :
            ] + np.arange(K)[:, None]
        idx[npop * K :] = (rowbase + Dc)[None, :] + group_of_cell[:, None]
        idx = idx.ravel()
        by_arm = [np.flatnonzero(Dc == k) for k in range(K)]
        ar = np.arange(m)
        wt = np.empty((width, m))
        for o, f in enumerate(fits):
            sO, w, eps, MT = f.sO[a:b], f.w[a:b], f.eps[a:b], f.MT[:, a:b]
            for j, pop in enumerate(pops):
                cs = f.cells[pop.name]
                v = pop.codes[a:b]
                vals = wt[j * K : (j + 1) * K]
                np.subtract(MT, np.take(cs["muT"], v, axis=1), out=vals)
                vals *= sO * np.take(cs["invB"], v)
                vals[Dc, ar] += w * (eps - cs["eta"][v, Dc]) * cs["invD"][v, Dc]
            e = sO * eps
            for k in range(K):
                rk = by_arm[k]
                if rk.size:
                    wt[npop * K :, rk] = (Bk[o][k] @ Zc[rk].T) * e[rk]
            psi = np.bincount(idx, weights=wt.ravel(), minlength=g * C).reshape(g, C)
            psi += L[:, o * C : (o + 1) * C]
            meats[o] = dsyrk(1.0, psi.T, beta=1.0, c=meats[o], trans=0, overwrite_c=1)
    return [np.triu(M) + np.triu(M, 1).T for M in meats]


def _balance(sample: _Sample, P: np.ndarray, K: int, arm_pop: _Population) -> dict:
    """Per arm: own-score quantiles, Kish ESS of the IPW weights, and the largest |SMD| of the
    covariates between the arm (sampling-weighted, then IPW-weighted) and the whole sample."""
    Z, s = sample.Z, sample.s
    overlap, ess, means = {}, {}, {}
    tot, tot2 = np.zeros(Z.shape[1]), np.zeros(Z.shape[1])
    for k in range(K):
        idx = arm_pop.order_vk[arm_pop.bounds_vk[k] : arm_pop.bounds_vk[k + 1]]
        pk, sk = P[idx, k], s[idx]
        q = np.quantile(pk, list(_PS_QUANTILES.values()))
        overlap[k] = {
            "min": float(pk.min()),
            **{key: float(v) for key, v in zip(_PS_QUANTILES, q)},
            "max": float(pk.max()),
            "mean": float(np.average(pk, weights=sk) if sk.sum() > 0 else np.nan),
        }
        wk = sk / pk
        ess[k] = _kish(wk)
        Zk = np.take(Z, idx, axis=0)
        before = sk @ Zk
        tot += before
        tot2 += sk @ (Zk * Zk)
        means[k] = (before / sk.sum(), (wk @ Zk) / wk.sum())
    n = s.sum()
    mean = tot / n
    sd = np.sqrt(np.maximum(tot2 / n - mean**2, 0.0))
    balance = {}
    if Z.shape[1] > 1:
        for k in range(K):
            out = {}
            for label, mk in zip(("before", "after"), means[k]):
                with np.errstate(divide="ignore", invalid="ignore"):
                    smd = np.where(sd > 0, (mk - mean) / sd, np.nan)[
                        1:
                    ]  # a constant covariate has no SMD
                known = np.abs(smd[np.isfinite(smd)])
                out[f"max_abs_smd_{label}"] = float(known.max()) if known.size else float("nan")
            balance[k] = out
    return {"overlap": overlap, "ess": ess, "balance": balance}


def _estimate(
    df, outcomes, treatment, covariates, cluster, weights, trim, reference, groups, allow_missing
):
    sample, arms, ys, gcodes = _prepare(
        df, outcomes, treatment, covariates, cluster, weights, groups, allow_missing
    )
    K = len(arms)
    trim = _check_trim(trim, K)
    if reference is None:
        ref = 0
    else:
        ref = _arm_position(arms, reference, treatment)
    n_input = sample.n
    gps = _GPS(sample, K, ref)
    P = gps.fit()
    n_trimmed = np.zeros(K, dtype=np.int64)
    keep = _trim_rows(P, sample.D, K, trim)
    if keep is not None and not keep.all():
        n_trimmed = np.bincount(sample.D[~keep], minlength=K)
        left = np.bincount(sample.D[keep], minlength=K)
        if (left < 2).any():
            bad = ", ".join(
                f"{arms[k]!r} ({left[k]} of {left[k] + n_trimmed[k]} rows left)"
                for k in range(K)
                if left[k] < 2
            )
            rule = "the min-max common-support rule" if trim == "minmax" else f"trim={trim:g}"
            raise ValueError(
                f"trimming the generalised propensity score ({rule}) empties arm(s) {bad} of "
                f"'{treatment}': the arms do not overlap on the covariates; use a looser trim, "
                "fewer covariates, or drop the arm"
            )
        start, Hinv = gps.theta, gps.Hinv
        sample = sample.subset(keep)
        gps = _GPS(sample, K, ref)
        gps.fit(start, Hinv if sample.n > 2 * _HESSIAN_ROWS else None)
    P = gps.finish()

    pops = _populations(sample, K, gcodes)
    arm_pop = pops[0]  # the whole sample: its cells are the arms
    fits = _fit_outcomes(
        {o: ys[o][sample.rows] for o in V.as_list(outcomes)}, sample, P, K, arm_pop
    )
    units_cache: dict = {}
    for f in fits:
        nobs = np.bincount(sample.D[f.obs], minlength=K)
        if (nobs < 2).any():
            bad = [f"{arms[k]!r} ({nobs[k]})" for k in range(K) if nobs[k] < 2]
            raise ValueError(
                f"outcome '{f.name}' is observed on fewer than 2 rows of arm(s) {', '.join(bad)} "
                "(after trimming)"
            )
        for pop in pops:
            f.cells[pop.name] = _cell_sums(f, pop, sample, K, units_cache)
    for pop in pops:
        _covariate_sums(fits, pop, sample, P, gps)
    Hinv = np.linalg.pinv(gps.H)
    Bfull, Theta, estimates = [], [], []
    for f in fits:
        est, Bc, Gc = _cell_parameters(f, pops, sample, K)
        estimates.append(est)
        Bfull.append(Bc)
        Theta.append(Hinv @ Gc)
    meats = _joint_meat(fits, pops, sample, gps, P, K, Bfull, Theta)

    G = sample.n_clusters
    df_t = None if sample.cl is None else G - 1
    diag_arms = _balance(sample, P, K, arm_pop)
    diag: dict = {
        "n_input": n_input,
        "trim": "none" if trim is None else ("minmax" if trim == "minmax" else f"{trim:g}"),
        "n_trimmed": {arms[k]: int(n_trimmed[k]) for k in range(K)},
        "overlap": {arms[k]: v for k, v in diag_arms["overlap"].items()},
        "balance": {arms[k]: v for k, v in diag_arms["balance"].items()},
        "ess": {arms[k]: v for k, v in diag_arms["ess"].items()},
        "propensity_converged": bool(gps.converged),
        "propensity_iterations": int(gps.iterations),
    }
    if sample.cl is not None:
        diag["n_clusters"] = G
        diag["df_inference"] = G - 1

    wlabel = "" if weights is None else f", weighted by '{weights}'"
    ls = "WLS" if weights is not None else "OLS"
    if trim is None:
        trim_label = ""
    elif trim == "minmax":
        trim_label = (
            "; common support by the min-max rule on every arm's score (Lechner 2001), "
            "score re-fitted"
        )
    else:
        trim_label = f"; rows with any arm's score below {trim:g} dropped, score re-fitted"
    method = (
        f"Doubly robust (AIPW) average potential outcomes of a {K}-valued treatment (Cattaneo 2010): "
        f"multinomial-logit generalised propensity score, {ls} outcome model per arm, normalised (Hajek) "
        f"weights{wlabel}{trim_label}; {_variance_label(cluster, None if sample.cl is None else G)}"
    )

    data = _Shared(sample=sample, P=P, K=K, arms=arms, pops=pops)
    results = {}
    for f, est, meat in zip(fits, estimates, meats):
        cov = meat_covariance(meat, sample.n, G)
        bad = ~np.isfinite(est)
        cov[bad, :] = np.nan
        cov[:, bad] = np.nan
        rows, pop_rows = [], []
        for pop in pops:
            cs = f.cells[pop.name]
            for v, value in enumerate(pop.values):
                pop_rows.append(
                    {
                        "dimension": pop.name,
                        "value": value,
                        "n_obs": int(cs["pop_obs"][v]),
                        "n_units": int(cs["pop_units"][v]),
                        "base": pop.base + v * K,
                    }
                )
                for k in range(K):
                    rows.append(
                        {
                            "dimension": pop.name,
                            "value": value,
                            "arm": arms[k],
                            "n_obs": int(cs["n_obs"][v, k]),
                            "n_units": int(cs["n_units"][v, k]),
                        }
                    )
        cells = pd.DataFrame(rows)
        cells.insert(3, "estimate", est)
        se = np.sqrt(np.diag(cov))
        cells.insert(4, "std_error", se)
        ci = [interval(e, s_, df_t)[:2] for e, s_ in zip(est, se)]
        cells.insert(5, "ci_low", [c[0] for c in ci])
        cells.insert(6, "ci_high", [c[1] for c in ci])
        popt = pd.DataFrame(pop_rows)
        n_obs = int(f.obs.sum())
        fdiag = dict(diag)
        fdiag["n_missing_outcome"] = int(sample.n - n_obs)
        outcome_data = _OutcomeData(shared=data, y0=f.y0, obs=f.obs, MT=f.MT)
        results[f.name] = MultivaluedTreatmentResult._build(
            outcome=f.name,
            treatment=treatment,
            cells=cells,
            joint=cov,
            populations=popt,
            arms=arms,
            dimension=None,
            value=None,
            df_resid=float(n_obs - _n_params(K, sample.Z.shape[1])),
            method=method,
            reference=arms[ref],
            diagnostics=fdiag,
            df_inference=df_t,
            data=outcome_data,
        )
    return results


def _arm_position(labels: list, label, column: str, kind: str = "an arm") -> int:
    """Position of a label: exact match first, then by text (so "2" finds arm 2)."""
    for i, a in enumerate(labels):
        if a == label:
            return i
    for i, a in enumerate(labels):
        if str(a) == str(label):
            return i
    raise ValueError(
        f"{label!r} is not {kind} of '{column}'; {'arms' if kind == 'an arm' else 'values'}: {labels}"
    )


@dataclass
class _Shared:
    """Arrays shared by the results of one fit (kept for blp_test; dropped when pickled)."""

    sample: _Sample
    P: np.ndarray
    K: int
    arms: list
    pops: list


@dataclass
class _OutcomeData:
    shared: _Shared
    y0: np.ndarray
    obs: np.ndarray
    MT: np.ndarray  # K x n fitted outcome regressions


# --------------------------------------------------------------------------------------------
# results


@dataclass(repr=False)
class BLPResult:
    """Heterogeneity of the contrast APO(a) - APO(b) along a cross-fitted CATE proxy S(x).

    Chernozhukov, Demirer, Duflo & Fernandez-Val: BLP regression of the doubly robust contrast
    tau on [1, S - mean S]; beta2 > 0 means the proxy predicts the contrast (heterogeneity).
    GATES are the mean contrasts in the quintiles of S.
    """

    contrast: str
    outcome: str
    ate: float
    ate_std_error: float
    beta2: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float  # one-sided, H0: beta2 <= 0
    gates: pd.DataFrame
    gates_difference: float
    gates_std_error: float
    gates_ci_low: float
    gates_ci_high: float
    gates_p_value: float  # two-sided, H0: top quintile = bottom quintile
    folds: int
    n_obs: int
    n_units: int | None
    method: str

    def summary(self) -> str:
        lines = [
            f"Heterogeneity of {self.contrast} on '{self.outcome}' (BLP and GATES)",
            f"Method: {self.method}",
            "-" * 72,
            f"  BLP beta1 (average)   {_fmt(self.ate):>12}    std. error {_fmt(self.ate_std_error):>12}",
            f"  BLP beta2 (slope)     {_fmt(self.beta2):>12}    std. error {_fmt(self.std_error):>12}",
            f"  95% CI [{_fmt(self.ci_low)}, {_fmt(self.ci_high)}]    p-value (beta2 > 0) "
            f"{_fmt(self.p_value)}",
            f"  GATES top - bottom    {_fmt(self.gates_difference):>12}    std. error "
            f"{_fmt(self.gates_std_error):>12}",
            f"  95% CI [{_fmt(self.gates_ci_low)}, {_fmt(self.gates_ci_high)}]    p-value "
            f"{_fmt(self.gates_p_value)}",
            f"  n obs {_fmt(self.n_obs)}   n units {_fmt(self.n_units)}   folds {self.folds}",
            "GATES by quintile of the proxy:",
        ]
        lines += [
            "  " + s for s in self.gates.to_string(float_format=lambda v: f"{v:.4f}").splitlines()
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"BLPResult({self.contrast}, beta2={self.beta2:.4g}, p={self.p_value:.3g})"

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter: BLP beta1, beta2, the five GATES and top minus bottom."""
        g = self.gates
        rows = [
            ("blp_beta1", self.ate, self.ate_std_error, np.nan, np.nan, np.nan),
            ("blp_beta2", self.beta2, self.std_error, self.ci_low, self.ci_high, self.p_value),
        ]
        rows += [
            (f"gates_{q}", r.estimate, r.std_error, r.ci_low, r.ci_high, np.nan)
            for q, r in g.iterrows()
        ]
        rows.append(
            (
                "gates_top_minus_bottom",
                self.gates_difference,
                self.gates_std_error,
                self.gates_ci_low,
                self.gates_ci_high,
                self.gates_p_value,
            )
        )
        out = pd.DataFrame(
            rows, columns=["parameter", "estimate", "std_error", "ci_low", "ci_high", "p_value"]
        )
        out.insert(0, "contrast", self.contrast)
        out.insert(0, "outcome", self.outcome)
        return out


@dataclass(repr=False)
class MultivaluedTreatmentResult:
    """APOs of every arm (overall or within one subgroup), their joint covariance, and tests.

    potential_outcomes: estimate, std_error, ci_low, ci_high, n_obs, n_units by arm.
    covariance: joint covariance of the APOs (arms x arms).
    """

    outcome: str
    treatment: str
    potential_outcomes: pd.DataFrame
    covariance: pd.DataFrame
    n_obs: int
    n_units: int | None
    df_resid: float
    method: str
    reference: Any
    diagnostics: dict = field(default_factory=dict)
    subgroup: tuple | None = None
    _cells: pd.DataFrame = field(default=None, repr=False)
    _joint: np.ndarray = field(default=None, repr=False)
    _populations: pd.DataFrame = field(default=None, repr=False)
    _df_inference: int | None = field(default=None, repr=False)
    _data: _OutcomeData | None = field(default=None, repr=False)

    @classmethod
    def _build(
        cls,
        *,
        outcome,
        treatment,
        cells,
        joint,
        populations,
        arms,
        dimension,
        value,
        df_resid,
        method,
        reference,
        diagnostics,
        df_inference,
        data,
    ):
        pop = populations[_match(populations, dimension, value)].iloc[0]
        sl = slice(int(pop["base"]), int(pop["base"]) + len(arms))
        po = cells.iloc[sl][
            ["estimate", "std_error", "ci_low", "ci_high", "n_obs", "n_units"]
        ].copy()
        po.index = pd.Index(arms, name="arm")
        cov = pd.DataFrame(joint[sl, sl], index=po.index.copy(), columns=po.index.copy())
        clustered = df_inference is not None
        return cls(
            outcome=outcome,
            treatment=treatment,
            potential_outcomes=po,
            covariance=cov,
            n_obs=int(pop["n_obs"]),
            n_units=int(pop["n_units"]) if clustered else int(pop["n_obs"]),
            df_resid=df_resid,
            method=method,
            reference=reference,
            diagnostics=diagnostics,
            subgroup=None if dimension is None else (dimension, value),
            _cells=cells,
            _joint=joint,
            _populations=populations,
            _df_inference=df_inference,
            _data=data,
        )

    # ---- basic accessors

    @property
    def arms(self) -> list:
        return list(self.potential_outcomes.index)

    def _arm(self, label):
        return self.arms[_arm_position(self.arms, label, self.treatment)]

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_data"] = None  # the sample arrays stay with the process that estimated them
        return state

    # ---- contrasts and rankings

    def linear_contrast(
        self, coefficients: dict, estimand: str | None = None
    ) -> TreatmentEffectResult:
        """sum_k c_k APO(k), e.g. the interaction of a 2x2 design
        {both: 1, a_only: -1, b_only: -1, neither: 1}, with its SE from the joint covariance.
        n_treated / n_control: observations in the arms with a positive / negative coefficient."""
        coef = pd.Series({self._arm(k): float(c) for k, c in coefficients.items()})
        po, cov = self.potential_outcomes, self.covariance
        est = float(coef @ po.loc[coef.index, "estimate"])
        var = float(coef @ cov.loc[coef.index, coef.index] @ coef)
        se = float(np.sqrt(var)) if var >= 0 else float("nan")
        lo, hi, p = interval(est, se, self._df_inference)
        terms = " ".join(
            f"{'+' if c > 0 else '-'} {'' if abs(c) == 1 else f'{abs(c):g} '}APO({k})"
            for k, c in coef.items()
        ).removeprefix("+ ")
        diag = {f"apo_{k}": float(po.at[k, "estimate"]) for k in coef.index}
        diag.update({k: v for k, v in self.diagnostics.items() if not isinstance(v, dict)})
        if self.subgroup is not None:
            diag["subgroup"] = f"{self.subgroup[0]} = {self.subgroup[1]}"
        return TreatmentEffectResult(
            estimate=est,
            std_error=se,
            ci_low=lo,
            ci_high=hi,
            p_value=p,
            n_treated=int(po.loc[coef.index[coef > 0], "n_obs"].sum()),
            n_control=int(po.loc[coef.index[coef < 0], "n_obs"].sum()),
            n_obs=self.n_obs,
            n_units=self.n_units if self._df_inference is not None else None,
            df_resid=self.df_resid,
            method=self.method,
            estimand=estimand or terms,
            outcome=self.outcome,
            treatment=self.treatment,
            diagnostics=diag,
        )

    def contrast(self, a, b) -> TreatmentEffectResult:
        """APO(a) - APO(b) with its SE from the joint covariance (t(G-1) interval when clustered)."""
        a, b = self._arm(a), self._arm(b)
        coefficients = {a: 1.0}
        coefficients[b] = coefficients.get(b, 0.0) - 1.0  # a == b: the zero contrast
        result = self.linear_contrast(coefficients, f"APO({a}) - APO({b})")
        po = self.potential_outcomes
        result.n_treated, result.n_control = int(po.at[a, "n_obs"]), int(po.at[b, "n_obs"])
        diag = {"apo_a": float(po.at[a, "estimate"]), "apo_b": float(po.at[b, "estimate"])}
        for key in ("n_trimmed", "overlap", "balance", "ess"):
            if key in self.diagnostics:
                diag[key] = {
                    arm: self.diagnostics[key][arm]
                    for arm in (a, b)
                    if arm in self.diagnostics[key]
                }
        diag.update(
            {k: v for k, v in self.diagnostics.items() if k not in diag and not isinstance(v, dict)}
        )
        if self.subgroup is not None:
            diag["subgroup"] = f"{self.subgroup[0]} = {self.subgroup[1]}"
        result.diagnostics = diag
        return result

    def _cell_rows(self, what: str) -> tuple[_OutcomeData, np.ndarray]:
        """The sample arrays and the rows of this result's cell (its subgroup) with the outcome observed."""
        if self._data is None:
            raise ValueError(
                f"{what} needs the sample arrays, which are not kept when a result is pickled; "
                "run it where the result was estimated"
            )
        dat = self._data
        mask = dat.obs.copy()
        if self.subgroup is not None:
            pop = next(p for p in dat.shared.pops if p.name == self.subgroup[0])
            mask &= pop.codes == pop.values.index(self.subgroup[1])
        return dat, np.flatnonzero(mask)

    def sensitivity(self, a, b, level: float = 0.95) -> dict:
        """How strong a confounder missing from the covariates would have to be to explain APO(a) -
        APO(b) away: the omitted-variable bound of Chernozhukov, Cinelli, Newey, Sharma & Syrgkanis
        (2022). `sensitivity_scale` S bounds the bias by sqrt(C_Y^2 C_D^2 / (1 - C_D^2)) S;
        `robustness_value` is the equal strength C_Y^2 = C_D^2 that brings the estimate to zero,
        `robustness_value_95` the one that brings the interval's nearer end to zero."""
        dat, idx = self._cell_rows("sensitivity")
        a, b = self._arm(a), self._arm(b)
        sh = dat.shared
        smp = sh.sample
        ka, kb = sh.arms.index(a), sh.arms.index(b)
        D, s, P = smp.D[idx], smp.s[idx], sh.P[idx]
        eps = dat.y0[idx] - dat.MT[D, idx]
        riesz = np.zeros(len(idx))
        for k, sign in ((ka, 1.0), (kb, -1.0)):
            w = (D == k) / P[:, k]
            riesz += sign * w / np.average(w, weights=s)  # the normalised (Hajek) weights
        scale = omitted_variable_scale(
            float(np.average(eps**2, weights=s)), float(np.average(riesz**2, weights=s))
        )
        c = self.contrast(a, b)
        return {
            "sensitivity_scale": scale,
            "robustness_value": robustness_value(c.estimate, scale),
            f"robustness_value_{round(level * 100)}": robustness_value(
                c.estimate, scale, c.std_error, level
            ),
        }

    def _selected(self, arms) -> tuple[list, np.ndarray, np.ndarray]:
        if arms is None:
            arms = [a for a in self.arms if np.isfinite(self.potential_outcomes.at[a, "estimate"])]
        else:
            arms = [self._arm(a) for a in arms]
        est = self.potential_outcomes.loc[arms, "estimate"].to_numpy(float)
        cov = self.covariance.loc[arms, arms].to_numpy(float)
        return arms, est, cov

    def rank_sets(
        self, level: float = 0.95, arms: Sequence | None = None, **options
    ) -> pd.DataFrame:
        """Simultaneous confidence sets for the rank of every arm's APO (1 = highest), by arm.

        options (simultaneous, stepdown, draws, seed) go to `ranks.rank_confidence_sets`.
        """
        from .ranks import rank_confidence_sets

        labels, est, cov = self._selected(arms)
        out = rank_confidence_sets(est, cov, level=level, labels=labels, **options)
        out.index = pd.Index(labels, name="arm")
        return out

    def best_set(self, level: float = 0.95, arms: Sequence | None = None, **options) -> list:
        """The arms that cannot be ruled out as the one with the highest APO (`ranks.best_set`)."""
        from .ranks import best_set

        labels, est, cov = self._selected(arms)
        return list(best_set(est, cov, level=level, labels=labels, **options))

    # ---- subgroups

    def _require_groups(self):
        if self.subgroup is not None:
            raise ValueError("this result is already a subgroup; use the overall result")
        dims = [d for d in self._populations["dimension"].unique() if d is not None]
        if not dims:
            raise ValueError("no subgroups were estimated; pass groups=[...] to the estimator")
        return dims

    def within(self, dimension: str, value) -> MultivaluedTreatmentResult:
        """The APOs within one subgroup (same nuisance fits; covariance shared with all cells)."""
        dims = self._require_groups()
        if dimension not in dims:
            raise ValueError(f"'{dimension}' is not a subgroup dimension; estimated: {dims}")
        pops = self._populations
        values = pops.loc[pops["dimension"] == dimension, "value"].tolist()
        value = values[_arm_position(values, value, dimension, kind="a value")]
        sub = MultivaluedTreatmentResult._build(
            outcome=self.outcome,
            treatment=self.treatment,
            cells=self._cells,
            joint=self._joint,
            populations=pops,
            arms=self.arms,
            dimension=dimension,
            value=value,
            df_resid=self.df_resid,
            method=self.method,
            reference=self.reference,
            diagnostics=dict(self.diagnostics),
            df_inference=self._df_inference,
            data=self._data,
        )
        sub.diagnostics["subgroup"] = f"{dimension} = {value}"
        return sub

    def subgroup_table(self, include_overall: bool = False) -> pd.DataFrame:
        """APOs of every (dimension, value, arm) cell: a long table."""
        cells = self._cells
        if self.subgroup is not None:
            dim, value = self.subgroup
            cells = cells[_match(cells, dim, value)]
        elif not include_overall:
            cells = cells[cells["dimension"].notna()]
        out = cells.reset_index(drop=True).copy()
        out.insert(0, "outcome", self.outcome)
        return out

    def heterogeneity_test(self, a, b, dimension: str, values: Sequence | None = None) -> WaldTest:
        """Wald test (chi2, V-1 df) that APO(a) - APO(b) is the same in all V values of `dimension`
        (or in the given `values` only, e.g. those with enough persons to be published)."""
        dims = self._require_groups()
        if dimension not in dims:
            raise ValueError(f"'{dimension}' is not a subgroup dimension; estimated: {dims}")
        a, b = self._arm(a), self._arm(b)
        cells = self._cells.reset_index(drop=True)
        sel = cells["dimension"] == dimension
        if values is not None:
            sel &= cells["value"].astype(str).isin([str(v) for v in values])
        ia = np.flatnonzero(sel & (cells["arm"] == a))
        ib = np.flatnonzero(sel & (cells["arm"] == b))
        est = cells["estimate"].to_numpy()
        delta = est[ia] - est[ib]
        ok = np.isfinite(delta)
        ia, ib, delta = ia[ok], ib[ok], delta[ok]
        hyp = f"APO({a}) - APO({b}) equal across the values of '{dimension}'"
        if len(delta) < 2:
            return WaldTest(float("nan"), 0, float("nan"), None, "chi2", hypothesis=hyp)
        used = np.concatenate([ia, ib])
        V_ab = self._joint[np.ix_(used, used)]
        L = np.hstack(
            [np.eye(len(delta)), -np.eye(len(delta))]
        )  # the contrasts delta_v from (a cells, b cells)
        R = np.hstack(
            [-np.ones((len(delta) - 1, 1)), np.eye(len(delta) - 1)]
        )  # value v minus the first
        d = R @ delta
        S = R @ L @ V_ab @ L.T @ R.T
        Sinv = np.linalg.pinv(S)
        stat = float(d @ Sinv @ d)
        dof = int(np.linalg.matrix_rank(S))
        p = float(stats.chi2.sf(stat, dof)) if dof else float("nan")
        return WaldTest(
            statistic=stat,
            df=dof,
            p_value=p,
            df_denom=None,
            distribution="chi2",
            chi2_statistic=stat,
            chi2_p_value=p,
            hypothesis=hyp + f" ({len(delta)} values)",
        )

    # ---- heterogeneity along the covariates

    def blp_test(self, a, b, folds: int = 5, seed: int = 0) -> BLPResult:
        """Is there heterogeneity in APO(a) - APO(b) at all? BLP and GATES (Chernozhukov et al.).

        The doubly robust contrast tau_i = Gamma_ia - Gamma_ib, Gamma_ik = m_k + 1{D=k}(y - m_k)/p_k,
        is regressed on the covariates in `folds` folds (split by cluster) to get an out-of-fold proxy
        S(x); then (weighted) OLS of tau on [1, S - mean S] gives beta2 (one-sided p for beta2 > 0),
        and the means of tau in the quintiles of S give GATES. SEs are clustered; the nuisance fits
        and the proxy are taken as given, as in the paper.
        """
        dat, idx = self._cell_rows("blp_test")
        folds = int(folds)
        if folds < 2:
            raise ValueError(f"folds must be at least 2, got {folds}")
        a, b = self._arm(a), self._arm(b)
        sh = dat.shared
        smp = sh.sample
        ka, kb = sh.arms.index(a), sh.arms.index(b)
        Z, y, Dd, s = smp.Z[idx], dat.y0[idx], smp.D[idx], smp.s[idx]
        Mm, Pp = dat.MT[:, idx].T, sh.P[idx]
        tau = (
            Mm[:, ka]
            - Mm[:, kb]
            + (Dd == ka) * (y - Mm[:, ka]) / Pp[:, ka]
            - (Dd == kb) * (y - Mm[:, kb]) / Pp[:, kb]
        )
        cl = None
        if smp.cl is not None:
            c = smp.cl[idx]
            cl = np.concatenate([[0], np.cumsum(c[1:] != c[:-1])]).astype(np.int64)
        units = cl if cl is not None else np.arange(len(idx))
        n_units = int(units[-1]) + 1 if len(units) else 0
        if n_units < folds:
            raise ValueError(f"{n_units} units cannot be split into {folds} folds")
        fold_of = np.random.default_rng(seed).permutation(n_units) % folds
        fold = fold_of[units]
        S = np.empty(len(idx))
        for f in range(folds):
            test = fold == f
            beta, _ = _wls(Z[~test], tau[~test], s[~test], int((~test).sum()))
            S[test] = Z[test] @ beta
        dfi = None if cl is None else n_units - 1
        Sc = S - np.average(S, weights=s)
        X = np.column_stack([np.ones(len(idx)), Sc])
        coef, psi = _ols_if(X, tau, s)
        cov, _ = if_covariance(psi, cl)
        se = np.sqrt(np.diag(cov))
        lo, hi, _ = interval(coef[1], se[1], dfi)
        tstat = coef[1] / se[1] if se[1] > 0 else np.nan
        p_one = float(stats.norm.sf(tstat) if dfi is None else stats.t.sf(tstat, dfi))
        # GATES: quintiles of the proxy (by rank, so ties are split evenly)
        q = np.empty(len(idx), dtype=np.int64)
        q[np.argsort(S, kind="stable")] = np.arange(len(idx)) * 5 // len(idx)
        Xg = np.zeros((len(idx), 5))
        Xg[np.arange(len(idx)), q] = 1.0
        gam, psig = _ols_if(Xg, tau, s)
        covg, _ = if_covariance(psig, cl)
        seg = np.sqrt(np.diag(covg))
        gates = pd.DataFrame(
            {"estimate": gam, "std_error": seg},
            index=pd.Index([f"G{i}" for i in range(1, 6)], name="quintile"),
        )
        ci = [interval(g_, s_, dfi)[:2] for g_, s_ in zip(gam, seg)]
        gates["ci_low"] = [c[0] for c in ci]
        gates["ci_high"] = [c[1] for c in ci]
        gates["n_obs"] = np.bincount(q, minlength=5)
        cvec = np.array([-1.0, 0, 0, 0, 1.0])
        diff = float(gam[4] - gam[0])
        dse = float(np.sqrt(cvec @ covg @ cvec))
        dlo, dhi, dp = interval(diff, dse, dfi)
        variance = (
            "SEs clustered by unit, t(G-1) inference"
            if cl is not None
            else "robust SEs, normal inference"
        )
        method = (
            f"BLP/GATES (Chernozhukov, Demirer, Duflo & Fernandez-Val) on the doubly robust contrast; "
            f"proxy: OLS of the contrast on the covariates, cross-fitted in {folds} folds"
            f"{' split by cluster' if cl is not None else ''}; {variance}"
        )
        return BLPResult(
            contrast=f"APO({a}) - APO({b})",
            outcome=self.outcome,
            ate=float(coef[0]),
            ate_std_error=float(se[0]),
            beta2=float(coef[1]),
            std_error=float(se[1]),
            ci_low=lo,
            ci_high=hi,
            p_value=p_one,
            gates=gates,
            gates_difference=diff,
            gates_std_error=dse,
            gates_ci_low=dlo,
            gates_ci_high=dhi,
            gates_p_value=dp,
            folds=folds,
            n_obs=len(idx),
            n_units=n_units if cl is not None else None,
            method=method,
        )

    # ---- display

    def _header(self) -> str:
        where = "" if self.subgroup is None else f" within {self.subgroup[0]} = {self.subgroup[1]}"
        return f"Average potential outcomes of '{self.treatment}' on '{self.outcome}'{where}"

    def _arm_table(self) -> pd.DataFrame:
        tab = self.potential_outcomes.copy()
        for key, cols in (("overlap", ("min", "p50", "max")), ("balance", ("max_abs_smd_after",))):
            d = self.diagnostics.get(key, {})
            for c in cols:
                name = f"gps_{c}" if key == "overlap" else c
                tab[name] = [d.get(a, {}).get(c, np.nan) for a in tab.index]
        for key in ("ess", "n_trimmed"):
            d = self.diagnostics.get(key, {})
            tab[key] = [d.get(a, np.nan) for a in tab.index]
        return tab

    def summary(self) -> str:
        lines = [self._header(), f"Method: {self.method}", "-" * 72]
        tab = self._arm_table()
        lines += ["  " + s for s in tab.to_string(float_format=lambda v: f"{v:.4f}").splitlines()]
        lines.append(
            f"  reference (base) arm {self.reference!r}   n obs {_fmt(self.n_obs)}   n units "
            f"{_fmt(self.n_units)}   df resid {_fmt(self.df_resid, 0)}"
        )
        other = {k: v for k, v in self.diagnostics.items() if not isinstance(v, dict)}
        if other:
            lines.append("Diagnostics:")
            width = max(len(k) for k in other)
            lines += [f"  {k:<{width}}  {_fmt(v)}" for k, v in other.items()]
        dims = (
            []
            if self._populations is None
            else [d for d in self._populations["dimension"].unique() if d is not None]
        )
        if dims and self.subgroup is None:
            lines.append(
                f"Subgroups estimated for: {', '.join(map(str, dims))} (see subgroup_table())"
            )
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        ests = ", ".join(f"{a}={e:.4g}" for a, e in self.potential_outcomes["estimate"].items())
        return f"MultivaluedTreatmentResult(outcome={self.outcome!r}, {ests}, n_obs={self.n_obs})"

    def to_frame(self) -> pd.DataFrame:
        """One row per arm: the APO table plus every scalar diagnostic of that arm."""
        rows = []
        for arm, po in self.potential_outcomes.iterrows():
            row = {"outcome": self.outcome, "treatment": self.treatment}
            if self.subgroup is not None:
                row["dimension"], row["value"] = self.subgroup
            row["arm"] = arm
            row.update(po.to_dict())
            row["n_obs"], row["n_units"] = int(po["n_obs"]), int(po["n_units"])
            for key, prefix in (
                ("overlap", "gps_"),
                ("balance", "balance_"),
                ("ess", "ess"),
                ("n_trimmed", "n_trimmed"),
            ):
                item = self.diagnostics.get(key, {}).get(arm)
                if isinstance(item, dict):
                    row.update(flatten_scalars(item, prefix=prefix))
                elif item is not None:
                    row[prefix] = item
            row["method"] = self.method
            rows.append(row)
        return pd.DataFrame(rows)


def _match(frame: pd.DataFrame, dimension, value) -> np.ndarray:
    if dimension is None:
        return frame["dimension"].isna().to_numpy()
    return ((frame["dimension"] == dimension) & frame["value"].map(lambda v: v == value)).to_numpy()


def _ols_if(X: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(W)LS coefficients and their influence functions (rows), as `treatment._ols_arm`."""
    beta, Binv = _wls(X, y, w, len(y))
    return beta, (X * (w * (y - X @ beta))[:, None]) @ Binv


# --------------------------------------------------------------------------------------------
# public entry points


def estimate_multivalued_treatment(
    df: pd.DataFrame,
    outcome: str,
    treatment: str,
    covariates: Sequence[str] | None = None,
    *,
    cluster: str | None = None,
    weights: str | None = None,
    trim: str | float | None = "minmax",
    reference=None,
    groups: Sequence[str] | None = None,
) -> MultivaluedTreatmentResult:
    """Doubly robust average potential outcomes of every arm of `treatment` on `outcome`.

    treatment: a column of arm labels (two or more arms; sorted). covariates: the confounders
    in both the multinomial-logit propensity score and the per-arm outcome regressions.
    trim: "minmax" (Lechner's common support: every arm's score within the range it takes in
    all arms), a float (drop rows where any arm's score is below it), or None; the score is
    re-fitted on the kept rows. reference: base arm of the logit (a parametrisation only).
    groups: subgroup columns; their APOs share the nuisance fits and one joint covariance.
    weights: sampling weights (normalised to mean 1). cluster: id column for clustered SEs.
    """
    return _estimate(
        df,
        [outcome],
        treatment,
        covariates,
        cluster,
        weights,
        trim,
        reference,
        groups,
        allow_missing=False,
    )[outcome]


def estimate_multivalued_treatments(
    df: pd.DataFrame,
    outcomes: Sequence[str],
    treatment: str,
    covariates: Sequence[str] | None = None,
    *,
    cluster: str | None = None,
    weights: str | None = None,
    trim: str | float | None = "minmax",
    reference=None,
    groups: Sequence[str] | None = None,
) -> dict[str, MultivaluedTreatmentResult]:
    """APOs for several outcomes from one propensity fit: {outcome: result}.

    An outcome may be missing (NaN) on some rows: the score is fitted (and trimmed) on all rows,
    and that outcome's regressions and normalised means use the rows where it is observed.
    """
    outcomes = V.as_list(outcomes)
    if len(set(outcomes)) != len(outcomes):
        raise ValueError(f"outcomes listed more than once: {outcomes}")
    return _estimate(
        df,
        outcomes,
        treatment,
        covariates,
        cluster,
        weights,
        trim,
        reference,
        groups,
        allow_missing=True,
    )
