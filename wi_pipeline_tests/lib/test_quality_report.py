"""Data-quality reports say at the top that they are internal and never published."""

import pandas as pd

from wi_pipeline.lib.quality import CheckRecord, SuiteResult
from wi_pipeline.lib.quality_report import INTERNAL_NOTICE, g4_report, municipality_report

PROFILE = {"share_single_parent": 0.3, "share_women": 0.5, "mean_spell_months": 20.0, "persons": 100.0}


def test_municipality_report_opens_with_the_internal_notice():
    ingestion = pd.DataFrame([{"register": "bijstand", "rows_in": 12, "accepted": 9, "quarantined": 3}])
    rates = pd.DataFrame([{"register": "bijstand", "rows": 9, "linked": 8, "linkage_rate": 0.89}])
    suite = SuiteResult("registers_bijstand", 9, [CheckRecord("expect_column_values_to_not_be_null", "code", "error", True)])
    report, _ = municipality_report("GM0599", {"registers/bijstand": suite}, ingestion, rates, None)
    assert report.startswith(INTERNAL_NOTICE)


def test_g4_report_opens_with_the_internal_notice():
    report, records = g4_report({"GM0599": PROFILE, "GM0363": {**PROFILE, "share_women": 0.8}})
    assert report.startswith(INTERNAL_NOTICE)
    assert "GM0363 share_women" in report and any(not r.success for r in records)


def test_the_notice_says_internal_secure_environment_and_not_published():
    text = INTERNAL_NOTICE.lower()
    assert "internal working document" in text and "data engineers" in text
    assert "secure environment" in text and "not published" in text
