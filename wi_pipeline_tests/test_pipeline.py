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
from wi_pipeline.lib.datasets import open_table, read_frame
from wi_pipeline.lib.layout import CBS_TABLES, G4, REGISTERS
from wi_pipeline.lib.privacy import scan_identifiers
from wi_pipeline.synthetic.config import SyntheticConfig
from wi_pipeline.synthetic.extracts import write_landing
from wi_pipeline.synthetic.world import simulate_world

REPO = Path(__file__).resolve().parents[1]


def make(landing: Path, warehouse: Path):
    return make_definitions(
        {
            "landing": LandingFolder(path=str(landing)),
            "pseudonym_key": PseudonymisationKey(),
            "io_manager": ParquetIOManager(base_dir=str(warehouse)),
        }
    )


def run(defs, instance, job, partition=None):
    return defs.resolve_job_def(job).execute_in_process(
        instance=instance, partition_key=partition, raise_on_error=False
    )


@pytest.fixture(scope="module")
def world(synthetic_landing, tmp_path_factory):
    base = tmp_path_factory.mktemp("pipeline")
    landing, w = synthetic_landing
    shutil.copytree(landing, base / "landing")
    return base, w


@pytest.fixture(scope="module")
def materialised(world):
    base, _ = world
    defs, instance = make(base / "landing", base / "warehouse"), DagsterInstance.ephemeral()
    results = {"cbs": run(defs, instance, "cbs_tables")}
    for gm in G4:
        results[gm] = run(defs, instance, "municipality", gm)
        results[f"report {gm}"] = run(
            defs, instance, "data_quality_report", gm
        )  # as make run and the sensors do
    results["g4"] = run(defs, instance, "g4_pooled")
    return base, defs, instance, results


def materialisations(result) -> dict:
    return {
        (m.asset_key.to_user_string(), m.partition): {
            k: getattr(v, "value", v) for k, v in m.metadata.items()
        }
        for m in (
            e.event_specific_data.materialization for e in result.get_asset_materialization_events()
        )
    }


def test_every_asset_materialises_for_every_partition(materialised):
    _, defs, instance, results = materialised
    failed = {
        k: [e.step_key for e in r.all_events if e.event_type_value == "STEP_FAILURE"]
        for k, r in results.items()
        if not r.success
    }
    assert not failed
    for key in defs.resolve_asset_graph().get_all_asset_keys():
        assert instance.get_latest_materialization_event(key) is not None, key.to_user_string()


def test_every_municipal_asset_records_the_register_extracts_it_was_built_from(materialised):
    """After complete runs the rebuild sensor finds nothing behind its registers; an asset that did not
    record its extracts would be rebuilt on every deployment."""
    from dagster import build_sensor_context

    from wi_pipeline.defs.automation.sensors import REBUILD_SENSOR

    _, defs, instance, _ = materialised
    repo = defs.get_repository_def()
    result = repo.get_sensor_def(REBUILD_SENSOR).evaluate_tick(
        build_sensor_context(instance=instance, repository_def=repo)
    )
    assert result.run_requests == [] and result.skip_message


def test_rows_in_equal_accepted_plus_quarantined(materialised):
    base, _, _, results = materialised
    for gm in G4:
        mats = materialisations(results[gm])
        for name in REGISTERS:
            md = mats[(f"registers/{name}", gm)]
            assert md["rows_in"] == md["rows_accepted"] + md["rows_quarantined"]
            quarantine = pd.read_parquet(
                base / "warehouse" / "registers" / f"{name}_quarantine" / f"{gm}.parquet"
            )
            assert (
                len(quarantine) == md["rows_quarantined"]
                and quarantine["reason"].str.len().gt(0).all()
            )
            raw = pd.read_csv(base / "landing" / gm / name / "20250115.csv", sep=";", dtype=str)
            assert md["rows_in"] == len(raw)
    cbs = materialisations(results["cbs"])
    for table in CBS_TABLES:
        md = cbs[(f"cbs/{table.lower()}", None)]
        assert md["rows_in"] == md["rows_accepted"] + md["rows_quarantined"]


