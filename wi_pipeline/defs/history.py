"""What the instance remembers of an asset partition's latest materialisation."""

from dagster import AssetKey, AssetRecordsFilter


def latest_metadata(instance, key: AssetKey, partition: str | None = None) -> dict:
    """Plain values of the latest materialisation's metadata ({} when there is none)."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=key, asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    if not records:
        return {}
    return {k: getattr(v, "value", v) for k, v in records[0].asset_materialization.metadata.items()}
