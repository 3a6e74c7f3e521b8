"""The panel on hand-made persons whose rows are worked out by hand."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pandera
import pytest

from wi_pipeline.lib.designs import HISTORY_COVARIATES, add_history
from wi_pipeline.lib.linkage import (
    REASON_AMBIGUOUS,
    REASON_NOT_FOUND,
    carry_key,
    check_same_key,
    key_fingerprint,
    link_registers,
    same_key,
)
from wi_pipeline.lib.panel import PANEL_COLUMNS, PanelWindow, build_panel, panel_contract

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
    "bijstand": spells(
        [
            ("p1", "PW", "2020-01-10", "2020-03-31"),
            ("p1", "PW", "2020-03-01", None),  # overlapping and open: runs to the extract date
            ("p2", "PW", "2020-01-01", "2020-08-31"),
            ("p3", "PW", "2021-01-01", "2021-06-30"),  # then moves to another municipality
            ("p4", "PW", "2021-01-01", None),  # not in the key file
            ("p2", "PW", "2010-01-01", "2011-01-01"),  # before the window
        ]
    ),
    "ontheffingen": spells([("p1", "ART9A", "2020-01-10", "2024-03-19")]),
    "reintegratie": spells([("p2", "scholing", "2020-05-15", "2020-07-14")]),
    "schuldhulp": spells([("p3", "BUDGETBEHEER", "2021-02-01", "2021-03-15")]),
    "wmo": spells([]),
}
KEY_FILE = pd.DataFrame(
    {
        "pseudo_id": ["p1", "p2", "p3", "c1"],
        "RINPERSOONS": ["R"] * 4,
        "RINPERSOON": ["000000001", "000000002", "000000003", "000000011"],
    }
)


def d(x):
    return pd.to_datetime(pd.Series(x))


CBS_TABLES = {
    "GBAPERSOONTAB": pd.DataFrame(
        {
            "RINPERSOON": ["000000001", "000000002", "000000003", "000000011"],
            "GBAGESLACHT": ["2", "1", "1", "2"],
            "GBAGEBOORTEJAAR": [1990, 1980, 1975, 2019],
            "GBAGEBOORTEMAAND": [6, 1, 3, 3],
            "GBAGEBOORTEDAG": [15, 1, 2, 20],
            "GBAHERKOMSTGROEPERING": ["6030", "5022", "9999", "6030"],
        }
    ),
    "KINDOUDERTAB": pd.DataFrame(
        {
            "RINPERSOON": ["000000011"],
            "RINPERSOONSMa": ["R"],
            "RINPERSOONMa": ["000000001"],
            "RINPERSOONSpa": ["-"],
            "RINPERSOONpa": ["---------"],
        }
    ),
    "GBABURGERLIJKESTAATBUS": pd.DataFrame(
        {
            "RINPERSOON": ["000000001", "000000002", "000000002"],
            "GBABURGERLIJKESTAATNW": ["O", "H", "G"],
            "GBADATUMAANVANGBURGERLIJKESTAAT": d(["1990-06-15", "2005-01-01", "2022-05-10"]),
            "GBADATUMEINDEBURGERLIJKESTAAT": d(["2099-12-31", "2022-05-09", "2099-12-31"]),
        }
    ),
    "GBAHUISHOUDENSBUS": pd.DataFrame(
        {
            "RINPERSOON": ["000000001"],
            "DATUMAANVANGHH": d(["2019-03-20"]),
            "DATUMEINDEHH": d(["2099-12-31"]),
            "TYPHH": ["6"],
            "PLHH": ["7"],
            "AANTALKINDHH": [1],
        }
    ),
    "SPOLISBUS": pd.DataFrame(
        {
            "RINPERSOON": ["000000002"],
            "IKVID": ["1"],
            "SDATUMAANVANGIKO": d(["2020-09-20"]),
            "SDATUMEINDEIKO": d(["2020-10-10"]),
            "SBASISLOON": [1000.0],
            "SBASISUREN": [100.0],
        }
    ),
    "SECMBUS": pd.DataFrame(
        {
            "RINPERSOON": ["000000003"],
            "AANVSECM": d(["2021-07-01"]),
            "EINDSECM": d(["2099-12-31"]),
            "SECM": ["22"],
        }
    ),
    "ZVWZORGKOSTENTAB": pd.DataFrame(
        {
            "RINPERSOON": ["000000001", "000000002"],
            "JAAR": [2020, 2020],
            "ZVWKHUISARTS": [100.0, 3000.0],
            "ZVWKFARMACIE": [50.0, 0.0],
            "ZVWKZIEKENHUIS": [0.0, -20.0],
            "ZVWKGGZ": [0.0, 400.0],
            "ZVWKEERSTELIJNSPSYCHO": [0.0, 100.0],
        }
    ),
    "PROBSCHULDTAB": pd.DataFrame(
        {"RINPERSOON": ["000000003"], "PEILDATUM": d(["2021-01-01"]), "PROBSCHULDPERS": ["1"]}
    ),
}


def cbs(**tables):
    """CBS tables as CBS ships them: every person key a pair, all 'R' unless a test says otherwise."""
    out = {}
    for name, df in {**CBS_TABLES, **tables}.items():
        df = df.copy()
        if "RINPERSOONS" not in df:
            df.insert(0, "RINPERSOONS", "R")
        out[name] = df
    return out


CBS = cbs()


@pytest.fixture(scope="module")
def result():
    linkage = link_registers(
        REGISTERS, {"bijstand": pd.DataFrame({"reason": ["BSN fails the eleven-test"]})}, KEY_FILE
    )
    panel, report = build_panel("GM0599", linkage.linked, CBS, WINDOW)
    return linkage, panel.set_index(["pseudo_id", "month"]), report


def row(panel, pid, month):
    return panel.loc[(pid, T(month))]


def test_linkage_quarantines_unknown_persons_and_counts_rates(result):
    linkage, _, _ = result
    assert linkage.quarantine["reason"].tolist() == [REASON_NOT_FOUND]
    # linked spells keep their municipality, as the registers and the quarantine do
    assert (linkage.linked["gemeente"] == "GM0599").all()
    assert (linkage.quarantine["gemeente"] == "GM0599").all()
    rates = linkage.rates.set_index("register")
    assert rates.loc["bijstand", "rows"] == 7 and rates.loc["bijstand", "linked"] == 5
    assert (
        rates.loc["bijstand", "not_found"] == 1 and rates.loc["bijstand", "failed_eleven_test"] == 1
    )


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
    assert (
        march["single_parent"]
        and march["household_type"] == "single_parent"
        and march["n_children"] == 1
    )
    assert np.isnan(row(panel, "p2", "2020-01-01")["youngest_child_age_months"])


def test_demographics(result):
    _, panel, _ = result
    assert (
        row(panel, "p1", "2020-06-01")["age"] == 29 and row(panel, "p1", "2020-07-01")["age"] == 30
    )
    assert row(panel, "p2", "2020-01-01")["age"] == 40  # birthday on the first day counts
    assert (
        row(panel, "p1", "2020-01-01")["sex"] == "vrouw"
        and row(panel, "p2", "2020-01-01")["origin"] == "Marokko"
    )
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
    assert [
        row(panel, "p2", m)["instr_scholing"]
        for m in ("2020-04-01", "2020-05-01", "2020-07-01", "2020-08-01")
    ] == [False, True, True, False]
    assert np.isnan(row(panel, "p2", "2020-04-01")["months_since_start_scholing"])
    assert row(panel, "p2", "2020-05-01")["months_since_start_scholing"] == 0
    assert row(panel, "p2", "2020-08-01")["months_since_start_scholing"] == 3


def test_move_between_municipalities_is_not_self_sufficiency(result):
    _, panel, _ = result
    assert (
        row(panel, "p3", "2021-03-01")["debt_assistance"]
        and row(panel, "p3", "2021-03-01")["problematic_debt"]
    )
    assert not row(panel, "p3", "2022-03-01")["problematic_debt"]
    assert row(panel, "p3", "2020-06-01")["self_sufficient"]
    after = row(panel, "p3", "2021-08-01")
    assert (
        not after["on_bijstand"] and not after["self_sufficient"]
    )  # on bijstand elsewhere (SECM 22)


def test_care_costs_and_health(result):
    _, panel, _ = result
    r = row(panel, "p2", "2020-03-01")
    assert r["care_costs_total"] == pytest.approx(3480) and r["care_costs_mental"] == pytest.approx(
        500
    )
    assert r["poor_health"] and not row(panel, "p1", "2020-03-01")["poor_health"]
    assert pd.isna(row(panel, "p3", "2020-03-01")["poor_health"])


def test_mixed_keys_are_refused():
    assert check_same_key({"a": "f1", "b": "f1"}) == "f1"
    assert check_same_key({"a": None, "b": None}) is None
    with pytest.raises(ValueError, match="c carry no key fingerprint"):
        check_same_key({"a": "f1", "b": "f1", "c": None})
    with pytest.raises(ValueError, match="different keys"):
        check_same_key({"a": "f1", "b": "f2"})
    # the fingerprint travels with each table and is checked by the one helper
    a, b = pd.DataFrame({"x": [1]}), pd.DataFrame({"x": [2]})
    carry_key("f1", a, b)
    assert key_fingerprint(a) == "f1" and same_key({"a": a, "b": b}) == "f1"
    carry_key("f2", b)
    with pytest.raises(ValueError, match="different keys"):
        same_key({"a": a, "b": b})
    with pytest.raises(ValueError, match="c carry no key fingerprint"):
        same_key({"a": a, "c": pd.DataFrame()})


def build(registers=REGISTERS, key_file=KEY_FILE, cbs_tables=None, window=WINDOW):
    linkage = link_registers(registers, {}, key_file)
    panel, report = build_panel("GM0599", linkage.linked, cbs_tables or CBS, window)
    return panel.set_index(["pseudo_id", "month"]), report


def with_extract(df, date):
    return df.assign(extract_date=T(date))


def test_no_month_past_the_extract_date():
    """The window asks for 2024-12; the extract of 15 July 2024 covers June whole, July only in part
    (a start on 20 July is not in it yet), so the panel ends in June."""
    panel, report = build(window=PanelWindow("2020-01", "2024-12"))
    assert (report.window.start, report.window.end) == (
        "2020-01",
        "2024-06",
    ) and report.months == 54
    assert len(panel) == 3 * 54 and panel.index.get_level_values("month").max() == T("2024-06-01")
    assert row(panel, "p1", "2024-06-01")["on_bijstand"]  # the open spell runs on
    assert report.extract_dates == {
        name: EXTRACT for name in ("bijstand", "ontheffingen", "reintegratie", "schuldhulp")
    }


def test_an_extract_dated_the_last_day_of_a_month_covers_that_month():
    registers = {name: with_extract(df, "2024-07-31") for name, df in REGISTERS.items()}
    _, report = build(registers, window=PanelWindow("2020-01", "2024-12"))
    assert report.window.end == "2024-07"


def test_an_older_register_extract_ends_the_window_and_its_open_spells():
    """Re-integration was extracted on 10 March 2024: later months would show 'no instrument' for
    'not yet known', so the panel ends in February, the last month that extract covers whole."""
    registers = {
        **REGISTERS,
        "reintegratie": with_extract(
            spells(
                [
                    ("p2", "scholing", "2020-05-15", "2020-07-14"),
                    ("p2", "jobcoach", "2024-01-05", None),
                ]
            ),
            "2024-03-10",
        ),
    }
    panel, report = build(registers, window=PanelWindow("2020-01", "2024-12"))
    assert report.window.end == "2024-02" and len(panel) == 3 * 50
    assert [
        row(panel, "p2", m)["instr_jobcoach"] for m in ("2023-12-01", "2024-01-01", "2024-02-01")
    ] == [False, True, True]
    assert row(panel, "p2", "2024-02-01")["months_since_start_jobcoach"] == 1
    assert report.extract_dates["reintegratie"] == T("2024-03-10")


def test_a_window_after_every_extract_is_refused():
    with pytest.raises(ValueError, match="after the oldest register extract"):
        build(window=PanelWindow("2024-08", "2024-12"))


def test_wage_and_hours_of_a_period_crossing_a_window_edge():
    """A period's amount is divided over all its months; only the window's share stays."""
    jobs = pd.DataFrame(
        {
            "RINPERSOON": ["000000002", "000000002"],
            "IKVID": ["1", "2"],
            "SDATUMAANVANGIKO": d(["2019-12-01", "2024-05-01"]),
            "SDATUMEINDEIKO": d(["2020-01-31", "2024-07-31"]),
            "SBASISLOON": [2000.0, 3000.0],
            "SBASISUREN": [100.0, 300.0],
        }
    )
    panel, _ = build(cbs_tables=cbs(SPOLISBUS=jobs))
    jan = row(panel, "p2", "2020-01-01")
    assert jan["wage"] == pytest.approx(1000) and jan["hours"] == pytest.approx(
        50
    )  # December 2019 had the other half
    may, june = (
        row(panel, "p2", "2024-05-01"),
        row(panel, "p2", "2024-06-01"),
    )  # the window ends in June
    assert (
        may["wage"] == pytest.approx(1000)
        and june["wage"] == pytest.approx(1000)
        and june["hours"] == pytest.approx(100)
    )


def test_same_month_spells_are_ordered_by_their_start_date_not_by_the_file():
    marital = pd.DataFrame(
        {  # the later-starting spell comes first in the file
            "RINPERSOON": ["000000002", "000000002"],
            "GBABURGERLIJKESTAATNW": ["G", "H"],
            "GBADATUMAANVANGBURGERLIJKESTAAT": d(["2020-03-20", "2020-03-01"]),
            "GBADATUMEINDEBURGERLIJKESTAAT": d(["2099-12-31", "2020-03-19"]),
        }
    )
    panel, _ = build(cbs_tables=cbs(GBABURGERLIJKESTAATBUS=marital))
    assert [
        row(panel, "p2", m)["marital_status"] for m in ("2020-02-01", "2020-03-01", "2020-04-01")
    ] == ["unknown", "divorced", "divorced"]


def test_cbs_rows_join_on_the_key_pair_not_on_rinpersoon_alone():
    """A person with RINPERSOONS 'S' and the same RINPERSOON is someone else."""
    other = {"RINPERSOONS": "S", "RINPERSOON": "000000002"}
    persons = pd.concat(
        [
            pd.DataFrame(
                [
                    {
                        **other,
                        "GBAGESLACHT": "2",
                        "GBAGEBOORTEJAAR": 1999,
                        "GBAGEBOORTEMAAND": 1,
                        "GBAGEBOORTEDAG": 1,
                        "GBAHERKOMSTGROEPERING": "6030",
                    }
                ]
            ),
            CBS["GBAPERSOONTAB"],
        ],
        ignore_index=True,
    )
    jobs = pd.DataFrame(
        [
            {
                **other,
                "IKVID": "9",
                "SDATUMAANVANGIKO": T("2021-01-01"),
                "SDATUMEINDEIKO": T("2021-01-31"),
                "SBASISLOON": 900.0,
                "SBASISUREN": 40.0,
            }
        ]
    )
    kinds = pd.DataFrame(
        {
            "RINPERSOONS": ["R"],
            "RINPERSOON": ["000000011"],
            "RINPERSOONSMa": ["S"],
            "RINPERSOONMa": ["000000003"],
            "RINPERSOONSpa": ["-"],
            "RINPERSOONpa": ["---------"],
        }
    )
    panel, report = build(
        cbs_tables=cbs(
            GBAPERSOONTAB=persons,
            SPOLISBUS=jobs,
            KINDOUDERTAB=pd.concat([CBS["KINDOUDERTAB"], kinds], ignore_index=True),
        )
    )
    p2 = row(panel, "p2", "2021-01-01")
    assert p2["sex"] == "man" and p2["age"] == 41 and not p2["employed"] and p2["wage"] == 0
    assert np.isnan(
        row(panel, "p3", "2024-01-01")["youngest_child_age_months"]
    )  # the 'S' mother is not p3
    assert row(panel, "p1", "2024-03-01")["youngest_child_age_months"] == 59
    assert report.persons_without_cbs_record == 0


def test_a_pseudonym_with_two_person_keys_is_quarantined_as_ambiguous():
    key_file = pd.concat(
        [
            KEY_FILE,
            pd.DataFrame(
                {
                    "pseudo_id": ["p3", "p1"],
                    "RINPERSOONS": ["R", "R"],
                    "RINPERSOON": ["000000099", "000000001"],
                }
            ),
        ],
        ignore_index=True,
    )
    linkage = link_registers(REGISTERS, {}, key_file)
    assert "p3" not in set(linkage.linked["pseudo_id"]) and "p1" in set(
        linkage.linked["pseudo_id"]
    )  # p1: same key twice
    q = linkage.quarantine
    assert sorted(q.loc[q["pseudo_id"] == "p3", "register"]) == ["bijstand", "schuldhulp"]
    assert (q.loc[q["pseudo_id"] == "p3", "reason"] == REASON_AMBIGUOUS).all()
    rates = linkage.rates.set_index("register")
    assert (
        rates.loc["bijstand", "ambiguous_key"] == 1
        and rates.loc["schuldhulp", "ambiguous_key"] == 1
    )
    assert rates.loc["bijstand", "linked"] == 4 and linkage.ambiguous_pseudonyms == 1


def test_population_is_people_with_a_bijstand_month_in_the_window_and_every_spell_is_counted():
    registers = {
        **REGISTERS,
        "bijstand": pd.concat(
            [REGISTERS["bijstand"], spells([("p8", "PW", "2012-01-01", "2013-06-30")])],
            ignore_index=True,
        ),
        "wmo": spells(
            [("p9", "HULP", "2020-01-01", "2020-05-31"), ("p8", "HULP", "2021-01-01", None)]
        ),
    }
    key_file = pd.concat(
        [
            KEY_FILE,
            pd.DataFrame(
                {
                    "pseudo_id": ["p8", "p9"],
                    "RINPERSOONS": ["R", "R"],
                    "RINPERSOON": ["000000008", "000000009"],
                }
            ),
        ],
        ignore_index=True,
    )
    panel, report = build(registers, key_file)
    assert sorted(panel.index.get_level_values("pseudo_id").unique()) == ["p1", "p2", "p3"]
    assert report.persons_without_bijstand_in_window == 1  # p8: benefit ended in 2013
    assert report.spells_outside_population == {
        "bijstand": 1,
        "ontheffingen": 0,
        "reintegratie": 0,
        "schuldhulp": 0,
        "wmo": 2,
    }
    assert report.spells_outside_window["bijstand"] == 1  # p2's benefit of 2010
    assert report.spells_used == {
        "bijstand": 4,
        "ontheffingen": 1,
        "reintegratie": 1,
        "schuldhulp": 1,
        "wmo": 0,
    }
    linked = link_registers(registers, {}, key_file).linked["register"].value_counts()
    for name in registers:
        counted = (
            report.spells_used[name]
            + report.spells_outside_window[name]
            + report.spells_outside_population[name]
        )
        assert counted == linked.get(name, 0), name


def test_months_since_start_remembers_a_spell_before_the_window():
    """Someone who had training in 2019 is not a never-starter in 2020."""
    registers = {
        **REGISTERS,
        "reintegratie": spells(
            [
                ("p2", "scholing", "2020-05-15", "2020-07-14"),
                ("p3", "scholing", "2019-03-01", "2019-06-30"),
            ]
        ),
    }
    panel, report = build(registers)
    p3 = row(panel, "p3", "2020-01-01")
    assert not p3["instr_scholing"] and p3["months_since_start_scholing"] == 10
    assert report.spells_outside_window["reintegratie"] == 1


def test_the_suite_knows_every_panel_column_and_passes_the_hand_made_panel(result):
    from wi_pipeline.lib.quality import run_suite

    suite = json.loads(
        (
            Path(__file__).resolve().parents[2] / "expectations" / "panel_linked_panel.json"
        ).read_text()
    )
    column_sets = [
        e["kwargs"]["column_set"]
        for e in suite["expectations"]
        if e["type"] == "expect_table_columns_to_match_set"
    ]
    # the panel is stored with its labour-market history (added once, by the panel asset)
    assert column_sets == [[*PANEL_COLUMNS, *HISTORY_COVARIATES]]
    _, panel, _ = result
    clean = add_history(panel.reset_index()[PANEL_COLUMNS])
    assert run_suite(clean, "panel_linked_panel").success
    duplicated = pd.concat([clean, clean.iloc[[0]]], ignore_index=True)
    failed = {r.expectation for r in run_suite(duplicated, "panel_linked_panel").failed("error")}
    assert failed == {"expect_compound_columns_to_be_unique"}


def test_a_negative_wage_is_quarantined_at_cbs_ingestion_so_the_panel_builds(tmp_path):
    """A wage correction alone in a month (February) gave that month a negative wage and blocked the
    panel with a message naming neither SPOLISBUS nor SBASISLOON; ingestion now quarantines it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from wi_pipeline.lib.cbs import cbs_path, ingest_cbs_table
    from wi_pipeline.lib.datasets import open_table, read_frame

    path = cbs_path(tmp_path, "SPOLISBUS")
    path.parent.mkdir(parents=True)
    jobs = {
        "RINPERSOONS": ["R", "R"],
        "RINPERSOON": ["000000002", "000000002"],
        "IKVID": ["1", "1"],
        "SBEID": ["000000042"] * 2,
        "SDATUMAANVANGIKO": ["20210101", "20210201"],
        "SDATUMEINDEIKO": ["20210131", "20210228"],
        "SBASISLOON": ["1500", "-300"],
        "SBASISUREN": ["60", "0"],
        "SCONTRACTSOORT": ["O", "O"],
        "SPOLISDIENSTVERBAND": ["1", "1"],
    }
    pq.write_table(pa.table(jobs), path)
    stored = ingest_cbs_table(tmp_path, "SPOLISBUS", tmp_path / "spolisbus")
    assert stored.quarantine["reason"].tolist() == ["SBASISLOON is negative"]
    accepted = read_frame(open_table(stored.folder))

    linkage = link_registers(REGISTERS, {}, KEY_FILE)
    panel, report = build_panel("GM0599", linkage.linked, cbs(SPOLISBUS=accepted), WINDOW)
    panel_contract(report.window).validate(panel, lazy=True)
    p2 = panel.set_index(["pseudo_id", "month"])
    assert row(p2, "p2", "2021-01-01")["wage"] == pytest.approx(1500)
    assert row(p2, "p2", "2021-02-01")["wage"] == 0  # the correction alone made February negative


