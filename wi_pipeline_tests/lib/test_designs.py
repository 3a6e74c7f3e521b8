import numpy as np
import pandas as pd
import pytest

from wi_pipeline.lib.designs import instrument_sample
from wi_pipeline.lib.layout import SRG_CATEGORIES

MONTHS = pd.date_range("2020-01-01", periods=12, freq="MS")


def person(
    pid: str,
    employed: list[int],
    scholing_start: int | None = None,
    on_bijstand: bool = True,
    other_instrument: bool = False,
) -> pd.DataFrame:
    """Twelve months of one person; scholing starts in month index ``scholing_start``."""
    df = pd.DataFrame(
        {
            "gemeente": "GM0599",
            "pseudo_id": pid,
            "month": MONTHS,
            "age": 35,
            "sex": "vrouw",
            "origin": "Nederland",
            "marital_status": "never_married",
            "single_parent": False,
            "n_children": 0,
            "on_bijstand": on_bijstand,
            "bijstand_duration_months": np.arange(12.0),
            "employed": np.array(employed, dtype=bool),
            "self_sufficient": False,
            "poor_health": False,
        }
    )
    for cat in SRG_CATEGORIES:
        df[f"instr_{cat}"] = False
        df[f"months_since_start_{cat}"] = np.nan
    if scholing_start is not None:
        since = np.arange(12.0) - scholing_start
        df["months_since_start_scholing"] = np.where(since >= 0, since, np.nan)
        df["instr_scholing"] = (since >= 0) & (since < 6)
    if other_instrument:
        df["instr_jobcoach"] = True
        df["months_since_start_jobcoach"] = np.arange(12.0)
    return df


def panel() -> pd.DataFrame:
    return pd.concat(
        [
            person("a", [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1], scholing_start=2),  # starts in March
            person("b", [0] * 12),  # could start any month
            person("c", [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]),
            person("d", [0] * 12, other_instrument=True),  # in another instrument: not a control
            person("e", [0] * 12, on_bijstand=False),  # not on bijstand: neither
        ],
        ignore_index=True,
    )


def test_starters_against_not_yet_starters_with_outcomes_h_months_later():
    d = instrument_sample(
        panel(), "scholing", horizons=(3, 6), controls_per_starter=10, outcome_cols=("employed",)
    )
    s = d.data
    starters = s[s["treated"] == 1]
    assert starters["pseudo_id"].tolist() == ["a"] and starters["month"].tolist() == [MONTHS[2]]
    assert starters[["employed_h3", "employed_h6"]].iloc[0].tolist() == [
        0.0,
        1.0,
    ]  # June 0, September 1
    controls = s[s["treated"] == 0]
    # only March has a starter, and both b and c could have started then; a, d and e never are controls
    assert sorted(controls["pseudo_id"]) == ["b", "c"] and set(controls["month"]) == {MONTHS[2]}
    assert controls.set_index("pseudo_id").loc["c", "employed_h3"] == 0.0  # June
    assert controls.set_index("pseudo_id").loc["c", "employed_h6"] == 0.0


def test_outcomes_past_the_window_are_missing_not_borrowed_from_the_next_person():
    p = panel()
    p.loc[(p["pseudo_id"] == "a"), "months_since_start_scholing"] = np.arange(12.0) - 10
    p.loc[
        (p["pseudo_id"] == "a") & (p["months_since_start_scholing"] < 0),
        "months_since_start_scholing",
    ] = np.nan
    s = instrument_sample(p, "scholing", horizons=(3,), outcome_cols=("employed",)).data
    assert s.loc[s["treated"] == 1, "employed_h3"].isna().all()  # November + 3 is past December


