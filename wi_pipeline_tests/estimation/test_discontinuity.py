import importlib

import numpy as np
import pandas as pd
import pytest

from wi_pipeline.estimation import DiscontinuityResult, binned_means, estimate_discontinuity


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
    df = pd.DataFrame({"x": x, "y": 0.3 + 0.5 * x + 2.0 * (x >= 0) + 1e-3 * rng.normal(size=x.size)})
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
    assert "robust bias-corrected" in r.method and "conventional point estimate" in r.method
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
    assert dg["binomial_n_left"] == int((df.x == 59).sum()) and dg["binomial_n_right"] == int((df.x == 60).sum())
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
    assert (b.loc[b.side == "left", "bin_high"] <= 60).all() and (b.loc[b.side == "right", "bin_low"] >= 60).all()
    first = b.iloc[0]
    sel = df[(df.x >= first.bin_low) & (df.x < first.bin_high)]
    assert first.n == len(sel) and first["mean"] == pytest.approx(sel.y.mean())
    edges = binned_means(df, "y", "x", 60, bins=[36, 48, 72, 84])
    assert list(edges.bin_low) == [36, 48, 60, 72] and edges.side.tolist() == ["left", "left", "right", "right"]


@pytest.mark.parametrize("fuzzy", [False, True])
def test_grouped_cluster_variance_equals_rdrobusts_own_loop(fuzzy):
    from rdrobust import rdrobust

    from wi_pipeline.estimation.discontinuity import _fast_cluster_variance

    rng = np.random.default_rng(3)
    person = np.repeat(np.arange(400), 6)  # six months per person, like the panel
    x = np.clip(rng.integers(30, 90, 400)[person] + np.tile(np.arange(6), 400) - 3, 30, 95).astype(float)
    z = rng.normal(size=(x.size, 2))
    d = ((x >= 60) & (rng.random(x.size) < 0.7)).astype(float)
    y = 0.3 * d + 0.01 * x + z @ [0.2, -0.1] + rng.normal(size=400)[person] + rng.normal(size=x.size)
    kw = dict(y=y, x=x, c=60, covs=z, cluster=person, vce="cr1", fuzzy=d if fuzzy else None)
    slow = rdrobust(**kw)
    from rdrobust import funs

    with _fast_cluster_variance():
        assert hasattr(funs.rdrobust_vce, "wraps_original")  # the grouped sum is what runs
        fast = rdrobust(**kw)
    assert fast.vce == slow.vce == "CR1"
    np.testing.assert_allclose(np.asarray(fast.bws, dtype=float), np.asarray(slow.bws, dtype=float), rtol=1e-9)
    np.testing.assert_allclose(np.asarray(fast.coef, dtype=float), np.asarray(slow.coef, dtype=float), rtol=1e-9)
    np.testing.assert_allclose(np.asarray(fast.se, dtype=float), np.asarray(slow.se, dtype=float), rtol=1e-9)
    assert not hasattr(funs.rdrobust_vce, "wraps_original")  # restored afterwards


def test_another_rdrobust_release_runs_its_own_variance(monkeypatch):
    from rdrobust import funs

    from wi_pipeline.estimation import discontinuity

    assert discontinuity._rdrobust_version().startswith(discontinuity.RDROBUST_CHECKED + ".")  # what is pinned
    monkeypatch.setattr(discontinuity, "_rdrobust_version", lambda: "2.2.0")
    with discontinuity._fast_cluster_variance():
        assert not hasattr(funs.rdrobust_vce, "wraps_original")  # not swapped: rdrobust's own loop runs
