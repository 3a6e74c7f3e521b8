import numpy as np
import pandas as pd
import pytest
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import expit

from wi_pipeline.estimation import (
    TreatmentEffectResult,
    estimate_treatment_effect,
    naive_difference,
)

COVS = ["x1", "x2"]


def selected(rng, n, hetero=True, noise=1.0):
    x1 = rng.normal(size=n)
    x2 = (rng.random(n) < 0.4).astype(float)
    d = (rng.random(n) < expit(-0.5 + 0.8 * x1 + 0.5 * x2)).astype(float)
    effect = 1 + 0.5 * x1 if hetero else 2.0
    y = 1 + x1 + 0.5 * x2 + noise * rng.normal(size=n) + d * effect
    return pd.DataFrame({"y": y, "d": d, "x1": x1, "x2": x2})


def true_att():
    z, w = hermegauss(80)
    w = w / w.sum()
    num = den = 0.0
    for x2, px in ((0.0, 0.6), (1.0, 0.4)):
        p = expit(-0.5 + 0.8 * z + 0.5 * x2)
        num += px * np.sum(w * p * (1 + 0.5 * z))
        den += px * np.sum(w * p)
    return num / den


@pytest.mark.parametrize("method", ["aipw", "regression"])
@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
def test_constant_effect_without_noise_is_exact(method, estimand):
    df = selected(np.random.default_rng(1), 500, hetero=False, noise=0.0)
    r = estimate_treatment_effect(df, "y", "d", COVS, estimand=estimand, method=method)
    assert r.estimate == pytest.approx(2.0, abs=1e-9)
    assert r.std_error < 1e-8


def test_randomised_treatment_recovered_by_all_methods():
    rng = np.random.default_rng(2)
    n = 4000
    x1 = rng.normal(size=n)
    d = (rng.random(n) < 0.5).astype(float)
    df = pd.DataFrame({"x1": x1, "d": d, "y": 0.7 * d + x1 + rng.normal(size=n)})
    for method in ("aipw", "ipw", "regression"):
        r = estimate_treatment_effect(df, "y", "d", ["x1"], estimand="ATE", method=method)
        assert abs(r.estimate - 0.7) < 4 * r.std_error
    nv = naive_difference(df, "y", "d")
    assert abs(nv.estimate - 0.7) < 4 * nv.std_error


def test_att_and_ate_differ_with_heterogeneous_effects_and_selection():
    df = selected(np.random.default_rng(3), 20000)
    att = estimate_treatment_effect(df, "y", "d", COVS, estimand="ATT", trim=None)
    ate = estimate_treatment_effect(df, "y", "d", COVS, estimand="ATE", trim=None)
    assert abs(att.estimate - true_att()) < 4 * att.std_error
    assert abs(ate.estimate - 1.0) < 4 * ate.std_error
    assert att.estimate - ate.estimate > 0.1  # the treated have larger effects (x1 higher)
    assert att.estimand == "ATT" and ate.estimand == "ATE"


def test_clustered_se_on_duplicated_rows_equals_plain_se_on_original():
    df = selected(np.random.default_rng(4), 800)
    df["id"] = np.arange(len(df))
    dup = pd.concat([df, df], ignore_index=True)
    for method in ("aipw", "ipw", "regression"):
        plain = estimate_treatment_effect(df, "y", "d", COVS, method=method, trim=None)
        clus = estimate_treatment_effect(
            dup, "y", "d", COVS, method=method, trim=None, cluster="id"
        )
        assert clus.estimate == pytest.approx(plain.estimate, rel=1e-9)
        assert clus.std_error == pytest.approx(plain.std_error, rel=1e-6)
        assert clus.n_units == 800 and clus.diagnostics["n_clusters"] == 800
        assert "clustered by 'id'" in clus.method


def test_integer_weights_give_the_same_point_estimate_as_duplicated_rows():
    df = selected(np.random.default_rng(5), 600)
    df["w"] = np.random.default_rng(6).integers(1, 4, len(df))
    expanded = df.loc[df.index.repeat(df["w"])]
    a = estimate_treatment_effect(df, "y", "d", COVS, weights="w", trim=None)
    b = estimate_treatment_effect(expanded, "y", "d", COVS, trim=None)
    assert a.estimate == pytest.approx(b.estimate, rel=1e-7)
    assert "weighted by 'w'" in a.method


def test_trimming_drops_extreme_propensities_and_reports_counts():
    rng = np.random.default_rng(7)
    n = 3000
    x1 = rng.normal(scale=2.0, size=n)
    d = (rng.random(n) < expit(2.0 * x1)).astype(float)
    df = pd.DataFrame({"x1": x1, "d": d, "y": x1 + d + rng.normal(size=n)})
    r = estimate_treatment_effect(df, "y", "d", ["x1"])
    dg = r.diagnostics
    trimmed = dg["n_trimmed_treated"] + dg["n_trimmed_control"]
    assert trimmed > 0 and dg["n_trimmed_treated"] > 0 and dg["n_trimmed_control"] > 0
    assert r.n_obs == n - trimmed and dg["n_input"] == n
    assert (dg["trim_low"], dg["trim_high"]) == (0.01, 0.99)
    untrimmed = estimate_treatment_effect(df, "y", "d", ["x1"], trim=None)
    assert untrimmed.n_obs == n and untrimmed.diagnostics["n_trimmed_control"] == 0


def test_balance_and_overlap_diagnostics():
    df = selected(np.random.default_rng(8), 3000)
    r = estimate_treatment_effect(df, "y", "d", COVS)
    dg = r.diagnostics
    assert set(dg["smd_before"]) == set(COVS) == set(dg["smd_after"])
    assert dg["max_abs_smd_before"] > 0.3 > 0.1 > dg["max_abs_smd_after"]
    for arm in ("treated", "control"):
        qs = [dg[f"ps_{arm}_{k}"] for k in ("min", "p05", "p25", "p50", "p75", "p95", "max")]
        assert qs == sorted(qs) and 0 < qs[0] and qs[-1] < 1
    assert dg["ps_treated_mean"] > dg["ps_control_mean"]


