import json

import numpy as np
import pandas as pd
import pytest

from wi_pipeline.lib.disclosure import apply_disclosure, disclosure_violations
from wi_pipeline.lib.effects import EFFECT_COLUMNS, INTERACTION, adjust_pvalues


def table(rows):
    base = dict(
        measure="combined",
        gemeente="GM0599",
        outcome="employed",
        outcome_label="in any job",
        unit="share",
        horizon=12,
        contrast="mediation vs neither",
        comparison="",
        std_error=0.01,
        ci_low=0.0,
        ci_high=0.1,
        df_resid=500.0,
        mde_80=0.028,
        level_treated=np.nan,
        level_control=np.nan,
        rank=np.nan,
        rank_low=np.nan,
        rank_high=np.nan,
        in_best_set=np.nan,
        heterogeneity_p=np.nan,
        heterogeneity_test="",
        robustness_value=np.nan,
        method="aipw",
        diagnostics="{}",
        suppressed=False,
        suppression_reason="",
        p_adjusted=np.nan,
    )
    return pd.DataFrame([{**base, **r} for r in rows])[EFFECT_COLUMNS]


def test_holm_within_each_subgroup_family():
    t = table(
        [
            dict(
                subgroup="all",
                subgroup_value="all",
                estimate=0.05,
                p_value=0.01,
                n_treated=100,
                n_control=900,
            ),
            dict(
                subgroup="origin",
                subgroup_value="a",
                estimate=0.05,
                p_value=0.01,
                n_treated=40,
                n_control=300,
            ),
            dict(
                subgroup="origin",
                subgroup_value="b",
                estimate=0.05,
                p_value=0.04,
                n_treated=30,
                n_control=300,
            ),
            dict(
                subgroup="origin",
                subgroup_value="c",
                estimate=0.05,
                p_value=0.03,
                n_treated=30,
                n_control=300,
            ),
            dict(
                subgroup="origin",
                subgroup_value="d",
                estimate=np.nan,
                p_value=np.nan,
                n_treated=0,
                n_control=0,
            ),
        ]
    )
    adj = adjust_pvalues(t)
    assert adj[0] == pytest.approx(0.01)  # the overall row is its own family
    assert adj[1:4].tolist() == pytest.approx([0.03, 0.06, 0.06])  # 3 tests; NaN does not count
    assert np.isnan(adj[4])


def test_small_subgroup_and_its_complement_are_withheld_never_dropped():
    t = table(
        [
            dict(
                subgroup="all",
                subgroup_value="all",
                estimate=0.05,
                p_value=0.01,
                n_treated=120,
                n_control=900,
            ),
            dict(
                subgroup="sex",
                subgroup_value="man",
                estimate=0.02,
                p_value=0.2,
                n_treated=9,
                n_control=400,
            ),
            dict(
                subgroup="sex",
                subgroup_value="vrouw",
                estimate=0.06,
                p_value=0.01,
                n_treated=111,
                n_control=500,
            ),
            dict(
                subgroup="health",
                subgroup_value="poor",
                estimate=0.01,
                p_value=0.5,
                n_treated=50,
                n_control=5,
            ),
            dict(
                subgroup="health",
                subgroup_value="good",
                estimate=0.05,
                p_value=0.01,
                n_treated=70,
                n_control=895,
            ),
        ]
    )
    out = apply_disclosure(t)
    assert len(out) == len(t)
    assert out["suppressed"].tolist() == [False, True, True, True, True]
    assert (
        out.loc[1, "suppression_reason"] == "primary"
        and out.loc[2, "suppression_reason"] == "complementary"
    )
    assert out.loc[out["suppressed"], ["estimate", "ci_low", "n_treated"]].isna().all().all()
    assert disclosure_violations(out) == []


def test_violations_are_named():
    t = table(
        [
            dict(
                subgroup="all",
                subgroup_value="all",
                estimate=0.05,
                p_value=0.01,
                n_treated=9,
                n_control=900,
            )
        ]
    )
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
    t = table(
        [
            dict(
                subgroup="all",
                subgroup_value="all",
                estimate=0.05,
                p_value=0.01,
                n_treated=100,
                n_control=900,
            ),
            dict(
                subgroup="sex",
                subgroup_value="man",
                estimate=0.05,
                p_value=0.01,
                n_treated=40,
                n_control=300,
            ),
            dict(
                subgroup="sex",
                subgroup_value="vrouw",
                estimate=0.05,
                p_value=0.04,
                n_treated=60,
                n_control=600,
            ),
            dict(
                subgroup="health",
                subgroup_value="poor",
                estimate=0.05,
                p_value=0.02,
                n_treated=30,
                n_control=300,
            ),
            dict(
                subgroup="health",
                subgroup_value="good",
                estimate=0.05,
                p_value=0.03,
                n_treated=70,
                n_control=600,
            ),
        ]
    )
    assert adjust_pvalues(t)[1:].tolist() == pytest.approx(
        [0.04, 0.06, 0.06, 0.06]
    )  # 4 tests in one family


DIAG = {
    "n_obs_treated": 111,
    "n_obs_control": 400,
    "n_clusters": 511,
    "n_trimmed_treated": 3,
    "n_trimmed_control": 0,
    "ps_treated_min": 0.0123,
    "ps_treated_max": 0.97,
    "ps_treated_mean": 0.3,
    "max_abs_smd_after": 0.02,
    "smd_before.n_children": 0.1,
    "n_left_total": 4000,
    "min_units_per_event_time": 4,
}


