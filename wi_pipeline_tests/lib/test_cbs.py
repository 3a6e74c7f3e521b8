import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wi_pipeline.lib.cbs import cbs_path
from wi_pipeline.lib.ingest import ExtractError
from wi_pipeline.lib.linkage import REASON_AMBIGUOUS, ambiguous_pseudonyms, link_registers
from wi_pipeline.lib.pseudonymise import DEMO_KEY, PseudonymisationError, PseudonymKey
from wi_pipeline.lib.quality import run_suite
from wi_pipeline_tests.helpers import ingest_cbs_table, synthetic_bsns

KEY = PseudonymKey(DEMO_KEY)


def write_table(landing, table: str, columns: dict) -> None:
    path = cbs_path(landing, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()}), path)


def secm(**overrides) -> dict:
    cols = {
        "RINPERSOONS": ["R", "R"],
        "RINPERSOON": ["000000001", "000000002"],
        "AANVSECM": ["20200101", "20210101"],
        "EINDSECM": ["20201231", ""],
        "SECM": ["11", "22"],
    }
    return {**cols, **overrides}


def open_spells(starts: list[str]) -> dict:
    """SECMBUS with one open spell per person, starting on each of ``starts``."""
    n = len(starts)
    return secm(
        RINPERSOONS=["R"] * n,
        RINPERSOON=[f"{i:09d}" for i in range(n)],
        AANVSECM=starts,
        EINDSECM=[""] * n,
        SECM=["11"] * n,
    )


def test_a_clean_table_is_typed(tmp_path):
    write_table(tmp_path, "SECMBUS", secm())
    accepted, quarantine, rows_in = ingest_cbs_table(tmp_path, "SECMBUS")
    assert (len(accepted), len(quarantine), rows_in) == (2, 0, 2)
    assert accepted["AANVSECM"].tolist() == [pd.Timestamp("2020-01-01"), pd.Timestamp("2021-01-01")]
    assert pd.isna(accepted.loc[1, "EINDSECM"])  # an empty end date is a running spell, not a fault


def test_a_missing_column_names_the_table_and_the_column(tmp_path):
    cols = secm()
    del cols["EINDSECM"]
    write_table(tmp_path, "SECMBUS", cols)
    with pytest.raises(ExtractError) as err:
        ingest_cbs_table(tmp_path, "SECMBUS")
    assert "missing column(s) EINDSECM in CBS table SECMBUS" in str(err.value)
    assert "CBS/SECMBUS.parquet" in str(err.value)


def test_a_missing_file_names_the_table(tmp_path):
    with pytest.raises(ExtractError, match="CBS table SECMBUS not found at .*CBS/SECMBUS.parquet"):
        ingest_cbs_table(tmp_path, "SECMBUS")


def test_a_file_that_is_not_parquet_is_one_clear_error(tmp_path):
    path = cbs_path(tmp_path, "SECMBUS")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"RINPERSOONS;RINPERSOON\nR;000000001\n")
    with pytest.raises(ExtractError, match=r"CBS/SECMBUS.parquet: not a readable parquet file"):
        ingest_cbs_table(tmp_path, "SECMBUS")


def test_a_parquet_file_with_damaged_data_is_one_clear_error(tmp_path):
    n = 500
    write_table(tmp_path, "SECMBUS", open_spells(["20200101"] * n))
    path = cbs_path(tmp_path, "SECMBUS")
    raw = bytearray(path.read_bytes())
    footer = int.from_bytes(
        raw[-8:-4], "little"
    )  # the schema stays readable; the data pages are overwritten
    raw[4 : len(raw) - 8 - footer] = b"\xab" * (len(raw) - 12 - footer)
    path.write_bytes(bytes(raw))
    with pytest.raises(
        ExtractError, match=r"CBS/SECMBUS.parquet: CBS table SECMBUS could not be read"
    ):
        ingest_cbs_table(tmp_path, "SECMBUS")


def test_an_empty_table_is_one_clear_error(tmp_path):
    write_table(tmp_path, "SECMBUS", {k: [] for k in secm()})
    with pytest.raises(ExtractError, match="CBS table SECMBUS has no rows"):
        ingest_cbs_table(tmp_path, "SECMBUS")


