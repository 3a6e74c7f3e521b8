import json
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest

from wi_pipeline.lib.ingest import (
    DATE_FORMAT_MIN_ROWS,
    ExtractError,
    current_extract,
    ingest_register,
    plausible_date_bounds,
    register_output_schema,
)
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
    r = ingest(
        tmp_path, [HEADER, f"{B[0]};D1;PW;01-02-2020;15-03-2021", f"{B[1]};D2;IOAW;01-01-2024;"]
    )
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
        (
            ["BSN;REGELING;INGANGSDATUM;EINDDATUM", "x;PW;01-01-2020;"],
            "missing column(s) DOSSIERNUMMER",
        ),
        (
            ["BSN;DOSSIERNR;REGELING;INGANGSDATUM;EINDDATUM", "x;1;PW;01-01-2020;"],
            "DOSSIERNUMMER (renamed to DOSSIERNR?)",
        ),
        (
            ["BSN,DOSSIERNUMMER,REGELING,INGANGSDATUM,EINDDATUM", "x,1,PW,01-01-2020,"],
            "separated by commas",
        ),
        (
            ["BSN\tDOSSIERNUMMER\tREGELING\tINGANGSDATUM\tEINDDATUM", "x\t1\tPW\t01-01-2020\t"],
            "separated by tabs",
        ),
        (
            ["BSN|DOSSIERNUMMER|REGELING|INGANGSDATUM|EINDDATUM", "x|1|PW|01-01-2020|"],
            "separated by pipes",
        ),
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
        ingest(
            tmp_path,
            [HEADER, f"{B[0]};D1;PW;01-02-2020;", f"{B[1]};Dé;PW;01-02-2020;"],
            encoding="latin-1",
        )


def test_demo_key_refuses_real_bsns(tmp_path):
    with pytest.raises(PseudonymisationError, match="demo key"):
        ingest(tmp_path, [HEADER, "111222333;D1;PW;01-02-2020;"])


def test_local_instrument_codes_are_mapped_to_srg(tmp_path):
    lines = [
        "BSN;VOORZIENING_CODE;VOORZIENING_OMSCHRIJVING;INGANGSDATUM;EINDDATUM",
        f"{B[0]};RTM-102;cursus;01-02-2020;01-08-2020",
        f"{B[1]};LKS;amsterdam code;01-02-2020;",
    ]
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
        ingest(
            tmp_path,
            [
                "BSN;DOSSIERNUMMER;REGELING;INGANGSDATUM;EINDDATUM;BSN",
                f"{B[0]};D1;PW;01-02-2020;;{B[1]}",
            ],
        )
    assert "GM0599/bijstand/20250115.csv" in str(err.value) and "BSN appear more than once" in str(
        err.value
    )


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
    lines[1:DATE_FORMAT_MIN_ROWS] = [
        f"{B[0]};X{i};PW;2020-02-01;" for i in range(DATE_FORMAT_MIN_ROWS - 1)
    ]
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
        if (
            exp["type"] == "expect_column_values_to_be_between"
            and exp["kwargs"].get("column") == "start"
        ):
            exp["kwargs"]["min_value"] = "2010-01-01"  # an edit by a data engineer
    (suites / "registers_wmo.json").write_text(json.dumps(suite))
    assert plausible_date_bounds(REGISTERS["wmo"])["INGANGSDATUM"][0] == pd.Timestamp("2010-01-01")
    (suites / "registers_wmo.json").write_text("{ not json")
    assert (
        plausible_date_bounds(REGISTERS["wmo"]) == {}
    )  # the gx_suite check reports the broken file


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


# --- messages name columns, lines and positions, never a field value ---------------------------------------

# Values no message may repeat: case numbers, a date, a local code and the BSNs of the rows
CASE_NUMBERS = [f"ZAAK-{i:04d}" for i in range(400)]


def _rows(n: int) -> list[str]:
    return [f"{B[i % 6]};{CASE_NUMBERS[i]};PW;17-03-2021;" for i in range(n)]