def test_withheld_rows_keep_labels_and_reason_only():
    t = table(
        [
            dict(
                subgroup="all",
                subgroup_value="all",
                estimate=0.05,
                p_value=0.01,
                n_treated=120,
                n_control=900,
            ),
            dict(
                subgroup="sex",
                subgroup_value="man",
                estimate=0.02,
                p_value=0.2,
                n_treated=9,
                n_control=400,
            ),
            dict(
                subgroup="sex",
                subgroup_value="vrouw",
                estimate=0.06,
                p_value=0.01,
                n_treated=111,
                n_control=500,
            ),
        ]
    )
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
    t = table(
        [
            dict(
                subgroup="all",
                subgroup_value="all",
                estimate=0.05,
                p_value=0.01,
                n_treated=120,
                n_control=900,
            )
        ]
    )
    t["diagnostics"] = json.dumps(DIAG)
    assert any("minimum or maximum" in p for p in disclosure_violations(t))
    out = apply_disclosure(t)
    diag = json.loads(out.loc[0, "diagnostics"])
    assert not {
        "ps_treated_min",
        "ps_treated_max",
        "min_units_per_event_time",
        "n_left_total",
    } & set(diag)
    assert (
        diag["n_trimmed_treated"] == "<10"
        and diag["n_trimmed_control"] == 0
        and diag["n_obs_treated"] == 111
    )
    assert (
        diag["max_abs_smd_after"] == 0.02 and diag["smd_before.n_children"] == 0.1
    )  # aggregates, not persons
    assert disclosure_violations(out) == []


def _cell(gemeente, n_treated, suppressed=False):
    return dict(
        gemeente=gemeente,
        subgroup="all",
        subgroup_value="all",
        estimate=np.nan if suppressed else 0.05,
        p_value=np.nan if suppressed else 0.01,
        n_treated=np.nan if suppressed else n_treated,
        n_control=np.nan if suppressed else 500,
        suppressed=suppressed,
    )


def test_pooled_row_is_withheld_when_it_gives_back_a_withheld_municipal_count():
    municipal = table(
        [
            _cell("GM0363", 9, suppressed=True),
            _cell("GM0599", 40),
            _cell("GM0518", 41),
            _cell("GM0344", 30),
        ]
    )
    pooled = table([_cell("G4", 120)])
    pooled["n_control"] = 2000
    assert not apply_disclosure(pooled)["suppressed"].any()  # on its own it is fine
    out = apply_disclosure(pooled, municipal=municipal)  # 120 - 40 - 41 - 30 = the withheld 9
    assert out.loc[0, "suppressed"] and out.loc[0, "suppression_reason"] == "complementary"
    everything_published = table(
        [_cell("GM0363", 19), _cell("GM0599", 40), _cell("GM0518", 41), _cell("GM0344", 20)]
    )
    assert not apply_disclosure(pooled, municipal=everything_published)["suppressed"].any()
    # the check finds a pooled row left published against a withheld city
    assert (
        "give back a withheld municipal count"
        in disclosure_violations(apply_disclosure(pooled), municipal=municipal)[0]
    )
    assert disclosure_violations(out, municipal=municipal) == []


def test_pooled_row_against_two_withheld_cities_depends_on_what_they_add_up_to():
    pooled = table([_cell("G4", 120)]).assign(n_control=2000)
    together_8 = table(
        [
            _cell("GM0363", 3, True),
            _cell("GM0599", 5, True),
            _cell("GM0518", 62),
            _cell("GM0344", 50),
        ]
    )
    assert apply_disclosure(pooled, municipal=together_8).loc[
        0, "suppressed"
    ]  # 120 - 62 - 50 = 8 persons
    together_19 = table(
        [
            _cell("GM0363", 9, True),
            _cell("GM0599", 9, True),
            _cell("GM0518", 52),
            _cell("GM0344", 50),
        ]
    )
    assert not apply_disclosure(pooled, municipal=together_19).loc[
        0, "suppressed"
    ]  # 18 persons, two cities


