"""Every asset materialised on small synthetic data, through the project's own jobs.

One synthetic world (scale 0.01) is written to a temporary landing folder; the national CBS job,
the municipality job for all four partitions and the pooled job run into an ephemeral instance.
"""

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from dagster import AssetKey, DagsterInstance

from wi_pipeline.definitions import make_definitions
from wi_pipeline.defs.io import ParquetIOManager
from wi_pipeline.defs.resources import LandingFolder, PseudonymisationKey
from wi_pipeline.lib.layout import CBS_TABLES, G4, REGISTERS
from wi_pipeline.lib.privacy import scan_identifiers
from wi_pipeline.synthetic.config import SyntheticConfig
from wi_pipeline.synthetic.extracts import write_landing
from wi_pipeline.synthetic.world import simulate_world

REPO = Path(__file__).resolve().parents[1]


def make(landing: Path, warehouse: Path):
    return make_definitions({"landing": LandingFolder(path=str(landing)), "pseudonym_key": PseudonymisationKey(),
                             "io_manager": ParquetIOManager(base_dir=str(warehouse))})


def run(defs, instance, job, partition=None):
    return defs.resolve_job_def(job).execute_in_process(instance=instance, partition_key=partition, raise_on_error=False)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    base = tmp_path_factory.mktemp("pipeline")
    w = simulate_world(SyntheticConfig(scale=0.01, seed=7))
    write_landing(w, base / "landing")
    return base, w


@pytest.fixture(scope="module")
def materialised(world):
    base, _ = world
    defs, instance = make(base / "landing", base / "warehouse"), DagsterInstance.ephemeral()
    results = {"cbs": run(defs, instance, "cbs_tables")}
    for gm in G4:
        results[gm] = run(defs, instance, "municipality", gm)
    results["g4"] = run(defs, instance, "g4_pooled")
    return base, defs, instance, results


def materialisations(result) -> dict:
    return {(m.asset_key.to_user_string(), m.partition): {k: getattr(v, "value", v) for k, v in m.metadata.items()}
            for m in (e.event_specific_data.materialization for e in result.get_asset_materialization_events())}


def test_every_asset_materialises_for_every_partition(materialised):
    _, defs, instance, results = materialised
    failed = {k: [e.step_key for e in r.all_events if e.event_type_value == "STEP_FAILURE"]
              for k, r in results.items() if not r.success}
    assert not failed
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        assert instance.get_latest_materialization_event(key) is not None, key.to_user_string()


def test_rows_in_equal_accepted_plus_quarantined(materialised):
    base, _, _, results = materialised
    for gm in G4:
        mats = materialisations(results[gm])
        for name in REGISTERS:
            md = mats[(f"registers/{name}", gm)]
            assert md["rows_in"] == md["rows_accepted"] + md["rows_quarantined"]
            quarantine = pd.read_parquet(base / "warehouse" / "registers" / f"{name}_quarantine" / f"{gm}.parquet")
            assert len(quarantine) == md["rows_quarantined"] and quarantine["reason"].str.len().gt(0).all()
            raw = pd.read_csv(base / "landing" / gm / name / "20250115.csv", sep=";", dtype=str)
            assert md["rows_in"] == len(raw)
    cbs = materialisations(results["cbs"])
    for table in CBS_TABLES:
        md = cbs[(f"cbs/{table.lower()}", None)]
        assert md["rows_in"] == md["rows_accepted"] + md["rows_quarantined"]


def test_no_bsn_anywhere_downstream(materialised, world):
    base, w = world[0], world[1]
    bsns = set(w.persons["bsn"].astype(str)) if "bsn" in w.persons else set(w.persons["BSN"].astype(str))
    assert bsns
    for path in (base / "warehouse").rglob("*"):
        if path.suffix == ".parquet":
            df = pd.read_parquet(path)
            assert not scan_identifiers(df, allow_cbs_keys=True), path
            for col in df.columns:
                assert "bsn" not in str(col).lower(), path
                if df[col].dtype == object or str(df[col].dtype) in ("string", "category"):
                    assert not set(df[col].dropna().astype(str).unique()) & bsns, (path, col)
        elif path.suffix in (".md", ".html", ".json"):
            text = path.read_text()
            assert not any(b in text for b in bsns), path


def test_published_outputs_hold_no_person_keys(materialised):
    base = materialised[0]
    for rel in ("effects/effect_table/GM0599.parquet", "effects/effect_table_g4.parquet", "reports/what_works_for_whom.parquet"):
        df = pd.read_parquet(base / "warehouse" / rel)
        assert len(df) and not scan_identifiers(df, published=True), rel


def test_same_seed_and_key_give_identical_output(materialised, world, tmp_path):
    base = materialised[0]
    again = tmp_path / "landing"
    write_landing(simulate_world(SyntheticConfig(scale=0.01, seed=7)), again)
    defs, instance = make(again, tmp_path / "warehouse"), DagsterInstance.ephemeral()
    assert run(defs, instance, "cbs_tables").success
    assert run(defs, instance, "municipality", "GM0599").success
    for rel in ("registers/bijstand/GM0599.parquet", "cbs/koppeltabel.parquet", "panel/linked_panel/GM0599.parquet",
                "effects/effect_table/GM0599.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(base / "warehouse" / rel), pd.read_parquet(tmp_path / "warehouse" / rel))


def test_blocking_suite_failure_stops_one_municipality_and_keeps_its_last_good_output(materialised, tmp_path, monkeypatch):
    base, defs, instance, _ = materialised
    suites = tmp_path / "expectations"
    shutil.copytree(REPO / "expectations", suites)
    suite = json.loads((suites / "registers_bijstand.json").read_text())
    suite["expectations"].append({"type": "expect_column_values_to_be_in_set",  # an edit by a data engineer
                                  "kwargs": {"column": "gemeente", "value_set": [g for g in G4 if g != "GM0344"]}})
    (suites / "registers_bijstand.json").write_text(json.dumps(suite))
    monkeypatch.setenv("WI_EXPECTATIONS_DIR", str(suites))
    panel = base / "warehouse" / "panel" / "linked_panel" / "GM0344.parquet"
    before = panel.stat().st_mtime_ns

    failed = run(defs, instance, "municipality", "GM0344")
    assert not failed.success
    checks = [e.event_specific_data for e in failed.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert any(c.check_name == "gx_suite" and not c.passed and c.asset_key == AssetKey(["registers", "bijstand"]) for c in checks)
    skipped = {e.step_key for e in failed.all_events if e.event_type_value in ("STEP_SKIPPED", "STEP_UP_FOR_RETRY")}
    assert not any(m.asset_key == AssetKey(["panel", "linked_panel"]) for m in
                   (e.event_specific_data.materialization for e in failed.get_asset_materialization_events()))
    assert panel.stat().st_mtime_ns == before  # the last good panel is still there, untouched
    assert run(defs, instance, "municipality", "GM0599").success  # another municipality carries on

    (suites / "registers_bijstand.json").write_text("{ not json")
    broken = run(defs, instance, "municipality", "GM0599")
    errors = [c.metadata.get("suite_error") for e in broken.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"
              for c in [e.event_specific_data] if c.check_name == "gx_suite" and not c.passed]
    assert not broken.success and errors and "registers_bijstand.json" in errors[0].value
