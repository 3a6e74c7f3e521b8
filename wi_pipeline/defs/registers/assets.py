"""One asset per municipal register, partitioned by G4 municipality, plus its quarantine."""

from dagster import AssetExecutionContext, AssetOut, MetadataValue, Output, multi_asset

from wi_pipeline.defs.metadata import ingestion_metadata, preview
from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.defs.resources import LandingFolder, PseudonymisationKey
from wi_pipeline.lib.arrivals import file_sha256
from wi_pipeline.lib.ingest import current_extract, ingest_register
from wi_pipeline.lib.layout import REGISTERS, RegisterLayout


def build_register_asset(layout: RegisterLayout):
    @multi_asset(
        name=f"ingest_{layout.name}",
        outs={
            layout.name: AssetOut(
                key_prefix="registers",
                description=f"{layout.description} Pseudonymised and harmonised: no BSN, local codes mapped.",
                group_name="registers",
                kinds={"pandas", "parquet"},
                owners=["team:data-engineering"],
                is_required=True,
            ),
            f"{layout.name}_quarantine": AssetOut(
                key_prefix="registers",
                description=f"Rows of the {layout.name} extract that broke the contract, with the reason and "
                "their line in the source file; pseudonymised, for engineers to inspect.",
                group_name="registers",
                kinds={"pandas", "parquet"},
                owners=["team:data-engineering"],
            ),
        },
        partitions_def=g4_partitions,
        can_subset=False,
    )
    def _asset(context: AssetExecutionContext, landing: LandingFolder, pseudonym_key: PseudonymisationKey):
        gemeente = context.partition_key
        path = current_extract(landing.root, gemeente, layout.name)
        key = pseudonym_key.get()
        result = ingest_register(path, layout, gemeente, key)
        result.accepted.attrs["key_fingerprint"] = key.fingerprint
        result.quarantine.attrs["key_fingerprint"] = key.fingerprint
        meta = {
            **ingestion_metadata(result.accepted, result.rows_in, result.reasons, result.rows_quarantined),
            "extract": result.source,
            "extract_date": str(result.extract_date.date()),
            "extract_sha256": file_sha256(path),
            "key_fingerprint": key.fingerprint,
            "demo_key": key.is_demo,
        }
        context.log.info(
            f"{layout.name} {gemeente} {result.source}: {result.rows_in} rows in, "
            f"{result.rows_accepted} accepted, {result.rows_quarantined} quarantined"
        )
        yield Output(result.accepted, output_name=layout.name, metadata=meta)
        yield Output(
            result.quarantine,
            output_name=f"{layout.name}_quarantine",
            metadata={"dagster/row_count": result.rows_quarantined, "preview": preview(result.quarantine),
                      "key_fingerprint": key.fingerprint},
        )

    return _asset


register_assets = [build_register_asset(layout) for layout in REGISTERS.values()]
