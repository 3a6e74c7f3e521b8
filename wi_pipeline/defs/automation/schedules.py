"""CBS publishes its microdata tables monthly; refresh them on the 2nd of each month."""

from dagster import DefaultScheduleStatus, ScheduleDefinition

cbs_monthly_refresh = ScheduleDefinition(
    name="cbs_monthly_refresh",
    job_name="cbs_tables",
    cron_schedule="0 6 2 * *",
    execution_timezone="Europe/Amsterdam",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Re-reads the national CBS tables once a month. When that run succeeds, the sensor "
    "municipalities_after_cbs reruns linkage, panel, effects and reports of each G4 municipality, and the "
    "pooled G4 assets follow through their automation conditions (sensor g4_automation).",
)
