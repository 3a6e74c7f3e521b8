"""One national (unpartitioned) asset per CBS table; the key file is pseudonymised on the way in."""

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
from wi_pipeline.lib.cbs import ingest_cbs_table
from wi_pipeline.lib.cbs_delivery import find_delivery
from wi_pipeline.lib.ingest import ExtractError
from wi_pipeline.lib.layout import CBS_TABLES, CbsTableLayout
from wi_pipeline.lib.linkage import ambiguous_pseudonyms
from wi_pipeline.lib.pseudonymise import PseudonymisationError
from wi_pipeline.lib.quality import children_born_after_parents, quarantine_share_within

# Checks that need a second table, which the asset then reads as an input. KINDOUDERTAB: a
# parent born after (or barely before) the child is an impossible combination.
CROSS_TABLE_CHECKS = {
    "KINDOUDERTAB": (
        "gbapersoontab",
        children_born_after_parents,
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
        {cross[0]: AssetIn(AssetKey(["cbs", cross[0]]), metadata={"columns": cross[2]})}
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
    )
    def _asset(
        context: AssetExecutionContext,
        landing: LandingFolder,
        pseudonym_key: PseudonymisationKey,
        **other,
    ):
        try:
            delivery = find_delivery(landing.root, layout.name)
            key_ = pseudonym_key.get() if layout.holds_bsn else None
            accepted, quarantine, rows_in = ingest_cbs_table(
                landing.root, layout.name, key_, delivery=delivery
            )
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
        reasons = (
            quarantine["reason"].str.split("; ").explode().value_counts().to_dict()
            if len(quarantine)
            else {}
        )
        meta = ingestion_metadata(accepted, rows_in, reasons, len(quarantine))
        # the files read (year, version, form, sha256) and those left with the reason; retention
        # purges a raw file only once its sha256 is recorded here
        meta["delivery"] = MetadataValue.json(delivery.metadata())
        if key_ is not None:
            accepted.attrs["key_fingerprint"] = key_.fingerprint
            meta["key_fingerprint"] = key_.fingerprint
            # one BSN with two CBS keys stays in the key file: linkage quarantines its spells
            # as "ambiguous key"
            meta["ambiguous_key_persons"] = len(ambiguous_pseudonyms(accepted))
        files = [f.path.name for f in delivery.files]
        context.log.info(
            f"CBS {layout.name}: {rows_in} rows in, {len(accepted)} accepted, "
            f"{len(quarantine)} quarantined; read {', '.join(files)}"
            + "".join(f"; not used: {name} ({why})" for name, why in delivery.ignored)
        )
        extra = [quarantine_share_within(len(quarantine), rows_in)]
        if cross:
            extra.append(cross[1](accepted, other[cross[0]]))
        yield from emit_guarded(
            [
                (name, accepted, meta),
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