def _values(lines: list[str]) -> set[str]:
    """Every field value of the data lines, long enough to be recognised in a text."""
    return {v for line in lines[1:] for v in line.split(";") if len(v) >= 4}


def _refusal(tmp_path, raw: bytes) -> str:
    path = write_extract(tmp_path, "GM0599", "bijstand", [])
    path.write_bytes(raw)
    with pytest.raises(ExtractError) as err:
        ingest_register(path, REGISTERS["bijstand"], "GM0599", KEY)
    return str(err.value)


def test_no_message_echoes_a_field_value_cr_only_header_joined_or_malformed(tmp_path):
    from wi_pipeline.lib.privacy import MESSAGE_MAX_CHARS
    from wi_pipeline.lib.quality_report import check_rows, municipality_report

    many = [HEADER, *_rows(400)]
    joined = [HEADER + many[1], *many[2:]]  # the line break after the header lost
    renamed = ["BSN;DOSSIERNR;REGELING;INGANGSDATUM;EINDDATUM", *_rows(20)]
    refused = {
        "CR only": (
            _refusal(tmp_path / "cr", ("\r".join(many) + "\r").encode()),
            "bare carriage returns (CR)",
        ),
        "header joined": (
            _refusal(tmp_path / "joined", ("\n".join(joined) + "\n").encode()),
            "field 5 starts with column EINDDATUM and runs on",
        ),
        "renamed column": (
            _refusal(tmp_path / "renamed", ("\n".join(renamed) + "\n").encode()),
            "missing column(s) DOSSIERNUMMER (renamed to DOSSIERNR?)",
        ),
    }
    # a file that is read, with values in every kind of bad row
    bad_rows = [
        HEADER,
        f"{B[0]};ZAAK-9001;PW;17-03-2021;",
        f"{B[1]};ZAAK-9002;KORTING;17-03-2021;",
        f"{B[2]};ZAAK-9003;{B[3]};17-03-2021;",
        f"{B[4]};ZAAK-9004;PW;1703-2021;",
        f"{B[5]};ZAAK-9005;PW;17-03-2021;;ZAAK-EXTRA",
        "1234567;ZAAK-9006;PW;17-03-2021;",
        f"{B[0]};ZAAK-9007;PW;17-03-2021;31-12-2101",
    ]
    r = ingest(tmp_path / "read", bad_rows)
    assert r.rows_quarantined == 6
    reasons = "\n".join(r.quarantine["reason"]) + "\n" + "\n".join(r.reasons)
    failures = [f"`ingest_bijstand`: {message}" for message, _ in refused.values()]
    report, _ = municipality_report(
        "GM0599",
        {"status": "FAILURE", "failures": failures},
        check_rows([]),
        pd.DataFrame([{"register": "bijstand", "rows_in": r.rows_in}]),
        None,
        {"bijstand": "20250115.csv"},
        None,
    )
    for name, (message, what) in refused.items():
        assert "GM0599/bijstand/20250115.csv" in message and what in message, name
        assert len(message) <= MESSAGE_MAX_CHARS, name
    values = _values(many) | _values(renamed) | _values(bad_rows) | set(B)
    for text in [*(m for m, _ in refused.values()), reasons, report]:
        assert not [v for v in values if v in text]
        assert "<redacted>" not in text  # nothing left to mask: values never got in


def test_an_error_is_capped_in_size(tmp_path):
    from wi_pipeline.lib.privacy import MESSAGE_MAX_CHARS

    path = write_extract(tmp_path / ("x" * 200), "GM0599", "bijstand", [])
    long_header = "BSN;REGELING;INGANGSDATUM;EINDDATUM;" + ";".join(
        f"KOLOM_{i}" for i in range(2000)
    )
    path.write_text(long_header + "\n" + ";".join(["x"] * 2004) + "\n")
    with pytest.raises(ExtractError) as err:
        ingest_register(path, REGISTERS["bijstand"], "GM0599", KEY)
    assert "missing column(s) DOSSIERNUMMER" in str(err.value) and "more" in str(err.value)
    assert len(str(err.value)) <= MESSAGE_MAX_CHARS