def test_a_negative_wage_that_reaches_the_panel_is_named_after_its_source():
    jobs = CBS_TABLES["SPOLISBUS"].assign(SBASISLOON=[-300.0])
    linkage = link_registers(REGISTERS, {}, KEY_FILE)
    panel, report = build_panel("GM0599", linkage.linked, cbs(SPOLISBUS=jobs), WINDOW)
    with pytest.raises(pandera.errors.SchemaErrors) as err:
        panel_contract(report.window).validate(panel, lazy=True)
    assert "wage (SPOLISBUS SBASISLOON) is negative" in set(err.value.failure_cases["check"])


def test_a_household_row_without_type_is_an_unknown_household_not_a_crash():
    """TYPHH missing next to PLHH 7 (parent in a single-parent household): the type is not known."""
    households = pd.DataFrame(
        {
            "RINPERSOON": ["000000001", "000000002"],
            "DATUMAANVANGHH": d(["2019-03-20", "2019-01-01"]),
            "DATUMEINDEHH": d(["2099-12-31", "2099-12-31"]),
            "TYPHH": [None, "6"],
            "PLHH": ["7", None],
            "AANTALKINDHH": [1, 1],
        }
    )
    panel, _ = build(cbs_tables=cbs(GBAHUISHOUDENSBUS=households))
    for pid in ("p1", "p2"):
        r = row(panel, pid, "2021-01-01")
        assert r["household_type"] == ("unknown" if pid == "p1" else "single_parent")
        assert not r["single_parent"]


