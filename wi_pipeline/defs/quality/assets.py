"""Data-quality reports: one per municipality, and the G4 comparison once all are in."""

import json

import pandas as pd
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetRecordsFilter,
    AutomationCondition,
    DagsterEventType,
    Failure,
    MetadataValue,
    Output,
    RunsFilter,
    asset,
)

from wi_pipeline.defs.history import latest_metadata
from wi_pipeline.defs.keys import (
    DATA_QUALITY_REPORT_KEY,
    LINKED_REGISTERS_KEY,
    PANEL_KEY,
    by_partition,
    register_key,
)
from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.defs.resources import LandingFolder
from wi_pipeline.lib.arrivals import unrecognised_files
from wi_pipeline.lib.ingest import ExtractError, current_extract
from wi_pipeline.lib.layout import REGISTERS, SRG_CATEGORIES
from wi_pipeline.lib.linkage import same_key
from wi_pipeline.lib.privacy import redact_identifiers
from wi_pipeline.lib.quality import SuiteError
from wi_pipeline.lib.quality_report import (
    check_rows,
    g4_profile,
    g4_report,
    load_g4_tolerances,
    municipality_report,
)

REPORT_KEY = DATA_QUALITY_REPORT_KEY
G4_REPORT_KEY = AssetKey(["reports", "g4_data_quality"])
PROFILE_COLUMNS = [
    "pseudo_id",
    "month",
    "on_bijstand",
    "single_parent",
    "sex",
    "age",
    "bijstand_duration_months",
    *[f"instr_{c}" for c in SRG_CATEGORIES],
]


REPORT_JOB = "data_quality_report"


def _latest_pipeline_run(instance, gemeente: str, this_run: str):
    """The municipality's latest run other than a report run: the one the report is about."""

    def is_report(r) -> bool:
        return (
            r.run_id == this_run
            or r.job_name == REPORT_JOB
            or bool(r.asset_selection and set(r.asset_selection) <= {REPORT_KEY})
        )

    runs = instance.get_runs(RunsFilter(tags={"dagster/partition": gemeente}), limit=20)
    return next((r for r in runs if not is_report(r)), None)


def _run_outcome(instance, run) -> tuple[dict, list[dict]]:
    """What a run did: its status, step failures (messages name file and column), skipped assets and
    every asset-check evaluation, with the suite's rules when it was a Great Expectations check."""
    if run is None:
        return {"status": "no run yet", "failures": [], "not_run": []}, []
    events = instance.all_logs(
        run.run_id,
        of_type={
            DagsterEventType.ASSET_CHECK_EVALUATION,
            DagsterEventType.STEP_START,
            DagsterEventType.STEP_FAILURE,
            DagsterEventType.STEP_SKIPPED,
        },
    )
    failures, skipped, started, evaluations = [], [], set(), []
    for record in events:
        event = record.dagster_event
        if event.event_type == DagsterEventType.STEP_FAILURE:
            data = event.step_failure_data
            user = data.user_failure_data
            error = (
                data.error.cause or data.error if data.error else None
            )  # the user's error, not Dagster's wrapper
            message = (
                user.description if user and user.description else error.message if error else ""
            )
            failures.append(f"`{event.step_key}`: {redact_identifiers(message.strip())}")
        elif event.event_type == DagsterEventType.STEP_SKIPPED:
            skipped.append(event.step_key)
        elif event.event_type == DagsterEventType.STEP_START:
            started.add(event.step_key)
        else:
            ev = event.event_specific_data
            records = ev.metadata.get("records_json")
            evaluations.append(
                {
                    "asset": ev.asset_key.to_user_string(),
                    "check": ev.check_name,
                    "severity": "error" if ev.severity == AssetCheckSeverity.ERROR else "warn",
                    "passed": ev.passed,
                    "records": records.value if records is not None else None,
                    "description": getattr(ev, "description", None) or "",
                }
            )
    # a step whose upstream failed never starts (and is not always logged as skipped)
    plan = (
        instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        if run.execution_plan_snapshot_id
        else None
    )
    planned = (plan.step_keys_to_execute or [s.key for s in plan.steps]) if plan else []
    not_run = sorted(
        set(skipped) | ({k for k in planned if k not in started} if run.is_finished else set())
    )
    return {
        "run_id": run.run_id,
        "status": run.status.value,
        "failures": failures,
        "not_run": not_run,
    }, evaluations


