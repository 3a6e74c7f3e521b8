"""Sensors: a new extract reruns its municipality, a CBS refresh reruns every municipality's linked
assets, and the pooled G4 assets follow their automation conditions. Runs whose process died are
failed, and what a failed run left behind its registers is rebuilt."""

import json
from collections.abc import Sequence

from dagster import (
    AssetsDefinition,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunRequest,
    RunStatusSensorContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_status_sensor,
    sensor,
)

from wi_pipeline.defs.automation.runs import (
    active_run,
    behind_registers,
    current_extracts,
    extracts_digest,
    fail_dead_runs,
)
from wi_pipeline.defs.jobs import POOLED_RUN_TAGS
from wi_pipeline.defs.keys import DATA_QUALITY_REPORT_KEY
from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.defs.resources import LandingFolder, PseudonymisationKey
from wi_pipeline.lib.arrivals import plan_arrivals, request_runs
from wi_pipeline.lib.layout import G4
from wi_pipeline.lib.pseudonymise import PseudonymisationError

AUTOMATION_SENSOR = "g4_automation"
CBS_FOLLOWUP_SENSOR = "municipalities_after_cbs"
DEAD_RUN_SENSOR = "dead_run_monitor"
REBUILD_SENSOR = "rebuild_behind_registers"
MAX_REBUILDS = 2
REPORT_SENSORS = {
    DagsterRunStatus.SUCCESS: "data_quality_after_success",
    DagsterRunStatus.FAILURE: "data_quality_after_failure",
}


def ingested_hashes(instance) -> dict[tuple[str, str], str]:
    """The content hash of the extract behind each register partition's latest materialisation."""
    return {
        (gemeente, register): digest
        for gemeente in G4
        for register, digest in current_extracts(instance, gemeente).items()
    }


@sensor(
    job_name="municipality",
    minimum_interval_seconds=30,
    default_status=DefaultSensorStatus.RUNNING,
    description="Watches the landing folder; a new or changed complete extract reruns that municipality.",
)
def landing_folder_sensor(
    context: SensorEvaluationContext, landing: LandingFolder, pseudonym_key: PseudonymisationKey
):
    try:
        pseudonym_key.get()  # another key than the warehouse's: no run is started, the cursor stays
    except PseudonymisationError as err:
        context.log.warning(str(err))
        return SkipReason(f"not started: {err}")
    state = json.loads(context.cursor) if context.cursor else {}
    ingested = ingested_hashes(context.instance)
    plan = plan_arrivals(landing.root, state.get("seen", {}), ingested)
    new_runs, requested = request_runs(plan, state.get("requested", {}), ingested)
    if plan.first_seen:
        context.log.info(
            f"{len(plan.first_seen)} extract(s) seen for the first time, e.g. "
            f"{plan.first_seen[0]}: complete once their size is unchanged at the next look "
            "(or with a .done marker)"
        )
    for path in plan.waiting:
        context.log.info(
            f"waiting for {path} to be complete (size still changing, no .done marker)"
        )
    for problem in plan.problems:
        context.log.warning(f"malformed extract, its municipality's ingestion will fail: {problem}")
    for stray in plan.unrecognised:
        context.log.warning(f"delivery outside the naming contract: {stray}")
    cursor = json.dumps({"seen": plan.seen, "requested": requested}, sort_keys=True)
    if not new_runs:
        return SensorResult(skip_reason=SkipReason("no new complete extracts"), cursor=cursor)
    return SensorResult(
        run_requests=[
            RunRequest(
                run_key=key,
                partition_key=gemeente,
                tags={
                    "wi/trigger": "new extract",
                    "wi/registers": ",".join(plan.changed[gemeente]),
                },
            )
            for gemeente, key in new_runs.items()
        ],
        cursor=cursor,
    )


def build_automation_sensor(
    assets: Sequence[AssetsDefinition],
) -> AutomationConditionSensorDefinition:
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
    cbs_keys = [
        k
        for a in assets
        if a.partitions_def is None and set(a.group_names_by_key.values()) == {"cbs"}
        for k in a.keys
    ]
    municipal = {k for a in assets if a.partitions_def == g4_partitions for k in a.keys}
    selection = sorted(
        AssetSelection.assets(*cbs_keys).downstream().resolve(assets) & municipal,
        key=lambda k: k.to_user_string(),
    )

    @run_status_sensor(
        run_status=DagsterRunStatus.SUCCESS,
        name=CBS_FOLLOWUP_SENSOR,
        monitored_jobs=[cbs_job],
        request_job=municipality_job,
        default_status=DefaultSensorStatus.RUNNING,
        description="Once the CBS tables are refreshed, reruns linkage, panel, effects and "
        "reports of every G4 "
        "municipality from the stored registers.",
    )
    def municipalities_after_cbs(context: RunStatusSensorContext):
        run_id = context.dagster_run.run_id
        return [
            RunRequest(
                run_key=f"cbs-{run_id}-{gemeente}",
                partition_key=gemeente,
                asset_selection=selection,
                tags={"wi/trigger": "CBS refresh", "wi/cbs_run": run_id},
            )
            for gemeente in G4
        ]

    return municipalities_after_cbs