def test_row_order_of_the_panel_does_not_matter():
    p = panel()
    shuffled = p.sort_values(["month", "pseudo_id"], ascending=[True, False]).reset_index(drop=True)
    a = instrument_sample(p, "scholing", horizons=(3,), seed=1).data
    b = instrument_sample(shuffled, "scholing", horizons=(3,), seed=1).data
    cols = ["pseudo_id", "month", "treated", "employed_h3"]
    key = ["pseudo_id", "month"]
    pd.testing.assert_frame_equal(
        a[cols].sort_values(key).reset_index(drop=True),
        b[cols].sort_values(key).reset_index(drop=True),
    )


def test_controls_are_capped_per_starter_and_month():
    people = [person("s", [0] * 12, scholing_start=5)] + [
        person(f"c{i}", [0] * 12) for i in range(30)
    ]
    s = instrument_sample(
        pd.concat(people, ignore_index=True), "scholing", horizons=(3,), controls_per_starter=4
    ).data
    assert (s["treated"] == 0).sum() == 4 and (s["treated"] == 1).sum() == 1


def test_unknown_category_is_named():
    with pytest.raises(ValueError, match="unknown instrument category 'yoga'"):
        instrument_sample(panel(), "yoga")


def test_rd_sample_keeps_one_episode_per_parent_the_child_youngest_at_eligibility():
    from wi_pipeline.lib.designs import exemption_rd_sample

    months = pd.date_range("2016-01-01", periods=84, freq="MS")
    age = np.arange(84) + 20  # first child 20 months old in January 2016
    second = np.arange(84) - 50  # a second child born in March 2020 becomes the youngest
    youngest = np.where(second >= 0, second, age).astype(float)
    df = pd.DataFrame(
        {
            "gemeente": "GM0599",
            "pseudo_id": "p",
            "month": months,
            "age": 30,
            "sex": "vrouw",
            "origin": "Nederland",
            "marital_status": "never_married",
            "single_parent": True,
            "n_children": 1,
            "on_bijstand": True,
            "poor_health": False,
            "employed": False,
            "self_sufficient": False,
            "exemption_9a": False,
            "hours": 0.0,
            "bijstand_duration_months": 1.0,
            "youngest_child_age_months": youngest,
        }
    )
    s = exemption_rd_sample(df).data
    # the first child: ages 24 to 70 of the window (20 + 50 months before the second is born)
    assert s["running"].is_monotonic_increasing
    assert s["running"].min() == 24 and s["running"].max() == 69


def _single_parent(
    gemeente: str, first_month: str, child_age: int, months: int = 60
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "gemeente": gemeente,
            "pseudo_id": "p",
            "month": pd.date_range(first_month, periods=months, freq="MS"),
            "age": 30,
            "sex": "vrouw",
            "origin": "Nederland",
            "marital_status": "never_married",
            "single_parent": True,
            "n_children": 1,
            "on_bijstand": True,
            "poor_health": False,
            "employed": False,
            "self_sufficient": False,
            "exemption_9a": False,
            "hours": 0.0,
            "bijstand_duration_months": 1.0,
            "youngest_child_age_months": (np.arange(months) + child_age).astype(float),
        }
    )


def test_pooled_rd_sample_keeps_one_episode_for_a_parent_who_moved():
    """Eligible in Rotterdam with one child in 2016, and again in Utrecht with a younger child from 2019:
    pooled, only the Rotterdam episode (the earlier eligibility) stays, as within one city."""
    from wi_pipeline.lib.designs import exemption_rd_sample
    from wi_pipeline.lib.effects import pooled_design

    panels = {
        "GM0599": _single_parent("GM0599", "2016-01-01", 24),
        "GM0344": _single_parent("GM0344", "2019-01-01", 24),
        "GM0363": _single_parent("GM0363", "2016-01-01", 24).assign(pseudo_id="q"),
    }
    within = {gm: exemption_rd_sample(p).data for gm, p in panels.items()}
    assert all(
        within[gm]["pseudo_id"].nunique() == 1 for gm in panels
    )  # each city alone: one episode
    pooled = pooled_design(panels, exemption_rd_sample).data
    kept = pooled.groupby("pseudo_id")["gemeente"].unique()
    assert list(kept["p"]) == ["GM0599"] and list(kept["q"]) == ["GM0363"]
    assert len(pooled) == len(within["GM0599"]) + len(within["GM0363"])
    assert pooled.groupby(["pseudo_id", "month"]).size().max() == 1