def test_a_last_line_without_a_line_break_is_a_cut_off_file_and_refused(tmp_path):
    lines = [HEADER, f"{B[0]};D1;PW;01-02-2020;15-03-2021", f"{B[1]};D2;PW;01-02-2020;15-03-2021"]
    cut = ("\n".join(lines))[: -len(";15-03-2021")]  # cut right after the last row's start date
    message = _refusal(tmp_path, cut.encode())
    assert "GM0599/bijstand/20250115.csv" in message and "last line (line 3)" in message
    assert "does not end with a line break" in message and "cut off" in message
    # with CRLF line endings too, and a file of the header alone
    assert "line 2" in _refusal(tmp_path, f"{HEADER}\r\n{B[0]};D1;PW;01-02-2020;\r".encode())
    assert "line 1" in _refusal(tmp_path, HEADER.encode())


def test_the_encoding_hint_says_what_the_file_looks_like(tmp_path):
    """Latin-1 only when the bytes read as Latin-1 text; UTF-16, zip and binary files are named as such."""
    cases = [
        ((HEADER + "\n").encode("utf-16"), "UTF-16 text (it starts with a UTF-16 byte-order mark)"),
        ((HEADER + "\n").encode("utf-16-le"), "UTF-16 text without a byte-order mark"),
        ((HEADER + "\n").encode("utf-16-be"), "UTF-16 text without a byte-order mark"),
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)), "a zip archive"),
        (bytes(range(256)) * 4, "a binary file"),
        (b"\x89\xff\xd8" + bytes(range(128, 256)) * 4, "not text in Latin-1/Windows-1252 either"),
        (
            f"{HEADER}\n{B[0]};Dossier é;PW;01-02-2020;\n".encode("cp1252"),
            "it looks like Latin-1/Windows-1252)",
        ),
    ]
    for raw, looks_like in cases:
        message = _refusal(tmp_path, raw)
        assert looks_like in message, message
        assert ("it looks like Latin-1" in message) == looks_like.startswith(
            "it looks like Latin-1"
        ), message
    assert "not valid UTF-8 at line 2" in message


def test_a_bsn_written_with_spaces_or_dots_is_read_as_its_digits(tmp_path):
    grouped = [f"{b[:4]} {b[4:6]} {b[6:]}" for b in B[:2]] + [
        f"{b[:3]}.{b[3:6]}.{b[6:]}" for b in B[2:4]
    ]
    lines = [
        HEADER,
        *(f"{g};D{i};PW;01-02-2020;" for i, g in enumerate(grouped)),
        f"{B[4]};D9;PW;01-02-2020;",
        "9999 000 123;D8;PW;01-02-2020;",
    ]
    r = ingest(tmp_path, lines)
    assert (r.rows_accepted, r.rows_quarantined, r.bsn_with_separators) == (5, 1, 4)
    assert r.accepted["pseudo_id"].tolist()[:4] == KEY.pseudonymise(pd.Series(B[:4])).tolist()
    assert r.quarantine["reason"].tolist() == [
        "BSN is not 8 or 9 digits"
    ]  # not "fails the eleven-test"


@pytest.mark.parametrize("open_end", ["31-12-9999", "99991231"])
def test_an_end_date_in_the_year_9999_is_an_open_end(tmp_path, open_end):
    r = ingest(
        tmp_path,
        [HEADER, f"{B[0]};D1;PW;01-02-2020;{open_end}", f"{B[1]};D2;PW;01-02-2020;01-03-2020"],
    )
    assert (r.rows_accepted, r.rows_quarantined, r.open_end_dates) == (2, 0, 1)
    assert pd.isna(r.accepted.loc[0, "end"]) and r.accepted.loc[1, "end"] == pd.Timestamp(
        "2020-03-01"
    )


