"""Runs that would block a municipality or leave it behind: a run whose process died, and assets still
built from older extracts than their registers.

Dagster's run monitoring (on in dagster_home/dagster.yaml) fails runs that never start or never finish
cancelling, but finds a dead run worker only with run launchers that report on their workers (Kubernetes,
ECS, Docker); the DefaultRunLauncher of `dagster dev` does not, and `make run` executes in its own process.
A run killed with kill -9 would then stay STARTED and hold its municipality's place in the queue.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from dagster import AssetKey, DagsterEventType, DagsterRunStatus, RunsFilter
from dagster._core.events import (
    JobFailureData,
    RunFailureReason,
)  # what the UI shows as the failure reason

from wi_pipeline.defs.history import latest_metadata
from wi_pipeline.defs.keys import register_key
from wi_pipeline.defs.metadata import REGISTER_EXTRACTS
from wi_pipeline.lib.layout import REGISTERS

# a process that started this long after its run's start event is another one that got the pid
PID_REUSE_MARGIN_SECONDS = 5
# runs that still hold a partition's place in the queue or may still write it
ACTIVE = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
]


def _proc_start(pid: int) -> tuple[str, float] | None:
    """State and start time (epoch seconds) of a process from /proc; None where there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    fields = stat[stat.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces
    return fields[0], boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")


def process_alive(pid: int, started_by: float) -> bool:
    """Whether the process that had ``pid`` at time ``started_by`` still runs. A zombie (killed, not yet
    reaped) counts as dead, and so does a process that got the pid later."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        pass
    proc = _proc_start(pid)
    if proc is None:  # no /proc (macOS): the pid exists, and it may be the run's
        return True
    state, started = proc
    return state not in ("Z", "X") and started <= started_by + PID_REUSE_MARGIN_SECONDS


def fail_dead_runs(instance) -> list[str]:
    """Mark failed every STARTED run whose process is gone, and say which. The pid is the one of the run's
    start event (the run worker, or the process of `make run`); the check assumes that process ran on
    this machine, as it does with the project's local instance."""
    failed = []
    for record in instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTED])):
        run = record.dagster_run
        starts = instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.RUN_START, limit=1
        ).records
        if not starts or starts[0].event_log_entry.dagster_event is None:
            continue
        entry = starts[0].event_log_entry
        pid = entry.dagster_event.pid
        if pid is None or process_alive(pid, entry.timestamp):
            continue
        run = instance.get_run_by_id(run.run_id)
        if run is None or run.is_finished:  # it wrote its end just before it exited
            continue
        partition = run.tags.get("dagster/partition")
        what = f"run {run.run_id} ({run.job_name}{f' {partition}' if partition else ''})"
        message = (
            f"The process of this run (pid {pid}) is gone: it was killed (kill -9, out of memory, "
            "a restart of the machine or of dagster dev) and can never finish. Marked failed so the "
            "queue moves on; its stored outputs are whole, and assets left behind their registers are "
            "rebuilt by the sensor rebuild_behind_registers."
        )
        instance.report_run_failed(
            run,
            message,
            JobFailureData(error=None, failure_reason=RunFailureReason.UNEXPECTED_TERMINATION),
        )
        failed.append(f"{what}: process {pid} is gone, marked failed")
    return failed


def current_extracts(instance, gemeente: str) -> dict[str, str]:
    """register -> sha256 of the extract behind the register partition's latest materialisation."""
    out = {}
    for register in REGISTERS:
        digest = latest_metadata(instance, register_key(register), gemeente).get("extract_sha256")
        if digest:
            out[register] = digest
    return out


def behind_registers(
    instance, gemeente: str, keys: list[AssetKey]
) -> tuple[dict[str, str], list[AssetKey]]:
    """The municipality's current register extracts, and those of ``keys`` whose latest materialisation was
    built from other extracts (or was never made). Nothing is behind while no register is stored."""
    current = current_extracts(instance, gemeente)
    if not current:
        return current, []
    return current, [
        key
        for key in keys
        if latest_metadata(instance, key, gemeente).get(REGISTER_EXTRACTS) != current
    ]


def extracts_digest(extracts: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(extracts, sort_keys=True).encode()).hexdigest()[:16]


def active_run(instance, job_name: str, gemeente: str):
    runs = instance.get_runs(
        RunsFilter(job_name=job_name, statuses=ACTIVE, tags={"dagster/partition": gemeente}),
        limit=1,
    )
    return runs[0] if runs else None