def _choice_panel() -> pd.DataFrame:
    p = panel()
    p["debt_assistance"] = False
    return p


def test_instrument_choice_compares_every_instrument_and_waiting_on_one_population():
    from wi_pipeline.lib.designs import instrument_choice_sample

    s = instrument_choice_sample(_choice_panel(), horizons=(3,), waits_per_starter=100).data
    arms = s.groupby("pseudo_id")["arm"].apply(list).to_dict()
    # a waits in January and February and starts scholing in March; later months: an instrument was had
    assert arms["a"] == ["wait", "wait", "scholing"]
    assert arms["b"] == ["wait"] * 12 and arms["c"] == ["wait"] * 12
    assert arms["d"] == ["jobcoach"]  # d's jobcoach starts in January: not waiting afterwards
    assert "e" not in arms  # not on bijstand
    assert (s["sampling_weight"] == 1).all()  # every waiting month kept
    assert s.loc[s["pseudo_id"] == "a", "regular_work_h3"].tolist() == [
        0.0,
        0.0,
        0.0,
    ]  # April, May, June


def test_waiting_months_are_sampled_with_weights_that_restore_the_population():
    from wi_pipeline.lib.designs import instrument_choice_sample

    people = [person("s", [0] * 12, scholing_start=5)] + [
        person(f"w{i}", [0] * 12) for i in range(40)
    ]
    p = pd.concat(people, ignore_index=True).assign(debt_assistance=False)
    s = instrument_choice_sample(p, horizons=(3,), waits_per_starter=20).data
    waits = s[s["arm"] == "wait"]
    assert len(waits) < 41 * 12 / 2  # a sample
    # per month the weights add up to the waiting months of the population: 40, plus s before March... June
    expected = pd.Series(40 + (np.arange(12) < 5), index=MONTHS)
    got = waits.groupby("month")["sampling_weight"].sum()
    pd.testing.assert_series_equal(got, expected.astype(float), check_names=False, check_freq=False)


def test_regular_work_leaves_out_jobs_during_a_subsidy_or_sheltered_placement():
    from wi_pipeline.lib.designs import regular_work

    p = person("a", [1] * 12)
    p["instr_loonkostensubsidie"] = np.arange(12) < 4
    p["instr_beschut_werk"] = np.arange(12) >= 10
    assert regular_work(p).tolist() == [0.0] * 4 + [1.0] * 6 + [0.0] * 2


def test_cumulative_regular_work_counts_the_24_months_after_the_start():
    from wi_pipeline.lib.designs import instrument_choice_sample

    months = pd.date_range("2020-01-01", periods=36, freq="MS")
    emp = np.arange(36) % 2 == 0
    p = pd.DataFrame(
        {
            "gemeente": "GM0599",
            "pseudo_id": "x",
            "month": months,
            "age": 35,
            "sex": "man",
            "origin": "Nederland",
            "marital_status": "never_married",
            "single_parent": False,
            "n_children": 0,
            "on_bijstand": True,
            "bijstand_duration_months": np.arange(36.0),
            "employed": emp,
            "self_sufficient": False,
            "poor_health": False,
            "debt_assistance": False,
        }
    )
    for cat in SRG_CATEGORIES:
        p[f"instr_{cat}"] = False
        p[f"months_since_start_{cat}"] = np.nan
    p["months_since_start_bemiddeling"] = np.where(np.arange(36) >= 1, np.arange(36.0) - 1, np.nan)
    s = instrument_choice_sample(p, horizons=(3,)).data.set_index("arm")
    assert s.loc["bemiddeling", "regular_work_months_24"] == 12.0  # months 2..25: every other one
    assert s.loc["wait", "regular_work_months_24"] == 12.0  # months 1..24 from January


