"""Automation: pooled G4 assets rebuild once their municipality partitions have updated, by a sensor that
runs from the first deployment; a CBS refresh reruns every municipality."""

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DagsterInstance,
    DefaultSensorStatus,
    build_sensor_context,
    evaluate_automation_conditions,
    instance_for_test,
    job,
    op,
)

from wi_pipeline.definitions import defs
from wi_pipeline.defs.automation.sensors import AUTOMATION_SENSOR, CBS_FOLLOWUP_SENSOR
from wi_pipeline.lib.layout import G4

PANEL = AssetKey(["panel", "linked_panel"])
EFFECT_TABLE = AssetKey(["effects", "effect_table"])
POOLED = AssetKey(["effects", "effect_table_g4"])
POOLED_KEYS = [
    POOLED,
    AssetKey(["reports", "g4_data_quality"]),
    AssetKey(["reports", "what_works_for_whom"]),
    AssetKey(["reports", "assignment_rule_g4"]),
    AssetKey(["reports", "policy_report_g4"]),
]
POOLED_SELECTION = AssetSelection.assets(POOLED, AssetKey(["reports", "g4_data_quality"]))


def test_pooled_effects_rebuild_after_a_municipality_updates():
    instance = DagsterInstance.ephemeral()
    for gm in G4:  # every municipality run is in
        instance.report_runless_asset_event(AssetMaterialization(PANEL, partition=gm))
        instance.report_runless_asset_event(AssetMaterialization(EFFECT_TABLE, partition=gm))
    instance.report_runless_asset_event(AssetMaterialization(POOLED))
    result = evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=POOLED_SELECTION
    )
    cursor = result.cursor
    # nothing new upstream since the pooled table was built: no request
    result = evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=POOLED_SELECTION, cursor=cursor
    )
    assert result.get_num_requested(POOLED) == 0
    # a new extract for Rotterdam rebuilt its panel partition: the pooled table follows
    instance.report_runless_asset_event(AssetMaterialization(PANEL, partition="GM0599"))
    result = evaluate_automation_conditions(
        defs=defs, instance=instance, asset_selection=POOLED_SELECTION, cursor=result.cursor
    )
    assert result.get_num_requested(POOLED) == 1
    assert result.get_num_requested(AssetKey(["reports", "g4_data_quality"])) == 1


def test_automation_sensor_runs_from_the_first_deployment_and_targets_the_pooled_assets():
    """Dagster's implicit automation sensor starts stopped: without this one the pooled assets
    never rebuild."""
    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def(AUTOMATION_SENSOR)
    assert isinstance(sensor, AutomationConditionSensorDefinition)
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert sensor.asset_selection.resolve(defs.resolve_asset_graph()) == set(POOLED_KEYS)
    # every asset with an automation condition is covered, so Dagster adds no stopped default sensor
    assert "default_automation_condition_sensor" not in {s.name for s in repo.sensor_defs}


@op
def refreshed():
    pass


@job(name="cbs_tables")
def cbs_tables_stand_in():
    """Has the name of the CBS job, so the sensor sees it as a CBS refresh (its assets need real tables)."""
    refreshed()


@job(name="municipality")
def other_job_stand_in():
    refreshed()


def test_a_successful_cbs_refresh_reruns_each_municipality_from_its_stored_registers():
    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def(CBS_FOLLOWUP_SENSOR)
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    assert [t.job_name for t in sensor.targets] == ["municipality"]
    with instance_for_test() as instance:
        first = sensor.evaluate_tick(build_sensor_context(instance=instance, repository_def=repo))
        assert not first.run_requests  # the first tick only sets the cursor
        other_job_stand_in.execute_in_process(instance=instance)
        cbs_run = cbs_tables_stand_in.execute_in_process(instance=instance).run_id
        result = sensor.evaluate_tick(
            build_sensor_context(instance=instance, cursor=first.cursor, repository_def=repo)
        )
        again = sensor.evaluate_tick(
            build_sensor_context(instance=instance, cursor=result.cursor, repository_def=repo)
        )
    assert sorted(r.partition_key for r in result.run_requests) == sorted(G4)
    assert len({r.run_key for r in result.run_requests}) == len(G4)
    assert all(cbs_run in r.run_key for r in result.run_requests)
    selected = set(result.run_requests[0].asset_selection)
    assert {
        PANEL,
        AssetKey(["linkage", "linked_registers"]),
        AssetKey(["effects", "effect_table"]),
    } <= selected
    assert (
        AssetKey(["reports", "data_quality"]) not in selected
    )  # made after the run by its own sensor
    # registers read the landing folder, not CBS: they are not re-ingested (their extracts may be purged)
    assert not any(k.path[0] in ("registers", "cbs") for k in selected)
    defs.resolve_job_def("municipality").get_subset(
        asset_selection=selected
    )  # a valid subset of the job
    assert not again.run_requests  # a refresh is followed once


def test_the_schedule_describes_what_follows_a_cbs_refresh():
    schedule = defs.get_repository_def().get_schedule_def("cbs_monthly_refresh")
    sensors = {s.name for s in defs.get_repository_def().sensor_defs}
    assert CBS_FOLLOWUP_SENSOR in schedule.description and CBS_FOLLOWUP_SENSOR in sensors
    assert AUTOMATION_SENSOR in schedule.description and AUTOMATION_SENSOR in sensors
