from dagster import AssetKey, materialize

from wi_pipeline.definitions import assets
from wi_pipeline.defs.automation.retention import RetentionSettings
from wi_pipeline.defs.effects.assets import EffectSettings
from wi_pipeline.defs.io import ParquetIOManager
from wi_pipeline.lib.inventory import INTERNAL_REPORTS, PUBLISHED


def test_inventory_asset_lists_the_live_asset_graph(tmp_path):
    [inventory] = [a for a in assets if AssetKey(["reports", "data_inventory"]) in a.keys]
    result = materialize(
        [inventory],
        resources={
            "io_manager": ParquetIOManager(base_dir=str(tmp_path)),
            "effect_settings": EffectSettings(),
            "retention_settings": RetentionSettings(days=21),
        },
    )
    assert result.success  # every asset of the live graph has a Dutch description, or this fails
    html = (tmp_path / "reports" / "data_inventory.html").read_text()
    for key in (
        "registers/bijstand",
        "cbs/koppeltabel",
        "panel/linked_panel",
        "linkage/linkage_rates",
        "reports/data_inventory",
    ):
        assert key in html
    live = {k.to_user_string() for a in assets for k in a.keys}
    assert set(PUBLISHED) <= live and set(INTERNAL_REPORTS) <= live  # the lists name real assets
    assert html.count("Gepubliceerd (groepen van minstens 10)") == len(PUBLISHED)
    assert "21 days after processing" in html  # the retention the nightly purge applies


def test_inventory_states_the_minimum_group_size_the_effect_tables_apply(tmp_path):
    [inventory] = [a for a in assets if AssetKey(["reports", "data_inventory"]) in a.keys]
    materialize(
        [inventory],
        resources={
            "io_manager": ParquetIOManager(base_dir=str(tmp_path)),
            "effect_settings": EffectSettings(min_persons=15),
            "retention_settings": RetentionSettings(),
        },
    )
    html = (tmp_path / "reports" / "data_inventory.html").read_text()
    assert "groepen van minstens 15 personen" in html and "minstens 10" not in html
