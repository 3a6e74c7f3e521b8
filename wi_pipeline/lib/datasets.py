"""Tables too large for memory, stored as a folder of parquet files, optionally one folder per year.

A national CBS table (24 million persons, over 100 million job rows) is written chunk by chunk into
a hidden staging folder next to where it will live, judged there, and only then swapped in by
renaming folders, so a refused delivery never replaces the good table stored before. The layout is
the one pyarrow and DuckDB read with pushdown: ``<table>/year=2019/part-0.parquet`` for a yearly
table, ``<table>/part-0.parquet`` for a snapshot.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

ATTRS_KEY = b"wi_attrs"  # DataFrame.attrs travel in the parquet schema metadata
NULL_PARTITION = (
    "__HIVE_DEFAULT_PARTITION__"  # the folder name pyarrow and DuckDB read as a null year
)
PART_FILE = "part-0.parquet"
# Rows per batch when a stored table is read in parts: about 0.4 GiB of pandas at the widest table.
BATCH_ROWS = 500_000
# Text as arrow-backed pandas strings: national tables are typed, checked and written on arrow's
# vectorised kernels, without a Python object per value.
ARROW_TEXT = pd.StringDtype("pyarrow")


def text_as(dtype: pd.StringDtype):
    """The ``types_mapper`` for ``to_pandas`` that gives arrow text columns ``dtype``."""
    return {pa.string(): dtype, pa.large_string(): dtype}.get


# a staging or replaced folder untouched this long belongs to no running write
LEFTOVER_AGE_SECONDS = 3600


@dataclass(frozen=True)
class StagedTable:
    """A table written into a staging folder, to be swapped in where the asset's table is stored."""

    folder: Path


class PartitionedWriter:
    """Append DataFrame chunks to one parquet file per year (or one file), as row groups.

    The first chunk fixes the schema; later chunks are cast to it, so a chunk whose column happens
    to be all empty cannot change a type. At most one open file per year: memory stays one chunk.
    """

    def __init__(self, folder: Path, attrs: dict | None = None):
        self.folder = Path(folder)
        self.attrs = attrs or {}
        self.schema: pa.Schema | None = None
        self._writers: dict[str | None, pq.ParquetWriter] = {}
        self.rows = 0

    def _schema(self, df: pd.DataFrame) -> pa.Schema:
        if self.schema is None:
            schema = pa.Schema.from_pandas(df, preserve_index=False)
            # arrow-backed text in pandas is large_string: stored as string, whatever form it came in
            schema = pa.schema(
                [f.with_type(pa.string()) if f.type == pa.large_string() else f for f in schema],
                metadata=schema.metadata,
            )
            meta = dict(schema.metadata or {})
            if self.attrs:
                meta[ATTRS_KEY] = json.dumps(self.attrs).encode()
            self.schema = schema.with_metadata(meta)
        return self.schema

    def _writer(self, year: str | None) -> pq.ParquetWriter:
        if year not in self._writers:
            folder = self.folder if year is None else self.folder / f"year={year}"
            folder.mkdir(parents=True, exist_ok=True)
            self._writers[year] = pq.ParquetWriter(folder / PART_FILE, self.schema)
        return self._writers[year]

    def write(self, df: pd.DataFrame, years: pd.Series | None = None) -> None:
        """``years``: the partition of each row (whole numbers, missing allowed); None: unpartitioned."""
        schema = self._schema(df)
        if not len(df):
            return
        table = pa.Table.from_pandas(df, schema=schema, preserve_index=False)
        if years is None:
            self._writer(None).write_table(table)
        else:
            years = years.astype("Int64")
            missing = years.isna().to_numpy()
            whole = years.to_numpy(dtype=np.int64, na_value=0)
            parts = [(str(y), ~missing & (whole == y)) for y in np.unique(whole[~missing])]
            parts += [(NULL_PARTITION, missing)] if missing.any() else []
            for year, rows in parts:
                self._writer(year).write_table(table if rows.all() else table.filter(rows))
        self.rows += len(df)

    def close(self) -> None:
        """Close every file; a table without rows still gets one empty file with its columns."""
        if not self._writers and self.schema is not None:
            self._writer(None)
        for w in self._writers.values():
            w.close()
        self._writers.clear()


