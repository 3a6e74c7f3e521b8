"""Data-quality reports say at the top that they are internal and never published."""

import pandas as pd

from wi_pipeline.lib.quality import CheckRecord
from wi_pipeline.lib.quality_report import (
    INTERNAL_NOTICE,
    check_rows,
    g4_report,
    load_g4_tolerances,
    municipality_report,
)

PROFILE = {
    "share_single_parent": 0.3,
    "share_women": 0.5,
    "mean_spell_months": 20.0,
    "persons": 100.0,
}


def test_municipality_report_opens_with_the_internal_notice():
    ingestion = pd.DataFrame(
        [{"register": "bijstand", "rows_in": 12, "accepted": 9, "quarantined": 3}]
    )
    checks = check_rows(
        [
            {
                "asset": "registers/bijstand",
                "check": "gx_suite",
                "severity": "error",
                "passed": True,
                "records": [
                    CheckRecord(
                        "expect_column_values_to_not_be_null", "code", "error", True
                    ).to_dict()
                ],
            }
        ]
    )
    report, _ = municipality_report(
        "GM0599", {"status": "SUCCESS"}, checks, ingestion, None, {"bijstand": "x.csv"}, None
    )
    assert report.startswith(INTERNAL_NOTICE)


def test_a_blocking_failure_is_reported_with_its_rule_count_and_change_since_the_previous_extract():
    def evaluations(null_codes: int):
        record = CheckRecord(
            "expect_column_values_to_not_be_null",
            "code",
            "error",
            null_codes == 0,
            unexpected_count=null_codes,
            unexpected_percent=null_codes / 2,
        )
        return [
            {
                "asset": "registers/bijstand",
                "check": "gx_suite",
                "severity": "error",
                "passed": null_codes == 0,
                "records": [record.to_dict()],
            },
            {
                "asset": "registers/bijstand",
                "check": "no_identifiers",
                "severity": "error",
                "passed": True,
            },
        ]

    _, previous = municipality_report(
        "GM0599",
        {"status": "SUCCESS"},
        check_rows(evaluations(0)),
        pd.DataFrame(),
        None,
        {"bijstand": "20250101.csv"},
        None,
    )
    run = {
        "run_id": "abcdef123",
        "status": "FAILURE",
        "not_run": ["link_registers"],
        "failures": ["`ingest_bijstand`: blocking check(s) failed: registers/bijstand:gx_suite"],
    }
    report, summary = municipality_report(
        "GM0599",
        run,
        check_rows(evaluations(40)),
        pd.DataFrame(),
        None,
        {"bijstand": "20250201.csv"},
        previous,
    )
    assert "**FAILURE**: 1 blocking check(s) failed" in report and "`link_registers`" in report
    failing = report.split("## Failing checks")[1].split("##")[0]
    row = next(
        line
        for line in failing.splitlines()
        if "gx_suite: expect_column_values_to_not_be_null" in line
    )
    assert [c.strip() for c in row.split("|")][5:7] == ["40 unexpected rows (20.0%)", "now failing"]
    assert "now failing" in report.split("## Changes since the previous extract")[1]
    assert len(summary) == 2 and "no_identifiers" not in failing


def test_g4_report_opens_with_the_internal_notice():
    report, records = g4_report(
        {"GM0599": PROFILE, "GM0363": {**PROFILE, "share_women": 0.8}}, load_g4_tolerances()
    )
    assert report.startswith(INTERNAL_NOTICE)
    assert "GM0363 share_women" in report and any(not r.success for r in records)


def test_the_notice_says_internal_secure_environment_and_not_published():
    text = INTERNAL_NOTICE.lower()
    assert "internal working document" in text and "data engineers" in text
    assert "secure environment" in text and "not published" in text


def test_g4_tolerances_come_from_an_editable_file(tmp_path, monkeypatch):
    profiles = {"GM0599": PROFILE, "GM0363": {**PROFILE, "share_women": 0.58}}
    assert all(
        r.success for r in g4_report(profiles, load_g4_tolerances())[1]
    )  # 4 pp apart, default 10 pp
    (tmp_path / "g4_comparison.json").write_text(
        '{"tolerances": {"share_": 0.02, "mean_spell_months": 12}}'
    )
    monkeypatch.setenv("WI_EXPECTATIONS_DIR", str(tmp_path))
    report, records = g4_report(profiles, load_g4_tolerances())
    assert any(not r.success for r in records) and "`share_*` 0.02" in report