def stored(path: Path) -> pd.DataFrame:
    """A stored output: one parquet file, or a CBS table's folder (by year) without its year field."""
    return read_frame(open_table(path)) if path.is_dir() else pd.read_parquet(path)


def test_no_bsn_anywhere_downstream(materialised, world):
    base, w = world[0], world[1]
    bsns = (
        set(w.persons["bsn"].astype(str))
        if "bsn" in w.persons
        else set(w.persons["BSN"].astype(str))
    )
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
    for rel in (
        "effects/effect_table/GM0599.parquet",
        "effects/effect_table_g4.parquet",
        "reports/what_works_for_whom.parquet",
        "reports/assignment_rule/GM0599.parquet",
        "reports/assignment_rule_g4.parquet",
    ):
        df = pd.read_parquet(base / "warehouse" / rel)
        assert len(df) and not scan_identifiers(df, published=True), rel


def test_same_seed_and_key_give_identical_output(materialised, world, tmp_path):
    base = materialised[0]
    again = tmp_path / "landing"
    write_landing(simulate_world(SyntheticConfig(scale=0.01, seed=7)), again)
    defs, instance = make(again, tmp_path / "warehouse"), DagsterInstance.ephemeral()
    assert run(defs, instance, "cbs_tables").success
    assert run(defs, instance, "municipality", "GM0599").success
    for rel in (
        "registers/bijstand/GM0599.parquet",
        "cbs/koppeltabel",  # a CBS table is a folder of parquet files
        "panel/linked_panel/GM0599.parquet",
        "effects/effect_table/GM0599.parquet",
    ):
        pd.testing.assert_frame_equal(
            stored(base / "warehouse" / rel), stored(tmp_path / "warehouse" / rel)
        )


def test_blocking_suite_failure_stops_one_municipality_and_keeps_its_last_good_output(
    materialised, tmp_path, monkeypatch
):
    """On a copy of the materialised warehouse with an instance of its own: the runs it makes, failed
    ones included, touch nothing the other tests read."""
    base = materialised[0]
    shutil.copytree(base / "warehouse", tmp_path / "warehouse")
    defs, instance = make(base / "landing", tmp_path / "warehouse"), DagsterInstance.ephemeral()
    suites = tmp_path / "expectations"
    shutil.copytree(REPO / "expectations", suites)
    suite = json.loads((suites / "registers_bijstand.json").read_text())
    suite["expectations"].append(
        {
            "type": "expect_column_values_to_be_in_set",  # an edit by a data engineer
            "kwargs": {"column": "gemeente", "value_set": [g for g in G4 if g != "GM0344"]},
        }
    )
    (suites / "registers_bijstand.json").write_text(json.dumps(suite))
    monkeypatch.setenv("WI_EXPECTATIONS_DIR", str(suites))
    panel = tmp_path / "warehouse" / "panel" / "linked_panel" / "GM0344.parquet"
    before = panel.stat().st_mtime_ns

    failed = run(defs, instance, "municipality", "GM0344")
    assert not failed.success
    checks = [
        e.event_specific_data
        for e in failed.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    ]
    assert any(
        c.check_name == "gx_suite"
        and not c.passed
        and c.asset_key == AssetKey(["registers", "bijstand"])
        for c in checks
    )
    assert not any(
        m.asset_key == AssetKey(["panel", "linked_panel"])
        for m in (
            e.event_specific_data.materialization for e in failed.get_asset_materialization_events()
        )
    )
    assert panel.stat().st_mtime_ns == before  # the last good panel is still there, untouched
    assert run(
        defs, instance, "data_quality_report", "GM0344"
    ).success  # the report is made all the same
    report = (tmp_path / "warehouse" / "reports" / "data_quality" / "GM0344.md").read_text()
    assert "**FAILURE**" in report
    failing = report.split("## Failing checks")[1].split("##")[0]
    assert any(
        "gx_suite: expect_column_values_to_be_in_set" in line and "registers/bijstand" in line
        for line in failing.splitlines()
    )
    assert (
        "link_registers"
        in report.split("Not rebuilt because something upstream failed:")[1].splitlines()[0]
    )
    assert run(defs, instance, "municipality", "GM0599").success  # another municipality carries on

    (suites / "registers_bijstand.json").write_text("{ not json")
    broken = run(defs, instance, "municipality", "GM0599")
    errors = [
        c.metadata.get("suite_error")
        for e in broken.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
        for c in [e.event_specific_data]
        if c.check_name == "gx_suite" and not c.passed
    ]
    assert not broken.success and errors and "registers_bijstand.json" in errors[0].value


