"""The plain-language data inventory for client councils, built from the pipeline's asset list."""

from collections.abc import Callable, Sequence
from datetime import date

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MetadataValue, asset

from wi_pipeline.defs.automation.retention import RetentionSettings
from wi_pipeline.defs.effects.assets import EffectSettings
from wi_pipeline.lib.inventory import AssetEntry, inventory_html


def build_data_inventory(all_assets: Callable[[], Sequence[AssetsDefinition]]) -> AssetsDefinition:
    """``all_assets`` is called at run time, so the inventory lists every asset, itself included."""

    @asset(
        key=AssetKey(["reports", "data_inventory"]),
        group_name="reports",
        kinds={"html"},
        owners=["team:privacy"],
        description="Plain-language inventory (Dutch and English) for client councils: which "
        "registers and CBS "
        "tables are used and why, which fields are dropped on arrival, who can see what, how "
        "long data is kept, "
        "which outputs are published (aggregates of 10+ persons) and which stay internal.",
    )
    def data_inventory(
        context: AssetExecutionContext,
        effect_settings: EffectSettings,
        retention_settings: RetentionSettings,
    ) -> str:
        entries = [
            AssetEntry(spec.key.to_user_string(), spec.group_name or "", spec.description or "")
            for a in all_assets()
            for spec in a.specs
        ]
        context.add_output_metadata(
            {
                "assets_listed": len(entries),
                "retention_days": retention_settings.days,
                "how_to_read": MetadataValue.md(
                    "Open the stored HTML file `reports/data_inventory.html` in a browser."
                ),
            }
        )
        # the published groups' minimum is the one the effect tables apply
        return inventory_html(
            entries,
            retention_days=retention_settings.days,
            min_units=effect_settings.min_persons,
            as_of=date.today(),
        )

    return data_inventory
