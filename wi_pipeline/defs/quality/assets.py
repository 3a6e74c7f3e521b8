"""Data-quality reports: one per municipality, and the G4 comparison once all are in."""

import json

import pandas as pd
from dagster import (AssetCheckResult, AssetCheckSpec, AssetExecutionContext, AssetIn, AssetKey,
                     AutomationCondition, MetadataValue, asset)

from wi_pipeline.defs.checks import suite_name
from wi_pipeline.defs.history import latest_metadata
from wi_pipeline.defs.metadata import IDENTIFIER_COLUMNS
from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.lib.layout import REGISTERS, SRG_CATEGORIES
from wi_pipeline.lib.linkage import check_same_key
from wi_pipeline.lib.quality import SuiteResult, run_suite
from wi_pipeline.lib.quality_report import g4_profile, g4_report, municipality_report

REPORT_KEY = AssetKey(["reports", "data_quality"])
G4_REPORT_KEY = AssetKey(["reports", "g4_data_quality"])
PANEL_KEY = AssetKey(["panel", "linked_panel"])
PROFILE_COLUMNS = ["pseudo_id", "month", "on_bijstand", "single_parent", "sex", "age", "bijstand_duration_months",
                   *[f"instr_{c}" for c in SRG_CATEGORIES]]


@asset(
    key=REPORT_KEY,
    ins={**{n: AssetIn(AssetKey(["registers", n])) for n in REGISTERS},
         **{f"{n}_quarantine": AssetIn(AssetKey(["registers", f"{n}_quarantine"])) for n in REGISTERS},
         "linkage_rates": AssetIn(AssetKey(["linkage", "linkage_rates"])),
         "linked_panel": AssetIn(PANEL_KEY)},
    partitions_def=g4_partitions,
    group_name="reports",
    kinds={"markdown"},
    owners=["team:data-engineering"],
    description="Data-quality report of one municipality: rows in, accepted and quarantined per extract, linkage "
    "rates, every failing check and what changed since the previous extract.",
)
def data_quality(context: AssetExecutionContext, linkage_rates: pd.DataFrame, linked_panel: pd.DataFrame,
                 **frames: pd.DataFrame) -> str:
    gemeente = context.partition_key
    results: dict[str, SuiteResult] = {}
    ingestion = []
    for name in REGISTERS:
        key = AssetKey(["registers", name])
        results[key.to_user_string()] = run_suite(frames[name], suite_name(key), identifier_columns=IDENTIFIER_COLUMNS)
        q = frames[f"{name}_quarantine"]
        ingestion.append({"register": name, "rows_in": len(frames[name]) + len(q), "accepted": len(frames[name]),
                          "quarantined": len(q)})
    results["linkage/linkage_rates"] = run_suite(linkage_rates, "linkage_linkage_rates")
    results[PANEL_KEY.to_user_string()] = run_suite(linked_panel, suite_name(PANEL_KEY), identifier_columns=IDENTIFIER_COLUMNS)
    previous_json = latest_metadata(context.instance, REPORT_KEY, gemeente).get("summary_json")
    previous = pd.DataFrame(json.loads(previous_json)) if previous_json else None
    report, summary = municipality_report(gemeente, results, pd.DataFrame(ingestion), linkage_rates, previous)
    context.add_output_metadata({
        "report": MetadataValue.md(report),
        "failing_checks": int((~summary["success"]).sum()),
        "summary_json": MetadataValue.text(summary.to_json(orient="records")),
    })
    return report


@asset(
    key=G4_REPORT_KEY,
    ins={"linked_panel": AssetIn(PANEL_KEY, metadata={"columns": PROFILE_COLUMNS})},
    group_name="reports",
    kinds={"markdown"},
    owners=["team:data-engineering"],
    automation_condition=AutomationCondition.eager(),
    check_specs=[AssetCheckSpec("g4_comparable", asset=G4_REPORT_KEY,
                                description="Key distributions of each municipality within tolerance of the pooled G4 (warning).")],
    description="Are the four cities' harmonised registers comparable? Share of single parents, women, age mix, "
    "instrument mix and spell lengths per municipality against the pooled G4.",
)
def g4_data_quality(context: AssetExecutionContext, linked_panel: dict):
    from dagster import AssetCheckSeverity, Output

    # panels pseudonymised with different keys describe different pseudonyms: never pool them
    fingerprint = check_same_key({f"{PANEL_KEY.to_user_string()}[{gm}]": panel.attrs.get("key_fingerprint")
                                  for gm, panel in linked_panel.items()})
    profiles = {gm: g4_profile(panel) for gm, panel in sorted(linked_panel.items())}
    report, records = g4_report(profiles)
    off = [r for r in records if not r.success]
    yield Output(report, metadata={"report": MetadataValue.md(report), "outside_tolerance": len(off),
                                   "key_fingerprint": fingerprint or ""})
    yield AssetCheckResult(check_name="g4_comparable", passed=not off, severity=AssetCheckSeverity.WARN,
                           metadata={"outside_tolerance": MetadataValue.md("\n".join(f"- {r.note}" for r in off) or "none")})