def test_a_debt_row_without_status_leaves_that_year_unknown():
    debt = pd.DataFrame(
        {
            "RINPERSOON": ["000000003", "000000003", "000000002", "000000002"],
            "PEILDATUM": d(["2021-01-01", "2022-01-01", "2021-01-01", "2021-01-01"]),
            "PROBSCHULDPERS": ["1", None, None, "1"],
        }
    )
    panel, _ = build(cbs_tables=cbs(PROBSCHULDTAB=debt))
    debt = panel["problematic_debt"]
    assert debt.loc[("p3", T("2021-06-01"))]
    assert pd.isna(debt.loc[("p3", T("2022-06-01"))])  # a row, but no status
    assert debt.loc[("p3", T("2023-06-01"))] == False  # noqa: E712 (no row: no registered debt)
    assert debt.loc[("p2", T("2021-06-01"))]  # the row with a status wins
    assert panel["problematic_debt"].dtype == "boolean"


def test_benefit_duration_runs_over_back_to_back_spells_before_the_window():
    """PW from January 2016 to December 2017, then IOAW from January 2018: one run of benefit months,
    24 months old when the window opens in January 2018. A month off before the window ends the run."""
    registers = {
        **REGISTERS,
        "bijstand": pd.concat(
            [
                REGISTERS["bijstand"],
                spells(
                    [
                        ("p1", "PW", "2016-01-01", "2017-12-31"),
                        ("p1", "IOAW", "2018-01-01", "2019-12-31"),
                        ("p3", "PW", "2015-03-05", "2016-06-30"),
                        ("p3", "IOAZ", "2016-07-12", "2017-10-31"),
                        (
                            "p3",
                            "PW",
                            "2017-12-01",
                            "2019-02-28",
                        ),  # November 2017 off: a new run in December
                        ("p2", "PW", "2017-05-01", "2018-03-31"),
                        ("p2", "PW", "2017-01-01", "2017-06-30"),  # overlapping
                    ]
                ),
            ],
            ignore_index=True,
        ),
    }
    panel, _ = build(registers, window=PanelWindow("2018-01", "2024-06"))
    assert row(panel, "p1", "2018-01-01")["bijstand_duration_months"] == 24
    assert row(panel, "p1", "2018-02-01")["bijstand_duration_months"] == 25
    assert row(panel, "p3", "2018-01-01")["bijstand_duration_months"] == 1
    assert row(panel, "p2", "2018-01-01")["bijstand_duration_months"] == 12
    assert (
        row(panel, "p1", "2020-01-01")["bijstand_duration_months"] == 48
    )  # the ART9A-era spell joins on