def release_memory() -> None:
    """Give freed memory back to the system between chunks. Without it the C allocator keeps the
    fragments of each chunk's short-lived strings and the resident memory of a long ingestion
    creeps up (measured: about 65 MiB per million SPOLISBUS rows, half that with it)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc (Windows, macOS): the allocator decides
        pass


@contextmanager
def heap_frozen():
    """While a table is read chunk by chunk, the collections of ``release_memory`` skip the objects
    alive before the first chunk (the project, Dagster and GX: about 430,000 objects, 0.37 s a
    collection; 2 December 2026) and look at the chunks' own garbage only."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def open_table(folder: Path) -> ds.Dataset:
    """The stored table as a lazy dataset; the year folders become a ``year`` field to filter on."""
    folder = Path(folder)
    files = sorted(
        str(p)
        for p in folder.rglob("*.parquet")
        if not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)
    )
    return ds.dataset(
        files,
        format="parquet",
        partitioning=ds.partitioning(flavor="hive"),
        partition_base_dir=str(folder),
    )


def table_columns(dataset: ds.Dataset) -> list[str]:
    """The stored columns, without the ``year`` of the folder layout."""
    if not dataset.files:
        return dataset.schema.names
    stored = set(pq.read_schema(dataset.files[0]).names)
    return [n for n in dataset.schema.names if n in stored]


def table_attrs(dataset: ds.Dataset) -> dict:
    raw = (dataset.schema.metadata or {}).get(ATTRS_KEY)
    return json.loads(raw) if raw else {}


def read_frame(dataset: ds.Dataset, columns: list[str] | None = None, filter=None) -> pd.DataFrame:
    """The (selected rows of the) table as one DataFrame: for small tables or few rows only."""
    df = dataset.to_table(columns=columns or table_columns(dataset), filter=filter).to_pandas()
    df.attrs.update(table_attrs(dataset))
    return df


def iter_frames(
    dataset: ds.Dataset,
    batch_rows: int,
    columns: list[str] | None = None,
    *,
    text: pd.StringDtype | None = None,
) -> Iterable[pd.DataFrame]:
    """The table batch by batch, as DataFrames, in stored order; ``text``: the dtype of text
    columns (e.g. ``ARROW_TEXT``, for a pass over every row that only reads them), else object."""
    mapper = text_as(text) if text is not None else None
    # no read-ahead: by default the scanner holds up to 16 batches in memory besides the one in use
    for batch in dataset.to_batches(
        columns=columns or table_columns(dataset),
        batch_size=batch_rows,
        batch_readahead=0,
        fragment_readahead=0,
    ):
        if batch.num_rows:
            yield batch.to_pandas(types_mapper=mapper)


