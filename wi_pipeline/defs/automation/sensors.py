"""Sensors: a new extract reruns its municipality, a CBS refresh reruns every municipality's linked
assets, and the pooled G4 assets follow their automation conditions."""

import json
from collections.abc import Sequence

from dagster import (AssetKey, AssetSelection, AssetsDefinition, AutomationConditionSensorDefinition,
                     DagsterRunStatus, DefaultSensorStatus, RunRequest, RunStatusSensorContext,
                     SensorEvaluationContext, SensorResult, SkipReason, run_status_sensor, sensor)

from wi_pipeline.defs.history import latest_metadata
from wi_pipeline.defs.jobs import POOLED_RUN_TAGS
from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.defs.resources import LandingFolder
from wi_pipeline.lib.arrivals import plan_arrivals, request_runs
from wi_pipeline.lib.layout import G4, REGISTERS

AUTOMATION_SENSOR = "g4_automation"
CBS_FOLLOWUP_SENSOR = "municipalities_after_cbs"
REPORT_SENSORS = {DagsterRunStatus.SUCCESS: "data_quality_after_success",
                  DagsterRunStatus.FAILURE: "data_quality_after_failure"}


def ingested_hashes(instance) -> dict[tuple[str, str], str]:
    """The content hash of the extract behind each register partition's latest materialisation."""
    out = {}
    for register in REGISTERS:
        for gemeente in G4:
            digest = latest_metadata(instance, AssetKey(["registers", register]), gemeente).get("extract_sha256")
            if digest:
                out[(gemeente, register)] = digest
    return out


@sensor(job_name="municipality", minimum_interval_seconds=30, default_status=DefaultSensorStatus.RUNNING,
        description="Watches the landing folder; a new or changed complete extract reruns that municipality.")
def landing_folder_sensor(context: SensorEvaluationContext, landing: LandingFolder):
    state = json.loads(context.cursor) if context.cursor else {}
    ingested = ingested_hashes(context.instance)
    plan = plan_arrivals(landing.root, state.get("seen", {}), ingested)
    new_runs, requested = request_runs(plan, state.get("requested", {}), ingested)
    for path in plan.waiting:
        context.log.info(f"waiting for {path} to be complete (size still changing, no .done marker)")
    for problem in plan.problems:
        context.log.warning(f"malformed extract, its municipality's ingestion will fail: {problem}")
    for stray in plan.unrecognised:
        context.log.warning(f"delivery outside the naming contract: {stray}")
    cursor = json.dumps({"seen": plan.seen, "requested": requested}, sort_keys=True)
    if not new_runs:
        return SensorResult(skip_reason=SkipReason("no new complete extracts"), cursor=cursor)
    return SensorResult(
        run_requests=[
            RunRequest(run_key=key, partition_key=gemeente,
                       tags={"wi/trigger": "new extract", "wi/registers": ",".join(plan.changed[gemeente])})
            for gemeente, key in new_runs.items()
        ],
        cursor=cursor,
    )


def build_automation_sensor(assets: Sequence[AssetsDefinition]) -> AutomationConditionSensorDefinition:
    """Dagster's implicit automation sensor starts stopped, so a fresh deployment would never rebuild the
    pooled assets; this one targets every asset with an automation condition and runs from the start."""
    keys = [spec.key for a in assets for spec in a.specs if spec.automation_condition is not None]
    return AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=AssetSelection.assets(*keys),
        run_tags=POOLED_RUN_TAGS,
        default_status=DefaultSensorStatus.RUNNING,
        description="Rebuilds the pooled G4 assets once their municipality partitions have updated.",
    )


def build_cbs_followup_sensor(cbs_job, municipality_job, assets: Sequence[AssetsDefinition]):
    """After the CBS tables are refreshed, rerun each municipality's assets that read them (linkage through
    effects and reports). The registers are left out: their extracts may already be purged, and a CBS refresh
    does not change them."""
    cbs_keys = [k for a in assets if a.partitions_def is None and set(a.group_names_by_key.values()) == {"cbs"}
                for k in a.keys]
    municipal = {k for a in assets if a.partitions_def == g4_partitions for k in a.keys}
    selection = sorted(AssetSelection.assets(*cbs_keys).downstream().resolve(assets) & municipal,
                       key=lambda k: k.to_user_string())

    @run_status_sensor(
        run_status=DagsterRunStatus.SUCCESS,
        name=CBS_FOLLOWUP_SENSOR,
        monitored_jobs=[cbs_job],
        request_job=municipality_job,
        default_status=DefaultSensorStatus.RUNNING,
        description="Once the CBS tables are refreshed, reruns linkage, panel, effects and reports of every G4 "
        "municipality from the stored registers.",
    )
    def municipalities_after_cbs(context: RunStatusSensorContext):
        run_id = context.dagster_run.run_id
        return [RunRequest(run_key=f"cbs-{run_id}-{gemeente}", partition_key=gemeente, asset_selection=selection,
                           tags={"wi/trigger": "CBS refresh", "wi/cbs_run": run_id})
                for gemeente in G4]

    return municipalities_after_cbs


def build_report_sensors(municipality_job, report_job) -> list:
    """After every municipality run, succeeded or failed, make its data-quality report. A failed run is
    the one a data engineer most needs the report for, and a step that depends on the failed assets
    would be skipped with them, so the report runs on its own."""

    def build(status: DagsterRunStatus):
        @run_status_sensor(
            run_status=status,
            name=REPORT_SENSORS[status],
            monitored_jobs=[municipality_job],
            request_job=report_job,
            default_status=DefaultSensorStatus.RUNNING,
            description=f"Makes the data-quality report of a municipality whose run {status.value.lower()}ed.",
        )
        def _report(context: RunStatusSensorContext):
            run = context.dagster_run
            gemeente = run.tags.get("dagster/partition")
            if gemeente not in G4:
                return SkipReason("the run was not for one G4 municipality")
            return RunRequest(run_key=f"report-{run.run_id}", partition_key=gemeente,
                              tags={"wi/trigger": "data-quality report", "wi/about_run": run.run_id})

        return _report

    return [build(status) for status in REPORT_SENSORS]
