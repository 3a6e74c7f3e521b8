"""The one entry point: `dagster dev` in the repo root loads these Definitions."""

import os

from dagster import Definitions

from wi_pipeline.defs.automation.retention import (
    RetentionSettings,
    retention_nightly,
    retention_purge,
)
from wi_pipeline.defs.automation.schedules import cbs_monthly_refresh
from wi_pipeline.defs.automation.sensors import (
    build_automation_sensor,
    build_cbs_followup_sensor,
    build_rebuild_sensor,
    build_report_sensors,
    dead_run_monitor,
    landing_folder_sensor,
)
from wi_pipeline.defs.cbs.assets import cbs_assets
from wi_pipeline.defs.effects.assets import (
    EffectSettings,
    effect_table,
    effect_table_g4,
    what_works,
)
from wi_pipeline.defs.io import ParquetIOManager
from wi_pipeline.defs.jobs import build_jobs
from wi_pipeline.defs.linkage.assets import link_registers_asset
from wi_pipeline.defs.panel.assets import PanelSettings, linked_panel
from wi_pipeline.defs.quality.assets import data_quality, g4_data_quality
from wi_pipeline.defs.registers.assets import register_assets
from wi_pipeline.defs.reports.assignment import (
    AssignmentSettings,
    assignment_rule,
    assignment_rule_g4,
)
from wi_pipeline.defs.reports.inventory import build_data_inventory
from wi_pipeline.defs.reports.policy import policy_report, policy_report_g4
from wi_pipeline.defs.resources import default_resources
from wi_pipeline.paths import warehouse_dir

assets = [
    *register_assets,
    *cbs_assets,
    link_registers_asset,
    linked_panel,
    data_quality,
    g4_data_quality,
    effect_table,
    effect_table_g4,
    what_works,
    assignment_rule,
    assignment_rule_g4,
    policy_report,
    policy_report_g4,
]
assets.append(build_data_inventory(lambda: assets))


def make_definitions(resources: dict | None = None) -> Definitions:
    """The project's Definitions; ``resources`` replace the defaults (tests point them at
    temporary folders)."""
    jobs = {job.name: job for job in build_jobs(assets)}
    return Definitions(
        assets=assets,
        jobs=[*jobs.values(), retention_purge],
        sensors=[
            landing_folder_sensor,
            build_automation_sensor(assets),
            build_cbs_followup_sensor(jobs["cbs_tables"], jobs["municipality"], assets),
            *build_report_sensors(jobs["data_quality_report"]),
            dead_run_monitor,
            build_rebuild_sensor(jobs["municipality"], assets),
        ],
        schedules=[cbs_monthly_refresh, retention_nightly],
        resources={
            **default_resources(),
            "panel_settings": PanelSettings(),
            "effect_settings": EffectSettings(),
            "assignment_settings": AssignmentSettings(),
            "retention_settings": RetentionSettings(
                days=int(os.environ.get("WI_RETENTION_DAYS", "30"))
            ),
            "io_manager": ParquetIOManager(base_dir=str(warehouse_dir())),
            **(resources or {}),
        },
    )


defs = make_definitions()
