"""Runs that would block a municipality or leave it behind its registers (issue 16, items 8 and 9)."""

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from dagster import (
    AssetKey,
    AssetMaterialization,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    DagsterRunStatus,
    MetadataValue,
    build_sensor_context,
    instance_for_test,
    job,
    op,
)
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteJobOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.test_utils import create_run_for_test
from dagster._daemon.run_coordinator.queued_run_coordinator_daemon import QueuedRunCoordinatorDaemon

from wi_pipeline.definitions import defs
from wi_pipeline.defs.automation.runs import fail_dead_runs, process_alive
from wi_pipeline.defs.automation.sensors import DEAD_RUN_SENSOR, MAX_REBUILDS, REBUILD_SENSOR
from wi_pipeline.defs.metadata import REGISTER_EXTRACTS
from wi_pipeline.lib.layout import REGISTERS

REPO_ROOT = Path(__file__).resolve().parents[2]
PARTITION = {"dagster/partition": "GM0599"}


@op
def hold(context):
    Path(os.environ["WI_TEST_STARTED"]).touch()
    time.sleep(300)


@job(name="municipality")
def municipality_holding_on():
    hold()


def _run_in_own_process(instance, started: Path) -> None:
    """A municipality run as `make run` executes it, in a process of its own, holding on in its step. The
    process is forked, with the instance already open: importing Dagster again takes seconds."""
    os.environ["WI_TEST_STARTED"] = str(started)
    municipality_holding_on.execute_in_process(instance=instance, tags=PARTITION)


def _queued_run(instance, tags):
    """A run as the daemon's run queue holds it: queued runs name the code location they come from."""
    origin = RemoteJobOrigin(
        RemoteRepositoryOrigin(
            RegisteredCodeLocationOrigin("wi_pipeline.definitions"), "__repository__"
        ),
        "municipality",
    )
    return create_run_for_test(
        instance,
        job_name="municipality",
        status=DagsterRunStatus.QUEUED,
        tags=tags,
        remote_job_origin=origin,
    )


def _dequeue(instance):
    """One pass of the daemon's run queue, as `dagster dev` makes every few seconds."""
    with QueuedRunCoordinatorDaemon(interval_seconds=1) as daemon:
        list(
            daemon.run_iteration(
                SimpleNamespace(instance=instance, create_request_context=lambda: None)
            )
        )


def test_process_alive_tells_a_dead_or_reused_pid_from_a_running_one():
    assert process_alive(os.getpid(), time.time())
    assert not process_alive(
        os.getpid(), started_by=0
    )  # this process started later: it only has the pid
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    child.kill()
    time.sleep(0.2)  # killed, not yet reaped: a zombie
    assert not process_alive(child.pid, time.time())
    child.wait()
    assert not process_alive(child.pid, time.time())


@pytest.fixture
def fast_tmp():
    """A folder in memory where there is one: an instance's SQLite tables take seconds on a busy disk."""
    with tempfile.TemporaryDirectory(
        dir="/dev/shm" if os.path.isdir("/dev/shm") else None
    ) as folder:
        yield Path(folder)


def test_a_run_killed_with_kill_9_is_failed_and_the_next_run_of_its_municipality_dequeues(fast_tmp):
    config = yaml.safe_load((REPO_ROOT / "dagster_home" / "dagster.yaml").read_text())
    overrides = {
        "run_coordinator": config["run_coordinator"],
        "run_monitoring": config["run_monitoring"],
        "run_launcher": {"module": "dagster._core.test_utils", "class": "MockedRunLauncher"},
    }
    home = fast_tmp / "dagster_home"
    home.mkdir()
    started = fast_tmp / "started"
    with instance_for_test(overrides=overrides, temp_dir=str(home)) as instance:
        worker = multiprocessing.get_context("fork").Process(
            target=_run_in_own_process, args=(instance, started)
        )
        worker.start()
        try:
            deadline = time.time() + 60
            while not started.exists():
                assert worker.is_alive() and time.time() < deadline, (
                    "the worker did not start its run"
                )
                time.sleep(0.05)
            [run] = instance.get_runs()
            assert run.status == DagsterRunStatus.STARTED
            queued = _queued_run(instance, PARTITION)
            assert fail_dead_runs(instance) == []  # alive: left alone
        finally:
            os.kill(worker.pid, signal.SIGKILL)
            worker.join()
        _dequeue(instance)
        assert (
            instance.get_run_by_id(run.run_id).status == DagsterRunStatus.STARTED
        )  # stays so on its own
        assert (
            instance.get_run_by_id(queued.run_id).status == DagsterRunStatus.QUEUED
        )  # and blocks the queue

        sensor = defs.get_repository_def().get_sensor_def(DEAD_RUN_SENSOR)
        tick = sensor.evaluate_tick(build_sensor_context(instance=instance))
        assert run.run_id in tick.skip_message and "marked failed" in tick.skip_message
        assert instance.get_run_by_id(run.run_id).status == DagsterRunStatus.FAILURE
        [failure] = instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.RUN_FAILURE
        ).records
        assert f"pid {worker.pid}" in failure.event_log_entry.message
        _dequeue(instance)
        assert instance.get_run_by_id(queued.run_id).status == DagsterRunStatus.STARTING
        assert instance.run_launcher.did_run_launch(queued.run_id)
        assert fail_dead_runs(instance) == []  # a run is failed once


