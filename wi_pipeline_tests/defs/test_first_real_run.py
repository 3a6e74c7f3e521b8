"""From the demo to real extracts with `make run`: each warehouse has its own history and one key.

The runs go through `wi_pipeline.run.main`, as `make run` does, with the plan cut down to what the
history and the key decide: the bijstand ingestion of one municipality (the rest is covered by
test_pipeline.py). DAGSTER_HOME is shared between the runs, as the Makefile exports it.
"""

import hashlib
import os
import shutil

import pytest
from dagster import AssetKey

from wi_pipeline import run
from wi_pipeline.definitions import make_definitions
from wi_pipeline.defs.jobs import REBUILD_JOB
from wi_pipeline.lib.layout import G4
from wi_pipeline.lib.pseudonymise import (
    DEMO_KEY,
    KEY_ENV_VAR,
    WAREHOUSE_KEY_FILE,
    PseudonymKey,
    warehouse_fingerprint,
)
from wi_pipeline.synthetic.config import SyntheticConfig
from wi_pipeline.synthetic.extracts import write_landing
from wi_pipeline.synthetic.world import simulate_world
from wi_pipeline_tests.helpers import write_extract

GM = "GM0599"
REAL_KEY = "first-real-run-key-" + "r" * 32
OTHER_KEY = "another-project-key-" + "o" * 32
INGESTION = [AssetKey(["registers", "bijstand"]), AssetKey(["registers", "bijstand_quarantine"])]


