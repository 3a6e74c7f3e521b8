import json

import numpy as np
import pandas as pd
import pytest

from wi_pipeline.lib.disclosure import apply_disclosure, disclosure_violations
from wi_pipeline.lib.effects import EFFECT_COLUMNS, adjust_pvalues


def table(rows):
    base = dict(measure="combined", gemeente="GM0599", outcome="employed", outcome_label="in any job", unit="share",
                horizon=12, contrast="mediation vs neither", comparison="", std_error=0.01, ci_low=0.0, ci_high=0.1,
                df_resid=500.0, mde_80=0.028, level_treated=np.nan, level_control=np.nan, rank=np.nan,
                rank_low=np.nan, rank_high=np.nan, in_best_set=np.nan, heterogeneity_p=np.nan,
                heterogeneity_test="", robustness_value=np.nan, method="aipw", diagnostics="{}", suppressed=False, suppression_reason="",
                p_adjusted=np.nan)
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

    from wi_pipeline.estimation._inference import holm

    rng = np.random.default_rng(0)
    for m in (1, 2, 5, 30):
        p = rng.uniform(0, 0.2, m)
        assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])


def test_holm_family_spans_every_subgroup_dimension():
    t = table([
        dict(subgroup="all", subgroup_value="all", estimate=0.05, p_value=0.01, n_treated=100, n_control=900),
        dict(subgroup="sex", subgroup_value="man", estimate=0.05, p_value=0.01, n_treated=40, n_control=300),
        dict(subgroup="sex", subgroup_value="vrouw", estimate=0.05, p_value=0.04, n_treated=60, n_control=600),
        dict(subgroup="health", subgroup_value="poor", estimate=0.05, p_value=0.02, n_treated=30, n_control=300),
        dict(subgroup="health", subgroup_value="good", estimate=0.05, p_value=0.03, n_treated=70, n_control=600),
    ])
    assert adjust_pvalues(t)[1:].tolist() == pytest.approx([0.04, 0.06, 0.06, 0.06])  # 4 tests in one family


DIAG = {"n_obs_treated": 111, "n_obs_control": 400, "n_clusters": 511, "n_trimmed_treated": 3, "n_trimmed_control": 0,
        "ps_treated_min": 0.0123, "ps_treated_max": 0.97, "ps_treated_mean": 0.3, "max_abs_smd_after": 0.02,
        "smd_before.n_children": 0.1, "n_left_total": 4000, "min_units_per_event_time": 4}


def test_withheld_rows_keep_labels_and_reason_only():
    t = table([
        dict(subgroup="all", subgroup_value="all", estimate=0.05, p_value=0.01, n_treated=120, n_control=900),
        dict(subgroup="sex", subgroup_value="man", estimate=0.02, p_value=0.2, n_treated=9, n_control=400),
        dict(subgroup="sex", subgroup_value="vrouw", estimate=0.06, p_value=0.01, n_treated=111, n_control=500),
    ])
    t["diagnostics"] = json.dumps(DIAG)
    t["p_adjusted"] = adjust_pvalues(t)
    t["method"] = "AIPW, clustered by 'pseudo_id' (511 clusters)"
    out = apply_disclosure(t)
    hidden = out[out["suppressed"]]
    assert len(hidden) == 2  # the 9 and, so the 9 cannot be subtracted back, its complement
    assert hidden[["p_adjusted", "df_resid", "n_treated", "n_control"]].isna().all().all()
    assert (hidden["diagnostics"] == "{}").all() and (hidden["method"] == "").all()
    assert disclosure_violations(out) == []


def test_published_diagnostics_hold_no_extremes_small_counts_or_additive_totals():
    t = table([dict(subgroup="all", subgroup_value="all", estimate=0.05, p_value=0.01, n_treated=120, n_control=900)])
    t["diagnostics"] = json.dumps(DIAG)
    assert any("minimum or maximum" in p for p in disclosure_violations(t))
    out = apply_disclosure(t)
    diag = json.loads(out.loc[0, "diagnostics"])
    assert not {"ps_treated_min", "ps_treated_max", "min_units_per_event_time", "n_left_total"} & set(diag)
    assert diag["n_trimmed_treated"] == "<10" and diag["n_trimmed_control"] == 0 and diag["n_obs_treated"] == 111
    assert diag["max_abs_smd_after"] == 0.02 and diag["smd_before.n_children"] == 0.1  # aggregates, not persons
    assert disclosure_violations(out) == []