def test_a_year_with_every_cost_component_missing_stays_missing():
    costs = pd.concat(
        [
            CBS_TABLES["ZVWZORGKOSTENTAB"],
            pd.DataFrame(
                {
                    "RINPERSOON": ["000000001", "000000003"],
                    "JAAR": [2021, 2020],
                    **{
                        c: [np.nan, np.nan]
                        for c in (
                            "ZVWKHUISARTS",
                            "ZVWKFARMACIE",
                            "ZVWKZIEKENHUIS",
                            "ZVWKGGZ",
                            "ZVWKEERSTELIJNSPSYCHO",
                        )
                    },
                }
            ),
        ],
        ignore_index=True,
    )
    costs.loc[1, "ZVWKGGZ"] = np.nan  # one component missing: the others still add up
    panel, _ = build(cbs_tables=cbs(ZVWZORGKOSTENTAB=costs))
    p1, p3 = row(panel, "p1", "2021-03-01"), row(panel, "p3", "2020-03-01")
    assert np.isnan(p1["care_costs_total"]) and np.isnan(p1["care_costs_mental"])
    assert np.isnan(p3["care_costs_total"]) and pd.isna(p3["poor_health"])  # not 0, not good health
    assert row(panel, "p2", "2020-03-01")["care_costs_total"] == pytest.approx(3080)
    assert row(panel, "p2", "2020-03-01")["care_costs_mental"] == pytest.approx(100)