@pytest.fixture
def env(tmp_path, monkeypatch):
    """One DAGSTER_HOME for every run (the Makefile exports it), and a plan of register ingestion only."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "shared_dagster_home"))
    monkeypatch.setenv("WI_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv(KEY_ENV_VAR, raising=False)
    monkeypatch.setattr(
        run, "run_plan", lambda rebuild, jobs: [("municipality", gm, INGESTION) for gm in plan]
    )
    plan = [GM]

    def make_run(landing, warehouse, key=None, gemeenten=(GM,)):
        monkeypatch.setenv("WI_LANDING_DIR", str(landing))
        monkeypatch.setenv("WI_WAREHOUSE_DIR", str(warehouse))
        if key:
            monkeypatch.setenv(KEY_ENV_VAR, key)
        else:
            monkeypatch.delenv(KEY_ENV_VAR, raising=False)
        plan[:] = gemeenten
        return run.main([])

    return make_run


def _state(folder) -> dict:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_demo_then_real_extracts_at_another_scale_with_their_own_warehouse_and_key(
    env, synthetic_landing, tmp_path, capsys
):
    demo = tmp_path / "demo_landing"
    shutil.copytree(synthetic_landing[0], demo)  # scale 0.01
    assert env(demo, tmp_path / "demo_warehouse") == 0
    out = capsys.readouterr().out
    real = tmp_path / "real_landing"  # twice the demo's size: +100% rows against the demo's extract
    write_landing(simulate_world(SyntheticConfig(scale=0.02, seed=11)), real)
    assert env(real, tmp_path / "real_warehouse", key=REAL_KEY) == 0, capsys.readouterr()
    assert "row count changed" not in capsys.readouterr().err
    # one progress line for the step, with its time, and no Dagster debug lines on the console
    assert f"municipality {GM} {G4[GM]}" in out and " ok " in out and "DEBUG" not in out
    [log] = (tmp_path / "demo_warehouse" / "dagster_home" / "run_logs").glob("run-*.log")
    assert "STEP_SUCCESS" in log.read_text() and str(log) in out
    assert warehouse_fingerprint(tmp_path / "demo_warehouse") == PseudonymKey(DEMO_KEY).fingerprint
    assert warehouse_fingerprint(tmp_path / "real_warehouse") == PseudonymKey(REAL_KEY).fingerprint
    # each warehouse's runs are in its own instance (what `make ui` shows for it)
    assert list((tmp_path / "real_warehouse" / "dagster_home").glob("history/runs/*.db"))


def test_a_run_with_a_key_other_than_the_warehouses_refuses_before_writing(
    env, synthetic_landing, tmp_path, capsys
):
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    shutil.copytree(synthetic_landing[0], landing)
    assert env(landing, warehouse, key=REAL_KEY) == 0
    capsys.readouterr()
    before = _state(warehouse)
    assert WAREHOUSE_KEY_FILE in before
    for key in (OTHER_KEY, None):  # another key, and no key at all (the demo key)
        assert env(landing, warehouse, key=key) == 2
        err = capsys.readouterr().err
        assert (
            PseudonymKey(REAL_KEY).fingerprint in err
            and PseudonymKey(key or DEMO_KEY).fingerprint in err
        )
        assert REAL_KEY not in err and OTHER_KEY not in err and "Traceback" not in err
        assert "WI_WAREHOUSE_DIR" in err and _state(warehouse) == before


def test_a_refused_key_stops_the_later_jobs_and_says_why_without_stack_traces(
    env, tmp_path, capsys
):
    landing = tmp_path / "landing"
    # a valid BSN outside the synthetic range: real data, which the demo key refuses
    for gm in ("GM0599", "GM0363"):
        write_extract(
            landing,
            gm,
            "bijstand",
            ["BSN;DOSSIERNUMMER;REGELING;INGANGSDATUM;EINDDATUM", "111222333;1;PW;01-01-2020;"],
        )
    assert env(landing, tmp_path / "warehouse", gemeenten=("GM0599", "GM0363")) == 1
    captured = capsys.readouterr()
    assert "FAILED" in captured.out and "municipality GM0363 Amsterdam" in captured.out
    assert "not run" in captured.out.split("run summary")[1]
    assert "outside the synthetic test range" in captured.err and "were not run" in captured.err
    assert "Traceback" not in captured.out + captured.err
    assert not (tmp_path / "warehouse" / WAREHOUSE_KEY_FILE).exists()


def test_make_rebuild_runs_linkage_through_reports_from_the_stored_assets_for_every_municipality():
    defs = make_definitions()
    plan = run.run_plan(True, {j.name for j in defs.jobs})
    assert [(job, gm) for job, gm, _ in plan] == [
        *[(job, gm) for gm in G4 for job in (REBUILD_JOB, "data_quality_report")],
        ("g4_pooled", None),
    ]
    groups = {k.path[0] for k in defs.resolve_job_def(REBUILD_JOB).asset_layer.selected_asset_keys}
    assert groups == {"linkage", "panel", "effects", "reports"}
    keys = {
        k.to_user_string()
        for k in defs.resolve_job_def(REBUILD_JOB).asset_layer.selected_asset_keys
    }
    assert {
        "linkage/linked_registers",
        "panel/linked_panel",
        "effects/effect_table",
        "reports/assignment_rule",
    } <= keys
    assert "reports/data_quality" not in keys  # its own job follows, as in make run


def test_make_rebuild_without_stored_registers_says_so(env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WI_WAREHOUSE_DIR", str(tmp_path / "empty"))
    assert run.main(["--rebuild"]) == 2
    assert "nothing to rebuild from" in capsys.readouterr().err


def test_the_cbs_tables_are_read_side_by_side_in_processes_of_their_own(
    env, synthetic_landing, tmp_path, monkeypatch, capfd
):
    """`make run` reads the national tables as a run launched from the UI does: each table's step in
    a process of its own, two at a time on two cores, so the ingestion takes half the wall time."""
    from dagster import DagsterEventType, DagsterInstance

    monkeypatch.setattr(run, "run_plan", lambda rebuild, jobs: [("cbs_tables", None, None)])
    monkeypatch.setenv(
        run.STEP_PROCESSES_ENV_VAR, "2"
    )  # the demo's tables alone would be read in-process
    warehouse = tmp_path / "warehouse"
    assert env(synthetic_landing[0], warehouse) == 0
    out, err = capfd.readouterr()  # the step processes write to the same console
    assert "DEBUG" not in out + err and " ok " in out
    instance = DagsterInstance.get()
    [record] = instance.get_run_records()
    starts = instance.all_logs(record.dagster_run.run_id, of_type=DagsterEventType.STEP_START)
    pids = {entry.dagster_event.pid for entry in starts}
    assert len(starts) == len(make_definitions().resolve_job_def("cbs_tables").nodes) == 9
    assert len(pids) == 9 and os.getpid() not in pids
    stored = {p.name for p in (warehouse / "cbs").iterdir() if not p.name.startswith(".")}
    assert {"spolisbus", "koppeltabel", "kindoudertab"} <= stored
    instance.dispose()
