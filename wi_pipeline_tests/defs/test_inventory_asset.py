from dagster import AssetKey, materialize

from wi_pipeline.definitions import assets
from wi_pipeline.defs.automation.retention import RetentionSettings
from wi_pipeline.defs.effects.assets import EffectSettings
from wi_pipeline.defs.io import ParquetIOManager
from wi_pipeline.lib.inventory import INTERNAL_REPORTS, PUBLISHED
from wi_pipeline.lib.layout import CBS_TABLES, DROPPED_AT_INGESTION, REGISTERS
from wi_pipeline_tests.helpers import read_inventory


def test_inventory_asset_states_every_source_field_its_retention_and_who_sees_each_table(tmp_path):
    """The facts the inventory must state, read back from the page and compared with where they come
    from: the landing contract (every register and CBS table, each with all its fields, used or
    dropped on arrival), the retention setting the nightly purge applies, and the live asset graph
    (each table under published or internal, as the disclosure-controlled list says)."""
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
    facts = read_inventory((tmp_path / "reports" / "data_inventory.html").read_text())

    assert facts["registers"] == {
        name: (
            [c for c in layout.columns if c not in DROPPED_AT_INGESTION],
            [c for c in layout.columns if c in DROPPED_AT_INGESTION],
        )
        for name, layout in REGISTERS.items()
    }
    assert all("BSN" in dropped for _, dropped in facts["registers"].values())
    assert facts["cbs"] == {name: list(layout.columns) for name, layout in CBS_TABLES.items()}
    assert facts["retention_days"] == ([21], [21])  # the setting, not the default of 30

    live = {k.to_user_string() for a in assets for k in a.keys}
    assert set(facts["published"]) == set(PUBLISHED) and set(PUBLISHED) <= live
    assert set(facts["internal"]) == live - set(PUBLISHED)
    assert set(INTERNAL_REPORTS) <= set(facts["internal"])
    assert all(
        w.startswith("Gepubliceerd (groepen van minstens 10)") for w in facts["published"].values()
    )
    assert all(w.startswith("Intern, ") for w in facts["internal"].values())


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