def test_a_malformed_tolerance_file_names_itself(tmp_path):
    import pytest

    from wi_pipeline.lib.quality import SuiteError

    for text in ("{ not json", '{"tolerances": {"share_": "ten"}}', '{"limits": {}}'):
        path = tmp_path / "g4.json"
        path.write_text(text)
        with pytest.raises(SuiteError, match="g4.json"):
            load_g4_tolerances(path)


def test_files_outside_the_naming_contract_have_a_section_with_the_expected_name():
    stray = [
        "landing/GM0599/bijstand/20250215_v2.csv: not named YYYYMMDD.csv, so not ingested; "
        "expected 20250215.csv"
    ]
    args = (
        "GM0599",
        {"status": "SUCCESS"},
        check_rows([]),
        pd.DataFrame(),
        None,
        {"bijstand": "20250215.csv"},
        None,
    )
    section = "## Files not ingested: named outside the landing contract"
    report, _ = municipality_report(*args, stray)
    listed = report.split(section)[1].split("##")[0]
    assert f"- {stray[0]}" in listed
    assert "_none_" in municipality_report(*args)[0].split(section)[1].split("##")[0]


def test_a_failing_check_says_what_it_found_against_its_tolerance():
    from wi_pipeline.lib.quality import row_count_within

    record = row_count_within(10_880, 5_392, 0.5)
    checks = check_rows(
        [
            {
                "asset": "registers/bijstand",
                "check": "gx_suite",
                "severity": "error",
                "passed": False,
                "records": [record.to_dict()],
            }
        ]
    )
    report, _ = municipality_report(
        "GM0599", {"status": "FAILURE"}, checks, pd.DataFrame(), None, {"bijstand": "x.csv"}, None
    )
    failing = report.split("## Failing checks")[1].split("##")[0]
    assert "row count changed +101.8% (tolerance 50%)" in failing and "nan" not in failing


def test_a_passing_run_lists_its_quarantined_rows_by_reason_with_lines_and_what_to_change():
    from wi_pipeline.lib.quality_report import quarantine_by_reason

    quarantine = pd.DataFrame(
        {
            "line_number": [17, 4, 9, 30, 2],
            "reason_code": [
                "bsn_eleven_test",
                "not_a_date",
                "bsn_eleven_test; not_a_date",
                "bsn_eleven_test",
                "bsn_eleven_test",
            ],
        }
    )
    by_reason = quarantine_by_reason(quarantine, first=3)
    assert by_reason == [
        {"reason_code": "bsn_eleven_test", "rows": 4, "first_lines": [2, 9, 17]},
        {"reason_code": "not_a_date", "rows": 2, "first_lines": [4, 9]},
    ]
    ingestion = pd.DataFrame(
        [{"register": "bijstand", "rows_in": 5_392, "accepted": 5_153, "quarantined": 239}]
    )
    checks = check_rows(
        [
            {
                "asset": "registers/bijstand",
                "check": "no_identifiers",
                "severity": "error",
                "passed": True,
            }
        ]
    )
    report, _ = municipality_report(
        "GM0599",
        {"status": "SUCCESS"},
        checks,
        ingestion,
        None,
        {"bijstand": "x.csv"},
        None,
        quarantined={"bijstand": by_reason},
    )
    assert "**passed**: every blocking check passed; 239 of 5,392 rows were set apart" in report
    section = report.split("## Quarantined rows")[1].split("##")[0]
    row = next(line for line in section.splitlines() if "eleven-test" in line)
    cells = [c.strip() for c in row.split("|")]
    assert cells[3:5] == ["4", "2, 9, 17"] and "correct it in the source system" in row
    assert "write dates as dd-mm-yyyy" in section
    assert (
        "Not found: the pseudonymised BSN is not in CBS's key file" in report
    )  # linkage losses explained