def test_a_bsn_typed_into_a_code_column_quarantines_that_row_with_the_value_masked(tmp_path):
    from wi_pipeline.lib.privacy import scan_identifiers

    r = ingest(
        tmp_path,
        [
            HEADER,
            f"{B[0]};D1;{B[1]};01-02-2020;",
            f"{B[2]};D2;PW;01-02-2020;",
            f"{B[3]};D3;12345678;01-02-2020;",
        ],
    )  # eight digits, not a BSN with its leading zero
    q = r.quarantine.set_index("line_number")
    assert r.rows_accepted == 1 and q.loc[2, "REGELING"] == "<redacted>"
    assert q.loc[4, "REGELING"] == "12345678"
    assert q.loc[4, "reason_code"] == "unknown_code"
    assert (
        q.loc[2, "reason"]
        == "unknown code in REGELING; REGELING holds what looks like a BSN (masked)"
    )
    assert q.loc[2, "reason_code"] == "unknown_code; bsn_in_field"
    assert scan_identifiers(r.quarantine) == []
    assert not r.quarantine.astype(str).apply(lambda c: c.str.contains(B[1])).any().any()


# --- reason codes -------------------------------------------------------------------------------------------


def test_every_quarantined_row_has_reason_codes_from_the_vocabulary_in_the_order_of_its_reasons(
    tmp_path,
):
    from wi_pipeline.lib.ingest import REASON_CODES

    r = ingest(
        tmp_path,
        [
            HEADER,
            f"{B[0]};D1;PW;01-02-2020;",
            f"{B[0]};D1;PW;01-02-2020;",
            ";D2;XX;2020;",
            "123456789;D3;PW;01-02-2026;",
            f"{B[1]};D4;PW;01-02-2020;01-01-2020",
            f"{B[2]};D5;PW;01-01-1899;",
            f"{B[3]};D6;PW;01-02-2020;;x",
            "12x456789;D7;PW;01-02-2020;",
        ],
    )
    q = r.quarantine.set_index("line_number")
    codes = q["reason_code"].str.split("; ")
    assert all(len(c) == len(w) for c, w in zip(codes, q["reason"].str.split("; ")))
    assert set(codes.explode()) <= set(REASON_CODES)
    assert codes.map(set).to_dict() == {
        3: {"duplicate_row"},
        4: {"bsn_empty", "not_a_date", "unknown_code"},
        5: {"bsn_eleven_test", "start_after_extract"},
        6: {"end_before_start"},
        7: {"date_out_of_range"},
        8: {"field_count"},
        9: {"bsn_not_digits"},
    }
    assert (
        q.loc[5, "reason"].split("; ")[codes[5].index("bsn_eleven_test")]
        == "BSN fails the eleven-test"
    )


def test_linkage_counts_invalid_bsns_by_code_so_a_reworded_reason_cannot_change_the_count(tmp_path):
    from wi_pipeline.lib.linkage import link_registers

    r = ingest(
        tmp_path,
        [
            HEADER,
            f"{B[0]};D1;PW;01-02-2020;",
            ";D2;PW;01-02-2020;",
            "123456789;D3;PW;01-02-2020;",
            "12x;D4;PW;01-02-2020;",
            f"{B[1]};D5;XX;01-02-2020;",
        ],
    )
    key_file = pd.DataFrame(
        {"pseudo_id": r.accepted["pseudo_id"], "RINPERSOONS": "R", "RINPERSOON": "000000001"}
    )

    def invalid(quarantine):
        rates = link_registers({"bijstand": r.accepted}, {"bijstand": quarantine}, key_file).rates
        return int(rates.loc[0, "failed_eleven_test"])

    assert invalid(r.quarantine) == 3
    reworded = r.quarantine.assign(
        reason="BSN ongeldig: elfproef / leeg"
    )  # new words for every row
    assert invalid(reworded) == 3
    assert (
        invalid(r.quarantine.assign(reason="BSN fails the eleven-test")) == 3
    )  # the old words on every row