def build_report_sensors(report_job) -> list:
    """After every run of a municipality's partition, succeeded or failed, make its data-quality report:
    the municipality job's, and a one-off materialisation from the UI too. A failed run is the one a
    data engineer most needs the report for, and a step that depends on the failed assets would be
    skipped with them, so the report runs on its own."""

    def build(status: DagsterRunStatus):
        @run_status_sensor(
            run_status=status,
            name=REPORT_SENSORS[status],
            # no monitored_jobs: every job of this code location, one-off UI materialisations included
            request_job=report_job,
            default_status=DefaultSensorStatus.RUNNING,
            description="Makes the data-quality report of a municipality whose run "
            f"{status.value.lower()}ed.",
        )
        def _report(context: RunStatusSensorContext):
            run = context.dagster_run
            gemeente = run.tags.get("dagster/partition")
            if run.job_name == report_job.name:
                return SkipReason("a data-quality report run: no report about a report")
            if gemeente not in G4:
                return SkipReason("the run was not for one G4 municipality")
            return RunRequest(
                run_key=f"report-{run.run_id}",
                partition_key=gemeente,
                tags={"wi/trigger": "data-quality report", "wi/about_run": run.run_id},
            )

        return _report

    return [build(status) for status in REPORT_SENSORS]


@sensor(
    name=DEAD_RUN_SENSOR,
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description="Every minute, marks failed the started runs whose process is gone (killed with kill -9, "
    "out of memory, a restart), so they stop holding their municipality's place in the run queue.",
)
def dead_run_monitor(context: SensorEvaluationContext):
    failed = fail_dead_runs(context.instance)
    for line in failed:
        context.log.warning(line)
    return SkipReason("; ".join(failed) if failed else "every started run's process is alive")


def build_rebuild_sensor(municipality_job, assets: Sequence[AssetsDefinition]):
    """Reruns what a municipality still has built from older extracts than its registers: after a run that
    died or failed once its registers were stored, nothing else would, since the landing sensor sees the
    extracts as ingested. The registers are left out (their extracts may be purged). Each set of register
    extracts gets at most MAX_REBUILDS runs, so a failure that repeats does not loop; the tick log says so."""
    registers = [
        k
        for a in assets
        if a.partitions_def == g4_partitions and set(a.group_names_by_key.values()) == {"registers"}
        for k in a.keys
    ]
    municipal = {k for a in assets if a.partitions_def == g4_partitions for k in a.keys} - {
        DATA_QUALITY_REPORT_KEY
    }
    downstream = (AssetSelection.assets(*registers).downstream().resolve(assets) & municipal) - set(
        registers
    )
    keys = sorted(downstream, key=lambda k: k.to_user_string())
    nodes = [set(a.keys) for a in assets if set(a.keys) & downstream]
    # an asset behind its registers is rebuilt with what depends on it, and a multi-asset whole
    follows = {}
    for key in keys:
        below = AssetSelection.assets(key).downstream().resolve(assets) & downstream
        follows[key] = set().union(*(node for node in nodes if node & below))

    @sensor(
        name=REBUILD_SENSOR,
        job=municipality_job,
        minimum_interval_seconds=60,
        default_status=DefaultSensorStatus.RUNNING,
        description="Reruns linkage, panel, effects and the assignment rule of a municipality while they "
        "are built from older extracts than its stored registers (after a run that died or failed "
        f"half-way), at most {MAX_REBUILDS} times per set of extracts.",
    )
    def rebuild_behind_registers(context: SensorEvaluationContext):
        state = json.loads(context.cursor) if context.cursor else {}
        requests = []
        for gemeente in G4:
            current, behind = behind_registers(context.instance, gemeente, keys)
            if not behind:
                state.pop(gemeente, None)
                continue
            names = ", ".join(k.to_user_string() for k in behind)
            run = active_run(context.instance, municipality_job.name, gemeente)
            if run is not None:
                context.log.info(
                    f"{gemeente}: {names} behind its registers; waiting for run {run.run_id}"
                )
                continue
            digest = extracts_digest(current)
            tried = state.get(gemeente, {})
            n = tried.get("n", 0) if tried.get("extracts") == digest else 0
            if n >= MAX_REBUILDS:
                context.log.warning(
                    f"{gemeente}: {names} still built from older extracts than its "
                    f"registers after {n} rebuild runs; not requested again for these "
                    f"extracts. See the failed runs of {gemeente}, fix the cause and "
                    "materialise them by hand."
                )
                continue
            selection = sorted(
                set().union(*(follows[k] for k in behind)), key=lambda k: k.to_user_string()
            )
            context.log.info(
                f"{gemeente}: {names} built from older extracts than its registers; rebuilding "
                f"(attempt {n + 1} of {MAX_REBUILDS})"
            )
            state[gemeente] = {"extracts": digest, "n": n + 1}
            requests.append(
                RunRequest(
                    run_key=f"rebuild-{gemeente}-{digest}-{n + 1}",
                    partition_key=gemeente,
                    asset_selection=selection,
                    tags={"wi/trigger": "behind its registers", "wi/register_extracts": digest},
                )
            )
        cursor = json.dumps(state, sort_keys=True)
        if not requests:
            return SensorResult(
                skip_reason=SkipReason(
                    "every municipality is built from its registers' extracts, or waiting"
                ),
                cursor=cursor,
            )
        return SensorResult(run_requests=requests, cursor=cursor)

    return rebuild_behind_registers
