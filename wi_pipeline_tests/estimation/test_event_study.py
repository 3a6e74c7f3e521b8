import numpy as np
import pandas as pd
import pytest

from wi_pipeline.estimation import EventStudyResult, estimate_event_study


def panel(rng, units=200, periods=30, never_share=0.25, effect=None, noise=1.0, shock=None):
    uid = np.repeat(np.arange(units), periods)
    t = np.tile(np.arange(periods), units)
    ev = rng.integers(8, periods - 6, units).astype(float)
    ev[: int(never_share * units)] = np.nan
    rel = t - ev[uid]
    alpha = rng.normal(size=units) + np.where(np.isnan(ev), 0.0, 1.0)
    eff = np.zeros(t.size) if effect is None else np.nan_to_num(effect(rel))
    y = alpha[uid] + eff + noise * rng.normal(size=t.size)
    if shock is not None:
        y = y + shock[t]
    return pd.DataFrame({"y": y, "id": uid, "rel": rel, "t": t})


def path(rel):
    return np.where(rel >= 0, 0.5 + 0.05 * np.clip(rel, 0, 6), 0.0)


def test_exact_recovery_without_noise():
    df = panel(np.random.default_rng(1), effect=path, noise=0.0)
    r = estimate_event_study(df, "y", "id", "rel", window=(-6, 6), reference=-1)
    assert isinstance(r, EventStudyResult)
    c = r.coefficients
    assert list(c.index) == list(range(-6, 7))
    expected = path(np.arange(-6, 7))
    np.testing.assert_allclose(c["estimate"].to_numpy(), expected, atol=1e-9)
    assert r.estimate == pytest.approx(expected[6:].mean(), abs=1e-9)
    assert c.loc[-1, "estimate"] == 0 and np.isnan(c.loc[-1, "std_error"])


def test_calendar_fe_absorb_common_shocks():
    rng = np.random.default_rng(2)
    shock = np.cumsum(rng.normal(size=30))
    df = panel(rng, effect=path, noise=0.0, shock=shock)
    r = estimate_event_study(df, "y", "id", "rel", window=(-6, 6), time="t")
    np.testing.assert_allclose(
        r.coefficients["estimate"].to_numpy(), path(np.arange(-6, 7)), atol=1e-7
    )
    assert r.diagnostics["calendar_fe"] is True and r.diagnostics["n_time_periods"] == 30
    unbalanced = df.sample(frac=0.8, random_state=3)
    r2 = estimate_event_study(unbalanced, "y", "id", "rel", window=(-6, 6), time="t")
    np.testing.assert_allclose(
        r2.coefficients["estimate"].to_numpy(), path(np.arange(-6, 7)), atol=1e-6
    )


def test_end_bins_counts_and_result_fields():
    df = panel(np.random.default_rng(4), effect=path)
    r = estimate_event_study(df, "y", "id", "rel", window=(-4, 4), reference=-1, cluster="id")
    c = r.coefficients
    treated = df.dropna(subset=["rel"])
    assert c.loc[-4, "n"] == int((treated.rel <= -4).sum()) == r.diagnostics["n_binned_low"]
    assert c.loc[4, "n"] == int((treated.rel >= 4).sum()) == r.diagnostics["n_binned_high"]
    assert c["n"].sum() == len(treated)
    assert c.loc[0, "n_units"] == treated.loc[treated.rel == 0, "id"].nunique()
    assert r.n_treated == 150 and r.n_control == 50 and r.n_units == 200
    assert r.df_resid == len(df) - 8 - 200
    assert r.pretrend_test.df == 3 and r.pretrend_test.df_denom == 199
    assert 0 <= r.pretrend_test.p_value <= 1
    assert "average of the 5 post-period coefficients" in r.method
    for col in ("estimate", "std_error", "ci_low", "ci_high", "n"):
        assert col in c.columns
    frame = r.to_frame()
    assert frame.shape[0] == 1 and "pretrend_p_value" in frame and "r2_within" in frame
    assert "Pre-trend test" in str(r)


def test_counts_without_never_treated_are_observations():
    df = panel(np.random.default_rng(5), never_share=0.0)
    r = estimate_event_study(df, "y", "id", "rel", window=(-5, 5))
    assert r.n_treated == int((df.rel >= 0).sum()) and r.n_control == int((df.rel < 0).sum())
    assert r.diagnostics["counts"].startswith("observations")


def test_cluster_coarser_than_unit():
    df = panel(np.random.default_rng(6))
    df["region"] = df["id"] % 20
    r = estimate_event_study(df, "y", "id", "rel", window=(-4, 4), cluster="region")
    assert r.diagnostics["n_clusters"] == 20 and r.diagnostics["df_inference"] == 19


def test_input_errors():
    df = panel(np.random.default_rng(7))
    with pytest.raises(ValueError, match="reference"):
        estimate_event_study(df, "y", "id", "rel", window=(-4, 4), reference=-6)
    with pytest.raises(ValueError, match="reference must be a pre-event"):
        estimate_event_study(df, "y", "id", "rel", window=(-4, 4), reference=0)
    bad = df.copy()
    bad.loc[bad.rel.notna(), "rel"] += 0.5
    with pytest.raises(ValueError, match="whole periods"):
        estimate_event_study(bad, "y", "id", "rel")
    mixed = df.copy()
    mixed.loc[mixed.index[-1], "rel"] = np.nan
    with pytest.raises(ValueError, match="never-treated"):
        estimate_event_study(mixed, "y", "id", "rel")
    nan_y = df.copy()
    nan_y.loc[:2, "y"] = np.nan
    with pytest.raises(ValueError, match=r"'y' in 3 row"):
        estimate_event_study(nan_y, "y", "id", "rel")