def test_a_job_period_delivered_twice_is_paid_once():
    jobs = pd.concat([CBS_TABLES["SPOLISBUS"]] * 2, ignore_index=True)
    panel, _ = build(cbs_tables=cbs(SPOLISBUS=jobs))
    assert row(panel, "p2", "2020-09-01")["wage"] == pytest.approx(500)


def test_the_suite_warns_when_costs_or_debt_status_are_often_missing(result):
    """p3 has no healthcare costs at all, a third of the person-months; a year of unknown debt status
    for everyone is more than the 1% the suite lets pass. Both warn, neither blocks."""
    from wi_pipeline.lib.quality import run_suite

    _, panel, _ = result
    clean = add_history(panel.reset_index()[PANEL_COLUMNS])
    in_2021 = clean["month"].dt.year == 2021
    unknown_debt = clean.assign(problematic_debt=clean["problematic_debt"].mask(in_2021))
    checked = run_suite(unknown_debt, "panel_linked_panel")
    assert checked.success  # a warning, never a block
    warned = {r.column for r in checked.failed("warn") if r.expectation.endswith("to_not_be_null")}
    assert warned == {"care_costs_total", "problematic_debt"}


def test_the_latest_spells_label_per_month_as_a_category_with_only_the_labels_used():
    from wi_pipeline.lib.panel import _Grid

    grid = _Grid(pd.Index(["1", "2", "3"]), PanelWindow("2020-01", "2020-04"))
    spells = pd.DataFrame(
        {
            "RINPERSOON": ["1", "1", "1", "2", "9"],
            "start": d(["2020-01-01", "2020-02-10", "2020-02-03", "2019-06-01", "2020-01-01"]),
            "end": d(["2020-12-31", None, "2020-02-28", "2020-02-15", None]),
            "label": ["single", "married", "divorced", "partner", "widowed"],
        }
    )
    by_category = grid.latest_category(*spells.iloc[:, :3].T.to_numpy(), spells["label"], "unknown")
    assert list(by_category.categories) == ["married", "partner", "single", "unknown"]
    assert np.asarray(by_category).reshape(3, 4).tolist() == [
        ["single", "married", "married", "married"],  # the latest start wins, by day
        ["partner", "partner", "unknown", "unknown"],
        ["unknown"] * 4,
    ]
    labels = grid.latest_value(*spells.iloc[:, :3].T.to_numpy(), spells["label"], "unknown")
    assert labels.ravel().tolist() == list(by_category)
