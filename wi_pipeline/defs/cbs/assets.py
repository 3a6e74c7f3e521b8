"""One national (unpartitioned) asset per CBS table; the key file is pseudonymised on the way in."""

from dagster import AssetExecutionContext, AssetOut, Output, multi_asset

from wi_pipeline.defs.metadata import ingestion_metadata
from wi_pipeline.defs.resources import LandingFolder, PseudonymisationKey
from wi_pipeline.lib.arrivals import file_sha256
from wi_pipeline.lib.cbs import cbs_path, ingest_cbs_table
from wi_pipeline.lib.layout import CBS_TABLES, CbsTableLayout


def build_cbs_asset(layout: CbsTableLayout):
    name = layout.name.lower()

    @multi_asset(
        name=f"ingest_{name}",
        outs={
            name: AssetOut(
                key_prefix="cbs",
                description=layout.description + (" Pseudonymised: the BSN is replaced by a keyed pseudonym." if layout.holds_bsn else ""),
                group_name="cbs",
                kinds={"pandas", "parquet"},
                owners=["team:data-engineering"],
            ),
            f"{name}_quarantine": AssetOut(
                key_prefix="cbs",
                description=f"Rows of {layout.name} that could not be typed or linked, with the reason.",
                group_name="cbs",
                kinds={"pandas", "parquet"},
                owners=["team:data-engineering"],
            ),
        },
        can_subset=False,
    )
    def _asset(context: AssetExecutionContext, landing: LandingFolder, pseudonym_key: PseudonymisationKey):
        key = pseudonym_key.get() if layout.holds_bsn else None
        accepted, quarantine, rows_in = ingest_cbs_table(landing.root, layout.name, key)
        reasons = quarantine["reason"].str.split("; ").explode().value_counts().to_dict() if len(quarantine) else {}
        meta = ingestion_metadata(accepted, rows_in, reasons, len(quarantine))
        meta["extract_sha256"] = file_sha256(cbs_path(landing.root, layout.name))
        if key is not None:
            accepted.attrs["key_fingerprint"] = key.fingerprint
            meta["key_fingerprint"] = key.fingerprint
        yield Output(accepted, output_name=name, metadata=meta)
        yield Output(quarantine, output_name=f"{name}_quarantine", metadata={"dagster/row_count": len(quarantine)})

    return _asset


cbs_assets = [build_cbs_asset(layout) for layout in CBS_TABLES.values()]
