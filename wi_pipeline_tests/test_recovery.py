"""The estimators recover the effects planted in synthetic data, with nominal coverage, and the
naive comparisons on the same data do not. 100 replications, fixed seeds (about 100 s on 2 cores);
the full simulation is `python -m wi_pipeline.recovery`."""

import numpy as np
import pytest

from wi_pipeline.recovery import DESIGNS, run, summarise


@pytest.fixture(scope="module")
def draws():
    return run(reps=100, scale=0.02, workers=2)


@pytest.mark.slow
@pytest.mark.parametrize("design", DESIGNS)
def test_nominal_coverage_and_small_bias(draws, design):
    s = summarise(draws).loc[design]
    assert s["reps"] == 100
    assert 0.90 <= s["coverage"] <= 0.99, s.to_dict()
    assert abs(s["bias"]) < 0.25 * s["mean_se"], s.to_dict()


def _t(errors):
    return errors.mean() / (errors.std() / np.sqrt(len(errors)))


@pytest.mark.slow
def test_naive_comparisons_are_biased_where_the_designs_are_not(draws):
    rd = draws[draws["design"] == "exemption_fuzzy_rd"]
    assert summarise(draws).loc["exemption_fuzzy_rd", "naive_coverage"] < 0.8  # far below the nominal 95%
    assert abs(_t(rd["naive"] - rd["truth"])) > 10
    scholing = draws[draws["design"] == "instrument_scholing_h12"]
    assert abs(_t(scholing["naive"] - scholing["truth"])) > 3  # systematically off across replications
    assert abs(_t(scholing["estimate"] - scholing["truth"])) < 2.5  # the design is not
    combined = draws[draws["design"] == "combined_mediation_vs_neither"]
    # mediation goes first to clients who worked last month: the raw difference overstates the effect
    assert _t(combined["naive"] - combined["truth"]) > 3
    assert abs(_t(combined["estimate"] - combined["truth"])) < 2.5


@pytest.mark.slow
def test_structural_and_design_estimands_are_both_reported(draws):
    s = summarise(draws).loc["instrument_scholing_h12"]
    # waiting controls often start another instrument: the design's estimand is below the structural effect
    assert s["mean_structural_truth"] > s["mean_truth"] > 0
