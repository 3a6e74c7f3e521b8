"""The panel on hand-made persons whose rows are worked out by hand."""

import numpy as np
import pandas as pd
import pytest

from wi_pipeline.lib.linkage import REASON_NOT_FOUND, check_same_key, link_registers
from wi_pipeline.lib.panel import PANEL_COLUMNS, PanelWindow, build_panel

T = pd.Timestamp
EXTRACT = T("2024-07-15")
WINDOW = PanelWindow("2020-01", "2024-06")


def spells(rows):
    df = pd.DataFrame(rows, columns=["pseudo_id", "code", "start", "end"])
    df["gemeente"] = "GM0599"
    df["start"] = pd.to_datetime(df["start"])
    df["end"] = pd.to_datetime(df["end"])
    df["extract_date"] = EXTRACT
    return df


REGISTERS = {
    "bijstand": spells([
        ("p1", "PW", "2020-01-10", "2020-03-31"),
        ("p1", "PW", "2020-03-01", None),  # overlapping and open: runs to the extract date
        ("p2", "PW", "2020-01-01", "2020-08-31"),
        ("p3", "PW", "2021-01-01", "2021-06-30"),  # then moves to another municipality
        ("p4", "PW", "2021-01-01", None),  # not in the key file
        ("p2", "PW", "2010-01-01", "2011-01-01"),  # before the window
    ]),
    "ontheffingen": spells([("p1", "ART9A", "2020-01-10", "2024-03-19")]),
    "reintegratie": spells([("p2", "scholing", "2020-05-15", "2020-07-14")]),
    "schuldhulp": spells([("p3", "BUDGETBEHEER", "2021-02-01", "2021-03-15")]),
    "wmo": spells([]),
}
KEY_FILE = pd.DataFrame({"pseudo_id": ["p1", "p2", "p3", "c1"], "RINPERSOONS": ["R"] * 4,
                         "RINPERSOON": ["000000001", "000000002", "000000003", "000000011"]})


def d(x):
    return pd.to_datetime(pd.Series(x))


CBS = {
    "GBAPERSOONTAB": pd.DataFrame({
        "RINPERSOON": ["000000001", "000000002", "000000003", "000000011"],
        "GBAGESLACHT": ["2", "1", "1", "2"],
        "GBAGEBOORTEJAAR": [1990, 1980, 1975, 2019], "GBAGEBOORTEMAAND": [6, 1, 3, 3], "GBAGEBOORTEDAG": [15, 1, 2, 20],
        "GBAHERKOMSTGROEPERING": ["6030", "5022", "9999", "6030"],
    }),
    "KINDOUDERTAB": pd.DataFrame({"RINPERSOON": ["000000011"], "RINPERSOONMa": ["000000001"], "RINPERSOONpa": ["---------"]}),
    "GBABURGERLIJKESTAATBUS": pd.DataFrame({
        "RINPERSOON": ["000000001", "000000002", "000000002"], "GBABURGERLIJKESTAATNW": ["O", "H", "G"],
        "GBADATUMAANVANGBURGERLIJKESTAAT": d(["1990-06-15", "2005-01-01", "2022-05-10"]),
        "GBADATUMEINDEBURGERLIJKESTAAT": d(["2099-12-31", "2022-05-09", "2099-12-31"]),
    }),
    "GBAHUISHOUDENSBUS": pd.DataFrame({
        "RINPERSOON": ["000000001"], "DATUMAANVANGHH": d(["2019-03-20"]), "DATUMEINDEHH": d(["2099-12-31"]),
        "TYPHH": ["6"], "PLHH": ["7"], "AANTALKINDHH": [1],
    }),
    "SPOLISBUS": pd.DataFrame({
        "RINPERSOON": ["000000002"], "SDATUMAANVANGIKO": d(["2020-09-20"]), "SDATUMEINDEIKO": d(["2020-10-10"]),
        "SBASISLOON": [1000.0], "SBASISUREN": [100.0],
    }),
    "SECMBUS": pd.DataFrame({"RINPERSOON": ["000000003"], "AANVSECM": d(["2021-07-01"]), "EINDSECM": d(["2099-12-31"]), "SECM": ["22"]}),
    "ZVWZORGKOSTENTAB": pd.DataFrame({
        "RINPERSOON": ["000000001", "000000002"], "JAAR": [2020, 2020], "ZVWKHUISARTS": [100.0, 3000.0],
        "ZVWKFARMACIE": [50.0, 0.0], "ZVWKZIEKENHUIS": [0.0, -20.0], "ZVWKGGZ": [0.0, 400.0], "ZVWKEERSTELIJNSPSYCHO": [0.0, 100.0],
    }),
    "PROBSCHULDTAB": pd.DataFrame({"RINPERSOON": ["000000003"], "PEILDATUM": d(["2021-01-01"]), "PROBSCHULDPERS": ["1"]}),
}


@pytest.fixture(scope="module")
def result():
    linkage = link_registers(REGISTERS, {"bijstand": pd.DataFrame({"reason": ["BSN fails the eleven-test"]})}, KEY_FILE)
    panel, report = build_panel("GM0599", linkage.linked, CBS, WINDOW)
    return linkage, panel.set_index(["pseudo_id", "month"]), report