def _cell(gemeente, n_treated, suppressed=False):
    return dict(gemeente=gemeente, subgroup="all", subgroup_value="all", estimate=np.nan if suppressed else 0.05,
                p_value=np.nan if suppressed else 0.01, n_treated=np.nan if suppressed else n_treated,
                n_control=np.nan if suppressed else 500, suppressed=suppressed)


def test_pooled_row_is_withheld_when_it_gives_back_a_withheld_municipal_count():
    municipal = table([_cell("GM0363", 9, suppressed=True), _cell("GM0599", 40), _cell("GM0518", 41),
                       _cell("GM0344", 30)])
    pooled = table([_cell("G4", 120)])
    pooled["n_control"] = 2000
    assert not apply_disclosure(pooled)["suppressed"].any()  # on its own it is fine
    out = apply_disclosure(pooled, municipal=municipal)  # 120 - 40 - 41 - 30 = the withheld 9
    assert out.loc[0, "suppressed"] and out.loc[0, "suppression_reason"] == "complementary"
    everything_published = table([_cell("GM0363", 19), _cell("GM0599", 40), _cell("GM0518", 41), _cell("GM0344", 20)])
    assert not apply_disclosure(pooled, municipal=everything_published)["suppressed"].any()
    # the check finds a pooled row left published against a withheld city
    assert "give back a withheld municipal count" in disclosure_violations(apply_disclosure(pooled), municipal=municipal)[0]
    assert disclosure_violations(out, municipal=municipal) == []


def test_pooled_row_against_two_withheld_cities_depends_on_what_they_add_up_to():
    pooled = table([_cell("G4", 120)]).assign(n_control=2000)
    together_8 = table([_cell("GM0363", 3, True), _cell("GM0599", 5, True), _cell("GM0518", 62), _cell("GM0344", 50)])
    assert apply_disclosure(pooled, municipal=together_8).loc[0, "suppressed"]  # 120 - 62 - 50 = 8 persons
    together_19 = table([_cell("GM0363", 9, True), _cell("GM0599", 9, True), _cell("GM0518", 52), _cell("GM0344", 50)])
    assert not apply_disclosure(pooled, municipal=together_19).loc[0, "suppressed"]  # 18 persons, two cities


def test_an_amount_dominated_by_one_person_is_withheld():
    from wi_pipeline.lib.effects import _att_rows

    rng = np.random.default_rng(1)
    n = 60
    df = pd.DataFrame({"pseudo_id": [f"p{i}" for i in range(n)], "treated": (np.arange(n) < 25).astype(float),
                       "x": rng.normal(size=n), "employed_h12": rng.integers(0, 2, n).astype(float),
                       "care_costs_total_h12": rng.uniform(100, 200, n)})
    df.loc[0, "care_costs_total_h12"] = 1_000_000.0  # one treated person's hospital bill
    rows = _att_rows(lambda o: dict(measure="combined", outcome=o), df,
                     {"employed": "employed_h12", "care_costs_total": "care_costs_total_h12"}, ["x"])
    by = {r["outcome"]: r for r in rows}
    assert by["care_costs_total"]["suppressed"] and by["care_costs_total"]["suppression_reason"].startswith("dominance")
    assert not by["employed"]["suppressed"]


def test_event_time_points_under_ten_persons_are_withheld_with_the_next_smallest():
    from wi_pipeline.lib.plots import event_study_points

    coef = pd.DataFrame({"estimate": [0.01, 0.0, 0.02, 0.03], "ci_low": [-0.1] * 4, "ci_high": [0.1] * 4,
                         "n_units": [40, 50, 6, 30]}, index=pd.Index([-2, -1, 0, 1], name="event_time"))
    pts = event_study_points(coef)
    assert pts["suppressed"].tolist() == [False, False, True, True]
    assert pts.loc[pts["suppressed"], "estimate"].isna().all()


def choice_row(instrument, subgroup="all", value="all", **kw):
    return dict(measure="instrument_choice", outcome="regular_work", horizon=12, contrast=f"{instrument} vs wait",
                subgroup=subgroup, subgroup_value=value, **kw)


