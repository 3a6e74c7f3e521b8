"""The truth of who should get which arm: the oracle rule over subgroup cells, the true value of any
(randomised) rule on the potential outcomes, and the rule's agreement with the oracle."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from wi_pipeline.synthetic.config import SyntheticConfig
from wi_pipeline.synthetic.truth import (
    ARMS,
    WAIT,
    assignment_rule_truth,
    oracle_agreement,
    potential_outcomes,
    rule_probabilities,
    true_observed_value,
    true_potential_outcomes,
    true_rule_value,
)

A = "scholing"  # the instrument of the hand-made example


def _po() -> pd.DataFrame:
    """Two arms (A, waiting) over the cells of sex x health, written out by hand.

    Six person-months: P1 (man, good) and P3 (woman, good) chose A; P2 (man, poor), P4 and P5 (woman,
    good) and P6 (woman, poor) waited. Each arm's rows stand for all six: own-choice rows weight 1, and
    for A the drawn month of P4/P5 weight 2; P6's outcome under A lies past the window."""
    rows = [
        # arm, sex, health, weight, own_choice, y
        (A, "man", "good", 1.0, True, 0.5),  # P1
        (A, "man", "poor", 1.0, False, 0.1),  # P2
        (A, "vrouw", "good", 1.0, True, 0.2),  # P3
        (A, "vrouw", "good", 2.0, False, 0.8),  # P4 or P5, for both
        (A, "vrouw", "poor", 1.0, False, np.nan),  # P6
        ("wait", "man", "good", 1.0, False, 0.3),  # P1
        ("wait", "man", "poor", 1.0, True, 0.4),  # P2
        ("wait", "vrouw", "good", 1.0, True, 0.1),  # P4
        ("wait", "vrouw", "good", 1.0, True, 0.6),  # P5
        ("wait", "vrouw", "good", 1.0, False, 0.5),  # P3
        ("wait", "vrouw", "poor", 1.0, True, 0.0),  # P6
    ]
    return pd.DataFrame(rows, columns=["arm", "sex", "health", "weight", "own_choice", "y"])


def test_true_rule_value_normalises_each_arm_by_its_rows_with_the_outcome_observed():
    po = _po()
    # everyone a: (0.5 + 0.1 + 0.2 + 2 * 0.8) / 5 (P6 is out); everyone waiting: 1.9 / 6
    assert true_rule_value(po, rule_probabilities(po, A), "y") == pytest.approx(2.4 / 5)
    assert true_rule_value(po, rule_probabilities(po, WAIT), "y") == pytest.approx(1.9 / 6)
    apo = true_potential_outcomes(po, "y").iloc[0]
    assert apo[A] == pytest.approx(2.4 / 5) and apo[WAIT] == pytest.approx(1.9 / 6)
    # men get a, women wait
    arm = pd.Series(np.where(po["sex"] == "man", A, WAIT), index=po.index)
    assert true_rule_value(po, rule_probabilities(po, arm), "y") == pytest.approx(0.6 / 5 + 1.2 / 6)
    # a coin flip for everyone: the mean of the two single-arm values
    coin = pd.DataFrame({A: 0.5, WAIT: 0.5}, index=po.index)
    assert true_rule_value(po, coin, "y") == pytest.approx(0.5 * (2.4 / 5 + 1.9 / 6))
    # an arm missing from the columns gets nobody; shares are matched on the index, not the order
    assert true_rule_value(po, coin[[A]].iloc[::-1], "y") == pytest.approx(0.5 * 2.4 / 5)
    with pytest.raises(ValueError, match="not in the potential outcomes"):
        true_rule_value(po, coin.assign(other=0.0), "y")
    with pytest.raises(ValueError, match="every row"):
        true_rule_value(po, coin.iloc[1:], "y")