# what rebuild_behind_registers compares: every municipal asset downstream of the registers
DOWNSTREAM = [
    AssetKey(["effects", "effect_table"]),
    AssetKey(["linkage", "linkage_quarantine"]),
    AssetKey(["linkage", "linkage_rates"]),
    AssetKey(["linkage", "linked_registers"]),
    AssetKey(["panel", "linked_panel"]),
    AssetKey(["reports", "assignment_rule"]),
    AssetKey(["reports", "policy_report"]),
]


def _registers(instance, extracts):
    for register, digest in extracts.items():
        instance.report_runless_asset_event(
            AssetMaterialization(
                AssetKey(["registers", register]),
                partition="GM0599",
                metadata={"extract_sha256": digest},
            )
        )


def _built(instance, keys, extracts):
    for key in keys:
        instance.report_runless_asset_event(
            AssetMaterialization(
                key, partition="GM0599", metadata={REGISTER_EXTRACTS: MetadataValue.json(extracts)}
            )
        )


def _tick(instance, cursor):
    repo = defs.get_repository_def()
    context = build_sensor_context(instance=instance, cursor=cursor, repository_def=repo)
    result = repo.get_sensor_def(REBUILD_SENSOR).evaluate_tick(context)
    for request in result.run_requests:  # the daemon creates the requested run, queued
        _queued_run(instance, {**request.tags, "dagster/partition": request.partition_key})
    return result.run_requests, result.cursor


def _end_runs(instance, event_type=DagsterEventType.RUN_FAILURE):
    for run in instance.get_runs():
        if not run.is_finished:
            instance.report_dagster_event(
                DagsterEvent(event_type.value, job_name=run.job_name), run_id=run.run_id
            )


def test_a_municipality_left_behind_its_registers_is_rebuilt_once_and_then_left_alone():
    instance = DagsterInstance.ephemeral()
    old = {register: f"old-{register}" for register in REGISTERS}
    new = {**old, "bijstand": "new-bijstand"}
    _registers(instance, old)
    _built(instance, DOWNSTREAM, old)
    requests, cursor = _tick(instance, None)
    assert requests == []  # built from the registers' extracts
    # a run stored the registers of a new extract, then died: panel and effects stay on the old one
    _registers(instance, new)
    requests, cursor = _tick(instance, cursor)
    assert len(requests) == 1
    [request] = requests
    assert request.partition_key == "GM0599" and sorted(request.asset_selection) == sorted(
        DOWNSTREAM
    )
    assert not any(
        k.path[0] == "registers" for k in request.asset_selection
    )  # their extracts may be purged
    defs.resolve_job_def("municipality").get_subset(asset_selection=set(request.asset_selection))
    assert _tick(instance, cursor)[0] == []  # its run is queued: nothing more
    # rebuilt from the new extracts: none
    _built(instance, DOWNSTREAM, new)
    _end_runs(instance, DagsterEventType.RUN_SUCCESS)
    requests, cursor = _tick(instance, cursor)
    assert requests == []
    # a run that died in the effects: only what is behind, and what depends on it, is rebuilt
    newer = {**new, "wmo": "new-wmo"}
    _registers(instance, newer)
    _built(instance, DOWNSTREAM[1:5], newer)
    [request], cursor = _tick(instance, cursor)
    assert sorted(request.asset_selection) == [
        AssetKey(["effects", "effect_table"]),
        AssetKey(["reports", "assignment_rule"]),
        AssetKey(["reports", "policy_report"]),
    ]


def test_a_rebuild_that_keeps_failing_is_not_requested_for_ever():
    instance = DagsterInstance.ephemeral()
    old = {register: f"old-{register}" for register in REGISTERS}
    _registers(instance, old)
    _built(instance, DOWNSTREAM, old)
    _registers(instance, {**old, "bijstand": "new-bijstand"})
    keys, cursor = [], None
    for _ in range(MAX_REBUILDS + 2):
        requests, cursor = _tick(instance, cursor)
        keys += [r.run_key for r in requests]
        _end_runs(instance)  # each rebuild fails
    assert len(keys) == MAX_REBUILDS and len(set(keys)) == MAX_REBUILDS
    # a new extract is a new chance
    _registers(instance, {**old, "bijstand": "newer-bijstand"})
    assert len(_tick(instance, cursor)[0]) == 1