def test_what_works_shows_rank_sets_in_points_and_lists_withheld_ones_in_words():
    from wi_pipeline.lib.effects import what_works_for_whom

    t = table([
        choice_row("scholing", estimate=0.02, p_value=0.1, p_adjusted=0.3, rank=2, rank_low=1, rank_high=3,
                   in_best_set=1.0, level_treated=0.20, level_control=0.18, n_treated=100, n_control=500),
        choice_row("bemiddeling", estimate=0.05, p_value=0.001, p_adjusted=0.004, ci_low=0.03, rank=1, rank_low=1,
                   rank_high=2, in_best_set=1.0, level_treated=0.23, level_control=0.18, n_treated=100, n_control=500),
        choice_row("beschut_werk", estimate=-0.15, p_value=0.0001, p_adjusted=0.0005, ci_low=-0.2, ci_high=-0.1,
                   rank=3, rank_low=3, rank_high=3, in_best_set=0.0, level_treated=0.03, level_control=0.18,
                   n_treated=60, n_control=500),
        choice_row("jobcoach", estimate=np.nan, p_value=np.nan, n_treated=np.nan, n_control=np.nan, suppressed=True,
                   suppression_reason="fewer than 10 persons in an arm"),
        dict(measure="combined", subgroup="all", subgroup_value="all", estimate=0.4, p_value=0.01,
             n_treated=100, n_control=100),  # another measure: not in the table
    ])
    w = what_works_for_whom(t)
    assert w["instrument"].tolist() == ["bemiddeling", "scholing", "beschut_werk", "jobcoach"]
    assert w["effect_pp"].tolist()[:3] == pytest.approx([5.0, 2.0, -15.0])  # percentage points
    assert w["rank_set"].tolist() == ["1-2", "1-3", "3", ""]
    assert w["in_best_set"].tolist() == ["yes", "yes", "no", ""]
    assert w["clearly"].tolist() == ["better than waiting", "not distinguishable from waiting", "worse than waiting", ""]
    assert w["regular_work_pct_if_waiting"].iloc[0] == pytest.approx(18.0)
    assert w["withheld"].tolist() == [False, False, False, True]
    assert "at least 10 persons" in w["withheld_because"].iloc[3]


def test_tailoring_is_claimed_only_where_the_test_supports_it():
    from wi_pipeline.lib.effects import tailoring_in_words, what_works_for_whom

    rows = [choice_row("scholing", gemeente="G4", estimate=0.05, p_value=0.01, p_adjusted=0.02, rank=1, rank_low=1,
                       rank_high=1, in_best_set=1.0, n_treated=100, n_control=500, heterogeneity_p=0.4)]
    for value, est in (("man", 0.01), ("vrouw", 0.08)):
        rows.append(choice_row("scholing", "sex", value, gemeente="G4", estimate=est, p_value=0.01, p_adjusted=0.03,
                               n_treated=50, n_control=250, heterogeneity_p=0.001))
    for value in ("good", "poor"):
        rows.append(choice_row("scholing", "health", value, gemeente="G4", estimate=0.05, p_value=0.01,
                               p_adjusted=0.03, n_treated=50, n_control=250, heterogeneity_p=0.7))
    text = tailoring_in_words(what_works_for_whom(table(rows)), "G4")
    assert "differs by sex (p = 0.001, Holm 0.002" in text and "vrouw: +8.0 pp" in text
    assert "differs by health" not in text and "1 of 2 instrument-by-dimension tests" in text
    assert "among scholing" in text


@pytest.mark.parametrize("reason", ["not estimable: propensity-score logit failed", "model_df",
                                    "dominance: one person holds over 50% of an arm's total"])
def test_a_municipal_row_withheld_for_a_model_reason_does_not_withhold_the_pooled_row(reason):
    def withheld_for_model(gemeente, n):
        return {**_cell(gemeente, n), "suppressed": True, "suppression_reason": reason, "estimate": np.nan,
                "p_value": np.nan}

    municipal = table([withheld_for_model("GM0363", 45), _cell("GM0599", 40), _cell("GM0518", 41),
                       _cell("GM0344", 30)])
    pooled = table([_cell("G4", 156)]).assign(n_control=2000)
    out = apply_disclosure(pooled, municipal=municipal)
    assert not out.loc[0, "suppressed"]  # 156 - 40 - 41 - 30 = 45: the withheld city's count is not small
    assert disclosure_violations(out, municipal=municipal) == []


