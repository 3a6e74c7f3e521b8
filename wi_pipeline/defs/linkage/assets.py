"""Linking each municipality's registers to the CBS key file."""

import pandas as pd
import pyarrow.dataset as ds
from dagster import AssetExecutionContext, AssetIn, AssetKey, AssetOut, MetadataValue, multi_asset

from wi_pipeline.defs.checks import (
    emit_guarded,
    gx_suite_result,
    gx_suite_spec,
    no_identifiers_result,
    no_identifiers_spec,
)
from wi_pipeline.defs.history import latest_metadata
from wi_pipeline.defs.metadata import (
    REGISTER_EXTRACTS,
    built_from,
    preview,
    register_extracts,
    table_schema,
)
from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.lib.cbs import AMBIGUOUS_PSEUDONYMS
from wi_pipeline.lib.layout import REGISTERS
from wi_pipeline.lib.linkage import check_same_key, key_file_rows, link_registers

_INS = {
    **{name: AssetIn(AssetKey(["registers", name])) for name in REGISTERS},
    **{
        f"{name}_quarantine": AssetIn(AssetKey(["registers", f"{name}_quarantine"]))
        for name in REGISTERS
    },
    "koppeltabel": AssetIn(AssetKey(["cbs", "koppeltabel"])),
}


def _out(description: str) -> AssetOut:
    return AssetOut(
        key_prefix="linkage",
        group_name="linkage",
        description=description,
        kinds={"pandas", "parquet"},
        owners=["team:data-engineering"],
    )


@multi_asset(
    name="link_registers",
    ins=_INS,
    outs={
        "linked_registers": _out(
            "All register spells of the municipality that link to a CBS person number (RINPERSOON)."
        ),
        "linkage_quarantine": _out(
            "Register spells that could not be linked, with the reason (not in the key file, unreliable key, "
            "ambiguous key)."
        ),
        "linkage_rates": _out(
            "Per register: rows, linked, not found, unreliable key, ambiguous key, invalid BSN "
            "and the linkage rate."
        ),
    },
    check_specs=[
        *[
            no_identifiers_spec(AssetKey(["linkage", n]))
            for n in ("linked_registers", "linkage_quarantine", "linkage_rates")
        ],
        gx_suite_spec(AssetKey(["linkage", "linked_registers"])),
        gx_suite_spec(AssetKey(["linkage", "linkage_rates"])),
    ],
    partitions_def=g4_partitions,
    can_subset=False,
)
def link_registers_asset(
    context: AssetExecutionContext, koppeltabel: ds.Dataset, **registers: pd.DataFrame
):
    spells = {n: registers[n] for n in REGISTERS}
    keys = key_file_rows(koppeltabel, spells)  # only the rows of this municipality's persons
    context.log.info(f"key file: {len(keys)} rows read for the registers' persons")
    quarantines = {n: registers[f"{n}_quarantine"] for n in REGISTERS}
    fingerprint = check_same_key(
        {
            "cbs/koppeltabel": keys.attrs.get("key_fingerprint"),
            **{f"registers/{n}": df.attrs.get("key_fingerprint") for n, df in spells.items()},
        }
    )
    result = link_registers(
        spells, quarantines, keys, ambiguous_in_key_file=keys.attrs.get(AMBIGUOUS_PSEUDONYMS)
    )
    extracts = register_extracts(*spells.values())
    for name in sorted(
        set(REGISTERS) - set(extracts)
    ):  # stored before the extracts travelled with the data
        digest = latest_metadata(
            context.instance, AssetKey(["registers", name]), context.partition_key
        ).get("extract_sha256")
        if digest:
            extracts[name] = digest
    for df in (result.linked, result.quarantine, result.rates):
        df.attrs[REGISTER_EXTRACTS] = extracts
    for df in (result.linked, result.quarantine):
        df.attrs["key_fingerprint"] = fingerprint
    rates_md = MetadataValue.md(result.rates.to_markdown(index=False))
    outputs = [
        (
            "linked_registers",
            result.linked,
            {
                "dagster/row_count": len(result.linked),
                "dagster/column_schema": table_schema(result.linked).value,
                "linkage_rates": rates_md,
                "key_fingerprint": fingerprint or "",
                **built_from(extracts),
            },
        ),
        (
            "linkage_quarantine",
            result.quarantine,
            {
                "dagster/row_count": len(result.quarantine),
                "ambiguous_pseudonyms_in_key_file": result.ambiguous_pseudonyms,
                "preview": preview(result.quarantine),
                **built_from(extracts),
            },
        ),
        (
            "linkage_rates",
            result.rates,
            {"dagster/row_count": len(result.rates), "rates": rates_md, **built_from(extracts)},
        ),
    ]
    checks = [
        no_identifiers_result(df, AssetKey(["linkage", n]), allow_cbs_keys=True)
        for n, df, _ in outputs
    ]
    checks += [
        gx_suite_result(result.linked, AssetKey(["linkage", "linked_registers"])),
        gx_suite_result(result.rates, AssetKey(["linkage", "linkage_rates"])),
    ]
    yield from emit_guarded(outputs, checks)
