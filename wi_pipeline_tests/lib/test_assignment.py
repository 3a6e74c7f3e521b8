"""The assignment rule as the pipeline builds it: features a caseworker knows, a publishable table,
and words that say whether the rule beats today's assignment."""

import numpy as np
import pandas as pd
import pytest

from wi_pipeline.lib.assignment import (
    ASSIGNMENT_COLUMNS,
    RULE_FEATURES,
    assignment_disclosure_violations,
    assignment_in_words,
    learn_assignment_rule,
    rule_features,
)
from wi_pipeline.lib.disclosure import DisclosureRules


def test_rule_features_are_bands_in_their_order_and_labels_in_words():
    df = pd.DataFrame(
        {
            "sex": ["man", "vrouw"],
            "age_band": ["18-26", "55+"],
            "children": ["0", "3+"],
            "marital_status": ["never_married", "married"],
            "health": ["good", "poor"],
            "origin": ["Nederland", "Turkije"],
            "duration": [5.0, 40.0],
            "employed_share_12": [0.0, 0.5],
            "problematic_debt": [True, pd.NA],
        }
    )
    f = rule_features(df)
    assert list(f.columns) == list(RULE_FEATURES)
    assert f["sex"].tolist() == ["man", "woman"]
    assert f["marital status"].tolist() == ["never married", "married"]
    assert f["time on bijstand"].tolist() == ["under 6 months", "36 months or more"]
    assert f["months worked in the last year"].tolist() == ["none", "4-6 months"]
    assert f["problematic debt"].tolist() == ["yes", "no"]
    assert f["age band"].cat.ordered and list(f["age band"].cat.categories)[0] == "18-26"


def test_unknown_health_is_a_rule_feature_value_of_its_own():
    df = pd.DataFrame(
        {
            "sex": ["man"] * 3,
            "age_band": ["18-26"] * 3,
            "children": ["0"] * 3,
            "marital_status": ["married"] * 3,
            "health": ["good", "poor", np.nan],
            "origin": ["overig"] * 3,
        }
    )
    assert rule_features(df)["health"].tolist() == ["good", "poor", "unknown"]


@pytest.fixture(scope="module")
def world_panels():
    from wi_pipeline.lib.designs import add_history
    from wi_pipeline.synthetic.config import SyntheticConfig
    from wi_pipeline.synthetic.world import simulate_world

    panel = simulate_world(SyntheticConfig(scale=0.02, seed=11)).panel.rename(
        columns={"person_id": "pseudo_id"}
    )
    return {
        gm: add_history(p.reset_index(drop=True))
        for gm, p in panel.groupby("gemeente", observed=True)
    }


@pytest.fixture(scope="module")
def g4_rule(world_panels):
    """The pooled rule under the default disclosure rules and no capacities, learned once for the
    tests that read it (read only)."""
    return learn_assignment_rule(world_panels, "G4", DisclosureRules())


def test_rule_table_is_published_only_where_ten_persons_stand_behind_a_number(g4_rule):
    rules = DisclosureRules()
    out = g4_rule
    t = out.table
    assert list(t.columns) == ASSIGNMENT_COLUMNS
    assert set(t["section"]) == {"leaf", "value", "gain", "effect", "placebo"}
    assert not assignment_disclosure_violations(t, rules)
    leaves = t[t["section"] == "leaf"]
    # every group of the rule is given arms whose shares add up to one; groups cover the population
    given = leaves.groupby("item")["share_given"].sum()
    assert np.allclose(given, 1.0)
    assert leaves.groupby("item")["population_share"].first().sum() == pytest.approx(1.0)
    # withheld numbers are blank and say why; published ones have an interval around the estimate
    withheld = t[t["suppressed"]]
    assert withheld["estimate"].isna().all() and (withheld["suppression_reason"] != "").all()
    assert (
        len(withheld) and withheld["n_persons_arm"].isna().all()
    )  # a count under 10 is a small cell too
    shown = t[~t["suppressed"] & t["std_error"].notna() & (t["std_error"] > 0)]
    assert ((shown["ci_low"] <= shown["estimate"]) & (shown["estimate"] <= shown["ci_high"])).all()
    gains = t[t["section"] == "gain"].set_index("item")
    assert {"over today's assignment", "over everyone waiting"} <= set(gains.index)
    assert gains["robustness_value"].between(0, 1).all()
    assert "today's assignment" in out.in_words and "Placebo check" in out.in_words
    # the arms too rare to learn from are never given
    rare = [a for a, n in out.persons_per_arm.items() if n < 50 and a != "wait"]
    assert not leaves[leaves["arm"].isin(rare) & (leaves["share_given"] > 0)].size