def test_bad_dates_and_person_numbers_are_quarantined_with_a_reason(tmp_path):
    write_table(
        tmp_path,
        "SECMBUS",
        secm(
            RINPERSOONS=["R"] * 5,
            RINPERSOON=["000000001", "12345", None, "000000004", "000000005"],
            AANVSECM=["20200101", "20200101", "20200101", "2020-01-01", "20200231"],
            EINDSECM=["", "", "", "", "x"],
            SECM=["11"] * 5,
        ),
    )
    accepted, quarantine, rows_in = ingest_cbs_table(tmp_path, "SECMBUS")
    assert rows_in == 5 == len(accepted) + len(quarantine)
    assert accepted["RINPERSOON"].tolist() == ["000000001"]
    assert quarantine["reason"].tolist() == [
        "RINPERSOON is not 9 digits",
        "RINPERSOON is not 9 digits",
        "AANVSECM is not a date (YYYYMMDD)",
        "AANVSECM is not a date (YYYYMMDD); EINDSECM is not a date (YYYYMMDD)",
    ]


def test_numbers_that_are_not_whole_are_quarantined_not_a_crash(tmp_path):
    write_table(
        tmp_path,
        "GBAPERSOONTAB",
        {
            "RINPERSOONS": ["R", "R", "R"],
            "RINPERSOON": ["000000001", "000000002", "000000003"],
            "GBAGESLACHT": ["1", "2", "1"],
            "GBAGEBOORTEJAAR": ["1980", "1980.5", "abc"],
            "GBAGEBOORTEMAAND": ["1", "2", "3"],
            "GBAGEBOORTEDAG": ["1", "2", "3"],
            "GBAHERKOMSTGROEPERING": ["6030"] * 3,
            "GBAGENERATIE": ["0"] * 3,
        },
    )
    accepted, quarantine, rows_in = ingest_cbs_table(tmp_path, "GBAPERSOONTAB")
    assert rows_in == 3 and accepted["GBAGEBOORTEJAAR"].tolist() == [1980]
    assert quarantine["reason"].tolist() == ["GBAGEBOORTEJAAR is not a whole number"] * 2


def test_key_file_is_pseudonymised_and_unlinkable_rows_are_quarantined(tmp_path):
    b = synthetic_bsns(3)
    write_table(
        tmp_path,
        "KOPPELTABEL",
        {
            "BSN": [b[0], "999999999", b[2]],
            "RINPERSOONS": ["R", "R", "R"],
            "RINPERSOON": ["000000001", "000000002", "12"],
        },
    )
    accepted, quarantine, rows_in = ingest_cbs_table(tmp_path, "KOPPELTABEL", KEY)
    assert (
        rows_in == 3
        and len(accepted) == 1
        and "BSN" not in accepted.columns
        and "BSN" not in quarantine.columns
    )
    assert quarantine["reason"].tolist() == [
        "BSN fails the eleven-test",
        "RINPERSOON is not 9 digits",
    ]
    for frame in (accepted, quarantine):
        text = frame.astype(str).to_csv()
        assert not any(x in text for x in b)


def test_key_file_with_real_bsns_refuses_the_demo_key(tmp_path):
    write_table(
        tmp_path,
        "KOPPELTABEL",
        {"BSN": ["111222333"], "RINPERSOONS": ["R"], "RINPERSOON": ["000000001"]},
    )
    with pytest.raises(PseudonymisationError, match="demo key") as err:
        ingest_cbs_table(tmp_path, "KOPPELTABEL", KEY)
    assert "111222333" not in str(err.value)


# --- typed re-exports, the register guards, negative wages, ambiguous keys (issue 16, items 3-5) ---


def write_arrow(landing, table: str, columns: dict) -> None:
    """A table as a re-export may deliver it: arrow arrays of any type, not CBS's text."""
    path = cbs_path(landing, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)


