import numpy as np
import pandas as pd
import pytest

from wi_pipeline.lib.designs import instrument_sample
from wi_pipeline.lib.layout import SRG_CATEGORIES

MONTHS = pd.date_range("2020-01-01", periods=12, freq="MS")


def person(pid: str, employed: list[int], scholing_start: int | None = None, on_bijstand: bool = True,
           other_instrument: bool = False) -> pd.DataFrame:
    """Twelve months of one person; scholing starts in month index ``scholing_start``."""
    df = pd.DataFrame({"gemeente": "GM0599", "pseudo_id": pid, "month": MONTHS, "age": 35, "sex": "vrouw",
                       "origin": "Nederland", "marital_status": "never_married", "single_parent": False,
                       "n_children": 0, "on_bijstand": on_bijstand, "bijstand_duration_months": np.arange(12.0),
                       "employed": np.array(employed, dtype=bool), "self_sufficient": False, "poor_health": False})
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
    return pd.concat([
        person("a", [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1], scholing_start=2),  # starts in March
        person("b", [0] * 12),  # could start any month
        person("c", [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1]),
        person("d", [0] * 12, other_instrument=True),  # in another instrument: not a control
        person("e", [0] * 12, on_bijstand=False),  # not on bijstand: neither
    ], ignore_index=True)


def test_starters_against_not_yet_starters_with_outcomes_h_months_later():
    d = instrument_sample(panel(), "scholing", horizons=(3, 6), controls_per_starter=10, outcome_cols=("employed",))
    s = d.data
    starters = s[s["treated"] == 1]
    assert starters["pseudo_id"].tolist() == ["a"] and starters["month"].tolist() == [MONTHS[2]]
    assert starters[["employed_h3", "employed_h6"]].iloc[0].tolist() == [0.0, 1.0]  # June 0, September 1
    controls = s[s["treated"] == 0]
    # only March has a starter, and both b and c could have started then; a, d and e never are controls
    assert sorted(controls["pseudo_id"]) == ["b", "c"] and set(controls["month"]) == {MONTHS[2]}
    assert controls.set_index("pseudo_id").loc["c", "employed_h3"] == 0.0  # June
    assert controls.set_index("pseudo_id").loc["c", "employed_h6"] == 0.0


def test_outcomes_past_the_window_are_missing_not_borrowed_from_the_next_person():
    p = panel()
    p.loc[(p["pseudo_id"] == "a"), "months_since_start_scholing"] = np.arange(12.0) - 10
    p.loc[(p["pseudo_id"] == "a") & (p["months_since_start_scholing"] < 0), "months_since_start_scholing"] = np.nan
    s = instrument_sample(p, "scholing", horizons=(3,), outcome_cols=("employed",)).data
    assert s.loc[s["treated"] == 1, "employed_h3"].isna().all()  # November + 3 is past December


def test_row_order_of_the_panel_does_not_matter():
    p = panel()
    shuffled = p.sort_values(["month", "pseudo_id"], ascending=[True, False]).reset_index(drop=True)
    a = instrument_sample(p, "scholing", horizons=(3,), seed=1).data
    b = instrument_sample(shuffled, "scholing", horizons=(3,), seed=1).data
    cols = ["pseudo_id", "month", "treated", "employed_h3"]
    key = ["pseudo_id", "month"]
    pd.testing.assert_frame_equal(a[cols].sort_values(key).reset_index(drop=True),
                                  b[cols].sort_values(key).reset_index(drop=True))


def test_controls_are_capped_per_starter_and_month():
    people = [person("s", [0] * 12, scholing_start=5)] + [person(f"c{i}", [0] * 12) for i in range(30)]
    s = instrument_sample(pd.concat(people, ignore_index=True), "scholing", horizons=(3,),
                          controls_per_starter=4).data
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
    df = pd.DataFrame({"gemeente": "GM0599", "pseudo_id": "p", "month": months, "age": 30, "sex": "vrouw",
                       "origin": "Nederland", "marital_status": "never_married", "single_parent": True,
                       "n_children": 1, "on_bijstand": True, "poor_health": False, "employed": False,
                       "self_sufficient": False, "exemption_9a": False, "hours": 0.0, "bijstand_duration_months": 1.0,
                       "youngest_child_age_months": youngest})
    s = exemption_rd_sample(df).data
    # the first child: ages 24 to 70 of the window (20 + 50 months before the second is born)
    assert s["running"].is_monotonic_increasing
    assert s["running"].min() == 24 and s["running"].max() == 69
