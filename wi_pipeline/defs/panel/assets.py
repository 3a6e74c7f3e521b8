"""The linked person-month panel per municipality, guarded by its contract."""

import pandas as pd
import pandera.pandas as pdr
import pyarrow.dataset as ds
from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    ConfigurableResource,
    MetadataValue,
    asset,
)

from wi_pipeline.defs.checks import (
    emit_guarded,
    gx_suite_result,
    gx_suite_spec,
    no_identifiers_result,
    no_identifiers_spec,
)
from wi_pipeline.defs.keys import LINKED_REGISTERS_KEY, PANEL_KEY, cbs_key
from wi_pipeline.defs.metadata import (
    REGISTER_EXTRACTS,
    built_from,
    counts_md,
    preview,
    register_extracts,
    table_schema,
)
from wi_pipeline.defs.partitions import g4_partitions
from wi_pipeline.lib.designs import add_history
from wi_pipeline.lib.layout import CBS_TABLES
from wi_pipeline.lib.linkage import carry_key, key_fingerprint
from wi_pipeline.lib.panel import PanelWindow, build_panel, panel_contract

PANEL_CBS_TABLES = [
    "GBAPERSOONTAB",
    "KINDOUDERTAB",
    "GBABURGERLIJKESTAATBUS",
    "GBAHUISHOUDENSBUS",
    "SPOLISBUS",
    "SECMBUS",
    "ZVWZORGKOSTENTAB",
    "PROBSCHULDTAB",
]
assert set(PANEL_CBS_TABLES) <= set(CBS_TABLES)


class PanelSettings(ConfigurableResource):
    """The observation window of the panel (months, inclusive) and the health threshold.

    The panel ends at the latest in the month of the oldest register extract; the window used is in
    the asset metadata.
    """

    window_start: str = "2018-01"
    window_end: str = "2024-12"
    poor_health_threshold: float = 2500.0

    @property
    def window(self) -> PanelWindow:
        return PanelWindow(self.window_start, self.window_end, self.poor_health_threshold)


@asset(
    key=PANEL_KEY,
    ins={
        "linked_registers": AssetIn(LINKED_REGISTERS_KEY),
        **{t.lower(): AssetIn(cbs_key(t)) for t in PANEL_CBS_TABLES},
    },
    partitions_def=g4_partitions,
    group_name="panel",
    kinds={"pandas", "parquet"},
    owners=["team:research"],
    description="One row per person per month for everyone with a month of social assistance in "
    "the municipality "
    "in the window: benefits, exemptions, instruments, support, jobs, health costs and debts, "
    "and each person's labour-market history up to the month before. "
    "The table every "
    "estimate reads. The window ends at the latest in the month of the oldest register extract.",
    check_specs=[
        AssetCheckSpec(
            "panel_contract",
            asset=PANEL_KEY,
            blocking=True,
            description="One row per person-month, no gaps, months in the window, flags "
            "consistent with their spells.",
        ),
        gx_suite_spec(PANEL_KEY),
        no_identifiers_spec(PANEL_KEY),
    ],
)
def linked_panel(
    context: AssetExecutionContext,
    panel_settings: PanelSettings,
    linked_registers: pd.DataFrame,
    gbapersoontab: ds.Dataset,
    kindoudertab: ds.Dataset,
    gbaburgerlijkestaatbus: ds.Dataset,
    gbahuishoudensbus: ds.Dataset,
    spolisbus: ds.Dataset,
    secmbus: ds.Dataset,
    zvwzorgkostentab: ds.Dataset,
    probschuldtab: ds.Dataset,
):
    cbs = dict(
        zip(
            PANEL_CBS_TABLES,
            [
                gbapersoontab,
                kindoudertab,
                gbaburgerlijkestaatbus,
                gbahuishoudensbus,
                spolisbus,
                secmbus,
                zvwzorgkostentab,
                probschuldtab,
            ],
        )
    )
    panel, report = build_panel(context.partition_key, linked_registers, cbs, panel_settings.window)
    add_history(panel)  # stored with the panel: the effect tables and assignment rules all read it
    window, configured = report.window, panel_settings.window
    carry_key(key_fingerprint(linked_registers), panel)
    panel.attrs[REGISTER_EXTRACTS] = register_extracts(linked_registers)
    try:
        panel_contract(window).validate(panel, lazy=True)
        contract = AssetCheckResult(
            check_name="panel_contract", passed=True, metadata={"rows": len(panel)}
        )
    except pdr.errors.SchemaErrors as err:
        failures = err.failure_cases.groupby("check").size().to_dict()
        contract = AssetCheckResult(
            check_name="panel_contract",
            passed=False,
            metadata={"failed_checks": counts_md(failures, "check")},
        )
    yield from emit_guarded(
        [
            (
                None,
                panel,
                {
                    "dagster/row_count": len(panel),
                    "persons": report.persons,
                    "months": report.months,
                    "window": f"{window.start} to {window.end}",
                    "window_configured": f"{configured.start} to {configured.end}",
                    "register_extract_dates": MetadataValue.json(
                        {k: str(v.date()) for k, v in sorted(report.extract_dates.items())}
                    ),
                    "spells_used": counts_md(report.spells_used, "register"),
                    "spells_outside_window": counts_md(report.spells_outside_window, "register"),
                    "spells_outside_population": counts_md(
                        report.spells_outside_population, "register"
                    ),
                    "persons_without_bijstand_in_window": report.persons_without_bijstand_in_window,
                    "persons_without_cbs_record": report.persons_without_cbs_record,
                    "dagster/column_schema": table_schema(panel).value,
                    "preview": preview(panel),
                    **built_from(panel.attrs[REGISTER_EXTRACTS]),
                },
            )
        ],
        [contract, gx_suite_result(panel, PANEL_KEY), no_identifiers_result(panel, PANEL_KEY)],
    )
