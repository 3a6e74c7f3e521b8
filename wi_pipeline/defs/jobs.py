"""Jobs that follow the data flow: national CBS tables, each municipality, then the pooled G4 outputs."""

from dagster import AssetsDefinition, AssetSelection, define_asset_job

from wi_pipeline.defs.keys import DATA_QUALITY_REPORT_KEY
from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.defs.quality.assets import REPORT_JOB

# runs that write the pooled G4 outputs carry this tag; dagster_home/dagster.yaml lets one run at a time
POOLED_RUN_TAGS = {"wi/writes": "g4_pooled"}
REBUILD_JOB = "rebuild_from_warehouse"


def build_jobs(assets: list[AssetsDefinition]) -> list:
    cbs = AssetSelection.groups("cbs")
    # the data-quality report is made after a municipality's run, failed ones included, in a run of its own
    report = AssetSelection.assets(DATA_QUALITY_REPORT_KEY)
    # a group can hold partitioned and pooled assets (effects, reports): these split by partitioning
    per_municipality = AssetSelection.assets(
        *(a for a in assets if a.partitions_def == g4_partitions)
    )
    pooled = AssetSelection.assets(*(a for a in assets if a.partitions_def is None)) - cbs
    municipality = per_municipality - report
    jobs = [
        define_asset_job(
            "cbs_tables",
            selection=cbs,
            description="Read, type and validate the national CBS tables; pseudonymise the key file.",
        ),
        define_asset_job(
            "municipality",
            selection=municipality,
            partitions_def=g4_partitions,
            description="Everything for one G4 municipality: registers through panel, effects and reports.",
        ),
        define_asset_job(
            REPORT_JOB,
            selection=report,
            partitions_def=g4_partitions,
            description="The data-quality report of one municipality, about its latest run.",
        ),
        define_asset_job(
            REBUILD_JOB,
            # after `make purge` only the stored, pseudonymised registers and CBS tables are left
            selection=municipality - AssetSelection.groups("registers"),
            partitions_def=g4_partitions,
            description="Linkage, panel, effects and reports of one municipality from the "
            "stored, pseudonymised registers and CBS tables, without reading the landing folder "
            "(`make rebuild` runs it for every G4 municipality, then the pooled outputs).",
        ),
    ]
    if pooled.resolve(assets):
        jobs.append(
            define_asset_job(
                "g4_pooled",
                selection=pooled,
                tags=POOLED_RUN_TAGS,
                description="Pooled G4 estimates and reports, once every municipality is in.",
            )
        )
    return jobs