def test_a_rule_that_cannot_be_learned_is_a_row_that_says_why(world_panels):
    one = {"GM0344": world_panels["GM0344"].iloc[:400]}
    out = learn_assignment_rule(one, "GM0344")
    assert out.policy is None
    assert (
        out.table["suppressed"].all()
        and out.table["suppression_reason"].str.startswith("not estimable").all()
    )
    assert "no rule could be learned" in out.in_words


def _table(gain_low, gain_high, placebo_p=0.5):
    base = {c: np.nan for c in ASSIGNMENT_COLUMNS}
    rows = []
    for arm, given, est in (("scholing", 1.0, 0.30), ("wait", 0.0, 0.20)):
        rows.append(
            {
                **base,
                "gemeente": "G4",
                "section": "leaf",
                "item": "sex is woman",
                "arm": arm,
                "share_given": given,
                "estimate": est,
                "population_share": 0.5,
                "n_persons": 500,
                "n_persons_arm": 100,
                "suppressed": False,
                "suppression_reason": "",
            }
        )
    rows.append(
        {
            **base,
            "gemeente": "G4",
            "section": "leaf",
            "item": "sex is man",
            "arm": "wait",
            "share_given": 1.0,
            "estimate": 0.2,
            "population_share": 0.5,
            "n_persons": 500,
            "n_persons_arm": 300,
            "suppressed": False,
            "suppression_reason": "",
        }
    )
    rows.append(
        {
            **base,
            "gemeente": "G4",
            "section": "leaf",
            "item": "sex is man",
            "arm": "scholing",
            "share_given": 0.0,
            "suppressed": True,
            "suppression_reason": "fewer than 10 persons in an arm",
        }
    )
    for item, est in (("following the rule", 0.25), ("today's assignment", 0.22)):
        rows.append(
            {
                **base,
                "gemeente": "G4",
                "section": "value",
                "item": item,
                "estimate": est,
                "ci_low": est - 0.01,
                "ci_high": est + 0.01,
                "suppressed": False,
                "suppression_reason": "",
            }
        )
    rows.append(
        {
            **base,
            "gemeente": "G4",
            "section": "gain",
            "item": "over today's assignment",
            "estimate": (gain_low + gain_high) / 2,
            "ci_low": gain_low,
            "ci_high": gain_high,
            "robustness_value_95": 0.04,
            "suppressed": False,
            "suppression_reason": "",
        }
    )
    rows.append(
        {
            **base,
            "gemeente": "G4",
            "section": "placebo",
            "item": "scholing vs wait",
            "estimate": 0.01,
            "p_adjusted": placebo_p,
            "suppressed": False,
            "suppression_reason": "",
        }
    )
    return pd.DataFrame(rows)


def test_words_say_when_the_rule_cannot_be_told_from_todays_assignment():
    text = assignment_in_words(_table(-0.01, 0.03), "G4")
    assert "cannot be told apart from today's assignment" in text
    assert "Hidden confounding" not in text  # nothing to explain away
    assert "1 figure is withheld: resting on fewer than 10 persons" in text
    assert "Sex is woman (50% of the population): **scholing**, 30.0% (waiting: 20.0%)" in text
    assert "no difference beyond chance" in text


def test_words_give_the_gain_its_robustness_and_a_failed_placebo():
    text = assignment_in_words(_table(0.01, 0.05, placebo_p=0.001), "G4")
    assert "The rule does better than today's assignment" in text
    assert "+3.0 percentage points (95% interval 1.0 to 5.0)" in text
    assert "would have to explain 4%" in text and "That is a weak factor" in text
    assert "differences beyond chance for scholing vs wait" in text


def test_a_published_number_on_too_few_persons_is_a_violation():
    t = _table(-0.01, 0.03)
    t.loc[0, "n_persons_arm"] = 5
    problems = assignment_disclosure_violations(t, DisclosureRules())
    assert len(problems) == 1 and "5 persons" in problems[0]
    # a withheld row's count is published too: under the minimum it is a small cell of its own
    t = _table(-0.01, 0.03)
    t.loc[t["suppressed"], "n_persons_arm"] = 7
    assert any("7 persons" in p for p in assignment_disclosure_violations(t, DisclosureRules()))


def test_capacities_from_the_settings_reach_the_rule(world_panels, g4_rule):
    free = g4_rule
    leaves = free.table[free.table["section"] == "leaf"]
    given = (leaves["population_share"] * leaves["share_given"]).groupby(leaves["arm"]).sum()
    top = given.drop("wait").idxmax()  # the instrument the free rule gives most
    assert given[top] > 0.2
    capped = learn_assignment_rule(world_panels, "G4", capacities={top: 0.05})
    leaves = capped.table[capped.table["section"] == "leaf"]
    given = (leaves["population_share"] * leaves["share_given"]).groupby(leaves["arm"]).sum()
    # the capacity holds where the rule is learned; these shares are of the held-out half
    assert given.get(top, 0.0) < 0.1
    assert capped.policy.capacities == {top: 0.05}
