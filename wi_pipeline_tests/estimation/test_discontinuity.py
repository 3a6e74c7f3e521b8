import importlib

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from wi_pipeline.estimation import (
    DiscontinuityResult,
    binned_means,
    estimate_discontinuity,
    rd_robustness,
    rd_window,
)


def months(rng, n=3000, jump=1.0, noise=1.0, take_up=None):
    x = rng.integers(0, 120, n).astype(float)
    right = x >= 60
    if take_up is None:
        d = right.astype(float)
    else:
        d = (rng.random(n) < np.where(right, take_up[1], take_up[0])).astype(float)
    y = 0.5 + 0.01 * x + jump * d + noise * rng.normal(size=n)
    return pd.DataFrame({"y": y, "x": x, "d": d, "id": np.arange(n) // 3, "z": rng.normal(size=n)})


def test_sharp_jump_recovered_with_tiny_noise():
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, 4000)
    df = pd.DataFrame(
        {"x": x, "y": 0.3 + 0.5 * x + 2.0 * (x >= 0) + 1e-3 * rng.normal(size=x.size)}
    )
    r = estimate_discontinuity(df, "y", "x", 0.0)
    assert isinstance(r, DiscontinuityResult)
    assert r.estimate == pytest.approx(2.0, abs=1e-3)
    assert r.ci_low < 2.0 < r.ci_high


def test_sharp_result_fields_and_diagnostics():
    df = months(np.random.default_rng(2))
    r = estimate_discontinuity(df, "y", "x", 60)
    dg = r.diagnostics
    assert r.n_treated == dg["n_right"] and r.n_control == dg["n_left"]
    assert dg["n_effective"] == dg["n_left"] + dg["n_right"] <= len(df)
    assert dg["bandwidth"] > 0 and dg["kernel"] == "triangular"
    assert r.std_error > dg["std_error_conventional"]  # robust SE accounts for the bias correction
    assert r.df_resid == dg["n_effective"] - 4
    assert "robust SE" in r.method and "bias-corrected point estimate" in r.method
    assert "first_stage_estimate" not in dg
    assert abs(r.estimate - 1.0) < 4 * r.std_error
    frame = r.to_frame()
    assert frame.shape[0] == 1 and "bandwidth" in frame and "binomial_p_value" in frame
    assert "Regression discontinuity" in str(r)


def test_fuzzy_reports_first_stage():
    df = months(np.random.default_rng(3), n=4000, take_up=(0.7, 0.1))
    r = estimate_discontinuity(df, "y", "x", 60, fuzzy="d")
    dg = r.diagnostics
    assert dg["first_stage_estimate"] == pytest.approx(-0.6, abs=4 * dg["first_stage_std_error"])
    assert dg["first_stage_F"] == pytest.approx(dg["first_stage_t"] ** 2)
    assert dg["first_stage_F"] > 10 and dg["weak_first_stage"] is False
    assert abs(r.estimate - 1.0) < 4 * r.std_error
    assert r.method.startswith("Fuzzy RD") and r.estimand == "LATE at cutoff"


def test_a_weak_first_stage_is_flagged():
    df = months(np.random.default_rng(3), n=1500, take_up=(0.42, 0.40))
    dg = estimate_discontinuity(df, "y", "x", 60, fuzzy="d").diagnostics
    assert dg["first_stage_F"] < 10 and dg["weak_first_stage"] is True


def test_cluster_and_covariates_are_passed_to_rdrobust():
    df = months(np.random.default_rng(4))
    r = estimate_discontinuity(df, "y", "x", 60, cluster="id", covariates=["z"])
    assert r.n_units == r.diagnostics["n_clusters"] <= df["id"].nunique()
    assert "clustered by 'id'" in r.method and "covariates ['z']" in r.method
    assert r.df_resid == r.diagnostics["n_effective"] - 5


def test_density_and_binomial_tests_on_discrete_running_variable():
    df = months(np.random.default_rng(5))
    dg = estimate_discontinuity(df, "y", "x", 60).diagnostics
    assert dg["binomial_window"] == 1.0
    assert dg["binomial_n_left"] == int((df.x == 59).sum()) and dg["binomial_n_right"] == int(
        (df.x == 60).sum()
    )
    assert dg["binomial_p_value"] > 0.001
    assert dg["density_computable"] in (True, False)
    if dg["density_computable"]:
        assert 0 <= dg["density_p_value"] <= 1 and np.isfinite(dg["density_T"])
    else:
        assert dg["density_reason"]


def test_heaping_right_of_cutoff_is_flagged_by_binomial_test():
    rng = np.random.default_rng(6)
    df = months(rng)
    heap = df[df.x.between(50, 59)].sample(100, random_state=1).assign(x=60.0)
    dg = estimate_discontinuity(pd.concat([df, heap]), "y", "x", 60).diagnostics
    assert dg["binomial_p_value"] < 1e-6


def test_density_failure_is_reported_not_raised(monkeypatch):
    pkg = importlib.import_module("rddensity")

    def boom(*args, **kwargs):
        raise Exception("not enough distinct values")

    monkeypatch.setattr(pkg, "rddensity", boom)
    dg = estimate_discontinuity(months(np.random.default_rng(7)), "y", "x", 60).diagnostics
    assert dg["density_computable"] is False
    assert "not enough distinct values" in dg["density_reason"]
    assert "binomial_p_value" in dg


def test_continuous_running_variable_binomial_window():
    rng = np.random.default_rng(8)
    x = rng.uniform(-1, 1, 2000)
    df = pd.DataFrame({"x": x, "y": x + rng.normal(size=x.size)})
    dg = estimate_discontinuity(df, "y", "x", 0.0).diagnostics
    assert min(dg["binomial_n_left"], dg["binomial_n_right"]) >= 20
    assert dg["density_computable"] is True


def test_input_errors():
    df = months(np.random.default_rng(9), n=300)
    with pytest.raises(ValueError, match="both sides"):
        estimate_discontinuity(df, "y", "x", 500)
    df.loc[:4, "y"] = np.nan
    with pytest.raises(ValueError, match=r"'y' in 5 row"):
        estimate_discontinuity(df, "y", "x", 60)
    with pytest.raises(ValueError, match="not found"):
        estimate_discontinuity(df, "y", "age", 60)
    with pytest.raises(ValueError, match="kernel"):
        estimate_discontinuity(df.dropna(), "y", "x", 60, kernel="gaussian")


def test_binned_means():
    df = months(np.random.default_rng(10), n=2400)
    b = binned_means(df, "y", "x", 60, bins=6)
    assert len(b) == 12 and b["n"].sum() == len(df)
    assert (b.loc[b.side == "left", "bin_high"] <= 60).all() and (
        b.loc[b.side == "right", "bin_low"] >= 60
    ).all()
    first = b.iloc[0]
    sel = df[(df.x >= first.bin_low) & (df.x < first.bin_high)]
    assert first.n == len(sel) and first["mean"] == pytest.approx(sel.y.mean())
    edges = binned_means(df, "y", "x", 60, bins=[36, 48, 72, 84])
    assert list(edges.bin_low) == [36, 48, 60, 72] and edges.side.tolist() == [
        "left",
        "left",
        "right",
        "right",
    ]


@pytest.mark.parametrize("fuzzy", [False, True])
def test_grouped_cluster_variance_equals_rdrobusts_own_loop(fuzzy):
    from rdrobust import rdrobust

    from wi_pipeline.estimation.discontinuity import _fast_cluster_variance

    rng = np.random.default_rng(3)
    person = np.repeat(np.arange(400), 6)  # six months per person, like the panel
    x = np.clip(rng.integers(30, 90, 400)[person] + np.tile(np.arange(6), 400) - 3, 30, 95).astype(
        float
    )
    z = rng.normal(size=(x.size, 2))
    d = ((x >= 60) & (rng.random(x.size) < 0.7)).astype(float)
    y = (
        0.3 * d
        + 0.01 * x
        + z @ [0.2, -0.1]
        + rng.normal(size=400)[person]
        + rng.normal(size=x.size)
    )
    kw = dict(y=y, x=x, c=60, covs=z, cluster=person, vce="cr1", fuzzy=d if fuzzy else None)
    slow = rdrobust(**kw)
    from rdrobust import funs

    with _fast_cluster_variance():
        assert hasattr(funs.rdrobust_vce, "wraps_original")  # the grouped sum is what runs
        fast = rdrobust(**kw)
    assert fast.vce == slow.vce == "CR1"
    np.testing.assert_allclose(
        np.asarray(fast.bws, dtype=float), np.asarray(slow.bws, dtype=float), rtol=1e-9
    )
    np.testing.assert_allclose(
        np.asarray(fast.coef, dtype=float), np.asarray(slow.coef, dtype=float), rtol=1e-9
    )
    np.testing.assert_allclose(
        np.asarray(fast.se, dtype=float), np.asarray(slow.se, dtype=float), rtol=1e-9
    )
    assert not hasattr(funs.rdrobust_vce, "wraps_original")  # restored afterwards


def test_another_rdrobust_release_runs_its_own_variance(monkeypatch):
    from rdrobust import funs

    from wi_pipeline.estimation import discontinuity

    assert discontinuity._rdrobust_version().startswith(
        discontinuity.RDROBUST_CHECKED + "."
    )  # what is pinned
    monkeypatch.setattr(discontinuity, "_rdrobust_version", lambda: "2.2.0")
    with discontinuity._fast_cluster_variance():
        assert not hasattr(
            funs.rdrobust_vce, "wraps_original"
        )  # not swapped: rdrobust's own loop runs


def _direct(y, x, c, **kw):
    """rdrobust itself, quietly: the reference the wrapper is checked against."""
    import contextlib
    import io
    import warnings

    from rdrobust import rdrobust

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        return rdrobust(y, x, c=c, vce="hc1", **kw)


def test_published_row_is_bias_corrected_and_internally_consistent():
    df = months(np.random.default_rng(11), n=2000, jump=0.5)
    r = estimate_discontinuity(df, "y", "x", 60)
    ref = _direct(df.y.to_numpy(), df.x.to_numpy(), 60)
    coef, se = np.asarray(ref.coef, dtype=float)[:, 0], np.asarray(ref.se, dtype=float)[:, 0]
    assert r.estimate == pytest.approx(coef[2], abs=1e-9)  # bias-corrected
    assert r.std_error == pytest.approx(se[2], abs=1e-9)  # robust
    z = stats.norm.ppf(0.975)
    assert (r.ci_low, r.ci_high) == pytest.approx(
        (r.estimate - z * r.std_error, r.estimate + z * r.std_error), abs=1e-9
    )
    assert r.p_value == pytest.approx(2 * stats.norm.sf(abs(r.estimate / r.std_error)), abs=1e-9)
    assert (
        r.estimate_conventional
        == pytest.approx(coef[0], abs=1e-9)
        != pytest.approx(r.estimate, abs=1e-6)
    )
    assert r.std_error_conventional == pytest.approx(se[0], abs=1e-9)
    assert r.diagnostics["estimate_conventional"] == r.estimate_conventional
    assert "conventional estimate" in str(r)


def test_robustness_table_equals_direct_rdrobust_calls():
    df = months(np.random.default_rng(12), n=2400, jump=0.5)
    y, x = df.y.to_numpy(), df.x.to_numpy()
    t = rd_robustness(df, "y", "x", 60, placebo_cutoffs=(48, 72), donut=1)
    assert t["error"].eq("").all() and len(t) == 9
    assert t.variant.tolist() == ["mse_optimal", *["bandwidth"] * 5, "donut", "placebo", "placebo"]
    main = _direct(y, x, 60)
    h = float(main.bws.loc["h", "left"])
    assert t.loc[0, "bandwidth"] == pytest.approx(h, abs=1e-9)

    def same(row, ref):
        coef, se, ci = (np.asarray(a, dtype=float) for a in (ref.coef, ref.se, ref.ci))
        got = row[
            [
                "estimate",
                "std_error",
                "ci_low",
                "ci_high",
                "estimate_conventional",
                "std_error_conventional",
            ]
        ]
        np.testing.assert_allclose(
            got.to_numpy(dtype=float),
            [coef[2, 0], se[2, 0], ci[2, 0], ci[2, 1], coef[0, 0], se[0, 0]],
            atol=1e-6,
        )
        assert (row["n_left"], row["n_right"]) == tuple(int(v) for v in ref.N_h)
        assert (row["persons_left"], row["persons_right"]) == (
            row["n_left"],
            row["n_right"],
        )  # no unit: rows

    for m in (0.5, 0.75, 1.0, 1.5, 2.0):
        row = t[(t.variant == "bandwidth") & (t.multiple == m)].iloc[0]
        assert row["bandwidth"] == pytest.approx(m * h) and row["bandwidth_bias"] == pytest.approx(
            m * h
        )  # b = h
        same(row, _direct(y, x, 60, h=m * h))
    keep = ~np.isin(x, [59, 60])
    same(t[t.variant == "donut"].iloc[0], _direct(y[keep], x[keep], 60))
    same(t[t.cutoff == 48].iloc[0], _direct(y[x < 60], x[x < 60], 48))
    same(t[t.cutoff == 72].iloc[0], _direct(y[x >= 60], x[x >= 60], 72))
    again = rd_robustness(df, "y", "x", 60, bandwidth=h, multiples=(1.0,), rho=0.5)
    assert len(again) == 1 and again.loc[0, "bandwidth_bias"] == pytest.approx(2 * h)  # b = h / rho
    same(again.iloc[0], _direct(y, x, 60, h=h, rho=0.5))


def test_donut_drops_exactly_the_months_at_the_cutoff():
    df = months(np.random.default_rng(13), n=2400)
    clean = df[~df.x.isin([59, 60])]
    poisoned = df.assign(
        y=np.where(df.x.isin([59, 60]), 1e3, df.y)
    )  # only the dropped months are changed
    t = rd_robustness(poisoned, "y", "x", 60, multiples=(), donut=1)
    row = t[t.variant == "donut"].iloc[0]
    assert row["excluded_values"] == "59, 60" and (row["excluded_low"], row["excluded_high"]) == (
        59,
        61,
    )
    ref = estimate_discontinuity(clean, "y", "x", 60, density_test=False)
    assert row["estimate"] == pytest.approx(ref.estimate, abs=1e-9)
    assert row["n_left"] + row["n_right"] == ref.diagnostics["n_effective"]


def test_placebo_cutoffs_without_a_jump_rarely_reject_even_next_to_a_real_one():
    rng = np.random.default_rng(14)
    rejected, tests = 0, 0
    for _ in range(40):
        # a jump at 60 of four noise SDs, none at 48 or 72: fitted on both sides of 60, the placebo at 48
        # with its data-driven bandwidth rejects in about 18 of 80 tests (seed 14), on its own side in 7
        df = months(rng, n=700, jump=4.0)
        t = rd_robustness(df, "y", "x", 60, bandwidth=12.0, multiples=(), placebo_cutoffs=(48, 72))
        p = t.loc[t.variant == "placebo", "p_value"].dropna()
        rejected, tests = rejected + int((p < 0.05).sum()), tests + len(p)
    assert tests >= 76
    # under the null about 4 of 80 reject; P(13 or more) < 1e-3
    assert rejected <= 12, (rejected, tests)


def test_robustness_counts_persons_and_keeps_a_failed_variant():
    df = months(np.random.default_rng(15), n=1800)
    t = rd_robustness(
        df, "y", "x", 60, bandwidth=10.0, multiples=(1.0,), placebo_cutoffs=(1,), unit="id"
    )
    one = t[t.variant == "bandwidth"].iloc[0]
    left, right = rd_window(df.x.to_numpy(), 60, 10.0, 10.0)
    assert (one["n_left"], one["n_right"]) == (left.sum(), right.sum())  # rdrobust's N_h
    assert (one["persons_left"], one["persons_right"]) == (
        df.id[left].nunique(),
        df.id[right].nunique(),
    )
    assert one["persons_left"] < one["n_left"]
    failed = t[t.variant == "placebo"].iloc[
        0
    ]  # one month left of the placebo cutoff: nothing to fit a line to
    assert failed["error"] and np.isnan(failed["estimate"])


def test_robustness_input_errors():
    df = months(np.random.default_rng(16), n=600, take_up=(0.7, 0.1))
    with pytest.raises(ValueError, match="first stage"):
        rd_robustness(df, "y", "x", 60, "d", bandwidth=10.0, placebo_cutoffs=(48,))
    with pytest.raises(ValueError, match="placebo cutoff 130"):
        rd_robustness(df, "y", "x", 60, bandwidth=10.0, placebo_cutoffs=(130,))
    with pytest.raises(ValueError, match="donut"):
        rd_robustness(df, "y", "x", 60, bandwidth=10.0, donut=0)
    with pytest.raises(ValueError, match="unknown option"):
        rd_robustness(df, "y", "x", 60, bandwidth=10.0, fuzzy_bw=True)
