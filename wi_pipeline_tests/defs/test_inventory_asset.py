from dagster import AssetKey, materialize

from wi_pipeline.definitions import assets
from wi_pipeline.defs.io import ParquetIOManager


def test_inventory_asset_lists_the_live_asset_graph(tmp_path):
    [inventory] = [a for a in assets if AssetKey(["reports", "data_inventory"]) in a.keys]
    result = materialize([inventory], resources={"io_manager": ParquetIOManager(base_dir=str(tmp_path))})
    assert result.success
    html = (tmp_path / "reports" / "data_inventory.html").read_text()
    for key in ("registers/bijstand", "cbs/koppeltabel", "panel/linked_panel", "linkage/linkage_rates",
                "reports/data_inventory"):
        assert key in html
