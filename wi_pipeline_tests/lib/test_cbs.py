import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from wi_pipeline.lib.cbs import cbs_path, ingest_cbs_table
from wi_pipeline.lib.ingest import ExtractError
from wi_pipeline.lib.pseudonymise import DEMO_KEY, PseudonymisationError, PseudonymKey
from wi_pipeline_tests.helpers import synthetic_bsns

KEY = PseudonymKey(DEMO_KEY)


def write_table(landing, table: str, columns: dict) -> None:
    path = cbs_path(landing, table)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({k: pa.array(v, pa.string()) for k, v in columns.items()}), path)


def secm(**overrides) -> dict:
    cols = {"RINPERSOONS": ["R", "R"], "RINPERSOON": ["000000001", "000000002"], "AANVSECM": ["20200101", "20210101"],
            "EINDSECM": ["20201231", ""], "SECM": ["11", "22"]}
    return {**cols, **overrides}


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
    write_table(tmp_path, "SECMBUS", secm(RINPERSOONS=["R"] * n, RINPERSOON=[f"{i:09d}" for i in range(n)],
                                          AANVSECM=["20200101"] * n, EINDSECM=[""] * n, SECM=["11"] * n))
    path = cbs_path(tmp_path, "SECMBUS")
    raw = bytearray(path.read_bytes())
    footer = int.from_bytes(raw[-8:-4], "little")  # the schema stays readable; the data pages are overwritten
    raw[4:len(raw) - 8 - footer] = b"\xab" * (len(raw) - 12 - footer)
    path.write_bytes(bytes(raw))
    with pytest.raises(ExtractError, match=r"CBS/SECMBUS.parquet: CBS table SECMBUS could not be read"):
        ingest_cbs_table(tmp_path, "SECMBUS")


def test_an_empty_table_is_one_clear_error(tmp_path):
    write_table(tmp_path, "SECMBUS", {k: [] for k in secm()})
    with pytest.raises(ExtractError, match="CBS table SECMBUS has no rows"):
        ingest_cbs_table(tmp_path, "SECMBUS")


def test_bad_dates_and_person_numbers_are_quarantined_with_a_reason(tmp_path):
    write_table(tmp_path, "SECMBUS", secm(
        RINPERSOONS=["R"] * 5,
        RINPERSOON=["000000001", "12345", None, "000000004", "000000005"],
        AANVSECM=["20200101", "20200101", "20200101", "2020-01-01", "20200231"],
        EINDSECM=["", "", "", "", "x"],
        SECM=["11"] * 5,
    ))
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
    write_table(tmp_path, "GBAPERSOONTAB", {
        "RINPERSOONS": ["R", "R", "R"], "RINPERSOON": ["000000001", "000000002", "000000003"],
        "GBAGESLACHT": ["1", "2", "1"], "GBAGEBOORTEJAAR": ["1980", "1980.5", "abc"],
        "GBAGEBOORTEMAAND": ["1", "2", "3"], "GBAGEBOORTEDAG": ["1", "2", "3"],
        "GBAHERKOMSTGROEPERING": ["6030"] * 3, "GBAGENERATIE": ["0"] * 3,
    })
    accepted, quarantine, rows_in = ingest_cbs_table(tmp_path, "GBAPERSOONTAB")
    assert rows_in == 3 and accepted["GBAGEBOORTEJAAR"].tolist() == [1980]
    assert quarantine["reason"].tolist() == ["GBAGEBOORTEJAAR is not a whole number"] * 2


def test_key_file_is_pseudonymised_and_unlinkable_rows_are_quarantined(tmp_path):
    b = synthetic_bsns(3)
    write_table(tmp_path, "KOPPELTABEL", {"BSN": [b[0], "999999999", b[2]], "RINPERSOONS": ["R", "R", "R"],
                                          "RINPERSOON": ["000000001", "000000002", "12"]})
    accepted, quarantine, rows_in = ingest_cbs_table(tmp_path, "KOPPELTABEL", KEY)
    assert rows_in == 3 and len(accepted) == 1 and "BSN" not in accepted.columns and "BSN" not in quarantine.columns
    assert quarantine["reason"].tolist() == ["BSN fails the eleven-test", "RINPERSOON is not 9 digits"]
    for frame in (accepted, quarantine):
        text = frame.astype(str).to_csv()
        assert not any(x in text for x in b)


def test_key_file_with_real_bsns_refuses_the_demo_key(tmp_path):
    write_table(tmp_path, "KOPPELTABEL", {"BSN": ["111222333"], "RINPERSOONS": ["R"], "RINPERSOON": ["000000001"]})
    with pytest.raises(PseudonymisationError, match="demo key") as err:
        ingest_cbs_table(tmp_path, "KOPPELTABEL", KEY)
    assert "111222333" not in str(err.value)