def row(panel, pid, month):
    return panel.loc[(pid, T(month))]


def test_linkage_quarantines_unknown_persons_and_counts_rates(result):
    linkage, _, _ = result
    assert linkage.quarantine["reason"].tolist() == [REASON_NOT_FOUND]
    rates = linkage.rates.set_index("register")
    assert rates.loc["bijstand", "rows"] == 7 and rates.loc["bijstand", "linked"] == 5
    assert rates.loc["bijstand", "not_found"] == 1 and rates.loc["bijstand", "failed_eleven_test"] == 1


def test_one_row_per_person_month_for_the_population(result):
    _, panel, report = result
    assert sorted(panel.reset_index().columns) == sorted(PANEL_COLUMNS)
    assert len(panel) == 3 * 54 and panel.index.is_unique
    assert report.spells_outside_window["bijstand"] == 1


def test_overlapping_and_open_spells_and_duration(result):
    _, panel, _ = result
    p1 = panel.loc["p1"]
    assert p1["on_bijstand"].all()  # merged overlapping spells, open one runs to the extract date
    assert row(panel, "p1", "2020-01-01")["bijstand_duration_months"] == 0
    assert row(panel, "p1", "2021-01-01")["bijstand_duration_months"] == 12
    assert not row(panel, "p2", "2020-09-01")["on_bijstand"]
    assert np.isnan(row(panel, "p2", "2020-09-01")["bijstand_duration_months"])


def test_child_fifth_birthday_mid_month(result):
    _, panel, _ = result
    march, april = row(panel, "p1", "2024-03-01"), row(panel, "p1", "2024-04-01")
    assert march["youngest_child_age_months"] == 59 and april["youngest_child_age_months"] == 60
    assert march["exemption_9a"] and not april["exemption_9a"]
    assert row(panel, "p1", "2020-01-01")["youngest_child_age_months"] == 9
    assert march["single_parent"] and march["household_type"] == "single_parent" and march["n_children"] == 1
    assert np.isnan(row(panel, "p2", "2020-01-01")["youngest_child_age_months"])


def test_demographics(result):
    _, panel, _ = result
    assert row(panel, "p1", "2020-06-01")["age"] == 29 and row(panel, "p1", "2020-07-01")["age"] == 30
    assert row(panel, "p2", "2020-01-01")["age"] == 40  # birthday on the first day counts
    assert row(panel, "p1", "2020-01-01")["sex"] == "vrouw" and row(panel, "p2", "2020-01-01")["origin"] == "Marokko"
    assert row(panel, "p3", "2020-01-01")["origin"] == "overig"
    assert row(panel, "p2", "2022-05-01")["marital_status"] == "divorced"
    assert row(panel, "p2", "2022-04-01")["marital_status"] == "married"


def test_jobs_crossing_month_boundary_and_person_without_jobs(result):
    _, panel, _ = result
    sep, octo = row(panel, "p2", "2020-09-01"), row(panel, "p2", "2020-10-01")
    assert sep["employed"] and octo["employed"] and not row(panel, "p2", "2020-11-01")["employed"]
    assert sep["wage"] == pytest.approx(500) and octo["hours"] == pytest.approx(50)
    p1 = panel.loc["p1"]
    assert not p1["employed"].any() and (p1["wage"] == 0).all()


def test_instrument_flags_and_months_since_start(result):
    _, panel, _ = result
    assert [row(panel, "p2", m)["instr_scholing"] for m in ("2020-04-01", "2020-05-01", "2020-07-01", "2020-08-01")] == [False, True, True, False]
    assert np.isnan(row(panel, "p2", "2020-04-01")["months_since_start_scholing"])
    assert row(panel, "p2", "2020-05-01")["months_since_start_scholing"] == 0
    assert row(panel, "p2", "2020-08-01")["months_since_start_scholing"] == 3


def test_move_between_municipalities_is_not_self_sufficiency(result):
    _, panel, _ = result
    assert row(panel, "p3", "2021-03-01")["debt_assistance"] and row(panel, "p3", "2021-03-01")["problematic_debt"]
    assert not row(panel, "p3", "2022-03-01")["problematic_debt"]
    assert row(panel, "p3", "2020-06-01")["self_sufficient"]
    after = row(panel, "p3", "2021-08-01")
    assert not after["on_bijstand"] and not after["self_sufficient"]  # on bijstand elsewhere (SECM 22)


def test_care_costs_and_health(result):
    _, panel, _ = result
    r = row(panel, "p2", "2020-03-01")
    assert r["care_costs_total"] == pytest.approx(3480) and r["care_costs_mental"] == pytest.approx(500)
    assert r["poor_health"] and not row(panel, "p1", "2020-03-01")["poor_health"]
    assert pd.isna(row(panel, "p3", "2020-03-01")["poor_health"])


def test_mixed_keys_are_refused():
    assert check_same_key({"a": "f1", "b": "f1", "c": None}) == "f1"
    with pytest.raises(ValueError, match="different keys"):
        check_same_key({"a": "f1", "b": "f2"})