def test_typed_dates_and_number_codes_give_what_the_text_form_gives(tmp_path):
    """Dates as a date type or a timestamp, codes and person numbers as numbers (leading zeros lost):
    the typed table is the same as the text one, not 0 rows accepted."""
    n = 12
    text = secm(
        RINPERSOONS=["R"] * n,
        RINPERSOON=[f"{i:09d}" for i in range(1, n + 1)],
        AANVSECM=[f"2020{m:02d}15" for m in range(1, n + 1)],
        EINDSECM=["20211231"] * (n - 1) + [""],
        SECM=["11", "22"] * (n // 2),
    )
    write_table(tmp_path / "text", "SECMBUS", text)
    expected, _, _ = ingest_cbs_table(tmp_path / "text", "SECMBUS")
    day = [pd.Timestamp(s).date() for s in text["AANVSECM"]]
    write_arrow(
        tmp_path / "typed",
        "SECMBUS",
        {
            "RINPERSOONS": pa.array(text["RINPERSOONS"]),
            "RINPERSOON": pa.array(range(1, n + 1), pa.int64()),
            "AANVSECM": pa.array(day, pa.date32()),
            "EINDSECM": pa.array(
                [pd.Timestamp("2021-12-31 00:00")] * (n - 1) + [None], pa.timestamp("us")
            ),
            "SECM": pa.array([11.0, 22.0] * (n // 2), pa.float64()),
        },
    )
    accepted, quarantine, rows_in = ingest_cbs_table(tmp_path / "typed", "SECMBUS")
    assert (rows_in, len(accepted), len(quarantine)) == (n, n, 0)
    pd.testing.assert_frame_equal(accepted, expected)
    assert accepted.loc[0, "RINPERSOON"] == "000000001" and accepted.loc[0, "SECM"] == "11"


def test_a_typed_date_outside_the_calendar_and_a_fractional_code_are_quarantined_like_text(
    tmp_path,
):
    write_arrow(
        tmp_path,
        "SECMBUS",
        {
            "RINPERSOONS": pa.array(["R"] * 3),
            "RINPERSOON": pa.array(["000000001", "000000002", "000000003"]),
            "AANVSECM": pa.array([pd.Timestamp("2020-01-01").date()] * 3, pa.date32()),
            "EINDSECM": pa.array(
                [pd.Timestamp("2020-12-31").date(), pd.Timestamp("9999-12-31").date(), None],
                pa.date32(),
            ),
            "SECM": pa.array([11.0, 22.0, 11.5]),
        },
    )
    accepted, quarantine, rows_in = ingest_cbs_table(tmp_path, "SECMBUS")
    assert rows_in == 3 and accepted["RINPERSOON"].tolist() == ["000000001"]
    # 9999-12-31 is no date in text form either ("99991231" cannot be a datetime64[ns])
    assert quarantine["reason"].tolist() == [
        "EINDSECM is not a date (YYYYMMDD)",
        "SECM is not a whole number",
    ]


def test_a_column_mostly_unparseable_refuses_the_table_naming_table_and_column(tmp_path):
    n = 20
    write_table(tmp_path, "SECMBUS", open_spells(["2020-01-15"] * (n - 1) + ["20200115"]))
    with pytest.raises(ExtractError) as err:
        ingest_cbs_table(tmp_path, "SECMBUS")
    text = str(err.value)
    assert (
        "CBS table SECMBUS: column AANVSECM is not a date (YYYYMMDD) in 19 of 20 rows (first at row 1)"
        in text
    )
    assert "2020-01-15" not in text  # messages never quote values


def test_a_column_of_a_type_that_cannot_hold_its_form_is_refused(tmp_path):
    write_arrow(
        tmp_path,
        "SECMBUS",
        {
            "RINPERSOONS": pa.array(["R"]),
            "RINPERSOON": pa.array(["000000001"]),
            "AANVSECM": pa.array(
                [pd.Timestamp("2020-01-01", tz="UTC")], pa.timestamp("us", tz="UTC")
            ),
            "EINDSECM": pa.array([None], pa.string()),
            "SECM": pa.array(["11"]),
        },
    )
    with pytest.raises(
        ExtractError, match="CBS table SECMBUS: column AANVSECM holds dates with a time zone"
    ):
        ingest_cbs_table(tmp_path, "SECMBUS")
    write_arrow(
        tmp_path,
        "SECMBUS",
        {
            "RINPERSOONS": pa.array(["R"]),
            "RINPERSOON": pa.array(["000000001"]),
            "AANVSECM": pa.array(["20200101"]),
            "EINDSECM": pa.array([None], pa.string()),
            "SECM": pa.array([True]),
        },
    )
    with pytest.raises(
        ExtractError, match="CBS table SECMBUS: column SECM holds boolean values, expected text"
    ):
        ingest_cbs_table(tmp_path, "SECMBUS")


def spolis(wages: list[float], hours: list[float] | None = None) -> dict:
    n = len(wages)
    return {
        "RINPERSOONS": ["R"] * n,
        "RINPERSOON": [f"{i:09d}" for i in range(1, n + 1)],
        "IKVID": ["1"] * n,
        "SBEID": ["000000042"] * n,
        "SDATUMAANVANGIKO": ["20200101"] * n,
        "SDATUMEINDEIKO": ["20200131"] * n,
        "SBASISLOON": [str(w) for w in wages],
        "SBASISUREN": [str(h) for h in hours or [40.0] * n],
        "SCONTRACTSOORT": ["O"] * n,
        "SPOLISDIENSTVERBAND": ["1"] * n,
    }


def test_negative_wages_and_hours_are_quarantined_naming_the_column_and_the_suite_expects_none(
    tmp_path,
):
    write_table(
        tmp_path, "SPOLISBUS", spolis([2000.0, -150.0, 0.0, 1800.0], [40.0, 10.0, 0.0, -8.0])
    )
    accepted, quarantine, rows_in = ingest_cbs_table(tmp_path, "SPOLISBUS")
    assert rows_in == 4 and accepted["SBASISLOON"].tolist() == [2000.0, 0.0]
    assert quarantine["reason"].tolist() == ["SBASISLOON is negative", "SBASISUREN is negative"]
    assert run_suite(accepted, "cbs_spolisbus").success
    with_negatives = pd.concat([accepted, quarantine.drop(columns="reason")], ignore_index=True)
    failed = run_suite(with_negatives, "cbs_spolisbus")
    assert not failed.success and {r.column for r in failed.failed("error")} == {
        "SBASISLOON",
        "SBASISUREN",
    }


def test_one_bsn_with_two_person_keys_is_kept_for_linkage_to_quarantine_and_the_suite_passes(
    tmp_path,
):
    b = synthetic_bsns(3)
    write_table(
        tmp_path,
        "KOPPELTABEL",
        {
            "BSN": [b[0], b[1], b[1], b[2], b[2]],
            "RINPERSOONS": ["R"] * 5,
            "RINPERSOON": ["000000001", "000000002", "000000022", "000000003", "000000003"],
        },
    )
    accepted, quarantine, rows_in = ingest_cbs_table(tmp_path, "KOPPELTABEL", KEY)
    assert (rows_in, len(accepted)) == (5, 4) and quarantine["reason"].tolist() == ["duplicate row"]
    assert len(ambiguous_pseudonyms(accepted)) == 1
    suite = run_suite(accepted, "cbs_koppeltabel", identifier_columns=["pseudo_id", "RINPERSOON"])
    assert suite.success and [r.column for r in suite.failed()] == [
        "pseudo_id"
    ]  # a warning, not a refusal
    linkage = link_registers(
        {
            "bijstand": pd.DataFrame(
                {
                    "gemeente": "GM0599",
                    "pseudo_id": accepted["pseudo_id"].drop_duplicates(),
                    "code": "PW",
                    "start": pd.Timestamp("2020-01-01"),
                    "end": pd.NaT,
                    "extract_date": pd.Timestamp("2025-01-15"),
                }
            )
        },
        {},
        accepted,
    )
    assert linkage.rates.loc[0, ["linked", "ambiguous_key"]].tolist() == [2, 1]
    assert (linkage.quarantine["reason"] == REASON_AMBIGUOUS).all()


def test_a_key_file_with_numbers_for_text_keeps_the_leading_zeros(tmp_path):
    b = synthetic_bsns(2)
    write_arrow(
        tmp_path,
        "KOPPELTABEL",
        {
            "BSN": pa.array([int(x) for x in b], pa.int64()),
            "RINPERSOONS": pa.array(["R", "R"]),
            "RINPERSOON": pa.array([1, 22], pa.int64()),
        },
    )
    accepted, quarantine, _ = ingest_cbs_table(tmp_path, "KOPPELTABEL", KEY)
    assert accepted["RINPERSOON"].tolist() == ["000000001", "000000022"] and quarantine.empty
    assert accepted["pseudo_id"].tolist() == KEY.pseudonymise(pd.Series(b, dtype="string")).tolist()


def test_a_date_is_eight_digits_naming_a_calendar_day(tmp_path):
    """No roll-over (30 February is not 2 March), no shortened or padded text, and a day
    datetime64[ns] cannot hold is no date: each such row is quarantined with the reason."""
    starts = [
        "20200229",  # a leap day
        "20190230",
        "20191301",
        "20190100",
        "2019023",
        "201902031",
        "2019-02-03",
        "99991231",
        "16770921",  # a day before the first datetime64[ns] can hold
        " 20190203 ",  # surrounding spaces are trimmed, as before
    ]
    n = len(starts)
    write_table(tmp_path, "SECMBUS", open_spells(starts))
    accepted, quarantine, rows_in = ingest_cbs_table(tmp_path, "SECMBUS")
    assert rows_in == n
    assert accepted["AANVSECM"].tolist() == [pd.Timestamp("2020-02-29"), pd.Timestamp("2019-02-03")]
    assert quarantine["reason"].tolist() == ["AANVSECM is not a date (YYYYMMDD)"] * (n - 2)
