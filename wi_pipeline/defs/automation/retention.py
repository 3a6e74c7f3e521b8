"""Raw extracts hold BSNs: a nightly run deletes each one a set number of days after its exact content was ingested."""

from datetime import datetime, timezone

from dagster import (
    AssetKey,
    ConfigurableResource,
    DefaultScheduleStatus,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)

from wi_pipeline.defs.resources import LandingFolder
from wi_pipeline.lib.layout import CBS_TABLES, REGISTERS
from wi_pipeline.lib.retention import plan_purge, purge


class RetentionSettings(ConfigurableResource):
    """How long a raw extract stays in the landing folder after its exact content was ingested."""

    days: int = 30


def ingested_content(instance) -> dict[str, datetime]:
    """sha256 of every raw file ingested, with the earliest time it was, from the instance's event log."""
    keys = [AssetKey(["registers", r]) for r in REGISTERS] + [
        AssetKey(["cbs", t.lower()]) for t in CBS_TABLES
    ]
    out: dict[str, datetime] = {}
    for key in keys:
        cursor = None
        while True:
            result = instance.fetch_materializations(key, limit=1000, cursor=cursor, ascending=True)
            for rec in result.records:
                md = rec.asset_materialization.metadata
                when = datetime.fromtimestamp(rec.timestamp, tz=timezone.utc)
                if "extract_sha256" in md:
                    out.setdefault(md["extract_sha256"].value, when)
                if "delivery" in md:  # a CBS table: every file read
                    for file in md["delivery"].value["files"]:
                        out.setdefault(file["sha256"], when)
            if not result.has_more:
                break
            cursor = result.cursor
    return out


@op(
    description="Deletes raw extracts from the landing folder once their exact content was ingested at least "
    "`retention_settings.days` days ago; files not yet ingested, or changed since, stay."
)
def purge_raw_extracts(
    context: OpExecutionContext, landing: LandingFolder, retention_settings: RetentionSettings
) -> int:
    decisions = plan_purge(
        landing.root,
        ingested_content(context.instance),
        datetime.now(timezone.utc),
        retention_settings.days,
    )
    purged = purge(decisions)
    context.log.info(
        f"purged {purged} of {len(decisions)} raw files older than {retention_settings.days} days "
        "after ingestion"
    )
    return purged


@job(
    name="retention_purge",
    description="Deletes raw extracts (with BSN) a set number of days after ingestion.",
)
def retention_purge():
    purge_raw_extracts()


retention_nightly = ScheduleDefinition(
    name="retention_nightly",
    job=retention_purge,
    cron_schedule="0 3 * * *",
    execution_timezone="Europe/Amsterdam",
    default_status=DefaultScheduleStatus.RUNNING,
    description="Every night at 03:00: raw extracts whose content was ingested at least the retention period ago "
    "are deleted from the landing folder. A night the daemon is down is caught up the next night it runs, since "
    "the rule is the age of the ingestion, not the date of the run.",
)
