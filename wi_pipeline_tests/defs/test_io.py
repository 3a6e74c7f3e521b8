import fcntl
import os
import stat
import time
from pathlib import Path

import pandas as pd
import pyarrow.dataset as ds
import pytest
from dagster import AssetIn, AssetKey, StaticPartitionsDefinition, asset, materialize

from wi_pipeline.defs import io
from wi_pipeline.defs.io import ParquetIOManager, atomic_write
from wi_pipeline.lib.linkage import key_fingerprint
from wi_pipeline.lib.pseudonymise import warehouse_fingerprint

parts = StaticPartitionsDefinition(["GM0599", "GM0363"])


@asset(partitions_def=parts)
def per_city(context) -> pd.DataFrame:
    df = pd.DataFrame({"gemeente": [context.partition_key] * 3, "x": [1, 2, 3]})
    df.attrs["key_fingerprint"] = "abc"
    return df


@asset(ins={"per_city": AssetIn()})
def pooled(per_city: dict) -> pd.DataFrame:
    return pd.concat(per_city.values(), ignore_index=True)


@asset(partitions_def=parts)
def lazy_reader(per_city: ds.Dataset) -> pd.DataFrame:
    return per_city.to_table(columns=["x"], filter=ds.field("x") > 1).to_pandas()


def test_partitions_dict_and_dataset_inputs(tmp_path):
    io = ParquetIOManager(base_dir=str(tmp_path))
    for gm in ("GM0599", "GM0363"):
        assert materialize([per_city], partition_key=gm, resources={"io_manager": io}).success
    assert (tmp_path / "per_city" / "GM0599.parquet").exists()
    res = materialize([per_city, pooled], selection=[pooled], resources={"io_manager": io})
    out = res.output_for_node("pooled")
    assert sorted(out["gemeente"].unique()) == ["GM0363", "GM0599"] and len(out) == 6
    res = materialize(
        [per_city, lazy_reader],
        selection=[lazy_reader],
        partition_key="GM0599",
        resources={"io_manager": io},
    )
    assert res.output_for_node("lazy_reader")["x"].tolist() == [2, 3]
    loaded = io._load_one(tmp_path / "per_city" / "GM0599", as_dataset=False)
    assert key_fingerprint(loaded) == "abc"


def test_failed_write_keeps_the_last_good_file(tmp_path):
    target = tmp_path / "a" / "out.parquet"
    atomic_write(target, lambda p: Path(p).write_text("good"))

    def crash(p):
        Path(p).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError):
        atomic_write(target, crash)
    assert target.read_text() == "good"
    assert [p.name for p in target.parent.iterdir()] == ["out.parquet"]  # no temp file left behind


def test_the_file_is_flushed_before_the_rename_and_the_folder_after(tmp_path, monkeypatch):
    """Without both, a power loss after the rename can bring the file back empty or missing."""
    target = tmp_path / "a" / "out.parquet"
    synced = []
    real_fsync = os.fsync

    def fsync(fd):
        st = os.fstat(fd)
        synced.append(
            ("folder" if stat.S_ISDIR(st.st_mode) else "file", st.st_ino, target.exists())
        )
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    atomic_write(target, lambda p: Path(p).write_text("new"))
    assert [(kind, exists) for kind, _, exists in synced] == [("file", False), ("folder", True)]
    assert synced[0][1] == target.stat().st_ino  # the temp file that became the target
    assert synced[1][1] == target.parent.stat().st_ino


def test_leftover_temp_files_of_a_crashed_write_are_removed_but_not_those_of_a_running_one(
    tmp_path,
):
    target = tmp_path / "out.parquet"
    atomic_write(target, lambda p: Path(p).write_text("good"))
    old = time.time() - io.LEFTOVER_AGE_SECONDS - 60
    crashed = tmp_path / ".out.parquet.crashed.tmp"
    fresh = tmp_path / ".other.parquet.fresh.tmp"  # a write that started a moment ago
    stalled = tmp_path / ".out.parquet.stalled.tmp"  # an old file whose writer is still alive
    for path in (crashed, fresh, stalled):
        path.write_text("half")
    os.utime(crashed, (old, old))
    os.utime(stalled, (old, old))
    with open(stalled) as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as atomic_write holds it while writing
        atomic_write(target, lambda p: Path(p).write_text("new"))
    assert not crashed.exists()
    assert fresh.exists() and stalled.exists()
    assert target.read_text() == "new"


def test_every_stored_column_of_the_registers_linkage_and_panel_is_described():
    """The Columns table in the UI says what each column holds."""
    from wi_pipeline.defs.metadata import table_schema
    from wi_pipeline.lib.designs import HISTORY_COVARIATES
    from wi_pipeline.lib.layout import COLUMN_DESCRIPTIONS
    from wi_pipeline.lib.panel import PANEL_COLUMNS

    columns = [
        *PANEL_COLUMNS,
        *HISTORY_COVARIATES,
        "register",
        "RINPERSOON",
        "code",
        "start",
        "end",
        "extract_date",
    ]
    assert [c for c in columns if c not in COLUMN_DESCRIPTIONS] == []
    schema = table_schema(pd.DataFrame({"pseudo_id": ["x"], "on_bijstand": [True]})).value
    assert [c.description for c in schema.columns] == [
        COLUMN_DESCRIPTIONS["pseudo_id"],
        COLUMN_DESCRIPTIONS["on_bijstand"],
    ]


def test_a_table_stored_in_parts_replaces_the_single_file_and_loads_with_pushdown(tmp_path):
    """A national CBS table is a folder by year, swapped in whole; the older single file goes."""
    from wi_pipeline.lib.datasets import PartitionedWriter, StagedTable, restore_replaced

    manager = ParquetIOManager(base_dir=str(tmp_path))
    stem = tmp_path / "cbs" / "spolisbus"
    stem.parent.mkdir()
    pd.DataFrame({"x": [0]}).to_parquet(stem.with_suffix(".parquet"))  # as stored before
    rows = pd.DataFrame({"RINPERSOON": ["000000001", "000000002", "000000003"], "x": [1, 2, 3]})
    for attempt in range(2):
        staging = manager.staging_folder(["cbs", "spolisbus"])
        writer = PartitionedWriter(staging, {"key_fingerprint": "abc"})
        writer.write(rows.assign(x=rows["x"] - 1 + attempt), pd.Series([2019, 2020, 2020]))
        writer.close()
        manager.handle_output(
            type(
                "Ctx",
                (),
                {"has_asset_partitions": False, "asset_key": AssetKey(["cbs", "spolisbus"])},
            )(),
            StagedTable(staging),
        )
    assert not stem.with_suffix(".parquet").exists() and not staging.exists()
    assert sorted(p.name for p in stem.iterdir()) == ["year=2019", "year=2020"]
    assert [p.name for p in stem.parent.iterdir() if p.name.startswith(".")] == []
    table = manager._load_one(stem, as_dataset=True)
    assert table.to_table(filter=ds.field("year") == 2020).num_rows == 2  # one folder read
    frame = manager._load_one(stem, as_dataset=False, columns=None)
    pd.testing.assert_frame_equal(frame, rows)  # the second table, whole
    # the fingerprint is read by the one helper, from the frame, the stored table and a staged one
    assert key_fingerprint(frame) == key_fingerprint(table) == "abc"
    assert key_fingerprint(StagedTable(stem)) == warehouse_fingerprint(tmp_path) == "abc"

    os.replace(stem, stem.parent / ".spolisbus.0.replaced")  # a crash between the two renames
    assert restore_replaced(stem) and manager._load_one(stem, as_dataset=False).equals(rows)
