"""Pooled G4 assets rebuild once their municipality partitions have updated."""

from dagster import AssetKey, AssetMaterialization, AssetSelection, DagsterInstance, evaluate_automation_conditions

from wi_pipeline.definitions import defs
from wi_pipeline.lib.layout import G4

PANEL = AssetKey(["panel", "linked_panel"])
POOLED = AssetKey(["effects", "effect_table_g4"])
POOLED_SELECTION = AssetSelection.assets(POOLED, AssetKey(["reports", "g4_data_quality"]))


def test_pooled_effects_rebuild_after_a_municipality_updates():
    instance = DagsterInstance.ephemeral()
    for gm in G4:
        instance.report_runless_asset_event(AssetMaterialization(PANEL, partition=gm))
    instance.report_runless_asset_event(AssetMaterialization(POOLED))
    result = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=POOLED_SELECTION)
    cursor = result.cursor
    # nothing new upstream since the pooled table was built: no request
    result = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=POOLED_SELECTION, cursor=cursor)
    assert result.get_num_requested(POOLED) == 0
    # a new extract for Rotterdam rebuilt its panel partition: the pooled table follows
    instance.report_runless_asset_event(AssetMaterialization(PANEL, partition="GM0599"))
    result = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=POOLED_SELECTION,
                                            cursor=result.cursor)
    assert result.get_num_requested(POOLED) == 1
    assert result.get_num_requested(AssetKey(["reports", "g4_data_quality"])) == 1