def test_an_amount_dominated_by_one_person_is_withheld():
    from wi_pipeline.estimation.multivalued import estimate_multivalued_treatments
    from wi_pipeline.lib.disclosure import DisclosureRules
    from wi_pipeline.lib.effects import COMBINED_CONTRASTS, _combined_row

    rng = np.random.default_rng(1)
    n = 240
    df = pd.DataFrame(
        {
            "pseudo_id": [f"p{i}" for i in range(n)],
            "arm": np.repeat(["both", "mediation", "debt_only", "neither"], n // 4),
            "x": rng.normal(size=n),
            "employed_h12": rng.integers(0, 2, n).astype(float),
            "care_costs_total_h12": rng.uniform(100, 200, n),
        }
    )
    df.loc[0, "care_costs_total_h12"] = (
        1_000_000.0  # one person's hospital bill, in the "both" cell
    )
    res = estimate_multivalued_treatments(
        df, ["employed_h12", "care_costs_total_h12"], "arm", ["x"], trim=None
    )
    n_arm = df.groupby("arm")["pseudo_id"].nunique().to_dict()
    contrast = COMBINED_CONTRASTS["both vs neither"]
    costs = _combined_row(
        {"outcome": "care_costs_total"},
        res["care_costs_total_h12"],
        df,
        "care_costs_total_h12",
        contrast,
        n_arm,
        True,
        DisclosureRules(),
    )
    work = _combined_row(
        {"outcome": "employed"},
        res["employed_h12"],
        df,
        "employed_h12",
        contrast,
        n_arm,
        False,
        DisclosureRules(),
    )
    assert costs["suppressed"] and costs["suppression_reason"].startswith("dominance")
    assert not work["suppressed"] and (work["n_treated"], work["n_control"]) == (60, 60)
    # the interaction needs every cell: one cell under ten persons withholds it
    small = _combined_row(
        {"outcome": "employed"},
        res["employed_h12"],
        df,
        "employed_h12",
        COMBINED_CONTRASTS[INTERACTION],
        {**n_arm, "debt_only": 9},
        False,
        DisclosureRules(),
    )
    assert small["suppressed"] and "fewer than 10 persons in a cell" in small["suppression_reason"]


def test_event_time_points_under_ten_persons_are_withheld_with_the_next_smallest():
    from wi_pipeline.lib.plots import event_study_points

    coef = pd.DataFrame(
        {
            "estimate": [0.01, 0.0, 0.02, 0.03],
            "ci_low": [-0.1] * 4,
            "ci_high": [0.1] * 4,
            "n_units": [40, 50, 6, 30],
        },
        index=pd.Index([-2, -1, 0, 1], name="event_time"),
    )
    pts = event_study_points(coef)
    assert pts["suppressed"].tolist() == [False, False, True, True]
    assert pts.loc[pts["suppressed"], "estimate"].isna().all()


def choice_row(instrument, subgroup="all", value="all", **kw):
    return dict(
        measure="instrument_choice",
        outcome="regular_work",
        horizon=12,
        contrast=f"{instrument} vs wait",
        subgroup=subgroup,
        subgroup_value=value,
        **kw,
    )


def test_what_works_shows_rank_sets_in_points_and_lists_withheld_ones_in_words():
    from wi_pipeline.lib.effects import what_works_for_whom

    t = table(
        [
            choice_row(
                "scholing",
                estimate=0.02,
                p_value=0.1,
                p_adjusted=0.3,
                rank=2,
                rank_low=1,
                rank_high=3,
                in_best_set=1.0,
                level_treated=0.20,
                level_control=0.18,
                n_treated=100,
                n_control=500,
            ),
            choice_row(
                "bemiddeling",
                estimate=0.05,
                p_value=0.001,
                p_adjusted=0.004,
                ci_low=0.03,
                rank=1,
                rank_low=1,
                rank_high=2,
                in_best_set=1.0,
                level_treated=0.23,
                level_control=0.18,
                n_treated=100,
                n_control=500,
            ),
            choice_row(
                "beschut_werk",
                estimate=-0.15,
                p_value=0.0001,
                p_adjusted=0.0005,
                ci_low=-0.2,
                ci_high=-0.1,
                rank=3,
                rank_low=3,
                rank_high=3,
                in_best_set=0.0,
                level_treated=0.03,
                level_control=0.18,
                n_treated=60,
                n_control=500,
            ),
            choice_row(
                "jobcoach",
                estimate=np.nan,
                p_value=np.nan,
                n_treated=np.nan,
                n_control=np.nan,
                suppressed=True,
                suppression_reason="fewer than 10 persons in an arm",
            ),
            dict(
                measure="combined",
                subgroup="all",
                subgroup_value="all",
                estimate=0.4,
                p_value=0.01,
                n_treated=100,
                n_control=100,
            ),  # another measure: not in the table
        ]
    )
    w = what_works_for_whom(t)
    assert w["instrument"].tolist() == ["bemiddeling", "scholing", "beschut_werk", "jobcoach"]
    assert w["effect_pp"].tolist()[:3] == pytest.approx([5.0, 2.0, -15.0])  # percentage points
    assert w["rank_set"].tolist() == ["1-2", "1-3", "3", ""]
    assert w["in_best_set"].tolist() == ["yes", "yes", "no", ""]
    assert w["clearly"].tolist() == [
        "better than waiting",
        "not distinguishable from waiting",
        "worse than waiting",
        "",
    ]
    assert w["regular_work_pct_if_waiting"].iloc[0] == pytest.approx(18.0)
    assert w["withheld"].tolist() == [False, False, False, True]
    assert "at least 10 persons" in w["withheld_because"].iloc[3]


def test_tailoring_is_claimed_only_where_the_test_supports_it():
    from wi_pipeline.lib.effects import tailoring_in_words, what_works_for_whom

    rows = [
        choice_row(
            "scholing",
            gemeente="G4",
            estimate=0.05,
            p_value=0.01,
            p_adjusted=0.02,
            rank=1,
            rank_low=1,
            rank_high=1,
            in_best_set=1.0,
            n_treated=100,
            n_control=500,
            heterogeneity_p=0.4,
        )
    ]
    for value, est in (("man", 0.01), ("vrouw", 0.08)):
        rows.append(
            choice_row(
                "scholing",
                "sex",
                value,
                gemeente="G4",
                estimate=est,
                p_value=0.01,
                p_adjusted=0.03,
                n_treated=50,
                n_control=250,
                heterogeneity_p=0.001,
            )
        )
    for value in ("good", "poor"):
        rows.append(
            choice_row(
                "scholing",
                "health",
                value,
                gemeente="G4",
                estimate=0.05,
                p_value=0.01,
                p_adjusted=0.03,
                n_treated=50,
                n_control=250,
                heterogeneity_p=0.7,
            )
        )
    text = tailoring_in_words(what_works_for_whom(table(rows)), "G4")
    assert "differs by sex (p = 0.001, Holm 0.002" in text and "vrouw: +8.0 pp" in text
    assert "differs by health" not in text and "1 of 2 instrument-by-dimension tests" in text
    assert "among scholing" in text


@pytest.mark.parametrize(
    "reason",
    [
        "not estimable: propensity-score logit failed",
        "model_df",
        "dominance: one person holds over 50% of an arm's total",
    ],
)
def test_a_municipal_row_withheld_for_a_model_reason_does_not_withhold_the_pooled_row(reason):
    def withheld_for_model(gemeente, n):
        return {
            **_cell(gemeente, n),
            "suppressed": True,
            "suppression_reason": reason,
            "estimate": np.nan,
            "p_value": np.nan,
        }

    municipal = table(
        [
            withheld_for_model("GM0363", 45),
            _cell("GM0599", 40),
            _cell("GM0518", 41),
            _cell("GM0344", 30),
        ]
    )
    pooled = table([_cell("G4", 156)]).assign(n_control=2000)
    out = apply_disclosure(pooled, municipal=municipal)
    assert not out.loc[
        0, "suppressed"
    ]  # 156 - 40 - 41 - 30 = 45: the withheld city's count is not small
    assert disclosure_violations(out, municipal=municipal) == []


def test_a_row_withheld_for_a_model_reason_withholds_nothing_else_in_its_table():
    t = table(
        [
            dict(
                subgroup="all",
                subgroup_value="all",
                estimate=0.05,
                p_value=0.01,
                n_treated=120,
                n_control=900,
            ),
            dict(
                subgroup="sex",
                subgroup_value="man",
                estimate=np.nan,
                p_value=np.nan,
                n_treated=50,
                n_control=400,
                suppressed=True,
                suppression_reason="not estimable: singular",
            ),
            dict(
                subgroup="sex",
                subgroup_value="vrouw",
                estimate=0.06,
                p_value=0.01,
                n_treated=70,
                n_control=500,
            ),
        ]
    )
    out = apply_disclosure(t)
    assert out["suppressed"].tolist() == [
        False,
        True,
        False,
    ]  # the 50 men are no small group to protect
    assert out.loc[1, ["estimate", "n_treated", "n_control"]].isna().all()
    assert disclosure_violations(out) == []


def test_a_small_city_next_to_a_model_reason_city_is_protected_only_if_the_latter_can_be_worked_out():
    def withheld(gemeente, reason, subgroup="all", value="all"):
        return {
            **_cell(gemeente, 0, suppressed=True),
            "suppression_reason": reason,
            "subgroup": subgroup,
            "subgroup_value": value,
        }

    base = [
        _cell("GM0363", 40),
        _cell("GM0518", 41),
        withheld("GM0344", "fewer than 10 persons in an arm"),
        withheld("GM0599", "model_df"),
    ]
    pooled = table([_cell("G4", 118)]).assign(n_control=2000)
    # 118 - 40 - 41 = 37 = Utrecht's 5 plus Rotterdam's hidden 32: Utrecht's count cannot be told
    assert not apply_disclosure(pooled, municipal=table(base)).loc[0, "suppressed"]
    # but if Rotterdam's men and women are both published, its total follows and so does Utrecht's
    both_sexes = [
        {**_cell("GM0599", 12), "subgroup": "sex", "subgroup_value": "man"},
        {**_cell("GM0599", 20), "subgroup": "sex", "subgroup_value": "vrouw"},
    ]  # 32: 37 - 32 = 5
    out = apply_disclosure(pooled, municipal=table(base + both_sexes))
    assert out.loc[0, "suppressed"] and out.loc[0, "suppression_reason"] == "complementary"


def rd_part(rng, persons=150, ages=(30, 90), planted=(53, 54, 55), one_sided=20):
    """An RD sample in which every parent is seen at every age in ``ages``, ``one_sided`` parents
    only below 60 months and as many only from 60 on, plus three parents seen only at the
    ``planted`` ages: the only persons told apart by bandwidths ending between them."""
    months = np.arange(ages[0], ages[1] + 1)
    ids = np.repeat([f"p{i}" for i in range(persons)], months.size)
    x = np.tile(months, persons).astype(float)
    extra = [(f"q{k}", float(a)) for k in range(3) for a in planted]
    sides = (("l", months < 60), ("r", months >= 60))
    extra += [
        (f"{side}{k}", float(a))
        for k in range(one_sided)
        for side, keep in sides
        for a in months[keep]
    ]
    ids = np.concatenate([ids, [e[0] for e in extra]])
    x = np.concatenate([x, [e[1] for e in extra]])
    employed = (rng.random(x.size) < 0.2 + 0.002 * (x - 60) + 0.05 * (x >= 60)).astype(float)
    return pd.DataFrame(
        {
            "pseudo_id": ids,
            "running": x,
            "employed": employed,
            "exemption_9a": ((x < 60) & (rng.random(x.size) < 0.6)).astype(float),
        }
    )


def rd_main(part, h=10.0):
    """A published main RD row as ``exemption_effects`` makes it (persons per side, h in diagnostics)."""
    from wi_pipeline.lib.effects import _rd_person_sets

    left, right = _rd_person_sets(part, 60, {"bandwidth_left": h, "bandwidth_right": h})
    return dict(
        measure="exemption_9a",
        gemeente="G4",
        subgroup="all",
        subgroup_value="all",
        outcome="employed",
        horizon=0,
        contrast="child aged 60+ months vs under 60 (reduced form)",
        n_treated=len(right),
        n_control=len(left),
        suppressed=False,
        suppression_reason="",
        diagnostics=json.dumps({"bandwidth_left": h, "bandwidth_right": h}),
    )


def robustness_rows(part, main, rules=None, fuzzy=False):
    from wi_pipeline.lib.disclosure import DisclosureRules
    from wi_pipeline.lib.effects import _rd_person_sets, _rd_robustness_rows

    base = {
        k: main[k]
        for k in (
            "measure",
            "gemeente",
            "subgroup",
            "subgroup_value",
            "outcome",
            "horizon",
            "contrast",
        )
    }
    seen = list(_rd_person_sets(part, 60, json.loads(main["diagnostics"])))
    return _rd_robustness_rows(part, base, main, seen, fuzzy, None, rules or DisclosureRules())


def test_rd_robustness_rows_carry_their_own_contrast_words_family_and_disclosure():
    from wi_pipeline.lib.disclosure import COMPLEMENTARY
    from wi_pipeline.lib.effects import _in_words, power_in_words

    part = rd_part(np.random.default_rng(3))
    main = rd_main(part)
    rows = robustness_rows(part, main)
    contrasts = [r["contrast"] for r in rows]
    assert len(rows) == 8 and len(set(contrasts)) == 8
    assert all(c.startswith("RD robustness: ") for c in contrasts)
    assert contrasts[0] == "RD robustness: bandwidth 0.5x MSE-optimal (h = 5.0 months, b = h)"
    assert "donut without ages 59 and 60 months" in contrasts[5]
    assert "placebo cutoff at 48 months (ages under 60 only" in contrasts[6]
    assert "at 72 months" in contrasts[7]
    by = dict(zip(contrasts, rows))
    # 0.5x (ages 56-59) holds the 170 parents seen at every age under 60; the main row (51-59) also the 3 seen
    # at 53-55: publishing both would give those 3 away by subtraction
    half = by[contrasts[0]]
    assert half["suppressed"] and half["suppression_reason"] == COMPLEMENTARY
    one = by["RD robustness: bandwidth 1x MSE-optimal (h = 10.0 months, b = h)"]
    assert not one["suppressed"] and (one["n_treated"], one["n_control"]) == (170, 173)
    z = 1.959964
    assert (one["ci_low"], one["ci_high"]) == pytest.approx(
        (one["estimate"] - z * one["std_error"], one["estimate"] + z * one["std_error"]), abs=1e-6
    )
    diag = json.loads(one["diagnostics"])
    assert {"estimate_conventional", "std_error_conventional", "bandwidth_bias"} <= set(diag)
    main_values = dict(
        estimate=0.0, std_error=0.01, ci_low=-0.02, ci_high=0.02, p_value=1.0, df_resid=500.0
    )
    t = _in_words(pd.DataFrame([{**main, **main_values}, *rows]))
    for c in EFFECT_COLUMNS:
        t[c] = t[c] if c in t else np.nan
    t["p_adjusted"] = adjust_pvalues(t)
    shown = t[~t["suppressed"] & t["contrast"].str.startswith("RD robustness")]
    assert (
        len(shown) >= 4 and (shown["p_adjusted"] == shown["p_value"]).all()
    )  # each variant its own family
    assert t["comparison"].str.contains("check").sum() == 8
    assert "turns 48 months" in t.loc[t["contrast"] == contrasts[6], "comparison"].item()
    assert t.loc[1:, "outcome_label"].str.contains("youngest child's age in months").all()
    out = apply_disclosure(t[EFFECT_COLUMNS])
    assert disclosure_violations(out) == [] and out["suppressed"].sum() == t["suppressed"].sum()
    power = power_in_words(out)
    assert "reduced form" in power and "RD robustness" not in power  # checks, not headlines


def test_rd_robustness_rows_with_too_few_persons_on_a_side_are_withheld_never_dropped():
    from wi_pipeline.lib.disclosure import DisclosureRules

    part = rd_part(np.random.default_rng(4))
    rows = robustness_rows(part, rd_main(part), DisclosureRules(min_units=172))
    assert len(rows) == 8 and all(r["suppressed"] for r in rows)
    assert all(r["suppression_reason"] == "fewer than 172 persons on a side" for r in rows)
    assert all(np.isnan(r["estimate"]) for r in rows)
    withheld_main = {**rd_main(part), "suppressed": True, "suppression_reason": "not estimable: x"}
    rows = robustness_rows(part, withheld_main, fuzzy=True)
    assert len(rows) == 6 and all(r["suppression_reason"] == "not estimable: x" for r in rows)
    assert all(r["contrast"].startswith("RD robustness, fuzzy LATE: ") for r in rows)


def test_rd_plot_months_under_ten_persons_are_withheld_with_the_next_smallest():
    from wi_pipeline.lib.plots import rd_plot, rd_plot_bins

    part = rd_part(np.random.default_rng(5), persons=12, planted=(40,), one_sided=0)
    bins = rd_plot_bins(part)
    assert (
        bins["age_months"].min() == 36 and bins["age_months"].max() == 83
    )  # 24 months either side
    n = bins.set_index("age_months")["n"]
    sizes = part[part.running.between(36, 83)].groupby("running")["pseudo_id"].nunique()
    assert sizes.min() >= 12 and sizes.loc[40] == 15  # every month 12 parents, at 40 months 15
    # every bin is published: no month under 10 persons
    assert not bins["suppressed"].any() and (n.to_numpy() == sizes.to_numpy()).all()
    small = part[
        ~((part.running == 50) & part.pseudo_id.isin([f"p{i}" for i in range(5)]))
    ]  # 7 at 50
    bins = rd_plot_bins(small)
    hidden = bins[bins["suppressed"]]
    # and the next smallest with it, so the 7 cannot be worked out from a published total
    assert 50 in hidden["age_months"].tolist() and len(hidden) == 2
    assert hidden["mean"].isna().all() and hidden["n"].isna().all()
    png = rd_plot(bins)
    assert png[:4] == b"\x89PNG" and _png_width(png) >= 900  # wide enough to read month by month


def test_rd_sensitivity_points_draw_only_published_estimates_on_ten_or_more_persons():
    from wi_pipeline.lib.plots import rd_sensitivity_plot, rd_sensitivity_points

    def row(contrast, est, n=(100, 100), suppressed=False, variant=None, h=10.0):
        return dict(
            measure="exemption_9a",
            subgroup="all",
            outcome="employed",
            contrast=contrast,
            estimate=est,
            ci_low=est - 0.02,
            ci_high=est + 0.02,
            n_treated=n[0],
            n_control=n[1],
            suppressed=suppressed,
            diagnostics="{}"
            if suppressed
            else json.dumps({"variant": variant, "bandwidth_left": h}),
        )

    t = pd.DataFrame(
        [
            row("child aged 60+ months vs under 60 (reduced form)", 0.02),
            row(
                "RD robustness: bandwidth 0.5x MSE-optimal (h = 5.0 months, b = h)",
                0.03,
                variant="bandwidth",
                h=5.0,
            ),
            row(
                "RD robustness: bandwidth 2x MSE-optimal (h = 20.0 months, b = h)",
                0.01,
                n=(100, 9),
                variant="bandwidth",
                h=20.0,
            ),
            row(
                "RD robustness: donut without ages 59 and 60 months",
                np.nan,
                n=(np.nan, np.nan),
                suppressed=True,
            ),
            row(
                "RD robustness: placebo cutoff at 48 months (ages under 60 only; h = 4.0 months)",
                -0.01,
                variant="placebo",
                h=4.0,
            ),
            row("exemption (fuzzy RD, LATE)", -0.04),
            row("event study: mean post - pre, person and month FE", 0.0),
        ]
    )
    pts = rd_sensitivity_points(t)
    assert pts["kind"].tolist() == ["mse_optimal", "bandwidth", "bandwidth", "donut", "placebo"]
    assert pts["suppressed"].tolist() == [
        False,
        False,
        True,
        True,
        False,
    ]  # 9 persons on a side: not drawn
    assert (
        pts.loc[pts["suppressed"], ["bandwidth", "estimate", "ci_low", "ci_high"]]
        .isna()
        .all()
        .all()
    )
    assert pts.loc[~pts["suppressed"], "bandwidth"].tolist() == [10.0, 5.0, 4.0]
    assert rd_sensitivity_points(t, fuzzy=True)["kind"].tolist() == ["mse_optimal"]
    assert rd_sensitivity_plot(t)[:4] == b"\x89PNG"


def test_power_in_words_says_when_a_design_cannot_detect_effects_the_literature_reports():
    from wi_pipeline.lib.effects import power_in_words

    def row(measure, contrast, se, suppressed=False, subgroup="all", outcome="regular_work"):
        return dict(
            gemeente="G4",
            measure=measure,
            contrast=contrast,
            outcome=outcome,
            horizon=12,
            subgroup=subgroup,
            suppressed=suppressed,
            mde_80=2.8016 * se,
        )

    table = pd.DataFrame(
        [
            row(
                "combined", "interaction: (both - debt_only) - (mediation - neither)", 0.043
            ),  # MDE 12 pp
            row("instrument_choice", "scholing vs wait", 0.02),  # MDE 5.6 pp against 3-8 pp
            row("instrument_choice", "bemiddeling vs wait", 0.005),  # MDE 1.4 pp against 2-5 pp
            row("instrument_choice", "jobcoach vs wait", 0.001, suppressed=True),
            row("instrument_choice", "jobcoach vs wait", 0.001, subgroup="sex"),
            row("combined", "both vs neither", 0.001, outcome="care_costs_total"),
        ]
    )
    text = power_in_words(table)
    lines = text.splitlines()[1:]
    assert len(lines) == 3  # withheld, subgroup and non-work rows say nothing
    assert "MDE 12.0 pp; cannot detect" in lines[0] and "+2 to +5 percentage points" in lines[0]
    assert "MDE 5.6 pp; detects only the larger effects" in lines[1]
    assert "MDE 1.4 pp; can detect" in lines[2]


@pytest.fixture(scope="module")
def panel_with_gaps():
    """One small synthetic municipality where a tenth of the persons have no healthcare costs in 2019
    (no poor_health) and, for everyone, 2021's costs are unknown."""
    from wi_pipeline.lib.designs import add_history
    from wi_pipeline.synthetic.config import SyntheticConfig
    from wi_pipeline.synthetic.world import simulate_world

    p = simulate_world(SyntheticConfig(scale=0.01, seed=3)).panel.rename(
        columns={"person_id": "pseudo_id"}
    )
    p = p[p["gemeente"] == "GM0363"].reset_index(drop=True)
    p["gemeente"] = p["gemeente"].astype(str)
    p["pseudo_id"] = p["pseudo_id"].astype(str).astype("category")
    ids = np.sort(p["pseudo_id"].unique().astype(str))
    gap = p["pseudo_id"].isin(
        np.random.default_rng(1).choice(ids, size=len(ids) // 10, replace=False)
    )
    p["poor_health"] = p["poor_health"].astype("boolean").mask(gap)
    year = p["month"].dt.year
    p["care_costs_total"] = p["care_costs_total"].mask(gap & (year == 2019) | (year == 2021))
    p["problematic_debt"] = (
        True  # everyone in the combined design, so that its arms are large enough
    )
    return add_history(p), gap.groupby(p["pseudo_id"], observed=True).first()


def test_unknown_health_is_in_neither_health_group_of_the_instrument_comparison(
    panel_with_gaps, monkeypatch
):
    from functools import partial

    from wi_pipeline.lib import effects
    from wi_pipeline.lib.designs import WAIT, instrument_choice_sample

    panel, _ = panel_with_gaps
    monkeypatch.setattr(
        effects, "instrument_choice_sample", partial(instrument_choice_sample, horizons=(12,))
    )
    t = pd.DataFrame(
        effects.instrument_choice_effects({"GM0363": panel}, "GM0363", subgroups=("health",))
    )
    cells = t[t["outcome"] == "regular_work"]
    assert set(cells["subgroup_value"]) == {"all", "good", "poor"}
    # persons waiting per cell (n_control of every instrument's row of the cell)
    waiting = cells.drop_duplicates("subgroup_value").set_index("subgroup_value")["n_control"]
    design = instrument_choice_sample(panel, horizons=(12,)).data
    waiting_unknown = design.loc[
        (design["arm"] == WAIT) & design["regular_work_h12"].notna() & design["poor_health"].isna(),
        "pseudo_id",
    ].nunique()
    assert (
        waiting_unknown > 0
        and waiting["good"] + waiting["poor"] + waiting_unknown == waiting["all"]
    )
    assert (
        cells.loc[cells["subgroup"] == "health", "heterogeneity_test"]
        .str.contains("2 values")
        .any()
    )


def test_a_missing_cost_outcome_leaves_the_estimate_of_that_outcome_only(panel_with_gaps):
    from wi_pipeline.estimation.multivalued import estimate_multivalued_treatments
    from wi_pipeline.lib.designs import combined_sample, usable_covariates

    panel, _ = panel_with_gaps
    d = combined_sample(panel, horizons=(12,), outcome_cols=("employed", "care_costs_total"))
    df = d.data
    res = estimate_multivalued_treatments(
        df,
        ["employed_h12", "care_costs_total_h12"],
        "arm",
        usable_covariates(df, d.covariates),
        weights="sampling_weight",
        trim=None,
    )
    assert res["employed_h12"].n_obs == df["employed_h12"].notna().sum()
    assert (
        res["care_costs_total_h12"].n_obs
        == df["care_costs_total_h12"].notna().sum()
        < res["employed_h12"].n_obs
    )


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
    return pd.DataFrame(
        {
            "gemeente": "GM0599",
            "pseudo_id": np.repeat([f"p{i}" for i in range(n)], len(months)),
            "month": np.tile(months, n),
            "age": 30,
            "sex": "vrouw",
            "origin": "Nederland",
            "marital_status": "never_married",
            "single_parent": True,
            "n_children": 1,
            "on_bijstand": True,
            "poor_health": False,
            "employed": employed.ravel(),
            "self_sufficient": False,
            "exemption_9a": (age < 60).ravel(),
            "hours": employed.ravel() * 80.0,
            "bijstand_duration_months": 1.0,
            "youngest_child_age_months": np.where(age >= 0, age, np.nan).ravel(),
        }
    )


def test_staggered_rows_carry_the_effect_persons_per_arm_and_pretests(monkeypatch):
    from wi_pipeline.lib import effects
    from wi_pipeline.lib.effects import (
        STAGGERED_CONTRAST,
        ExemptionFits,
        exemption_staggered_effects,
        exemption_staggered_points,
    )
    from wi_pipeline.lib.plots import event_study_plot

    panels = {"GM0599": _single_parents(300)}
    fits = ExemptionFits()
    rows = exemption_staggered_effects(panels, "GM0599", fits=fits)
    by = {r["outcome"]: r for r in rows}
    assert set(by) == {"employed", "hours", "self_sufficient"}
    emp = by["employed"]
    assert emp["contrast"] == STAGGERED_CONTRAST and not emp["suppressed"]
    assert (
        emp["ci_low"] < 0.15 < emp["ci_high"] and emp["ci_low"] > 0
    )  # the planted jump, and not zero
    assert min(emp["n_treated"], emp["n_control"]) >= 10 and emp["df_resid"] >= 10
    assert "Callaway & Sant'Anna" in emp["method"]
    diag = json.loads(emp["diagnostics"])
    # event months -12..12, the month before the birthday the reference (universal base period)
    assert (
        diag["n_event_times"] == 25 and diag["pretrend_event_df"] == 11 and diag["n_cohorts"] > 12
    )
    assert diag["pretrend_event_p_value"] > 0.01  # parallel trends hold here
    assert "pretrend_cells_p_value" in diag or "pretrend_cells_unavailable" in diag
    # the plot's points: every event month, with the smaller arm's persons for disclosure control,
    # from the event study the rows were estimated from (not estimated a second time)
    assert set(fits.staggered) == {"employed", "hours", "self_sufficient"}
    monkeypatch.setattr(
        effects, "exemption_staggered_did", lambda *a, **k: pytest.fail("estimated twice")
    )
    points, words = exemption_staggered_points(fits)
    assert points["estimate"].to_numpy() == pytest.approx(
        fits.staggered["employed"][1].table["estimate"].to_numpy(), nan_ok=True
    )
    assert list(points.index) == list(range(-12, 13))
    assert points.loc[-1, "estimate"] == 0 and np.isnan(points.loc[-1, "std_error"])
    assert (points["n_units"] == points[["n_treated", "n_control"]].min(axis=1)).all()
    assert "pre-treatment event-time effects" in words
    png = event_study_plot(points)
    assert png[:4] == b"\x89PNG" and _png_width(png) >= 900


def test_staggered_rows_with_too_few_parents_are_withheld():
    from wi_pipeline.lib.effects import exemption_staggered_effects

    rows = exemption_staggered_effects({"GM0599": _single_parents(8)}, "GM0599")
    assert all(r["suppressed"] for r in rows)
    assert all(r["suppression_reason"].startswith(("fewer than", "not estimable")) for r in rows)
    assert all(np.isnan(r["estimate"]) for r in rows)


def test_pooled_staggered_row_is_checked_against_the_municipal_counts():
    """The staggered design counts persons in its arms, which add up across cities (unlike an RD's persons
    within each estimate's own bandwidth): a pooled row that gives back a withheld city's count
    is withheld."""
    from wi_pipeline.lib.effects import STAGGERED_CONTRAST

    def cell(gemeente, n_treated, suppressed=False):
        return {
            **_cell(gemeente, n_treated, suppressed),
            "measure": "exemption_9a",
            "contrast": STAGGERED_CONTRAST,
            "horizon": 0,
        }

    municipal = table(
        [
            cell("GM0363", 9, suppressed=True),
            cell("GM0599", 40),
            cell("GM0518", 41),
            cell("GM0344", 30),
        ]
    )
    pooled = table([cell("G4", 120)])
    pooled["n_control"] = 2000
    assert not apply_disclosure(pooled)["suppressed"].any()
    out = apply_disclosure(pooled, municipal=municipal)
    assert out.loc[0, "suppressed"] and out.loc[0, "suppression_reason"] == "complementary"


def test_parallel_trend_sensitivity_flags_a_planted_violation_and_spares_a_real_effect():
    """Rambachan-Roth on the binned event study: a pre-trend that goes on after treatment makes an
    effect out of nothing, which the original interval calls significant and the sensitivity
    analysis does not (it breaks down below Mbar 1); a real effect with parallel trends survives
    violations as large as the largest pre-period one (Mbar 1). The bins' covariance is the
    linear map of the event-time covariance."""
    from wi_pipeline.estimation import estimate_staggered_did
    from wi_pipeline.lib.effects import parallel_trend_sensitivity
    from wi_pipeline_tests.estimation.test_staggered import staggered_panel

    def dynamic(**kw):
        df = staggered_panel(np.random.default_rng(5), units=2000, **kw)
        return estimate_staggered_did(
            df, "y", "id", "t", "g", control_group="never_treated", base_period="universal"
        ).aggregate("dynamic")

    drift = parallel_trend_sensitivity(dynamic(trend_violation=0.15, effect=(0.0, 0.0)), width=1)
    original = drift[drift["mbar"].isna()].iloc[0]
    assert original["ci_low"] > 0  # the drift looks like an effect
    at_1 = drift[drift["mbar"] == 1.0].iloc[0]
    assert at_1["ci_low"] <= 0 <= at_1["ci_high"] and drift.attrs["breakdown_mbar"] < 1
    real = parallel_trend_sensitivity(dynamic(trend_violation=0.0, effect=(0.5, 0.25)), width=1)
    assert (
        real.attrs["breakdown_mbar"] >= 1.0 and real.loc[real["mbar"].isna(), "ci_low"].iloc[0] > 0
    )
    with pytest.raises(
        ValueError, match="do not fill bins"
    ):  # no complete pre bin before the reference
        parallel_trend_sensitivity(dynamic(), width=5)


def test_sensitivity_in_words_reads_the_staggered_rows_diagnostics():
    from wi_pipeline.lib.effects import STAGGERED_CONTRAST, sensitivity_in_words

    diag = json.dumps(
        {
            "rm_breakdown_mbar": 0.5,
            "rm_ci_low_mbar_1": -0.004,
            "rm_ci_high_mbar_1": 0.05,
            "rm_bins": "3 pre and 4 post bins of 3 months, reference months -3..-1",
        }
    )
    table = pd.DataFrame(
        [
            dict(
                contrast=STAGGERED_CONTRAST,
                subgroup="all",
                suppressed=False,
                outcome="employed",
                estimate=0.024,
                ci_low=0.009,
                ci_high=0.039,
                diagnostics=diag,
            ),
            dict(
                contrast=STAGGERED_CONTRAST,
                subgroup="all",
                suppressed=True,
                outcome="hours",
                estimate=np.nan,
                ci_low=np.nan,
                ci_high=np.nan,
                diagnostics="{}",
            ),
        ]
    )
    text = sensitivity_in_words(table)
    assert "employed: +0.0240 (95% CI +0.0090 to +0.0390)" in text and "-0.0040 to +0.0500" in text
    assert "significant up to Mbar 0.5" in text and "hours" not in text
    assert sensitivity_in_words(table.iloc[1:]).endswith("not available.")


def _png_width(png: bytes) -> int:
    return int.from_bytes(png[16:20], "big")  # the IHDR chunk's width