def test_result_object_api():
    df = selected(np.random.default_rng(9), 1000)
    r = estimate_treatment_effect(df, "y", "d", COVS, estimand="ATE", method="ipw")
    assert isinstance(r, TreatmentEffectResult)
    assert r.ci_low < r.estimate < r.ci_high and 0 <= r.p_value <= 1
    assert r.n_treated + r.n_control == r.n_obs and r.df_resid == r.n_obs - 4
    assert "IPW" in r.method
    text = str(r)
    assert text == r.summary() and "95% CI" in text and "'d' on 'y'" in text
    frame = r.to_frame()
    assert frame.shape[0] == 1
    for col in (
        "estimate",
        "std_error",
        "ci_low",
        "ci_high",
        "p_value",
        "n_treated",
        "n_control",
        "df_resid",
        "method",
        "smd_after_x1",
        "max_abs_smd_after",
        "ps_control_p50",
    ):
        assert col in frame.columns
    assert all(np.ndim(v) == 0 for v in frame.iloc[0])


def test_naive_difference_is_plain_difference_in_means():
    df = selected(np.random.default_rng(10), 500)
    r = naive_difference(df, "y", "d")
    expected = df.loc[df.d == 1, "y"].mean() - df.loc[df.d == 0, "y"].mean()
    assert r.estimate == pytest.approx(expected)
    welch = np.sqrt(
        df.loc[df.d == 1, "y"].var(ddof=0) / (df.d == 1).sum()
        + df.loc[df.d == 0, "y"].var(ddof=0) / (df.d == 0).sum()
    )
    assert r.std_error == pytest.approx(welch, rel=0.01)
    assert r.estimand == "naive" and "Naive" in r.method


def test_boolean_columns_are_accepted():
    df = selected(np.random.default_rng(11), 500)
    df["d"] = df["d"].astype(bool)
    df["x2"] = df["x2"].astype(bool)
    r = estimate_treatment_effect(df, "y", "d", COVS)
    assert np.isfinite(r.estimate)


def test_missing_column_error():
    df = selected(np.random.default_rng(12), 100)
    with pytest.raises(ValueError, match=r"not found.*'x9'"):
        estimate_treatment_effect(df, "y", "d", ["x1", "x9"])


def test_non_binary_treatment_error():
    df = selected(np.random.default_rng(13), 100)
    df.loc[0, "d"] = 2
    with pytest.raises(ValueError, match=r"must be binary.*2\.0"):
        estimate_treatment_effect(df, "y", "d", COVS)


def test_empty_arm_error():
    df = selected(np.random.default_rng(14), 100)
    df["d"] = 0.0
    with pytest.raises(ValueError, match=r"no treated"):
        estimate_treatment_effect(df, "y", "d", COVS)
    with pytest.raises(ValueError, match=r"no treated"):
        naive_difference(df, "y", "d")


def test_nan_error_names_columns_and_counts():
    df = selected(np.random.default_rng(15), 100)
    df.loc[[1, 2, 3], "x1"] = np.nan
    df.loc[[3, 4], "y"] = np.nan
    with pytest.raises(ValueError, match=r"'y' in 2 row\(s\), 'x1' in 3 row\(s\) \(4 of 100 rows"):
        estimate_treatment_effect(df, "y", "d", COVS)


def test_non_numeric_covariate_and_bad_options():
    df = selected(np.random.default_rng(16), 100)
    df["region"] = "north"
    with pytest.raises(ValueError, match="must be numeric or boolean"):
        estimate_treatment_effect(df, "y", "d", ["region"])
    with pytest.raises(ValueError, match="estimand"):
        estimate_treatment_effect(df, "y", "d", COVS, estimand="ATC")
    with pytest.raises(ValueError, match="method"):
        estimate_treatment_effect(df, "y", "d", COVS, method="matching")
    with pytest.raises(ValueError, match="trim"):
        estimate_treatment_effect(df, "y", "d", COVS, trim=(0.5, 0.2))


@pytest.mark.parametrize("estimand", ["ATT", "ATE"])
def test_several_outcomes_share_one_propensity_model_and_match_separate_fits(estimand):
    from wi_pipeline.estimation import estimate_treatment_effects

    rng = np.random.default_rng(11)
    df = selected(rng, 3000)
    df["y2"] = 2 * df["y"] + rng.normal(size=len(df))
    df["id"] = np.arange(len(df)) // 3
    joint = estimate_treatment_effects(
        df, ["y", "y2"], "d", COVS, estimand=estimand, cluster="id", trim=(0.05, 0.95)
    )
    for outcome, result in zip(["y", "y2"], joint):
        alone = estimate_treatment_effect(
            df, outcome, "d", COVS, estimand=estimand, cluster="id", trim=(0.05, 0.95)
        )
        assert result.outcome == outcome
        assert result.estimate == pytest.approx(alone.estimate, rel=1e-9)
        assert result.std_error == pytest.approx(alone.std_error, rel=1e-9)
        assert (result.n_treated, result.n_control) == (alone.n_treated, alone.n_control)
        assert result.diagnostics["n_trimmed_control"] == alone.diagnostics["n_trimmed_control"] > 0
    assert joint[1].estimate == pytest.approx(2 * joint[0].estimate, rel=0.1)
    with pytest.raises(ValueError, match="'y3'"):
        estimate_treatment_effects(df, ["y", "y3"], "d", COVS)
