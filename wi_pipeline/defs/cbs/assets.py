"""One national (unpartitioned) asset per CBS table; the key file is pseudonymised on the way in.

A table is read, typed and written chunk by chunk into a staging folder of the warehouse, judged
there whole (the suite, the identifier scan, the cross-table check), and swapped in by the IO
manager only when every blocking check passed: memory stays about one chunk at national size.
"""

import shutil

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetOut,
    MetadataValue,
    multi_asset,
)

from wi_pipeline.defs.checks import (
    emit_guarded,
    gx_suite_result,
    gx_suite_spec,
    no_identifiers_result,
    no_identifiers_spec,
)
from wi_pipeline.defs.metadata import ingestion_metadata
from wi_pipeline.defs.registers.assets import EXTRACT_READABLE, extract_failure
from wi_pipeline.defs.resources import LandingFolder, PseudonymisationKey
from wi_pipeline.lib.cbs import AMBIGUOUS_PSEUDONYMS, ingest_cbs_table
from wi_pipeline.lib.cbs_delivery import find_delivery
from wi_pipeline.lib.datasets import StagedTable, open_table, table_columns
from wi_pipeline.lib.ingest import ExtractError
from wi_pipeline.lib.layout import CBS_TABLES, CbsTableLayout
from wi_pipeline.lib.pseudonymise import PseudonymisationError
from wi_pipeline.lib.quality import children_born_after_parents_on_tables, quarantine_share_within

# Checks that need a second table, which the asset then reads as an input (a dataset, joined out of
# core). KINDOUDERTAB: a parent born after (or barely before) the child is an impossible combination.
CROSS_TABLE_CHECKS = {
    "KINDOUDERTAB": (
        "gbapersoontab",
        children_born_after_parents_on_tables,
        ["RINPERSOONS", "RINPERSOON", "GBAGEBOORTEJAAR", "GBAGEBOORTEMAAND"],
    ),
}


def _out(description: str) -> AssetOut:
    return AssetOut(
        key_prefix="cbs",
        description=description,
        group_name="cbs",
        kinds={"pandas", "parquet"},
        owners=["team:data-engineering"],
    )


def build_cbs_asset(layout: CbsTableLayout):
    name = layout.name.lower()
    key, qkey = AssetKey(["cbs", name]), AssetKey(["cbs", f"{name}_quarantine"])
    cross = CROSS_TABLE_CHECKS.get(layout.name)
    ins = (
        {
            cross[0]: AssetIn(
                AssetKey(["cbs", cross[0]]), metadata={"columns": cross[2], "as_dataset": True}
            )
        }
        if cross
        else {}
    )

    @multi_asset(
        name=f"ingest_{name}",
        outs={
            name: _out(
                layout.description
                + (
                    " Pseudonymised: the BSN is replaced by a keyed pseudonym."
                    if layout.holds_bsn
                    else ""
                )
            ),
            f"{name}_quarantine": _out(
                f"Rows of {layout.name} that could not be typed or linked, with the reason."
            ),
        },
        check_specs=[
            AssetCheckSpec(
                EXTRACT_READABLE,
                asset=key,
                blocking=True,
                description="The table's delivered files (or its single parquet file) exist and are "
                "readable, with the contract's columns and rows.",
            ),
            gx_suite_spec(key),
            no_identifiers_spec(key),
            no_identifiers_spec(qkey),
        ],
        ins=ins,
        can_subset=False,
        # the IO manager gives the staging folder in the warehouse
        required_resource_keys={"landing", "pseudonym_key", "io_manager"},
    )
    def _asset(context: AssetExecutionContext, **other):
        landing: LandingFolder = context.resources.landing
        pseudonym_key: PseudonymisationKey = context.resources.pseudonym_key
        staging = context.resources.io_manager.staging_folder(key.path)
        try:
            yield from _ingest(context, landing, pseudonym_key, staging, other)
        finally:  # swapped in when every check passed; otherwise nothing of it remains
            shutil.rmtree(staging, ignore_errors=True)

    def _ingest(context, landing, pseudonym_key, staging, other):
        try:
            delivery = find_delivery(landing.root, layout.name)
            key_ = pseudonym_key.get() if layout.holds_bsn else None
            ingested = ingest_cbs_table(landing.root, layout.name, staging, key_, delivery=delivery)
        except ExtractError as err:
            yield AssetCheckResult(
                asset_key=key,
                check_name=EXTRACT_READABLE,
                passed=False,
                metadata={"error": str(err)},
            )
            raise extract_failure(f"CBS {layout.name}", err) from None
        except PseudonymisationError as err:
            raise extract_failure(f"CBS {layout.name}", err) from None
        accepted, quarantine, rows_in = open_table(staging), ingested.quarantine, ingested.rows_in
        meta = ingestion_metadata(
            accepted.head(5, columns=table_columns(accepted)).to_pandas(),
            rows_in,
            ingested.reason_counts(),
            len(quarantine),
            n_accepted=ingested.rows_accepted,
        )
        # the files read (year, version, form, sha256) and those left with the reason; retention
        # purges a raw file only once its sha256 is recorded here
        meta["delivery"] = MetadataValue.json(delivery.metadata())
        meta["chunks_read"] = ingested.chunks
        if key_ is not None:
            meta["key_fingerprint"] = key_.fingerprint
            # one BSN with two CBS keys stays in the key file: linkage quarantines its spells
            # as "ambiguous key"
            meta["ambiguous_key_persons"] = ingested.attrs[AMBIGUOUS_PSEUDONYMS]
        files = [f.path.name for f in delivery.files]
        context.log.info(
            f"CBS {layout.name}: {rows_in} rows in, {ingested.rows_accepted} accepted, "
            f"{len(quarantine)} quarantined, in {ingested.chunks} chunk(s); read {', '.join(files)}"
            + "".join(f"; not used: {name} ({why})" for name, why in delivery.ignored)
        )
        extra = [quarantine_share_within(len(quarantine), rows_in)]
        if cross:
            extra.append(cross[1](accepted, other[cross[0]]))
        yield from emit_guarded(
            [
                (name, StagedTable(staging), meta),
                (f"{name}_quarantine", quarantine, {"dagster/row_count": len(quarantine)}),
            ],
            [
                AssetCheckResult(
                    asset_key=key,
                    check_name=EXTRACT_READABLE,
                    passed=True,
                    metadata={"extract": ", ".join(files)},
                ),
                gx_suite_result(accepted, key, extra=extra),
                no_identifiers_result(accepted, key, allow_cbs_keys=True),
                no_identifiers_result(quarantine, qkey, allow_cbs_keys=True),
            ],
        )

    return _asset


cbs_assets = [build_cbs_asset(layout) for layout in CBS_TABLES.values()]