def staging_folder(final: Path) -> Path:
    """A fresh hidden folder next to ``final``: renaming it over ``final`` later is one step."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_folders(final.parent)
    path = final.parent / f".{final.name}.{uuid.uuid4().hex[:12]}.staging"
    path.mkdir()
    return path


def remove_stale_folders(parent: Path, now: float | None = None) -> list[Path]:
    """Staging or replaced folders a crashed run left behind, untouched for LEFTOVER_AGE_SECONDS."""
    now = time.time() if now is None else now
    removed = []
    for p in list(parent.glob(".*.staging")) + list(parent.glob(".*.replaced")):
        try:
            if p.is_dir() and now - p.stat().st_mtime >= LEFTOVER_AGE_SECONDS:
                shutil.rmtree(p, ignore_errors=True)
                removed.append(p)
        except FileNotFoundError:
            continue
    return removed


def swap_in(staged: Path, final: Path) -> None:
    """Replace the table at ``final`` (a folder, or an older single ``final``.parquet) by ``staged``.

    Two renames: the old folder aside, the new one in place. A crash between them leaves the old
    table aside, whole; ``restore_replaced`` puts it back when no new table arrived.
    """
    staged, final = Path(staged), Path(final)
    aside = None
    if final.exists():
        aside = final.parent / f".{final.name}.{uuid.uuid4().hex[:12]}.replaced"
        os.replace(final, aside)
    os.replace(staged, final)
    _fsync_dir(final.parent)
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
    single = final.with_suffix(".parquet")
    single.unlink(missing_ok=True)  # the table as it was stored before, one file


def restore_replaced(final: Path) -> bool:
    """After a crash between the two renames of ``swap_in``: the table set aside goes back."""
    final = Path(final)
    if final.exists():
        return False
    aside = sorted(final.parent.glob(f".{final.name}.*.replaced"), key=lambda p: p.stat().st_mtime)
    if not aside:
        return False
    os.replace(aside[-1], final)
    return True


def _fsync_dir(path: Path) -> None:
    if not hasattr(os, "O_DIRECTORY"):
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def duckdb_connection(memory_limit: str = "1GB", temp_parent: Path | None = None):
    """An in-process DuckDB for out-of-core queries over stored parquet: it spills to a temporary
    folder (in ``temp_parent``, else the system's) beyond ``memory_limit`` instead of growing, uses
    at most two threads (the machine has two cores), and leaves nothing behind."""
    import duckdb

    spill = tempfile.mkdtemp(prefix=".duckdb-", dir=temp_parent)
    con = duckdb.connect(
        config={"threads": 2, "memory_limit": memory_limit, "temp_directory": spill}
    )
    try:
        con.execute("SET preserve_insertion_order = false")
        yield con
    finally:
        con.close()
        shutil.rmtree(spill, ignore_errors=True)


def _sql_text(text: str) -> str:
    return text.replace("'", "''")


def parquet_source(dataset: ds.Dataset, row_order: bool = False) -> str:
    """A DuckDB table expression reading exactly the dataset's files; ``row_order``: with each
    row's ``filename`` and ``file_row_number``, to keep the stored order."""
    files = ", ".join(f"'{_sql_text(f)}'" for f in dataset.files)
    order = ", filename = true, file_row_number = true" if row_order else ""
    return f"read_parquet([{files}], union_by_name = true{order})"


ROW_ORDER = "__row_order"  # a frame's row positions, for DuckDB to give its rows back in order


def rows_with_keys(
    source: ds.Dataset | pd.DataFrame,
    columns: list[str],
    keys: Iterable[str],
    key_columns: Sequence[tuple[str | None, str]],
    kind: str | None = None,
) -> pd.DataFrame:
    """The rows whose key in one of ``key_columns`` is one of ``keys``, in stored order.

    ``key_columns`` are pairs (kind column or None, key column); where a kind column is named, it
    must hold ``kind`` too. A DuckDB semi-join decodes the other columns only for the rows kept,
    where pyarrow's dataset filter decodes every column of every row first: one municipality's
    rows of the national SPOLISBUS in 7.6 s instead of 23 s (measured 2 December 2026)."""
    wanted = pd.Series(list(keys), dtype=object).dropna().astype(str).unique()
    matches = " OR ".join(
        "("
        + ("" if k is None else f"\"{k}\" = '{_sql_text(kind)}' AND ")
        + f'"{c}" IN (SELECT key FROM wanted))'
        for k, c in key_columns
    )
    select = ", ".join(f'"{c}"' for c in columns)
    with duckdb_connection() as con:
        con.register("wanted", pa.table({"key": pa.array(wanted, pa.string())}))
        if isinstance(source, pd.DataFrame):
            table = pa.Table.from_pandas(source, preserve_index=False)
            order = pa.array(np.arange(table.num_rows, dtype=np.int64))
            con.register("frame", table.append_column(ROW_ORDER, order))
            rows, by, schema = "frame", ROW_ORDER, table.schema
        else:
            rows, by = parquet_source(source, row_order=True), "filename, file_row_number"
            schema = source.schema
        query = f"SELECT {select} FROM {rows} WHERE {matches} ORDER BY {by}"
        found = con.sql(query).to_arrow_table()
    # the stored types and pandas metadata, so the rows come back as a plain read gives them
    stored = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    return found.cast(stored).to_pandas()
