"""Regression discontinuity at a cutoff in a running variable (e.g. youngest child's age, 60 months).

Estimation and inference are delegated to `rdrobust` (Calonico, Cattaneo & Titiunik): at the
MSE-optimal bandwidth the conventional estimate is biased to the order of its standard error, so
the published estimate is the bias-corrected one with the robust standard error, interval and
p-value built around it (one consistent row: estimate +- 1.96 SE is the interval); the
conventional estimate and its SE travel in the diagnostics. Manipulation of the running variable
is checked with `rddensity` and with a binomial test on the mass just either side of the cutoff.
`rd_robustness` re-estimates at other bandwidths, placebo cutoffs and without the months at the
cutoff (Cattaneo, Idrobo & Titiunik 2020, section 5).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.metadata
import io
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from . import _validation as V
from .results import DiscontinuityResult

_KERNELS = {
    "triangular": "triangular",
    "tri": "triangular",
    "uniform": "uniform",
    "uni": "uniform",
    "epanechnikov": "epanechnikov",
    "epa": "epanechnikov",
}


@contextlib.contextmanager
def _quiet(record: list[str]):
    """rdrobust/rddensity print to stdout and emit warnings; keep them out of notebooks but record them."""
    with (
        warnings.catch_warnings(record=True) as caught,
        contextlib.redirect_stdout(io.StringIO()) as out,
    ):
        warnings.simplefilter("always")
        yield
    record.extend(str(w.message).strip() for w in caught)
    record.extend(line.strip() for line in out.getvalue().splitlines() if line.strip())


def _first(frame, row: int) -> float:
    return float(np.asarray(frame)[row, 0])


def _discrete_step(x: np.ndarray) -> float | None:
    """Spacing of a running variable on a regular grid (e.g. whole months), else None."""
    u = np.unique(x)
    if u.size < 2 or u.size > 5000:
        return None
    step = float(np.min(np.diff(u)))
    if step <= 0 or not np.allclose((u - u[0]) / step, np.round((u - u[0]) / step), atol=1e-8):
        return None
    return step


def _binomial_test(x: np.ndarray, cutoff: float, window: float | None) -> dict:
    """Counts in [c - w, c) and [c, c + w): under no sorting each side holds about half."""
    out: dict = {}
    if window is None:
        step = _discrete_step(x)
        if step is not None:
            window = step  # one mass point either side, e.g. ages 59 and 60 months
        else:
            dist = np.abs(x - cutoff)
            left, right = np.sort(dist[x < cutoff]), np.sort(dist[x >= cutoff])
            k = 20
            if left.size < k or right.size < k:
                out["binomial_computable"] = False
                out["binomial_reason"] = "fewer than 20 observations on one side of the cutoff"
                return out
            window = float(max(left[k - 1], right[k - 1])) * (1 + 1e-9)
    n_l = int(np.sum((x >= cutoff - window) & (x < cutoff)))
    n_r = int(np.sum((x >= cutoff) & (x < cutoff + window)))
    out["binomial_window"] = float(window)
    out["binomial_n_left"] = n_l
    out["binomial_n_right"] = n_r
    if n_l + n_r == 0:
        out["binomial_computable"] = False
        out["binomial_reason"] = "no observations within the window"
        return out
    out["binomial_computable"] = True
    out["binomial_p_value"] = float(stats.binomtest(n_r, n_l + n_r, 0.5).pvalue)
    return out


def _density_test(x: np.ndarray, cutoff: float) -> dict:
    msgs: list[str] = []
    try:
        with _quiet(msgs):
            # the import sets a global FutureWarning filter; keep it inside this context
            from rddensity import rddensity

            res = rddensity(X=x, c=cutoff)
        t = float(res.test["t_jk"])
        p = float(res.test["p_jk"])
        if not (np.isfinite(t) and np.isfinite(p)):
            return {
                "density_computable": False,
                "density_reason": "rddensity returned a non-finite statistic",
            }
        return {
            "density_computable": True,
            "density_T": t,
            "density_p_value": p,
            "density_bandwidth_left": float(res.h["left"]),
            "density_bandwidth_right": float(res.h["right"]),
            "density_n_left": int(res.n["eff_left"]),
            "density_n_right": int(res.n["eff_right"]),
            "density_mass_points_adjusted": bool(res.massPoints_flag),
        }
    except Exception as exc:  # rddensity raises bare Exceptions, e.g. with too few distinct values
        return {"density_computable": False, "density_reason": f"{type(exc).__name__}: {exc}"}


def _cluster_sums_vce(original):
    """rdrobust's CR1 cluster variance with the per-cluster Python loop replaced by one grouped sum.

    sum_g (X_g' r_g s)(X_g' r_g s)' equals S'S with S the per-cluster column sums of X * (r s); the
    loop costs seconds per call with 10^4-10^5 clusters. Every other variance goes to rdrobust itself.
    """

    def vce(
        d,
        s,
        RX,
        res,
        C,
        invG=None,
        sqrtRX=None,
        crv2=False,
        k_override=None,
        cluster_idx=None,
        G=None,
    ):
        if C is None or invG is not None or crv2:
            return original(
                d,
                s,
                RX,
                res,
                C,
                invG=invG,
                sqrtRX=sqrtRX,
                crv2=crv2,
                k_override=k_override,
                cluster_idx=cluster_idx,
                G=G,
            )
        codes = np.unique(np.asarray(C).reshape(-1), return_inverse=True)[1].reshape(-1)
        g = int(codes.max()) + 1 if codes.size else 0
        k = RX.shape[1]
        n, k_df = codes.size, (k if k_override is None else k_override)
        r = (
            res[:, 0]
            if d == 0
            else np.asarray(res) @ np.asarray(s, dtype=float).reshape(-1)[: d + 1]
        )
        scores = RX * r.reshape(-1, 1)
        S = np.column_stack(
            [np.bincount(codes, weights=scores[:, j], minlength=g) for j in range(k)]
        )
        w = ((n - 1) / (n - k_df)) * (g / (g - 1)) if g > 1 else np.nan
        return w * (S.T @ S)

    vce.wraps_original = original
    return vce


# The rdrobust release series whose rdrobust_vce the grouped sum is tested against (pyproject pins it
# too): under any other version rdrobust's own loop runs, slower and unchanged.
RDROBUST_CHECKED = "2.1"


def _rdrobust_version() -> str:
    return importlib.metadata.version("rdrobust")


@contextlib.contextmanager
def _fast_cluster_variance():
    """Swap in the grouped-sum CR1 variance while rdrobust runs (its modules import the name by value)."""
    if not _rdrobust_version().startswith(f"{RDROBUST_CHECKED}."):
        yield
        return
    # import_module gives the modules; the package shadows two of them with same-named functions
    funs, *others = (
        importlib.import_module(f"rdrobust.{m}") for m in ("funs", "rdbwselect", "rdrobust")
    )
    modules = [m for m in (funs, *others) if hasattr(m, "rdrobust_vce")]
    saved = {m: m.rdrobust_vce for m in modules}
    original = getattr(funs.rdrobust_vce, "wraps_original", funs.rdrobust_vce)
    fast = _cluster_sums_vce(original)
    try:
        for m in modules:
            m.rdrobust_vce = fast
        yield
    finally:
        for m, f in saved.items():
            m.rdrobust_vce = f


def _rdrobust(msgs, **kw):
    from rdrobust import rdrobust

    try:
        with _quiet(msgs), _fast_cluster_variance():
            return rdrobust(**kw)
    except Exception as exc:
        raise ValueError(f"rdrobust failed: {exc}") from exc


def estimate_discontinuity(
    df: pd.DataFrame,
    outcome: str,
    running: str,
    cutoff: float,
    fuzzy: str | None = None,
    *,
    covariates: Sequence[str] | None = None,
    cluster: str | None = None,
    weights: str | None = None,
    p: int = 1,
    kernel: str = "triangular",
    bandwidth: float | tuple[float, float] | None = None,
    bwselect: str = "mserd",
    vce: str = "hc1",
    density_test: bool = True,
    binomial_window: float | None = None,
    rho: float | None = None,
) -> DiscontinuityResult:
    """Jump in `outcome` at `running` == `cutoff` (right side: running >= cutoff, minus left side).

    The estimate is bias-corrected and its SE, 95% interval and p-value are the robust ones, so the
    row is consistent; the conventional estimate and SE are `estimate_conventional` and
    `std_error_conventional` (diagnostics).
    fuzzy: 0/1 treatment column whose probability jumps at the cutoff; the estimate is then
    the Wald (local IV) ratio and the first stage is reported in the diagnostics.
    vce: rdrobust variance. The default "hc1" is used because rdrobust's nearest-neighbour
    "nn" is very slow on large samples without numba; with `cluster` rdrobust switches to "cr1".
    bandwidth: fixed h (one value or (left, right)); None selects it with `bwselect`. With a fixed
    h the bias bandwidth is b = h / rho, and rdrobust's rho = 1 (b = h) when rho is None.
    """
    V.check_dataframe(df)
    if kernel.lower() not in _KERNELS:
        raise ValueError(f"kernel must be one of {sorted(set(_KERNELS.values()))}, got {kernel!r}")
    kern = _KERNELS[kernel.lower()]
    covs = V.as_list(covariates)
    cols = [outcome, running, *([fuzzy] if fuzzy else []), *covs]
    V.check_columns(df, cols + [c for c in (cluster, weights) if c is not None])
    arrays = {c: V.numeric_column(df, c) for c in cols}
    V.check_finite(arrays, len(df))
    y, x = arrays[outcome], arrays[running]
    cutoff = float(cutoff)
    n_l_all, n_r_all = int(np.sum(x < cutoff)), int(np.sum(x >= cutoff))
    if n_l_all == 0 or n_r_all == 0:
        raise ValueError(
            f"'{running}' has {n_l_all} observations left and {n_r_all} right of the cutoff "
            f"{cutoff:g}; both sides are needed"
        )
    d = None
    if fuzzy:
        d = V.binary_column(arrays[fuzzy], fuzzy)
    w = None
    if weights is not None:
        w = V.sampling_weights(df, weights, len(df))
    cl = V.group_codes(df, cluster) if cluster is not None else None
    Z = np.column_stack([arrays[c] for c in covs]) if covs else None

    msgs: list[str] = []
    kw = dict(
        y=y,
        x=x,
        c=cutoff,
        p=p,
        kernel=kern,
        bwselect=bwselect,
        vce=vce,
        covs=Z,
        cluster=cl,
        weights=w,
    )
    if bandwidth is not None:
        kw["h"] = bandwidth
    if rho is not None:
        kw["rho"] = rho
    r = _rdrobust(msgs, fuzzy=d, **kw)

    # rdrobust's rows: conventional, bias-corrected (conventional SE), robust (bias-corrected, robust SE)
    est = _first(r.coef, 2)
    se_rb, pv_rb = _first(r.se, 2), _first(r.pv, 2)
    ci = np.asarray(r.ci)
    h_l, h_r = float(r.bws.loc["h", "left"]), float(r.bws.loc["h", "right"])
    b_l, b_r = float(r.bws.loc["b", "left"]), float(r.bws.loc["b", "right"])
    n_l, n_r = int(r.N_h[0]), int(r.N_h[1])

    diag: dict = {
        "bandwidth": h_l if h_l == h_r else float("nan"),
        "bandwidth_left": h_l,
        "bandwidth_right": h_r,
        "bandwidth_bias_left": b_l,
        "bandwidth_bias_right": b_r,
        "bwselect": bwselect if bandwidth is None else "manual",
        "kernel": kern,
        "polynomial_order": p,
        "vce": str(r.vce),
        "n_left": n_l,
        "n_right": n_r,
        "n_effective": n_l + n_r,
        "n_left_total": n_l_all,
        "n_right_total": n_r_all,
        "estimate_conventional": _first(r.coef, 0),
        "std_error_conventional": _first(r.se, 0),
        "ci_low_conventional": float(ci[0, 0]),
        "ci_high_conventional": float(ci[0, 1]),
        "p_value_conventional": _first(r.pv, 0),
    }
    if r.n_clust is not None:
        diag["n_clusters"] = int(r.n_clust)

    if d is not None:
        if getattr(r, "tau_T", None) is not None:
            fs_est, fs_se = _first(r.tau_T, 0), _first(r.se_T, 0)
            fs_rb_se, fs_rb_p = _first(r.se_T, 2), _first(r.pv_T, 2)
            fs_ci = np.asarray(r.ci_T)[2]
        else:  # older rdrobust: re-run on the treatment with the same bandwidths
            r_fs = _rdrobust(msgs, **{**kw, "y": d, "h": (h_l, h_r), "b": (b_l, b_r)})
            fs_est, fs_se = _first(r_fs.coef, 0), _first(r_fs.se, 0)
            fs_rb_se, fs_rb_p = _first(r_fs.se, 2), _first(r_fs.pv, 2)
            fs_ci = np.asarray(r_fs.ci)[2]
        t = fs_est / fs_se if fs_se > 0 else float("nan")
        diag.update(
            {
                "first_stage_estimate": fs_est,
                "first_stage_std_error": fs_se,
                "first_stage_t": t,
                "first_stage_F": t**2,
                # Staiger-Stock rule of thumb: with F under 10 the Wald ratio is
                # biased and its interval unreliable
                "weak_first_stage": bool(not t**2 >= 10),
                "first_stage_p_value_robust": fs_rb_p,
                "first_stage_std_error_robust": fs_rb_se,
                "first_stage_ci_low_robust": float(fs_ci[0]),
                "first_stage_ci_high_robust": float(fs_ci[1]),
            }
        )

    if density_test:
        diag.update(_density_test(x, cutoff))
    diag.update(_binomial_test(x, cutoff, binomial_window))
    if msgs:
        diag["messages"] = "; ".join(dict.fromkeys(msgs))

    design = "Fuzzy RD (local Wald ratio)" if d is not None else "Sharp RD"
    cov_label = f", covariates {covs}" if covs else ""
    var_label = (
        f"clustered by '{cluster}' ({r.n_clust} clusters, {r.vce})"
        if cl is not None
        else f"vce {r.vce}"
    )
    bw_label = (
        ("manual bandwidth" if bandwidth is not None else f"{bwselect} MSE-optimal bandwidth")
        + f" h={h_l:.4g}"
        + ("" if h_l == h_r else f"/{h_r:.4g}")
        + f", bias bandwidth b={b_l:.4g}"
        + ("" if b_l == b_r else f"/{b_r:.4g}")
    )
    method = (
        f"{design} via rdrobust: local polynomial p={p}, {kern} kernel, {bw_label}{cov_label}; "
        f"bias-corrected point estimate with its robust SE, 95% CI and p-value "
        f"(Calonico, Cattaneo & Titiunik 2014; conventional estimate and SE in the diagnostics); "
        f"{var_label}"
    )
    n_par = 2 * (p + 1) + (Z.shape[1] if Z is not None else 0)
    return DiscontinuityResult(
        estimate=est,
        std_error=se_rb,
        ci_low=float(ci[2, 0]),
        ci_high=float(ci[2, 1]),
        p_value=pv_rb,
        n_treated=n_r,
        n_control=n_l,
        n_obs=len(df),
        n_units=None if r.n_clust is None else int(r.n_clust),
        df_resid=float(n_l + n_r - n_par),
        method=method,
        estimand="LATE at cutoff" if d is not None else "jump at cutoff",
        outcome=outcome,
        running=running,
        cutoff=cutoff,
        diagnostics=diag,
    )


def rd_window(
    x: np.ndarray, cutoff: float, h_left: float, h_right: float, kernel: str = "triangular"
) -> tuple[np.ndarray, np.ndarray]:
    """Observations with positive kernel weight left and right of the cutoff, as rdrobust counts N_h
    (a triangular kernel gives the bandwidth's edge weight zero): who an estimate rests on."""
    kern = _KERNELS[kernel.lower()]
    x = np.asarray(x, dtype=float)
    u = np.abs(x - cutoff) / np.where(x < cutoff, h_left, h_right)
    positive = u <= 1 if kern == "uniform" else u < 1
    return (x < cutoff) & positive, (x >= cutoff) & positive


ROBUSTNESS_MULTIPLES = (0.5, 0.75, 1.0, 1.5, 2.0)
_ROBUSTNESS_OPTIONS = {"covariates", "cluster", "weights", "p", "kernel", "bwselect", "vce"}
ROBUSTNESS_COLUMNS = [
    "variant",
    "label",
    "cutoff",
    "multiple",
    "bandwidth",
    "bandwidth_left",
    "bandwidth_right",
    "bandwidth_bias",
    "estimate",
    "std_error",
    "ci_low",
    "ci_high",
    "p_value",
    "estimate_conventional",
    "std_error_conventional",
    "p_value_conventional",
    "n_left",
    "n_right",
    "persons_left",
    "persons_right",
    "df_resid",
    "sample_low",
    "sample_high",
    "excluded_low",
    "excluded_high",
    "excluded_values",
    "method",
    "error",
]


def _dropped_values(x: np.ndarray, low: float, high: float) -> str:
    """The running-variable values a donut drops, listed when they are few (e.g. months 59 and 60)."""
    u = np.unique(x[(x >= low) & (x < high)])
    return ", ".join(f"{v:g}" for v in u) if u.size <= 10 else f"{u.size} values"


def rd_robustness(
    df: pd.DataFrame,
    outcome: str,
    running: str,
    cutoff: float,
    fuzzy: str | None = None,
    *,
    bandwidth: float | tuple[float, float] | None = None,
    multiples: Sequence[float] = ROBUSTNESS_MULTIPLES,
    placebo_cutoffs: Sequence[float] = (),
    donut: float | None = None,
    unit: str | None = None,
    rho: float | None = None,
    **options,
) -> pd.DataFrame:
    """The RD estimate re-done the ways a referee asks (Cattaneo, Idrobo & Titiunik 2020, section 5).

    - ``bandwidth``: the MSE-optimal h (one value or (left, right)); None selects it here and adds the
      data-driven fit as the first row (variant "mse_optimal").
    - bandwidth sensitivity: fixed h = multiple x the MSE-optimal h; the bias bandwidth is b = h / rho,
      rdrobust's b = h when ``rho`` is None. The 1x row differs from the data-driven fit only in b.
    - placebo cutoffs: the same estimator at a cutoff where nothing happens, using only the
      observations on that cutoff's side of the real one (a real jump would otherwise leak in), with
      the bandwidth selected anew. Sharp only: a placebo cutoff has no first stage.
    - donut: drops running in [cutoff - donut, cutoff + donut) (with whole months and donut = 1: the
      months just before and at the cutoff), bandwidth selected anew.

    Every row is bias-corrected with the robust SE, like ``estimate_discontinuity``; the
    conventional estimate and SE sit next to it. ``persons_left``/``persons_right`` count distinct
    ``unit`` values with positive kernel weight (observations when ``unit`` is None). A variant that
    cannot be estimated keeps its row with the reason in ``error``. ``options`` go to
    ``estimate_discontinuity`` (covariates, cluster, weights, p, kernel, bwselect, vce).
    """
    unknown = set(options) - _ROBUSTNESS_OPTIONS
    if unknown:
        raise ValueError(
            f"unknown option(s) {sorted(unknown)}; rd_robustness passes on "
            f"{sorted(_ROBUSTNESS_OPTIONS)}"
        )
    V.check_dataframe(df)
    V.check_columns(df, [outcome, running, *([fuzzy] if fuzzy else []), *([unit] if unit else [])])
    x = V.numeric_column(df, running)
    cutoff = float(cutoff)
    if fuzzy and len(placebo_cutoffs):
        raise ValueError(
            "placebo cutoffs are for the sharp design: at a placebo cutoff the treatment has no "
            "first stage, so the fuzzy ratio is undefined"
        )
    for c in placebo_cutoffs:
        side = x < cutoff if c < cutoff else x >= cutoff
        if c == cutoff or not (np.any(side & (x < c)) and np.any(side & (x >= c))):
            raise ValueError(
                f"placebo cutoff {c:g} needs observations on both of its sides within the "
                f"{'left' if c < cutoff else 'right'} side of the cutoff {cutoff:g}"
            )
    if donut is not None and not donut > 0:
        raise ValueError(f"donut must be a positive distance from the cutoff, got {donut!r}")
    if multiples and any(not m > 0 for m in multiples):
        raise ValueError(f"bandwidth multiples must be positive, got {list(multiples)}")
    kern = options.get("kernel", "triangular")
    ids = df[unit].to_numpy() if unit else None
    rows = []

    def fit(variant, label, keep, c, multiple=np.nan, excluded=(np.nan, np.nan), **kw):
        sample = (-np.inf, np.inf)
        if variant == "placebo":
            sample = (-np.inf, cutoff) if c < cutoff else (cutoff, np.inf)
        row = dict(
            variant=variant,
            label=label,
            cutoff=c,
            multiple=multiple,
            sample_low=sample[0],
            sample_high=sample[1],
            excluded_low=excluded[0],
            excluded_high=excluded[1],
            excluded_values=_dropped_values(x, *excluded) if variant == "donut" else "",
            error="",
        )
        part = df if keep is None else df.loc[keep]
        try:
            r = estimate_discontinuity(
                part, outcome, running, c, fuzzy, density_test=False, **options, **kw
            )
        except (ValueError, np.linalg.LinAlgError) as err:
            rows.append({**row, "error": str(err)})
            return None
        dg = r.diagnostics
        h_l, h_r = dg["bandwidth_left"], dg["bandwidth_right"]
        xs = x if keep is None else x[keep]
        left, right = rd_window(xs, c, h_l, h_r, kern)
        if ids is None:
            persons = int(left.sum()), int(right.sum())
        else:
            unit_ids = ids if keep is None else ids[keep]
            persons = len(pd.unique(unit_ids[left])), len(pd.unique(unit_ids[right]))
        rows.append(
            {
                **row,
                "bandwidth": dg["bandwidth"],
                "bandwidth_left": h_l,
                "bandwidth_right": h_r,
                "bandwidth_bias": dg["bandwidth_bias_left"],
                "estimate": r.estimate,
                "std_error": r.std_error,
                "ci_low": r.ci_low,
                "ci_high": r.ci_high,
                "p_value": r.p_value,
                "estimate_conventional": dg["estimate_conventional"],
                "std_error_conventional": dg["std_error_conventional"],
                "p_value_conventional": dg["p_value_conventional"],
                "n_left": dg["n_left"],
                "n_right": dg["n_right"],
                "persons_left": persons[0],
                "persons_right": persons[1],
                "df_resid": r.df_resid,
                "method": r.method,
            }
        )
        return r

    if bandwidth is None:
        main = fit("mse_optimal", "MSE-optimal bandwidth (data-driven h and b)", None, cutoff)
        if main is None:
            raise ValueError(
                f"the MSE-optimal fit failed, so there is no bandwidth to vary: {rows[0]['error']}"
            )
        h_mse = (main.diagnostics["bandwidth_left"], main.diagnostics["bandwidth_right"])
    else:
        h_mse = (float(bandwidth),) * 2 if np.isscalar(bandwidth) else tuple(map(float, bandwidth))
    b_words = "b = h" if rho is None else f"b = h / {rho:g}"
    for m in multiples:
        h = (m * h_mse[0], m * h_mse[1])
        fit(
            "bandwidth",
            f"bandwidth {m:g}x MSE-optimal (h = {h[0]:.3g}, {b_words})",
            None,
            cutoff,
            multiple=float(m),
            bandwidth=h,
            rho=rho,
        )
    if donut is not None:
        excluded = (cutoff - donut, cutoff + donut)
        keep = ~((x >= excluded[0]) & (x < excluded[1]))
        fit(
            "donut",
            f"donut without {running} in [{excluded[0]:g}, {excluded[1]:g})",
            keep,
            cutoff,
            excluded=excluded,
        )
    for c in placebo_cutoffs:
        keep = x < cutoff if c < cutoff else x >= cutoff
        fit(
            "placebo",
            f"placebo cutoff at {c:g} ({running} {'<' if c < cutoff else '>='} {cutoff:g} only)",
            keep,
            float(c),
        )
    return pd.DataFrame(rows).reindex(columns=ROBUSTNESS_COLUMNS)


def binned_means(
    df: pd.DataFrame,
    outcome: str,
    running: str,
    cutoff: float,
    bins: int | Sequence[float] = 20,
    *,
    window: tuple[float, float] | None = None,
) -> pd.DataFrame:
    """Mean outcome per bin of the running variable for an RD plot; bins never straddle the cutoff.

    bins: number of equal-width bins on each side, or explicit edges (the cutoff is added as an
    edge). Intervals are [low, high); the last bin also holds its upper edge. Small bins are
    returned as is: suppress them (n < 10) before export.
    """
    V.check_dataframe(df)
    V.check_columns(df, [outcome, running])
    arrays = {c: V.numeric_column(df, c) for c in (outcome, running)}
    V.check_finite(arrays, len(df))
    y, x = arrays[outcome], arrays[running]
    cutoff = float(cutoff)
    lo, hi = (float(x.min()), float(x.max())) if window is None else map(float, window)
    if not lo < cutoff <= hi:
        raise ValueError(f"the cutoff {cutoff:g} must lie inside the range [{lo:g}, {hi:g}]")
    if isinstance(bins, (int, np.integer)):
        if bins < 1:
            raise ValueError("bins must be a positive number of bins per side")
        edges = np.unique(
            np.concatenate([np.linspace(lo, cutoff, bins + 1), np.linspace(cutoff, hi, bins + 1)])
        )
    else:
        edges = np.unique(np.append(np.asarray(bins, dtype=float), cutoff))
        edges = edges[(edges >= lo) & (edges <= hi)]
    inside = (x >= edges[0]) & (x <= edges[-1])
    idx = np.clip(np.searchsorted(edges, x[inside], side="right") - 1, 0, len(edges) - 2)
    g = pd.DataFrame({"bin": idx, "y": y[inside], "x": x[inside]}).groupby("bin")
    out = pd.DataFrame(
        {
            "n": g["y"].size(),
            "mean": g["y"].mean(),
            "std_error": g["y"].sem(),
            "running_mean": g["x"].mean(),
        }
    )
    out = out.reindex(range(len(edges) - 1))
    out["n"] = out["n"].fillna(0).astype(int)
    out.insert(0, "bin_low", edges[:-1])
    out.insert(1, "bin_high", edges[1:])
    out.insert(2, "bin_mid", (edges[:-1] + edges[1:]) / 2)
    out.insert(0, "side", np.where(edges[:-1] >= cutoff, "right", "left"))
    return out.reset_index(drop=True)
