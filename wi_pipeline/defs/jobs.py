"""Jobs that follow the data flow: national CBS tables, each municipality, then the pooled G4 outputs."""

from dagster import AssetsDefinition, AssetSelection, define_asset_job

from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.defs.quality.assets import REPORT_JOB, REPORT_KEY

# runs that write the pooled G4 outputs carry this tag; dagster_home/dagster.yaml lets one run at a time
POOLED_RUN_TAGS = {"wi/writes": "g4_pooled"}
REBUILD_JOB = "rebuild_from_warehouse"


def build_jobs(assets: list[AssetsDefinition]) -> list:
    # the data-quality report is made after a municipality's run, failed ones included, in a run of its own
    report = [a for a in assets if REPORT_KEY in a.keys]
    partitioned = [a for a in assets if a.partitions_def == g4_partitions and a not in report]
    cbs = [
        a
        for a in assets
        if a.partitions_def is None
        and a.group_names_by_key
        and set(a.group_names_by_key.values()) == {"cbs"}
    ]
    pooled = [a for a in assets if a.partitions_def is None and a not in cbs]
    # after `make purge` only the stored, pseudonymised registers and CBS tables are left to build from
    from_stored = [a for a in partitioned if set(a.group_names_by_key.values()) != {"registers"}]
    jobs = [
        define_asset_job(
            "cbs_tables",
            selection=AssetSelection.assets(*cbs),
            description="Read, type and validate the national CBS tables; pseudonymise the key file.",
        ),
        define_asset_job(
            "municipality",
            selection=AssetSelection.assets(*partitioned),
            partitions_def=g4_partitions,
            description="Everything for one G4 municipality: registers through panel, effects and reports.",
        ),
        define_asset_job(
            REPORT_JOB,
            selection=AssetSelection.assets(*report),
            partitions_def=g4_partitions,
            description="The data-quality report of one municipality, about its latest run.",
        ),
        define_asset_job(
            REBUILD_JOB,
            selection=AssetSelection.assets(*from_stored),
            partitions_def=g4_partitions,
            description="Linkage, panel, effects and reports of one municipality from the "
            "stored, pseudonymised registers and CBS tables, without reading the landing folder "
            "(`make rebuild` runs it for every G4 municipality, then the pooled outputs).",
        ),
    ]
    if pooled:
        jobs.append(
            define_asset_job(
                "g4_pooled",
                selection=AssetSelection.assets(*pooled),
                tags=POOLED_RUN_TAGS,
                description="Pooled G4 estimates and reports, once every municipality is in.",
            )
        )
    return jobs