def test_placebo_outcome_is_work_25_to_36_months_before_the_choice_and_missing_without_that_past():
    from wi_pipeline.lib.designs import PLACEBO_OUTCOME, instrument_choice_sample

    months = pd.date_range("2018-01-01", periods=48, freq="MS")
    emp = np.zeros(48, dtype=bool)
    emp[:6] = True  # worked in the first six months only
    p = pd.DataFrame(
        {
            "gemeente": "GM0599",
            "pseudo_id": "x",
            "month": months,
            "age": 35,
            "sex": "man",
            "origin": "Nederland",
            "marital_status": "never_married",
            "single_parent": False,
            "n_children": 0,
            "on_bijstand": np.arange(48) >= 12,
            "bijstand_duration_months": 0.0,
            "employed": emp,
            "self_sufficient": False,
            "poor_health": False,
            "debt_assistance": False,
        }
    )
    for cat in SRG_CATEGORIES:
        p[f"instr_{cat}"] = False
        p[f"months_since_start_{cat}"] = np.nan
    p["months_since_start_scholing"] = np.where(np.arange(48) >= 40, np.arange(48.0) - 40, np.nan)
    s = instrument_choice_sample(p, horizons=(3,), waits_per_starter=100).data.set_index("month")
    # the start in month 40 (May 2021) looks back at months 4..15: two of them worked
    assert s.loc[months[40], "arm"] == "scholing"
    assert s.loc[months[40], PLACEBO_OUTCOME] == pytest.approx(2 / 12)
    # month 12 has no month 25..36 before it in the panel: missing, not zero
    assert np.isnan(s.loc[months[12], PLACEBO_OUTCOME])
    # month 31 sees months 0..6 of that window (7 of 12): enough, the share of those observed
    assert s.loc[months[31], PLACEBO_OUTCOME] == pytest.approx(6 / 7)


def _debt_person(
    pid: str,
    employed: list[int],
    mediation_start: int | None = None,
    debt_assistance_from: int | None = None,
) -> pd.DataFrame:
    """Twelve months of someone on bijstand with problematic debt; care costs 1000 a year in 2019."""
    df = person(pid, employed)
    df["month"] = pd.date_range("2019-07-01", periods=12, freq="MS")
    df["problematic_debt"] = True
    df["debt_assistance"] = (
        (np.arange(12) >= debt_assistance_from) if debt_assistance_from is not None else False
    )
    df["care_costs_total"] = np.where(df["month"].dt.year == 2019, 1000.0, 2000.0)
    df["care_costs_mental"] = 0.0
    if mediation_start is not None:
        since = np.arange(12.0) - mediation_start
        df["months_since_start_bemiddeling"] = np.where(since >= 0, since, np.nan)
        df["instr_bemiddeling"] = (since >= 0) & (since < 3)
    return df


