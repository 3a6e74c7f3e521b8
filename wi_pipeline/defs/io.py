"""Parquet storage for asset outputs, one file per asset (and partition), written atomically.

A crash mid-write leaves the previous file intact: the new file is written next to it and renamed
over it in one step. Unpartitioned consumers of a partitioned asset get a dict keyed by partition; an input declared
with ``AssetIn(metadata={"columns": [...]})`` reads only those columns;
an input annotated as ``pyarrow.dataset.Dataset`` gets a lazy dataset, so large CBS tables can be
read with column selection and predicate pushdown instead of loaded whole.
"""

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from dagster import ConfigurableIOManager, InputContext, OutputContext


def atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ParquetIOManager(ConfigurableIOManager):
    base_dir: str

    def _stem(self, key_path: list[str], partition: str | None) -> Path:
        base = Path(self.base_dir).joinpath(*key_path)
        return base / partition if partition else base

    def _find(self, stem: Path) -> Path:
        for ext in (".parquet", ".md", ".html", ".json"):
            if stem.with_suffix(ext).exists():
                return stem.with_suffix(ext)
        raise FileNotFoundError(f"no stored output at {stem}.*: materialise the upstream asset first")

    def handle_output(self, context: OutputContext, obj) -> None:
        if obj is None:
            return
        partition = context.asset_partition_key if context.has_asset_partitions else None
        stem = self._stem(context.asset_key.path, partition)
        if isinstance(obj, pd.DataFrame):
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
            atomic_write(stem.with_suffix(".json"),
                         lambda p: Path(p).write_text(json.dumps(obj, indent=1, default=str), encoding="utf-8"))
        else:
            raise TypeError(f"{context.asset_key.to_user_string()}: cannot store a {type(obj).__name__}")

    def _load_one(self, stem: Path, as_dataset: bool, columns: list[str] | None = None):
        path = self._find(stem)
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
        as_dataset = context.dagster_type.typing_type is ds.Dataset
        columns = (context.definition_metadata or {}).get("columns")  # AssetIn(metadata={"columns": [...]})
        if not context.has_asset_partitions:
            return self._load_one(self._stem(key_path, None), as_dataset, columns)
        keys = context.asset_partition_keys
        if len(keys) == 1 and context.has_partition_key:
            return self._load_one(self._stem(key_path, keys[0]), as_dataset, columns)
        return {k: self._load_one(self._stem(key_path, k), as_dataset, columns) for k in keys}