def _previous_summary(instance, gemeente: str, extracts_json: str) -> pd.DataFrame | None:
    """The summary of the latest report on another set of extracts: the previous extract's checks."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=REPORT_KEY, asset_partitions=[gemeente]), limit=50
    ).records
    for record in records:
        md = record.asset_materialization.metadata
        if (
            md.get("extracts_json") is not None
            and md["extracts_json"].value != extracts_json
            and "summary_json" in md
        ):
            return pd.DataFrame(json.loads(md["summary_json"].value))
    return None


@asset(
    key=REPORT_KEY,
    partitions_def=g4_partitions,
    group_name="reports",
    kinds={"markdown"},
    owners=["team:data-engineering"],
    description="Data-quality report of one municipality, made after each of its runs, failed "
    "runs above all: "
    "which extract is current, what stopped the run (file, column, line), rows in, accepted and quarantined, "
    "linkage rates, every failing check and expectation with counts, and what changed since the "
    "previous extract. "
    "Internal: not published.",
)
def data_quality(context: AssetExecutionContext, landing: LandingFolder) -> str:
    gemeente = context.partition_key
    instance = context.instance
    about = context.run.tags.get(
        "wi/about_run"
    )  # set by the report sensors: the run that just ended
    run, evaluations = _run_outcome(
        instance,
        instance.get_run_by_id(about)
        if about
        else _latest_pipeline_run(instance, gemeente, context.run_id),
    )
    extracts = {}
    for name in REGISTERS:
        try:
            extracts[name] = current_extract(landing.root, gemeente, name).name
        except ExtractError:
            extracts[name] = "none (purged or not delivered)"
    ingestion, quarantined = [], {}
    for name in REGISTERS:
        md = latest_metadata(instance, register_key(name), gemeente)
        if md:
            ingestion.append(
                {
                    "register": name,
                    "stored extract": md.get("extract", ""),
                    "rows_in": md.get("rows_in"),
                    "accepted": md.get("rows_accepted"),
                    "quarantined": md.get("rows_quarantined"),
                }
            )
            quarantined[name] = md.get("quarantine_by_reason") or []
    linkage = latest_metadata(instance, LINKED_REGISTERS_KEY, gemeente).get("linkage_rates")
    extracts_json = json.dumps(extracts, sort_keys=True)
    report, summary = municipality_report(
        gemeente,
        run,
        check_rows(evaluations),
        pd.DataFrame(ingestion),
        getattr(linkage, "md_str", linkage),
        extracts,
        _previous_summary(instance, gemeente, extracts_json),
        unrecognised_files(landing.root, gemeente),
        quarantined,
    )
    context.add_output_metadata(
        {
            "report": MetadataValue.md(report),
            "about_run": run.get("run_id", ""),
            "run_status": run["status"],
            "failing_checks": int((~summary["success"].astype(bool)).sum()),
            "extracts_json": MetadataValue.text(extracts_json),
            "summary_json": MetadataValue.text(summary.to_json(orient="records")),
        }
    )
    return report


@asset(
    key=G4_REPORT_KEY,
    ins={"linked_panel": AssetIn(PANEL_KEY, metadata={"columns": PROFILE_COLUMNS})},
    group_name="reports",
    kinds={"markdown"},
    owners=["team:data-engineering"],
    automation_condition=AutomationCondition.eager(),
    check_specs=[
        AssetCheckSpec(
            "g4_comparable",
            asset=G4_REPORT_KEY,
            description="Key distributions of each municipality within tolerance of the pooled G4 (warning); "
            "tolerances in expectations/g4_comparison.json.",
        )
    ],
    description="Are the four cities' harmonised registers comparable? Share of single parents, "
    "women, age mix, "
    "instrument mix and spell lengths per municipality against the pooled G4.",
)
def g4_data_quality(context: AssetExecutionContext, linked_panel: dict):
    # panels pseudonymised with different keys describe different pseudonyms: never pool them
    fingerprint = same_key(by_partition(PANEL_KEY, linked_panel))
    try:
        tolerances = load_g4_tolerances()
    except SuiteError as err:
        raise Failure(description=str(err)) from None
    profiles = {gm: g4_profile(panel) for gm, panel in sorted(linked_panel.items())}
    report, records = g4_report(profiles, tolerances)
    off = [r for r in records if not r.success]
    yield Output(
        report,
        metadata={
            "report": MetadataValue.md(report),
            "outside_tolerance": len(off),
            "key_fingerprint": fingerprint or "",
        },
    )
    yield AssetCheckResult(
        check_name="g4_comparable",
        passed=not off,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "outside_tolerance": MetadataValue.md("\n".join(f"- {r.note}" for r in off) or "none")
        },
    )