def test_combined_2x2_measures_covariates_before_the_first_of_the_two_started():
    from wi_pipeline.lib.designs import combined_sample

    both = _debt_person(
        "both", [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1], mediation_start=7, debt_assistance_from=3
    )
    alone = _debt_person("alone", [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1], mediation_start=7)
    early = _debt_person(
        "early", [0] * 12, mediation_start=7, debt_assistance_from=0
    )  # before the window
    waiting = _debt_person("waiting", [0] * 12)
    assisted = _debt_person("assisted", [0] * 12, debt_assistance_from=2)
    d = combined_sample(
        pd.concat([both, alone, early, waiting, assisted], ignore_index=True),
        horizons=(1,),
        outcome_cols=("employed",),
    )
    s = d.data.set_index(["pseudo_id", "month"])
    start = pd.Timestamp("2020-02-01")
    assert s.loc[("both", start), "arm"] == "both" and s.loc[("alone", start), "arm"] == "mediation"
    # the "both" row's covariates are those of September 2019, before debt assistance began in October,
    # although in the month before mediation started this person was already working
    assert s.loc[("both", start), "baseline_month"] == pd.Timestamp("2019-09-01")
    assert s.loc[("both", start), "employed_now"] == 0.0
    assert s.loc[("alone", start), "baseline_month"] == pd.Timestamp("2020-01-01")
    assert s.loc[("alone", start), "employed_now"] == 0.0
    # care costs of the calendar year before the baseline month: 2018 is outside the data, 2019 known
    assert s.loc[("both", start), "care_costs_base_missing"] == 1.0
    assert s.loc[("alone", start), "care_costs_base"] == 1000.0
    assert s.loc[("both", start), "employed_h1"] == 1.0
    # debt assistance before the first month: no month before it to measure covariates in
    assert (
        "early" not in s.index.get_level_values(0)
        and d.data.attrs["debt_assistance_before_window"] == 1
    )
    # not-yet-starters in the starters' month: with and without debt assistance
    assert (
        s.loc[("waiting", start), "arm"] == "neither"
        and s.loc[("assisted", start), "arm"] == "debt_only"
    )
    assert s.loc[("assisted", start), "baseline_month"] == pd.Timestamp("2019-08-01")
    assert sorted(d.data["arm"]) == ["both", "debt_only", "mediation", "neither"]


def test_unknown_health_is_in_neither_health_subgroup_and_enters_the_models_as_not_poor():
    from wi_pipeline.lib.designs import add_covariates
    from wi_pipeline.lib.effects import _subsets

    p = pd.concat(
        [
            person("poor", [0] * 12).assign(poor_health=True),
            person("good", [0] * 12),
            person("unknown", [0] * 12).assign(poor_health=pd.NA),
        ],
        ignore_index=True,
    )
    s = add_covariates(p.astype({"poor_health": "boolean"}))
    groups = {
        (dim, value): sorted(part["pseudo_id"].unique())
        for dim, value, part in _subsets(s, ["health"])
    }
    assert groups == {
        ("all", "all"): ["good", "poor", "unknown"],
        ("health", "good"): ["good"],
        ("health", "poor"): ["poor"],
    }
    poor = s.groupby("pseudo_id")["poor_health_num"].first().to_dict()
    assert poor == {"good": 0.0, "poor": 1.0, "unknown": 0.0}


def test_combined_design_keeps_a_row_without_baseline_costs_and_loses_only_its_cost_outcome():
    """Costs of 2020 are unknown for everyone: a start in 2021 has no baseline costs (those of the year
    before its baseline month; the mean and an indicator instead), and a start in 2019 has no cost
    outcome 12 months later, but both keep their employment outcome."""
    from wi_pipeline.lib.designs import combined_sample

    months = pd.date_range("2019-01-01", periods=36, freq="MS")
    people = []
    for pid, start in (("s19", 9), ("s20", 19), ("s21", 26), ("w", None), ("v", None)):
        p = pd.DataFrame(
            {
                "gemeente": "GM0599",
                "pseudo_id": pid,
                "month": months,
                "age": 35,
                "sex": "man",
                "origin": "Nederland",
                "marital_status": "never_married",
                "single_parent": False,
                "n_children": 0,
                "on_bijstand": True,
                "bijstand_duration_months": np.arange(36.0),
                "employed": False,
                "self_sufficient": False,
                "poor_health": False,
                "debt_assistance": False,
                "problematic_debt": True,
                "care_costs_total": np.where(months.year == 2020, np.nan, 1000.0),
            }
        )
        for cat in SRG_CATEGORIES:
            p[f"instr_{cat}"] = False
            p[f"months_since_start_{cat}"] = np.nan
        if start is not None:
            since = np.arange(36.0) - start
            p["months_since_start_bemiddeling"] = np.where(since >= 0, since, np.nan)
        people.append(p)
    d = combined_sample(
        pd.concat(people, ignore_index=True),
        horizons=(6,),
        outcome_cols=("employed", "care_costs_total"),
    )
    s = d.data.set_index(["pseudo_id", "month"])
    assert {"care_costs_base", "care_costs_base_missing"} <= set(d.covariates)
    assert np.isfinite(d.data["care_costs_base"]).all()
    s21 = s.loc[("s21", months[26])]  # March 2021: baseline February 2021, costs of 2020 unknown
    assert s21["care_costs_base_missing"] == 1 and s21["employed_h6"] == 0
    s20 = s.loc[("s20", months[19])]  # August 2020: baseline July 2020, costs of 2019 known
    assert s20["care_costs_base_missing"] == 0 and s20["care_costs_base"] == 1000.0
    assert s20["care_costs_total_h6"] == 1000.0  # February 2021
    s19 = s.loc[("s19", months[9])]  # October 2019: six months later is April 2020, costs unknown
    assert s19["employed_h6"] == 0 and np.isnan(s19["care_costs_total_h6"])


