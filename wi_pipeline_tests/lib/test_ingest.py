import pandas as pd
import pytest

from wi_pipeline.lib.ingest import ExtractError, current_extract, ingest_register, register_output_schema
from wi_pipeline.lib.layout import REGISTERS
from wi_pipeline.lib.pseudonymise import DEMO_KEY, PseudonymisationError, PseudonymKey
from wi_pipeline_tests.helpers import synthetic_bsns, write_extract

KEY = PseudonymKey(DEMO_KEY)
B = synthetic_bsns(6)
HEADER = "BSN;DOSSIERNUMMER;REGELING;INGANGSDATUM;EINDDATUM"


def ingest(tmp_path, lines, register="bijstand", **kw):
    path = write_extract(tmp_path, "GM0599", register, lines, **kw)
    return ingest_register(path, REGISTERS[register], "GM0599", KEY)


def test_clean_extract_is_accepted_harmonised_and_without_bsn(tmp_path):
    r = ingest(tmp_path, [HEADER, f"{B[0]};D1;PW;01-02-2020;15-03-2021", f"{B[1]};D2;IOAW;01-01-2024;"])
    assert (r.rows_in, r.rows_accepted, r.rows_quarantined) == (2, 2, 0)
    acc = r.accepted
    register_output_schema(REGISTERS["bijstand"]).validate(acc)
    assert "BSN" not in acc.columns and "DOSSIERNUMMER" not in acc.columns
    assert not acc.astype(str).apply(lambda c: c.str.contains(B[0])).any().any()
    assert acc.loc[0, "start"] == pd.Timestamp("2020-02-01") and pd.isna(acc.loc[1, "end"])


def test_row_faults_are_quarantined_with_reason_and_counted(tmp_path):
    lines = [
        HEADER,
        f"{B[0]};D1;PW;01-02-2020;15-03-2021",
        f"{B[0]};D1;PW;01-02-2020;15-03-2021",  # exact duplicate
        "999999999;D3;PW;01-02-2020;",  # fails eleven-test
        f"{B[2]};D4;PW;01-02-2021;01-01-2021",  # end before start
        f"{B[3]};D5;XX;01-02-2021;",  # unknown code
        f"{B[4]};D6;PW;2021-02-01;",  # unparseable date
        f"{B[5]};D7;PW;01-02-2021;;extra",  # wrong number of fields
        f"{B[5]};D8;PW;01-02-2026;",  # after the extract date
    ]
    r = ingest(tmp_path, lines)
    assert r.rows_in == 8 and r.rows_accepted == 1 and r.rows_quarantined == 7
    q = r.quarantine.set_index("line_number")["reason"]
    assert q[3] == "duplicate row"
    assert "eleven-test" in q[4]
    assert q[5] == "EINDDATUM lies before INGANGSDATUM"
    assert q[6] == "unknown code in REGELING"
    assert "INGANGSDATUM is not a date" in q[7]
    assert q[8] == "expected 5 fields, found 6"
    assert q[9] == "INGANGSDATUM lies after the extract date"
    assert "BSN" not in r.quarantine.columns
    assert sum(r.reasons.values()) >= r.rows_quarantined


@pytest.mark.parametrize(
    "lines, message",
    [
        (["BSN;REGELING;INGANGSDATUM;EINDDATUM", "x;PW;01-01-2020;"], "missing column(s) DOSSIERNUMMER"),
        (["BSN;DOSSIERNR;REGELING;INGANGSDATUM;EINDDATUM", "x;1;PW;01-01-2020;"], "DOSSIERNUMMER (renamed to DOSSIERNR?)"),
        (["BSN,DOSSIERNUMMER,REGELING,INGANGSDATUM,EINDDATUM", "x,1,PW,01-01-2020,"], "separated by commas"),
        ([HEADER], "header only"),
        ([""], "empty"),
    ],
)
def test_file_faults_give_one_clear_error_naming_the_file(tmp_path, lines, message):
    with pytest.raises(ExtractError) as err:
        ingest(tmp_path, lines)
    assert message in str(err.value)
    assert "GM0599/bijstand/20250115.csv" in str(err.value)


def test_wrong_encoding_names_the_line(tmp_path):
    with pytest.raises(ExtractError, match=r"not valid UTF-8 at line 3"):
        ingest(tmp_path, [HEADER, f"{B[0]};D1;PW;01-02-2020;", f"{B[1]};Dé;PW;01-02-2020;"], encoding="latin-1")


def test_demo_key_refuses_real_bsns(tmp_path):
    with pytest.raises(PseudonymisationError, match="demo key"):
        ingest(tmp_path, [HEADER, "111222333;D1;PW;01-02-2020;"])


def test_local_instrument_codes_are_mapped_to_srg(tmp_path):
    lines = ["BSN;VOORZIENING_CODE;VOORZIENING_OMSCHRIJVING;INGANGSDATUM;EINDDATUM",
             f"{B[0]};RTM-102;cursus;01-02-2020;01-08-2020", f"{B[1]};LKS;amsterdam code;01-02-2020;"]
    r = ingest(tmp_path, lines, register="reintegratie")
    assert r.accepted["code"].tolist() == ["scholing"]
    assert r.quarantine["reason"].tolist() == ["unknown code in VOORZIENING_CODE"]
    assert "VOORZIENING_OMSCHRIJVING" not in r.accepted.columns


def test_newest_extract_is_current(tmp_path):
    write_extract(tmp_path, "GM0599", "bijstand", [HEADER], name="20240101.csv")
    newest = write_extract(tmp_path, "GM0599", "bijstand", [HEADER], name="20250101.csv")
    (newest.parent / "20260101.csv.part").write_text("being written")
    assert current_extract(tmp_path, "GM0599", "bijstand") == newest
    with pytest.raises(ExtractError, match="no extract for register 'wmo' of GM0599"):
        current_extract(tmp_path, "GM0599", "wmo")