SUITE_ASSETS = {  # suite -> a stored clean output it guards
    **{f"registers_{n}": f"registers/{n}/GM0599.parquet" for n in REGISTERS},
    **{f"cbs_{t.lower()}": f"cbs/{t.lower()}" for t in CBS_TABLES},
    "linkage_linked_registers": "linkage/linked_registers/GM0599.parquet",
    "linkage_linkage_rates": "linkage/linkage_rates/GM0599.parquet",
    "panel_linked_panel": "panel/linked_panel/GM0599.parquet",
    "effects_effect_table": "effects/effect_table_g4.parquet",
}


def violate(df: pd.DataFrame, exp: dict) -> pd.DataFrame:
    """A copy of a clean frame carrying the fault one expectation targets."""
    kw, t = exp["kwargs"], exp["type"]
    bad = df.copy()
    if "row_condition" in kw:  # make the condition hold on the first row
        col, value = (
            kw["row_condition"].split("==")
            if "==" in kw["row_condition"]
            else kw["row_condition"].split(">=")
        )
        bad.loc[bad.index[0], col] = {"True": True, "False": False}.get(value, bad[col].max())
    i = bad.index[0]
    if t == "expect_table_columns_to_match_set":
        return bad.drop(columns=kw["column_set"][0])
    if t == "expect_table_row_count_to_be_between":
        return bad.iloc[0:0]
    if t in ("expect_compound_columns_to_be_unique", "expect_column_values_to_be_unique"):
        return pd.concat([bad, bad.iloc[[0]]], ignore_index=True)
    if t == "expect_column_pair_values_a_to_be_greater_than_b":
        a, b = kw["column_A"], kw["column_B"]
        bad.loc[i, a] = bad[b].dropna().min() - (
            pd.Timedelta(days=1) if "datetime" in str(bad[b].dtype) else 1
        )
        bad.loc[i, b] = bad[b].dropna().min()
        return bad
    col = kw["column"]
    if t == "expect_column_values_to_not_be_null":
        bad[col] = bad[col].astype(object)
        bad.loc[i, col] = None
    elif t == "expect_column_values_to_be_null":
        bad.loc[i, col] = 1.0
    elif t == "expect_column_values_to_match_regex":
        bad[col] = bad[col].astype(object)
        bad.loc[bad.index[: max(1, len(bad) // 50 + 1)], col] = "not-matching!"
    elif t == "expect_column_values_to_be_in_set":
        bad[col] = bad[col].astype(object)
        bad.loc[bad.index[: max(1, int(len(bad) * 0.02) + 1)], col] = (
            "NOT_A_CODE" if not isinstance(kw["value_set"][0], bool) else (not kw["value_set"][0])
        )
    elif t == "expect_column_values_to_be_between":
        n = max(1, int(len(bad) * (1 - kw.get("mostly", 1.0)) * 2) + 1)
        rows = bad.index[:n]
        if kw.get("min_value") is not None:
            lo = kw["min_value"]
            bad[col] = bad[col].astype(object)
            bad.loc[rows, col] = (
                pd.Timestamp(lo) - pd.Timedelta(days=400) if isinstance(lo, str) else lo - 1000
            )
        else:
            bad.loc[rows, col] = kw["max_value"] + 1000
    elif t == "expect_column_mean_to_be_between":
        bad[col] = kw["max_value"] + 1 if isinstance(kw["max_value"], (int, float)) else bad[col]
    elif t == "expect_column_proportion_of_unique_values_to_be_between":
        bad[col] = bad[col].iloc[0]
    else:
        raise AssertionError(f"no fault for {t}: add one so this expectation is tested")
    return bad


def _blocking_expectations():
    for suite in sorted(SUITE_ASSETS):
        for k, exp in enumerate(
            json.loads((REPO / "expectations" / f"{suite}.json").read_text())["expectations"]
        ):
            if exp.get("meta", {}).get("severity", "error") == "error":
                yield pytest.param(
                    suite, k, id=f"{suite}#{k}:{exp['type'].removeprefix('expect_')}"
                )


@pytest.fixture(scope="module")
def clean_output(materialised):
    """A suite's clean output and its validation, done once per suite rather than once per
    expectation (the same frame and suite give the same result; `violate` works on a copy)."""
    from functools import cache

    from wi_pipeline.lib.quality import run_suite

    @cache
    def read_and_validate(suite):
        clean = stored(materialised[0] / "warehouse" / SUITE_ASSETS[suite])
        return clean, run_suite(clean, suite)

    return read_and_validate


@pytest.mark.parametrize("suite, k", list(_blocking_expectations()))
def test_every_suite_passes_clean_data_and_fails_on_its_fault(clean_output, suite, k):
    from wi_pipeline.lib.quality import run_suite

    clean, clean_result = clean_output(suite)
    exp = json.loads((REPO / "expectations" / f"{suite}.json").read_text())["expectations"][k]
    assert clean_result.success
    result = run_suite(violate(clean, exp), suite)
    assert not result.success, (suite, exp)
    assert any(r.expectation == exp["type"] and not r.success for r in result.results), (suite, exp)


def test_the_panel_agrees_with_the_true_panel_through_the_edge_cases_of_real_deliveries(
    materialised, world
):
    """The files split some benefit runs into back-to-back spells of other codes, leave TYPHH,
    PROBSCHULDPERS and whole cost years empty, deliver rows twice and add 'S' persons with a register
    person's RINPERSOON: benefit months and their duration still equal the world's, and what the files
    leave empty is missing in the panel, not 0 or 'no'."""
    from wi_pipeline.lib.pseudonymise import DEMO_KEY, PseudonymKey

    base, w = world
    pseudonyms = PseudonymKey(DEMO_KEY).pseudonymise(w.persons["bsn"])
    person = pd.Series(w.persons["person_id"].to_numpy(), index=pseudonyms.to_numpy())
    compared = missing_costs = 0
    for gm in G4:
        built = pd.read_parquet(base / "warehouse" / "panel" / "linked_panel" / f"{gm}.parquet")
        built["person_id"] = built["pseudo_id"].astype(str).map(person)
        true = w.panel[w.panel["gemeente"] == gm]
        both = built.merge(true, on=["person_id", "month"], suffixes=("", "_true"))
        assert both["person_id"].nunique() > 0.95 * built["pseudo_id"].nunique()
        assert (both["on_bijstand"] == both["on_bijstand_true"]).all(), gm
        on = both["on_bijstand"]
        duration = both.loc[on, ["bijstand_duration_months", "bijstand_duration_months_true"]]
        assert (duration.iloc[:, 0] == duration.iloc[:, 1]).all(), gm
        for column in (
            "employed",
            "self_sufficient",
        ):  # no namesake's job or benefit elsewhere joined in
            assert (both[column] == both[f"{column}_true"]).all(), (gm, column)
        compared += int(on.sum())
        missing_costs += int(both["care_costs_total"].isna().sum())
        assert both.loc[both["care_costs_total"].isna(), "care_costs_total_true"].notna().all()
    assert compared > 0 and missing_costs > 0


def test_after_purging_raw_extracts_downstream_assets_rebuild(materialised, tmp_path):
    """Purges a copy of the landing folder, by what the shared instance recorded as ingested, and
    rebuilds from a copy of the warehouse in an instance of its own: the shared folders and instance
    stay as the other tests read them."""
    from datetime import datetime, timedelta, timezone

    from wi_pipeline.defs.automation.retention import ingested_content
    from wi_pipeline.lib.arrivals import file_sha256
    from wi_pipeline.lib.cbs_delivery import find_delivery
    from wi_pipeline.lib.retention import RAW_SUFFIXES, plan_purge, purge

    base, _, instance, _ = materialised
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    shutil.copytree(base / "landing", landing)
    shutil.copytree(base / "warehouse", warehouse)
    deliveries = [find_delivery(landing, table) for table in CBS_TABLES]
    read = {f.sha256 for d in deliveries for f in d.files}
    left_by_deliveries = {  # an exact copy of a file read ("... - kopie.sav") was ingested too
        f"CBS/{d.table}/{name}"
        for d in deliveries
        for name, _ in d.ignored
        if Path(name).suffix in RAW_SUFFIXES
        and file_sha256(landing / "CBS" / d.table / name) not in read
    }
    decisions = plan_purge(
        landing, ingested_content(instance), datetime.now(timezone.utc) + timedelta(days=31), 30
    )
    kept = {d.path.relative_to(landing).as_posix() for d in decisions if not d.purge}
    # every file read was ingested (a CBS table's files through its delivery metadata); only the
    # files the CBS deliveries leave (an older version, last year's snapshot, copies) were not
    assert kept == left_by_deliveries and len(decisions) > len(kept) >= 3
    purge(decisions)
    assert {
        p.relative_to(landing).as_posix() for p in landing.rglob("*") if p.suffix in RAW_SUFFIXES
    } == kept
    keys = [
        AssetKey(["linkage", n])
        for n in ("linked_registers", "linkage_quarantine", "linkage_rates")
    ] + [AssetKey(["panel", "linked_panel"])]
    panel = warehouse / "panel" / "linked_panel" / "GM0599.parquet"
    panel.unlink()  # rebuilt, not left over from the copy
    rebuilt = (
        make(landing, warehouse)
        .resolve_job_def("municipality")
        .execute_in_process(
            instance=DagsterInstance.ephemeral(), partition_key="GM0599", asset_selection=keys
        )
    )
    assert rebuilt.success
    pd.testing.assert_frame_equal(
        pd.read_parquet(panel),
        pd.read_parquet(base / "warehouse" / "panel" / "linked_panel" / "GM0599.parquet"),
    )


def test_headline_effects_and_the_assignment_rule_carry_their_sensitivity(materialised):
    base, _, instance, results = materialised
    t = pd.read_parquet(base / "warehouse" / "effects/effect_table_g4.parquet")
    choice = t[(t["measure"] == "instrument_choice") & ~t["suppressed"]]
    overall = choice[choice["subgroup"] == "all"]
    assert len(overall) and overall["robustness_value"].between(0, 1).all()
    assert choice.loc[choice["subgroup"] != "all", "robustness_value"].isna().all()
    rule = pd.read_parquet(base / "warehouse" / "reports/assignment_rule_g4.parquet")
    assert set(rule["section"]) == {"leaf", "value", "gain", "effect", "placebo"}
    gains = rule[(rule["section"] == "gain") & ~rule["suppressed"]]
    assert len(gains) == 3 and gains["robustness_value"].between(0, 1).all()
    meta = materialisations(results["g4"])[("reports/assignment_rule_g4", None)]
    assert "today's assignment" in meta["in_words"] and meta["rule"].startswith(
        "![assignment rule](data:image/png"
    )


def test_the_panel_stores_its_labour_market_history_and_the_designs_do_not_recompute_it(
    materialised, monkeypatch
):
    """The history is added once when the panel is built: the effect table and the assignment rule
    read it from the stored panel (computing it would raise here), and their estimates equal those
    from a panel that gets its history computed on the spot."""
    from wi_pipeline.lib import designs
    from wi_pipeline.lib.assignment import learn_assignment_rule
    from wi_pipeline.lib.disclosure import DisclosureRules
    from wi_pipeline.lib.effects import estimate_all

    base, *_ = materialised
    gm, history = "GM0599", designs.HISTORY_COVARIATES
    stored = pd.read_parquet(base / "warehouse" / "panel" / "linked_panel" / f"{gm}.parquet")
    assert set(history) <= set(stored.columns)
    before = estimate_all({gm: stored.drop(columns=history)}, gm, [])
    recomputed = designs.add_history(stored.drop(columns=history))
    pd.testing.assert_frame_equal(stored[history], recomputed[history])

    def recompute(panel):
        raise AssertionError("the labour-market history was computed again")

    monkeypatch.setattr(designs, "add_history", recompute)
    pd.testing.assert_frame_equal(estimate_all({gm: stored}, gm, []), before)
    rule = learn_assignment_rule({gm: stored}, gm, DisclosureRules())
    assert len(rule.table) and set(history) <= set(stored.columns)
