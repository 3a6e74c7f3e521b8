import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from wi_pipeline.lib.ingest import (DATE_FORMAT_MIN_ROWS, ExtractError, current_extract, ingest_register,
                                    plausible_date_bounds, register_output_schema)
from wi_pipeline.lib.layout import REGISTERS
from wi_pipeline.lib.pseudonymise import DEMO_KEY, PseudonymisationError, PseudonymKey
from wi_pipeline_tests.helpers import synthetic_bsns, write_extract

KEY = PseudonymKey(DEMO_KEY)
REPO = Path(__file__).resolve().parents[2]
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
        (["BSN\tDOSSIERNUMMER\tREGELING\tINGANGSDATUM\tEINDDATUM", "x\t1\tPW\t01-01-2020\t"], "separated by tabs"),
        (["BSN|DOSSIERNUMMER|REGELING|INGANGSDATUM|EINDDATUM", "x|1|PW|01-01-2020|"], "separated by pipes"),
        (["x;1;PW;01-01-2020;", "y;2;PW;01-01-2020;"], "the first line is not a header"),
        ([HEADER + ";REGELING", "x;1;PW;01-01-2020;;PW"], "REGELING appear more than once"),
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


@pytest.mark.parametrize("sep", [";", ",", "\t", "|"])
def test_header_errors_never_echo_a_bsn_from_the_first_line(tmp_path, sep):
    bsn = "999993653"  # passes the eleven-test
    row = sep.join([bsn, "D1", "PW", "01-02-2020", ""])
    with pytest.raises(ExtractError) as err:
        ingest(tmp_path, [row, row.replace("D1", "D2")])
    message = str(err.value)
    assert "GM0599/bijstand/20250115.csv" in message and "BSN;DOSSIERNUMMER;REGELING" in message
    assert bsn not in message and not re.search(r"\d{8}", message.replace("20250115", ""))


def test_found_columns_are_shown_with_identifier_like_names_redacted(tmp_path):
    header = "BSN;REGELING;INGANGSDATUM;EINDDATUM;99999365"  # a BSN without its leading zero as a column name
    with pytest.raises(ExtractError) as err:
        ingest(tmp_path, [header, f"{B[0]};PW;01-02-2020;;x"])
    assert "missing column(s) DOSSIERNUMMER" in str(err.value) and "<redacted>" in str(err.value)
    assert "99999365" not in str(err.value)


def test_duplicate_column_names_are_one_clear_error(tmp_path):
    with pytest.raises(ExtractError) as err:
        ingest(tmp_path, ["BSN;DOSSIERNUMMER;REGELING;INGANGSDATUM;EINDDATUM;BSN", f"{B[0]};D1;PW;01-02-2020;;{B[1]}"])
    assert "GM0599/bijstand/20250115.csv" in str(err.value) and "BSN appear more than once" in str(err.value)


def test_duplicate_columns_outside_the_contract_are_ignored(tmp_path):
    r = ingest(tmp_path, [HEADER + ";X;X", f"{B[0]};D1;PW;01-02-2020;;a;b"])
    assert (r.rows_in, r.rows_accepted) == (1, 1)


@pytest.mark.parametrize("column", ["INGANGSDATUM", "EINDDATUM"])
def test_a_date_column_in_another_format_is_refused_with_the_first_line(tmp_path, column):
    lines = [HEADER, f"{B[0]};D0;PW;01-02-2020;01-03-2020"]  # line 2 is fine
    for i in range(DATE_FORMAT_MIN_ROWS + 2):
        iso = f"2020-02-{i + 1:02d}"
        start, end = (iso, "") if column == "INGANGSDATUM" else ("01-01-2020", iso)
        lines.append(f"{B[i % 6]};D{i + 1};PW;{start};{end}")
    with pytest.raises(ExtractError) as err:
        ingest(tmp_path, lines)
    message = str(err.value)
    assert "GM0599/bijstand/20250115.csv" in message and column in message
    assert "dd-mm-yyyy" in message and "first at line 3" in message


