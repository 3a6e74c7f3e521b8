"""Reruns a municipality's partition when a new, complete register extract lands."""

import json

from dagster import (AssetKey, DefaultSensorStatus, RunRequest, SensorEvaluationContext,
                     SensorResult, SkipReason, sensor)

from wi_pipeline.defs.history import latest_metadata
from wi_pipeline.defs.resources import LandingFolder
from wi_pipeline.lib.arrivals import plan_arrivals
from wi_pipeline.lib.layout import G4, REGISTERS


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
    requested = state.get("requested", {})
    plan = plan_arrivals(landing.root, state.get("seen", {}), ingested_hashes(context.instance))
    new_runs = {gm: key for gm, key in plan.runs.items() if requested.get(gm) != key}
    for path in plan.waiting:
        context.log.info(f"waiting for {path} to be complete (size still changing, no .done marker)")
    for problem in plan.problems:
        context.log.warning(f"malformed extract, its municipality's ingestion will fail: {problem}")
    cursor = json.dumps({"seen": plan.seen, "requested": {**requested, **new_runs}}, sort_keys=True)
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