def test_a_row_withheld_for_a_model_reason_withholds_nothing_else_in_its_table():
    t = table([
        dict(subgroup="all", subgroup_value="all", estimate=0.05, p_value=0.01, n_treated=120, n_control=900),
        dict(subgroup="sex", subgroup_value="man", estimate=np.nan, p_value=np.nan, n_treated=50, n_control=400,
             suppressed=True, suppression_reason="not estimable: singular"),
        dict(subgroup="sex", subgroup_value="vrouw", estimate=0.06, p_value=0.01, n_treated=70, n_control=500),
    ])
    out = apply_disclosure(t)
    assert out["suppressed"].tolist() == [False, True, False]  # the 50 men are no small group to protect
    assert out.loc[1, ["estimate", "n_treated", "n_control"]].isna().all()
    assert disclosure_violations(out) == []


def test_a_small_city_next_to_a_model_reason_city_is_protected_only_if_the_latter_can_be_worked_out():
    def withheld(gemeente, reason, subgroup="all", value="all"):
        return {**_cell(gemeente, 0, suppressed=True), "suppression_reason": reason, "subgroup": subgroup,
                "subgroup_value": value}

    base = [_cell("GM0363", 40), _cell("GM0518", 41), withheld("GM0344", "fewer than 10 persons in an arm"),
            withheld("GM0599", "model_df")]
    pooled = table([_cell("G4", 118)]).assign(n_control=2000)
    # 118 - 40 - 41 = 37 = Utrecht's 5 plus Rotterdam's hidden 32: Utrecht's count cannot be told
    assert not apply_disclosure(pooled, municipal=table(base)).loc[0, "suppressed"]
    # but if Rotterdam's men and women are both published, its total follows and so does Utrecht's
    both_sexes = [{**_cell("GM0599", 12), "subgroup": "sex", "subgroup_value": "man"},
                  {**_cell("GM0599", 20), "subgroup": "sex", "subgroup_value": "vrouw"}]  # 32: 37 - 32 = 5
    out = apply_disclosure(pooled, municipal=table(base + both_sexes))
    assert out.loc[0, "suppressed"] and out.loc[0, "suppression_reason"] == "complementary"


def test_power_in_words_says_when_a_design_cannot_detect_effects_the_literature_reports():
    from wi_pipeline.lib.effects import power_in_words

    def row(measure, contrast, se, suppressed=False, subgroup="all", outcome="regular_work"):
        return dict(gemeente="G4", measure=measure, contrast=contrast, outcome=outcome, horizon=12, subgroup=subgroup,
                    suppressed=suppressed, mde_80=2.8016 * se)
    table = pd.DataFrame([
        row("combined", "interaction: (both - debt_only) - (mediation - neither)", 0.043),  # MDE 12 pp
        row("instrument_choice", "scholing vs wait", 0.02),  # MDE 5.6 pp against 3-8 pp
        row("instrument_choice", "bemiddeling vs wait", 0.005),  # MDE 1.4 pp against 2-5 pp
        row("instrument_choice", "jobcoach vs wait", 0.001, suppressed=True),
        row("instrument_choice", "jobcoach vs wait", 0.001, subgroup="sex"),
        row("combined", "both vs neither", 0.001, outcome="care_costs_total"),
    ])
    text = power_in_words(table)
    lines = text.splitlines()[1:]
    assert len(lines) == 3  # withheld, subgroup and non-work rows say nothing
    assert "MDE 12.0 pp; cannot detect" in lines[0] and "+2 to +5 percentage points" in lines[0]
    assert "MDE 5.6 pp; detects only the larger effects" in lines[1]
    assert "MDE 1.4 pp; can detect" in lines[2]


