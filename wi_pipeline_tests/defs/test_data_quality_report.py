"""The data-quality report is made after a municipality's run, and a failed run is what it shows best."""

from dagster import (
    DagsterInstance,
    DagsterRunStatus,
    DefaultSensorStatus,
    Failure,
    build_sensor_context,
    instance_for_test,
    job,
    materialize,
    op,
)

from wi_pipeline.definitions import defs
from wi_pipeline.defs.automation.sensors import REPORT_SENSORS
from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.defs.quality.assets import REPORT_JOB, REPORT_KEY, data_quality
from wi_pipeline.lib.quality_report import INTERNAL_NOTICE
from wi_pipeline_tests.defs.test_register_assets import (
    BAD_EXTRACTS,
    BIJSTAND,
    GM,
    resources,
    run,
)
from wi_pipeline_tests.helpers import write_extract


def report(landing, warehouse, instance, about_run=None):
    result = materialize(
        [data_quality],
        resources=resources(landing, warehouse),
        instance=instance,
        partition_key=GM,
        tags={"wi/about_run": about_run} if about_run else None,
    )
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key == REPORT_KEY]
    return event.materialization.metadata["report"].value, (
        warehouse / "reports" / "data_quality" / f"{GM}.md"
    )


def test_a_failed_run_is_reported_with_its_message_failing_check_and_change(landing, tmp_path):
    warehouse, instance = tmp_path / "warehouse", DagsterInstance.ephemeral()
    assert run(BIJSTAND, landing, warehouse, instance, GM).success
    good, stored = report(landing, warehouse, instance)
    assert good.startswith(INTERNAL_NOTICE) and "**passed**" in good and stored.read_text() == good

    lines, message = BAD_EXTRACTS["missing column"]
    write_extract(landing, GM, "bijstand", lines, name="20250201.csv")
    assert not run(BIJSTAND, landing, warehouse, instance, GM).success
    bad, _ = report(landing, warehouse, instance)

    assert "**FAILURE**: 1 blocking check(s) failed, 1 step(s) stopped" in bad
    errors = bad.split("## Errors that stopped the run")[1].split("##")[0]
    assert message in errors and "20250201.csv" in errors
    failing = bad.split("## Failing checks")[1].split("##")[0]
    assert "extract_readable" in failing and "now failing" in failing
    extracts = bad.split("## Extracts")[1].split("##")[0]
    assert any(
        "bijstand" in line and "20250201.csv" in line for line in extracts.splitlines()
    )  # what it is about
    assert "999993653" not in bad  # no BSN, although the bad extract holds one


def test_the_report_a_sensor_requests_is_about_the_run_that_ended_not_a_later_one(
    landing, tmp_path
):
    warehouse, instance = tmp_path / "warehouse", DagsterInstance.ephemeral()
    bad = write_extract(
        landing, GM, "bijstand", BAD_EXTRACTS["missing column"][0], name="20250201.csv"
    )
    failed = run(BIJSTAND, landing, warehouse, instance, GM)
    bad.unlink()  # the municipality sends a corrected extract; a later run succeeds before the report runs
    assert run(BIJSTAND, landing, warehouse, instance, GM).success
    assert "**FAILURE**" in report(landing, warehouse, instance, about_run=failed.run_id)[0]
    assert "**passed**" in report(landing, warehouse, instance)[0]


@op
def step(context):
    if context.run.tags.get("fail") == "yes":
        raise Failure("a malformed extract")


@job(name="municipality", partitions_def=g4_partitions)
def municipality_stand_in():
    """Has the name of the municipality job, so the report sensors see its runs (its assets need
    real data)."""
    step()


def test_every_municipality_run_requests_its_report_failed_or_not():
    repo = defs.get_repository_def()
    with instance_for_test() as instance:
        for status, name in REPORT_SENSORS.items():
            sensor = repo.get_sensor_def(name)
            assert sensor.default_status == DefaultSensorStatus.RUNNING
            assert [t.job_name for t in sensor.targets] == [REPORT_JOB]
            first = sensor.evaluate_tick(
                build_sensor_context(instance=instance, repository_def=repo)
            )
            failed = status == DagsterRunStatus.FAILURE
            result = municipality_stand_in.execute_in_process(
                instance=instance,
                partition_key=GM,
                raise_on_error=False,
                tags={"fail": "yes" if failed else "no"},
            )
            tick = sensor.evaluate_tick(
                build_sensor_context(instance=instance, cursor=first.cursor, repository_def=repo)
            )
            [request] = tick.run_requests
            assert request.partition_key == GM and request.run_key == f"report-{result.run_id}"


def test_the_report_runs_in_a_job_of_its_own_not_in_the_municipality_job():
    def keys(job):
        return {
            n.key
            for n in defs.resolve_job_def(job).asset_layer.asset_graph.asset_nodes
            if n.is_executable
        }

    assert REPORT_KEY not in keys("municipality") and keys(REPORT_JOB) == {REPORT_KEY}
    assert DagsterRunStatus.FAILURE in REPORT_SENSORS


def test_the_report_lists_deliveries_outside_the_naming_contract(landing, tmp_path):
    write_extract(landing, GM, "bijstand", ["x"], name="bijstand_2025-02-15.csv")
    text, _ = report(landing, tmp_path / "warehouse", DagsterInstance.ephemeral())
    listed = text.split("## Files not ingested: named outside the landing contract")[1].split("##")[
        0
    ]
    assert (
        "bijstand_2025-02-15.csv: not named YYYYMMDD.csv, so not ingested; expected 20250215.csv"
        in listed
    )


@job(name="__ASSET_JOB", partitions_def=g4_partitions)
def one_off_from_the_ui():
    """Has the name of the job a one-off materialisation in the UI runs in."""
    step()


@job(name=REPORT_JOB, partitions_def=g4_partitions)
def report_stand_in():
    step()


def test_a_one_off_failed_materialisation_from_the_ui_is_reported_but_a_report_run_is_not():
    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def(REPORT_SENSORS[DagsterRunStatus.FAILURE])
    with instance_for_test() as instance:
        first = sensor.evaluate_tick(build_sensor_context(instance=instance, repository_def=repo))
        result = one_off_from_the_ui.execute_in_process(
            instance=instance, partition_key=GM, raise_on_error=False, tags={"fail": "yes"}
        )
        tick = sensor.evaluate_tick(
            build_sensor_context(instance=instance, cursor=first.cursor, repository_def=repo)
        )
        [request] = tick.run_requests
        assert request.partition_key == GM and request.tags["wi/about_run"] == result.run_id
        report_stand_in.execute_in_process(
            instance=instance, partition_key=GM, raise_on_error=False, tags={"fail": "yes"}
        )
        later = sensor.evaluate_tick(
            build_sensor_context(instance=instance, cursor=tick.cursor, repository_def=repo)
        )
        assert later.run_requests == []