def test_a_few_bad_dates_are_quarantined_not_refused(tmp_path):
    n = 2 * DATE_FORMAT_MIN_ROWS
    lines = [HEADER] + [f"{B[i % 6]};D{i};PW;{i % 28 + 1:02d}-02-2020;" for i in range(n)]
    lines[1:DATE_FORMAT_MIN_ROWS] = [f"{B[0]};X{i};PW;2020-02-01;" for i in range(DATE_FORMAT_MIN_ROWS - 1)]
    r = ingest(tmp_path, lines)
    assert r.rows_in == n == r.rows_accepted + r.rows_quarantined
    assert r.reasons == {"INGANGSDATUM is not a date (dd-mm-yyyy)": DATE_FORMAT_MIN_ROWS - 1}


def test_implausible_dates_are_quarantined_with_the_suite_bounds(tmp_path):
    lines = [
        HEADER,
        f"{B[0]};D1;PW;01-02-2020;",
        f"{B[1]};D2;PW;01-01-1899;",  # before the suite's lower bound
        f"{B[2]};D3;PW;01-02-2020;01-01-2101",  # end far in the future
        f"{B[3]};D4;PW;31-12-1989;01-01-1990",
    ]
    r = ingest(tmp_path, lines)
    assert (r.rows_in, r.rows_accepted, r.rows_quarantined) == (4, 1, 3)
    q = r.quarantine.set_index("line_number")["reason"]
    assert q[3] == "INGANGSDATUM outside the plausible range 01-01-1990 to 31-12-2030"
    assert q[4] == "EINDDATUM outside the plausible range 01-01-1990 to 31-12-2030"
    assert q[5] == "INGANGSDATUM outside the plausible range 01-01-1990 to 31-12-2030"


def test_date_bounds_come_from_the_registers_gx_suite(tmp_path, monkeypatch):
    suites = tmp_path / "expectations"
    shutil.copytree(REPO / "expectations", suites)
    monkeypatch.setenv("WI_EXPECTATIONS_DIR", str(suites))
    bounds = plausible_date_bounds(REGISTERS["wmo"])
    assert bounds["INGANGSDATUM"] == (pd.Timestamp("1990-01-01"), pd.Timestamp("2030-12-31"))
    suite = json.loads((suites / "registers_wmo.json").read_text())
    for exp in suite["expectations"]:
        if exp["type"] == "expect_column_values_to_be_between" and exp["kwargs"].get("column") == "start":
            exp["kwargs"]["min_value"] = "2010-01-01"  # an edit by a data engineer
    (suites / "registers_wmo.json").write_text(json.dumps(suite))
    assert plausible_date_bounds(REGISTERS["wmo"])["INGANGSDATUM"][0] == pd.Timestamp("2010-01-01")
    (suites / "registers_wmo.json").write_text("{ not json")
    assert plausible_date_bounds(REGISTERS["wmo"]) == {}  # the gx_suite check reports the broken file


def test_a_stray_quote_does_not_join_lines(tmp_path):
    lines = [
        HEADER,
        f'{B[0]};"D1;PW;01-02-2020;',  # an opening quote that is never closed
        f"{B[1]};D2;PW;01-02-2020;",
        f'{B[2]};D3 "x;PW;01-02-2020;;',  # a quote inside a field, and one field too many
        f"{B[3]};D4;PW;01-02-2020;",
    ]
    r = ingest(tmp_path, lines)
    assert r.rows_in == 4 == r.rows_accepted + r.rows_quarantined
    assert r.rows_accepted == 3
    assert r.quarantine["line_number"].tolist() == [4]
    assert r.quarantine["reason"].tolist() == ["expected 5 fields, found 6"]


def test_windows_line_endings_and_blank_lines_keep_line_numbers(tmp_path):
    path = write_extract(tmp_path, "GM0599", "bijstand", [])
    path.write_bytes(f"{HEADER}\r\n{B[0]};D1;PW;01-02-2020;\r\n\r\n{B[1]};D2;PW;2020;\r\n".encode())
    r = ingest_register(path, REGISTERS["bijstand"], "GM0599", KEY)
    assert (r.rows_in, r.rows_accepted) == (2, 1)
    assert r.quarantine["line_number"].tolist() == [4]