def _single_parents(n: int, seed: int = 0, jump: float = 0.15) -> pd.DataFrame:
    """n single parents on bijstand over 2016-2021, each with one child born in 2013-2015; employment jumps
    by ``jump`` from the month the child is 60 months old (the exemption ends)."""
    rng = np.random.default_rng(seed)
    months = pd.date_range("2016-01-01", "2021-12-01", freq="MS")
    month_no = months.year * 12 + months.month - 1
    born = rng.integers(2013 * 12, 2016 * 12, n)
    age = month_no.to_numpy()[None, :] - born[:, None]
    level = rng.uniform(0.1, 0.4, n)[:, None]
    employed = rng.random(age.shape) < level + jump * (age >= 60)
    return pd.DataFrame({
        "gemeente": "GM0599", "pseudo_id": np.repeat([f"p{i}" for i in range(n)], len(months)),
        "month": np.tile(months, n), "age": 30, "sex": "vrouw", "origin": "Nederland",
        "marital_status": "never_married", "single_parent": True, "n_children": 1, "on_bijstand": True,
        "poor_health": False, "employed": employed.ravel(), "self_sufficient": False,
        "exemption_9a": (age < 60).ravel(), "hours": employed.ravel() * 80.0, "bijstand_duration_months": 1.0,
        "youngest_child_age_months": np.where(age >= 0, age, np.nan).ravel()})


def test_staggered_rows_carry_the_effect_persons_per_arm_and_pretests():
    from wi_pipeline.lib.effects import (STAGGERED_CONTRAST, exemption_staggered_effects,
                                         exemption_staggered_points)
    from wi_pipeline.lib.plots import event_study_plot

    panels = {"GM0599": _single_parents(300)}
    rows = exemption_staggered_effects(panels, "GM0599")
    by = {r["outcome"]: r for r in rows}
    assert set(by) == {"employed", "hours", "self_sufficient"}
    emp = by["employed"]
    assert emp["contrast"] == STAGGERED_CONTRAST and not emp["suppressed"]
    assert emp["ci_low"] < 0.15 < emp["ci_high"] and emp["ci_low"] > 0  # the planted jump, and not zero
    assert min(emp["n_treated"], emp["n_control"]) >= 10 and emp["df_resid"] >= 10
    assert "Callaway & Sant'Anna" in emp["method"]
    diag = json.loads(emp["diagnostics"])
    # event months -12..12, the month before the birthday the reference (universal base period)
    assert diag["n_event_times"] == 25 and diag["pretrend_event_df"] == 11 and diag["n_cohorts"] > 12
    assert diag["pretrend_event_p_value"] > 0.01  # parallel trends hold here
    assert "pretrend_cells_p_value" in diag or "pretrend_cells_unavailable" in diag
    # the plot's points: every event month, with the smaller arm's persons for disclosure control
    points, words = exemption_staggered_points(panels)
    assert list(points.index) == list(range(-12, 13))
    assert points.loc[-1, "estimate"] == 0 and np.isnan(points.loc[-1, "std_error"])
    assert (points["n_units"] == points[["n_treated", "n_control"]].min(axis=1)).all()
    assert "pre-treatment event-time effects" in words
    assert event_study_plot(points)[:4] == b"\x89PNG"


def test_staggered_rows_with_too_few_parents_are_withheld():
    from wi_pipeline.lib.effects import exemption_staggered_effects

    rows = exemption_staggered_effects({"GM0599": _single_parents(8)}, "GM0599")
    assert all(r["suppressed"] for r in rows)
    assert all(r["suppression_reason"].startswith(("fewer than", "not estimable")) for r in rows)
    assert all(np.isnan(r["estimate"]) for r in rows)


def test_pooled_staggered_row_is_checked_against_the_municipal_counts():
    """The staggered design counts persons in its arms, which add up across cities (unlike an RD's persons
    within each estimate's own bandwidth): a pooled row that gives back a withheld city's count is withheld."""
    from wi_pipeline.lib.effects import STAGGERED_CONTRAST

    def cell(gemeente, n_treated, suppressed=False):
        return {**_cell(gemeente, n_treated, suppressed), "measure": "exemption_9a", "contrast": STAGGERED_CONTRAST,
                "horizon": 0}

    municipal = table([cell("GM0363", 9, suppressed=True), cell("GM0599", 40), cell("GM0518", 41),
                       cell("GM0344", 30)])
    pooled = table([cell("G4", 120)])
    pooled["n_control"] = 2000
    assert not apply_disclosure(pooled)["suppressed"].any()
    out = apply_disclosure(pooled, municipal=municipal)
    assert out.loc[0, "suppressed"] and out.loc[0, "suppression_reason"] == "complementary"