def _parent(
    pid: str,
    gemeente: str,
    start: str,
    first_age: int,
    months: int = 84,
    second_born_at: int | None = None,
):
    """A single parent on bijstand throughout; the youngest child is ``first_age`` months old in the
    first month, or a second child born ``second_born_at`` months in becomes the youngest."""
    age = np.arange(months) + first_age
    if second_born_at is not None:
        age = np.where(np.arange(months) >= second_born_at, np.arange(months) - second_born_at, age)
    month = pd.date_range(start, periods=months, freq="MS")
    return pd.DataFrame(
        {
            "gemeente": gemeente,
            "pseudo_id": pid,
            "month": month,
            "age": 30,
            "sex": "vrouw",
            "origin": "Nederland",
            "marital_status": "never_married",
            "single_parent": True,
            "n_children": 1,
            "on_bijstand": True,
            "poor_health": False,
            "employed": False,
            "self_sufficient": False,
            "exemption_9a": False,
            "hours": 0.0,
            "bijstand_duration_months": 1.0,
            "youngest_child_age_months": age.astype(float),
        }
    )


def test_staggered_sample_cohort_is_the_month_of_the_5th_birthday_and_one_episode_per_parent():
    from wi_pipeline.lib.designs import (
        exemption_staggered_sample,
        month_number,
        one_episode_per_person,
    )

    # p: child 20 months old in January 2016, so 60 months old in May 2019; a second child born in
    # March 2020 ends the episode (its age restarts). q: never eligible (child already 40 months old).
    df = pd.concat(
        [
            _parent("p", "GM0599", "2016-01-01", 20, second_born_at=50),
            _parent("q", "GM0599", "2016-01-01", 40),
        ],
        ignore_index=True,
    )
    s = exemption_staggered_sample(df).data
    assert set(s["pseudo_id"]) == {"p"}
    may_2019 = 2019 * 12 + 4
    assert (s["cohort"] == may_2019).all()
    assert s["month_no"].tolist() == month_number(s["month"]).tolist()
    # followed from 36 months (after the eligibility window) to 72 months
    assert s["youngest_child_age_months"].min() == 36 and s["youngest_child_age_months"].max() == 69
    assert s["event_time"].min() == -24 and s["event_time"].max() == 9
    # the same parent eligible in two cities (she moved): the episode whose eligibility came first
    moved = pd.concat(
        [
            exemption_staggered_sample(_parent("p", "GM0363", "2016-06-01", 20)).data,
            exemption_staggered_sample(_parent("p", "GM0599", "2016-01-01", 20)).data,
        ],
        ignore_index=True,
    )
    kept = one_episode_per_person(moved, "eligible_month")
    assert set(kept["gemeente"]) == {"GM0599"} and kept["month_no"].is_unique
