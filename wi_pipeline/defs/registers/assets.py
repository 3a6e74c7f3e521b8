"""One asset per municipal register, partitioned by G4 municipality, plus its quarantine."""

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetOut,
    Failure,
    MetadataValue,
    multi_asset,
)

from wi_pipeline.defs.checks import (
    emit_guarded,
    for_municipality,
    gx_suite_result,
    gx_suite_spec,
    no_identifiers_result,
    no_identifiers_spec,
)
from wi_pipeline.defs.history import latest_metadata
from wi_pipeline.defs.keys import register_key, register_quarantine_key
from wi_pipeline.defs.metadata import REGISTER_EXTRACTS, ingestion_metadata, preview
from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.defs.resources import LandingFolder, PseudonymisationKey
from wi_pipeline.lib.arrivals import file_sha256
from wi_pipeline.lib.ingest import ExtractError, current_extract, ingest_register
from wi_pipeline.lib.layout import REGISTERS, RegisterLayout
from wi_pipeline.lib.linkage import carry_key
from wi_pipeline.lib.pseudonymise import PseudonymisationError
from wi_pipeline.lib.quality import quarantine_share_within, row_count_within
from wi_pipeline.lib.quality_report import quarantine_by_reason

EXTRACT_READABLE = "extract_readable"


# on the Failure of an ingestion that refused the key: every other ingestion with that key would refuse too
REFUSED = "wi/refused"


def extract_failure(what: str, err: Exception) -> Failure:
    """One message naming the file and what to fix, without a stack trace; nothing is stored."""
    refused = {REFUSED: "pseudonymisation key"} if isinstance(err, PseudonymisationError) else {}
    return Failure(
        description=f"{what}: {str(err).rstrip('.')}. The previous output is kept.",
        metadata=refused,
    )


def _out(description: str) -> AssetOut:
    return AssetOut(
        key_prefix="registers",
        description=description,
        group_name="registers",
        kinds={"pandas", "parquet"},
        owners=["team:data-engineering"],
    )


def build_register_asset(layout: RegisterLayout):
    key = register_key(layout.name)
    qkey = register_quarantine_key(layout.name)

    @multi_asset(
        name=f"ingest_{layout.name}",
        outs={
            layout.name: _out(
                f"{layout.description} Pseudonymised and harmonised: no BSN, local codes mapped."
            ),
            f"{layout.name}_quarantine": _out(
                f"Rows of the {layout.name} extract that broke the contract, with the reason (in words, "
                "and as a stable `reason_code`) and their line in the source file; pseudonymised, a value "
                "that looks like a BSN masked; for engineers to inspect."
            ),
        },
        check_specs=[
            AssetCheckSpec(
                EXTRACT_READABLE,
                asset=key,
                blocking=True,
                description="The current extract has the contract's columns, delimiter and "
                "encoding, and rows.",
            ),
            gx_suite_spec(key),
            no_identifiers_spec(key),
            no_identifiers_spec(qkey),
        ],
        partitions_def=g4_partitions,
        can_subset=False,
    )
    def _asset(
        context: AssetExecutionContext, landing: LandingFolder, pseudonym_key: PseudonymisationKey
    ):
        gemeente = context.partition_key
        try:
            key_ = pseudonym_key.get()
            path = current_extract(landing.root, gemeente, layout.name)
            result = ingest_register(path, layout, gemeente, key_)
        except ExtractError as err:
            unreadable = AssetCheckResult(
                asset_key=key,
                check_name=EXTRACT_READABLE,
                passed=False,
                metadata={"error": str(err)},
                description=f"the {layout.name} extract is unreadable: {err}",
            )
            yield for_municipality(unreadable, gemeente)
            raise extract_failure(f"{layout.name} {gemeente}", err) from None
        except PseudonymisationError as err:
            raise extract_failure(f"{layout.name} {gemeente}", err) from None
        digest = file_sha256(path)
        carry_key(key_.fingerprint, result.accepted, result.quarantine)
        for df in (result.accepted, result.quarantine):
            df.attrs[REGISTER_EXTRACTS] = {layout.name: digest}
        meta = {
            **ingestion_metadata(
                result.accepted, result.rows_in, result.reasons, result.rows_quarantined
            ),
            "extract": result.source,
            "extract_date": str(result.extract_date.date()),
            "extract_sha256": digest,
            "bsn_with_separators": result.bsn_with_separators,
            "open_end_dates": result.open_end_dates,
            "key_fingerprint": key_.fingerprint,
            "demo_key": key_.is_demo,
            "quarantine_by_reason": MetadataValue.json(quarantine_by_reason(result.quarantine)),
        }
        context.log.info(
            f"{layout.name} {gemeente} {result.source}: {result.rows_in} rows in, "
            f"{result.rows_accepted} accepted, {result.rows_quarantined} quarantined"
        )
        extract = f"{gemeente}/{layout.name}/{result.source}"
        yield from emit_guarded(
            [
                (layout.name, result.accepted, meta),
                (
                    f"{layout.name}_quarantine",
                    result.quarantine,
                    {
                        "dagster/row_count": result.rows_quarantined,
                        "preview": preview(result.quarantine),
                        "key_fingerprint": key_.fingerprint,
                    },
                ),
            ],
            [
                AssetCheckResult(
                    asset_key=key,
                    check_name=EXTRACT_READABLE,
                    passed=True,
                    metadata={"extract": extract},
                    description=f"the {layout.name} extract {extract} has the contract's "
                    f"columns and {result.rows_in:,} rows",
                ),
                gx_suite_result(
                    result.accepted,
                    key,
                    extra=[
                        row_count_within(
                            result.rows_accepted,
                            latest_metadata(context.instance, key, gemeente).get("rows_accepted"),
                        ),
                        quarantine_share_within(result.rows_quarantined, result.rows_in),
                    ],
                ),
                no_identifiers_result(result.accepted, key),
                no_identifiers_result(result.quarantine, qkey),
            ],
        )

    return _asset


register_assets = [build_register_asset(layout) for layout in REGISTERS.values()]
