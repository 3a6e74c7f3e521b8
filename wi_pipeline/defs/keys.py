"""Asset keys that one domain's assets name and another domain reads, each defined here once."""

from dagster import AssetKey

LINKED_REGISTERS_KEY = AssetKey(["linkage", "linked_registers"])
PANEL_KEY = AssetKey(["panel", "linked_panel"])
EFFECT_TABLE_KEY = AssetKey(["effects", "effect_table"])
EFFECT_TABLE_G4_KEY = AssetKey(["effects", "effect_table_g4"])
DATA_QUALITY_REPORT_KEY = AssetKey(["reports", "data_quality"])


def by_partition(key: AssetKey, frames: dict) -> dict:
    """The partitions of a pooled input named as the UI shows them, e.g. panel/linked_panel[GM0363]."""
    return {f"{key.to_user_string()}[{partition}]": df for partition, df in frames.items()}


def register_key(register: str) -> AssetKey:
    """A pseudonymised register of one municipality (partitioned), e.g. registers/bijstand."""
    return AssetKey(["registers", register])


def register_quarantine_key(register: str) -> AssetKey:
    return AssetKey(["registers", f"{register}_quarantine"])


def cbs_key(table: str) -> AssetKey:
    """A national CBS table by its CBS name (any case), e.g. cbs/spolisbus."""
    return AssetKey(["cbs", table.lower()])