def test_oracle_is_the_best_arm_per_cell_with_its_value_and_gains():
    po = _po()
    truth = assignment_rule_truth(po, "y", ("sex", "health"))
    json.dumps(
        truth, allow_nan=False
    )  # goes into the truth file as it is (no cell value under A for P6)
    arm = {(r["sex"], r["health"]): r["arm"] for r in truth["rule"]}
    # (vrouw, poor) has no observed outcome under A: the only arm known there is waiting
    assert arm == {
        ("man", "good"): A,
        ("man", "poor"): WAIT,
        ("vrouw", "good"): A,
        ("vrouw", "poor"): WAIT,
    }
    assert truth["arm_values"][A] == pytest.approx(2.4 / 5)
    oracle = (0.5 + 0.2 + 1.6) / 5 + (0.4 + 0.0) / 6
    assert truth["value"] == pytest.approx(oracle, abs=1e-6)
    # today's assignment: the own-choice rows only, (0.5 + 0.2 + 0.4 + 0.1 + 0.6 + 0.0) / 6
    assert true_observed_value(po, "y") == pytest.approx(1.8 / 6)
    assert truth["observed_value"] == pytest.approx(1.8 / 6, abs=1e-6)
    assert truth["gain_over_observed"] == pytest.approx(oracle - 1.8 / 6, abs=1e-6)
    assert truth["best_single_arm"] == A
    assert truth["gain_over_best_single_arm"] == pytest.approx(oracle - 2.4 / 5, abs=1e-6)
    assert truth["gain_over_wait"] == pytest.approx(oracle - 1.9 / 6, abs=1e-6)
    shares = {(r["sex"], r["health"]): r["population_share"] for r in truth["rule"]}
    assert shares == pytest.approx(
        {
            ("man", "good"): 1 / 6,
            ("man", "poor"): 1 / 6,
            ("vrouw", "good"): 3 / 6,
            ("vrouw", "poor"): 1 / 6,
        },
        abs=1e-6,
    )


def test_oracle_agreement_is_the_population_share_given_the_oracles_arm():
    po = _po()
    truth = assignment_rule_truth(po, "y", ("sex", "health"))
    everyone_a = rule_probabilities(po, A)
    # population: waiting's rows with the outcome observed (all six); A is the oracle's arm for men
    # in good health (P1) and women in good health (P3, P4, P5)
    assert oracle_agreement(po, everyone_a, truth) == pytest.approx(4 / 6)
    assert oracle_agreement(po, rule_probabilities(po, WAIT), truth) == pytest.approx(2 / 6)
    lean_a = pd.DataFrame({A: 0.6, WAIT: 0.4}, index=po.index)  # the most likely arm counts
    assert oracle_agreement(po, lean_a, truth) == pytest.approx(4 / 6)


@pytest.mark.slow
def test_default_world_plants_a_best_instrument_that_differs_by_sex_and_health():
    po = potential_outcomes(SyntheticConfig(), horizons=(12,))
    assert set(po["arm"]) == set(ARMS)
    # each arm's rows stand for the same population; the own-choice rows are that population once
    w = po.groupby("arm")["weight"].sum()
    assert np.allclose(w, po.loc[po["own_choice"], "weight"].sum())
    truth = assignment_rule_truth(po)
    arm = {(r["sex"], r["health"]): r["arm"] for r in truth["rule"]}
    # as planted (params.INSTRUMENTS post_modifiers): training for women, a trial placement for men,
    # job coaching for poor health
    assert arm == {
        ("man", "good"): "proefplaatsing",
        ("vrouw", "good"): "scholing",
        ("man", "poor"): "jobcoach",
        ("vrouw", "poor"): "jobcoach",
    }
    assert arm[("man", "good")] != arm[("vrouw", "good")]  # differs by sex
    assert arm[("man", "good")] != arm[("man", "poor")]  # and by health, for both sexes
    assert arm[("vrouw", "good")] != arm[("vrouw", "poor")]
    values = pd.Series(truth["arm_values"])
    for a in ARMS:  # every single arm's value is that of the rule giving everyone that arm
        everyone = rule_probabilities(po, a)
        assert true_rule_value(po, everyone, "regular_work_h12") == pytest.approx(
            values[a], abs=1e-6
        )
    assert (
        truth["value"] > values.max() + 0.01
    )  # the oracle beats the best single instrument clearly
    assert truth["gain_over_best_single_arm"] > 0.01
    assert truth["gain_over_observed"] > truth["gain_over_best_single_arm"]
    # today most person-months wait: today's value lies near waiting's
    assert abs(truth["observed_value"] - values[WAIT]) < 0.01
    cell = po["sex"].astype(str) + "|" + po["health"].astype(str)
    oracle_rule = rule_probabilities(po, cell.map({f"{s}|{h}": a for (s, h), a in arm.items()}))
    assert oracle_agreement(po, oracle_rule, truth) == 1.0
    assert oracle_agreement(po, rule_probabilities(po, "scholing"), truth) == pytest.approx(
        sum(r["population_share"] for r in truth["rule"] if r["arm"] == "scholing"), abs=0.01
    )
