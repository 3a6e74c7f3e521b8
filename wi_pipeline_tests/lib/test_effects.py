import numpy as np
import pandas as pd
import pytest

from wi_pipeline.lib.effects import EFFECT_COLUMNS, adjust_pvalues, apply_disclosure, disclosure_violations


def table(rows):
    base = dict(measure="instrument:scholing", gemeente="GM0599", outcome="employed", horizon=12,
                contrast="starters vs not-yet-starters", std_error=0.01, ci_low=0.0, ci_high=0.1, df_resid=500.0,
                method="aipw", diagnostics="{}", suppressed=False, suppression_reason="", p_adjusted=np.nan)
    return pd.DataFrame([{**base, **r} for r in rows])[EFFECT_COLUMNS]


def test_holm_within_each_subgroup_family():
    t = table([
        dict(subgroup="all", subgroup_value="all", estimate=0.05, p_value=0.01, n_treated=100, n_control=900),
        dict(subgroup="origin", subgroup_value="a", estimate=0.05, p_value=0.01, n_treated=40, n_control=300),
        dict(subgroup="origin", subgroup_value="b", estimate=0.05, p_value=0.04, n_treated=30, n_control=300),
        dict(subgroup="origin", subgroup_value="c", estimate=0.05, p_value=0.03, n_treated=30, n_control=300),
        dict(subgroup="origin", subgroup_value="d", estimate=np.nan, p_value=np.nan, n_treated=0, n_control=0),
    ])
    adj = adjust_pvalues(t)
    assert adj[0] == pytest.approx(0.01)  # the overall row is its own family
    assert adj[1:4].tolist() == pytest.approx([0.03, 0.06, 0.06])  # 3 tests; NaN does not count
    assert np.isnan(adj[4])


def test_small_subgroup_and_its_complement_are_withheld_never_dropped():
    t = table([
        dict(subgroup="all", subgroup_value="all", estimate=0.05, p_value=0.01, n_treated=120, n_control=900),
        dict(subgroup="sex", subgroup_value="man", estimate=0.02, p_value=0.2, n_treated=9, n_control=400),
        dict(subgroup="sex", subgroup_value="vrouw", estimate=0.06, p_value=0.01, n_treated=111, n_control=500),
        dict(subgroup="health", subgroup_value="poor", estimate=0.01, p_value=0.5, n_treated=50, n_control=5),
        dict(subgroup="health", subgroup_value="good", estimate=0.05, p_value=0.01, n_treated=70, n_control=895),
    ])
    out = apply_disclosure(t)
    assert len(out) == len(t)
    assert out["suppressed"].tolist() == [False, True, True, True, True]
    assert out.loc[1, "suppression_reason"] == "primary" and out.loc[2, "suppression_reason"] == "complementary"
    assert out.loc[out["suppressed"], ["estimate", "ci_low", "n_treated"]].isna().all().all()
    assert disclosure_violations(out) == []


def test_violations_are_named():
    t = table([dict(subgroup="all", subgroup_value="all", estimate=0.05, p_value=0.01, n_treated=9, n_control=900)])
    assert disclosure_violations(t) == ["1 published rows with n_treated under 10"]
    t.loc[0, ["n_treated", "df_resid"]] = [50, 8]
    assert "degrees of freedom" in disclosure_violations(t)[0]


def test_holm_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    from wi_pipeline.lib.effects import holm

    rng = np.random.default_rng(0)
    for m in (1, 2, 5, 30):
        p = rng.uniform(0, 0.2, m)
        assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])
