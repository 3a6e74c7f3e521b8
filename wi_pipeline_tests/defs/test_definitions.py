from dagster import AssetKey, DefaultScheduleStatus, DefaultSensorStatus

from wi_pipeline.definitions import defs
from wi_pipeline.lib.layout import CBS_TABLES, G4, REGISTERS


def test_definitions_load_with_g4_partitions_and_cbs_assets():
    repo = defs.get_repository_def()
    keys = set(repo.assets_defs_by_key)
    for name in REGISTERS:
        key = AssetKey(["registers", name])
        assert key in keys
        assert sorted(repo.assets_defs_by_key[key].partitions_def.get_partition_keys()) == sorted(
            G4
        )
    for table in CBS_TABLES:
        key = AssetKey(["cbs", table.lower()])
        assert key in keys and repo.assets_defs_by_key[key].partitions_def is None
    assert {"cbs_tables", "municipality"} <= {j.name for j in defs.jobs}


def test_every_sensor_and_schedule_runs_from_the_first_deployment():
    """Nothing waits for someone to switch it on in the UI (Dagster's defaults are stopped)."""
    repo = defs.get_repository_def()
    assert {s.name for s in repo.sensor_defs} == {
        "landing_folder_sensor",
        "g4_automation",
        "municipalities_after_cbs",
        "data_quality_after_success",
        "data_quality_after_failure",
        "dead_run_monitor",
        "rebuild_behind_registers",
    }
    assert all(s.default_status == DefaultSensorStatus.RUNNING for s in repo.sensor_defs)
    assert all(s.default_status == DefaultScheduleStatus.RUNNING for s in repo.schedule_defs)


def test_instance_queues_runs_one_writer_per_partition_and_one_for_the_pooled_outputs():
    from pathlib import Path

    from dagster._core.instance.config import dagster_instance_config

    from wi_pipeline.defs.automation.sensors import AUTOMATION_SENSOR
    from wi_pipeline.defs.jobs import POOLED_RUN_TAGS

    config, _ = dagster_instance_config(str(Path(__file__).resolve().parents[2] / "dagster_home"))
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = {limit["key"]: limit for limit in coordinator["config"]["tag_concurrency_limits"]}
    assert limits["dagster/partition"] == {
        "key": "dagster/partition",
        "value": {"applyLimitPerUniqueValue": True},
        "limit": 1,
    }
    [(key, value)] = POOLED_RUN_TAGS.items()
    assert limits[key]["value"] == value and limits[key]["limit"] == 1
    # both ways the pooled outputs get written carry the tag
    assert defs.resolve_job_def("g4_pooled").tags[key] == value
    assert defs.get_repository_def().get_sensor_def(AUTOMATION_SENSOR).run_tags[key] == value
    assert config["telemetry"]["enabled"] is False
