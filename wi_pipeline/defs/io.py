"""Parquet storage for asset outputs, one file per asset (and partition), written atomically.

A crash mid-write leaves the previous file intact: the new file is written next to it, flushed to disk
and renamed over it in one step; hidden temp files a crash left behind are removed by a later write.
Unpartitioned consumers of a partitioned asset get a dict keyed by partition; an input declared
with ``AssetIn(metadata={"columns": [...]})`` reads only those columns;
an input annotated as ``pyarrow.dataset.Dataset`` (or declared with ``metadata={"as_dataset": True}``)
gets a lazy dataset, so large CBS tables can be read with column selection and predicate pushdown
instead of loaded whole.

A table too large for memory (a national CBS table) is stored as a folder of parquet files, by year
for a yearly table: the asset writes it into ``staging_folder`` and returns a ``StagedTable``, which
is swapped in here in one step once its checks passed.
"""

import json
import os
import tempfile
import time
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from dagster import ConfigurableIOManager, InputContext, OutputContext

from wi_pipeline.lib.datasets import (
    StagedTable,
    open_table,
    read_frame,
    restore_replaced,
    staging_folder,
    swap_in,
)
from wi_pipeline.lib.linkage import key_fingerprint
from wi_pipeline.lib.pseudonymise import record_warehouse_key

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None


# a hidden temp file this much older than its last write belongs to no running write (a write keeps
# touching its file, and each holds a lock on it besides); atomic_write removes such leftovers
LEFTOVER_AGE_SECONDS = 3600


def _fsync_path(path: Path, directory: bool = False) -> None:
    """Flush a file's data, or a directory's entries, to disk: without it a power loss after the rename
    can bring back an empty or missing file. Windows cannot open a directory, so it skips that part."""
    if directory and not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _lock(fd: int | None, blocking: bool = True) -> bool:
    """An exclusive lock the kernel drops when its process dies, also after kill -9 (none on Windows)."""
    if fcntl is None or fd is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
        return True
    except BlockingIOError:
        return False


def remove_leftovers(folder: Path, now: float | None = None) -> list[Path]:
    """Delete hidden temp files a crashed write left in ``folder``: only those untouched for
    LEFTOVER_AGE_SECONDS and whose lock no process holds, so a write still going on keeps its file."""
    now = time.time() if now is None else now
    removed = []
    for tmp in folder.glob(".*.tmp"):
        try:
            if now - tmp.stat().st_mtime < LEFTOVER_AGE_SECONDS:
                continue
            fd = os.open(tmp, os.O_RDONLY)
        except FileNotFoundError:  # another writer's cleanup got there first
            continue
        try:
            if _lock(fd, blocking=False):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
        finally:
            os.close(fd)
    return removed


def atomic_write(path: Path, write) -> None:
    """Write through ``write(temp_path)`` to a hidden temp file next to ``path``, flush it to disk and
    rename it over ``path``, then flush the folder, so ``path`` holds the old or the new file, whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path.parent)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    if fcntl is None:  # no lock to hold, and Windows cannot rename a file that is open
        os.close(fd)
        fd = None
    try:
        _lock(fd)
        write(tmp)
        _fsync_path(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        if fd is not None:
            os.close(fd)
    _fsync_path(path.parent, directory=True)


class ParquetIOManager(ConfigurableIOManager):
    base_dir: str

    def _stem(self, key_path: list[str], partition: str | None) -> Path:
        base = Path(self.base_dir).joinpath(*key_path)
        return base / partition if partition else base

    def staging_folder(self, key_path: list[str]) -> Path:
        """A fresh folder next to the asset's stored table, for a table written in parts."""
        return staging_folder(self._stem(key_path, None))

    def _find(self, stem: Path) -> Path:
        if stem.is_dir() or restore_replaced(stem):
            return stem
        for ext in (".parquet", ".md", ".html", ".json"):
            if stem.with_suffix(ext).exists():
                return stem.with_suffix(ext)
        raise FileNotFoundError(
            f"no stored output at {stem}.*: materialise the upstream asset first"
        )

    def handle_output(self, context: OutputContext, obj) -> None:
        if obj is None:
            return
        partition = context.asset_partition_key if context.has_asset_partitions else None
        stem = self._stem(context.asset_key.path, partition)
        if isinstance(obj, StagedTable):
            fingerprint = key_fingerprint(obj)
            if fingerprint:
                record_warehouse_key(Path(self.base_dir), fingerprint)
            swap_in(obj.folder, stem)
        elif isinstance(obj, pd.DataFrame):
            fingerprint = key_fingerprint(obj)
            if fingerprint:
                # a warehouse holds pseudonyms of one key: the first write records it, another key is refused
                record_warehouse_key(Path(self.base_dir), fingerprint)
            table = pa.Table.from_pandas(obj, preserve_index=False)
            if obj.attrs:
                meta = dict(table.schema.metadata or {})
                meta[b"wi_attrs"] = json.dumps(obj.attrs).encode()
                table = table.replace_schema_metadata(meta)
            atomic_write(stem.with_suffix(".parquet"), lambda p: pq.write_table(table, p))
        elif isinstance(obj, str):
            ext = ".html" if obj.lstrip()[:15].lower().startswith("<!doctype html") else ".md"
            atomic_write(stem.with_suffix(ext), lambda p: Path(p).write_text(obj, encoding="utf-8"))
        elif isinstance(obj, dict):
            atomic_write(
                stem.with_suffix(".json"),
                lambda p: Path(p).write_text(
                    json.dumps(obj, indent=1, default=str), encoding="utf-8"
                ),
            )
        else:
            raise TypeError(
                f"{context.asset_key.to_user_string()}: cannot store a {type(obj).__name__}"
            )

    def _load_one(self, stem: Path, as_dataset: bool, columns: list[str] | None = None):
        path = self._find(stem)
        if path.is_dir():
            table = open_table(path)
            return table if as_dataset else read_frame(table, columns)
        if as_dataset:
            return ds.dataset(path, format="parquet")
        if path.suffix == ".parquet":
            table = pq.read_table(path, columns=columns)
            df = table.to_pandas()
            raw = (table.schema.metadata or {}).get(b"wi_attrs")
            if raw:
                df.attrs.update(json.loads(raw))
            return df
        if path.suffix == ".json":
            return json.loads(path.read_text(encoding="utf-8"))
        return path.read_text(encoding="utf-8")

    def load_input(self, context: InputContext):
        key_path = context.asset_key.path
        metadata = context.definition_metadata or {}
        as_dataset = context.dagster_type.typing_type is ds.Dataset or bool(
            metadata.get("as_dataset")
        )
        columns = metadata.get("columns")  # AssetIn(metadata={"columns": [...]})
        if not context.has_asset_partitions:
            return self._load_one(self._stem(key_path, None), as_dataset, columns)
        keys = context.asset_partition_keys
        if len(keys) == 1 and context.has_partition_key:
            return self._load_one(self._stem(key_path, keys[0]), as_dataset, columns)
        return {k: self._load_one(self._stem(key_path, k), as_dataset, columns) for k in keys}
