"""Reading CBS microdata tables: only the needed columns, typed, validated.

CBS ships text: person numbers as 9-character strings with leading zeros and dates as YYYYMMDD.
Typing happens once here so that every consumer sees the same dates and codes. Which files make up
a table and how each form is read is ``lib/cbs_delivery.py``. An SPSS file or a re-export may type
the text (dates as a date type, codes as numbers): it gives the same table as the text form,
and a column that cannot hold its documented form is refused. As for register extracts, a column
mostly unparseable refuses the table (``mostly_unparseable``), and the asset blocks on a high
quarantine share. The key file (KOPPELTABEL) is the one CBS table with a BSN; it is pseudonymised
on the way in.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa_arrow
import pyarrow.compute as pc

from wi_pipeline.lib.bsn import is_valid_bsn, normalise_bsn
from wi_pipeline.lib.cbs_delivery import (
    Delivery,
    delivery_rules,
    find_delivery,
    legacy_path,
    read_delivery_chunks,
)
from wi_pipeline.lib.datasets import (
    ARROW_TEXT,
    BATCH_ROWS,
    PartitionedWriter,
    duckdb_connection,
    heap_frozen,
    iter_frames,
    open_table,
    parquet_source,
    release_memory,
)
from wi_pipeline.lib.ingest import ExtractError, mostly_unparseable_count
from wi_pipeline.lib.layout import CBS_TABLES, CbsTableLayout
from wi_pipeline.lib.pseudonymise import PSEUDONYM_COLUMN, PseudonymKey, guard_demo_key

MISSING_PERSON = "---------"  # KINDOUDERTAB: parent unknown
# Rows per chunk: about 0.4 GiB of pandas at the widest table (SPOLISBUS, ~750 bytes a row typed).
CHUNK_ROWS = BATCH_ROWS
CHUNK_ROWS_ENV_VAR = "WI_CBS_CHUNK_ROWS"  # another chunk size, e.g. on a machine with less memory
# Yearly tables (reference/cbs_deliveries.csv) are stored in one folder per year, so a filter on the
# year reads only that folder: by the delivery year of their file, or for the older single file
# <TABLE>.parquet by this column. Snapshot tables are one folder.
YEAR_COLUMNS = {
    "SPOLISBUS": "SDATUMAANVANGIKO",
    "ZVWZORGKOSTENTAB": "JAAR",
    "PROBSCHULDTAB": "PEILDATUM",
}
ROW_COLUMN = "_row"  # a row's position in the delivery, while it is being ingested
# attrs of the stored key file: pseudonyms mapped to more than one person key, in the whole file
AMBIGUOUS_PSEUDONYMS = "ambiguous_pseudonyms"
# Columns holding YYYYMMDD dates, per table; typed to datetime64.
DATE_COLUMNS = {
    "GBAHUISHOUDENSBUS": ("DATUMAANVANGHH", "DATUMEINDEHH"),
    "GBABURGERLIJKESTAATBUS": ("GBADATUMAANVANGBURGERLIJKESTAAT", "GBADATUMEINDEBURGERLIJKESTAAT"),
    "SPOLISBUS": ("SDATUMAANVANGIKO", "SDATUMEINDEIKO"),
    "SECMBUS": ("AANVSECM", "EINDSECM"),
    "PROBSCHULDTAB": ("PEILDATUM",),
}
INTEGER_COLUMNS = {
    "GBAPERSOONTAB": ("GBAGEBOORTEJAAR", "GBAGEBOORTEMAAND", "GBAGEBOORTEDAG"),
    "GBAHUISHOUDENSBUS": ("AANTALKINDHH", "GEBJAARJONGSTEKINDHH", "GEBMAANDJONGSTEKINDHH"),
    "ZVWZORGKOSTENTAB": ("JAAR",),
}


def cbs_path(landing: Path, table: str) -> Path:
    """The older landing form of a table, one parquet file; ``find_delivery`` reads it too."""
    return legacy_path(landing, table)


def read_cbs_table(delivery: Delivery, layout: CbsTableLayout) -> pd.DataFrame:
    """The layout's columns only, all delivered files stacked, in memory: for small tables and tests;
    ingestion reads chunk by chunk (``ingest_cbs_table``). A missing file or column is one clear error."""
    chunks = [df for _, df in read_delivery_chunks(delivery, list(layout.columns))]
    if not chunks:
        names = ", ".join(f.path.name for f in delivery.files)
        raise ExtractError(f"{names}: CBS table {layout.name} has no rows")
    return pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]


def _flag(reasons: pd.Series, mask: pd.Series, reason: str) -> None:
    """Add a reason to the rows in ``mask``, after any reason they already have."""
    if not mask.any():  # the usual case, and a cost per column per chunk at national size
        return
    reasons[mask] = reasons[mask].where(reasons[mask] == "", reasons[mask] + "; ") + reason


def _is_rinpersoon(s: pd.Series) -> pd.Series:
    return _arrow_text(s).str.fullmatch(r"[0-9]{9}").fillna(False).astype(bool)


# At national size the typing runs on hundreds of millions of values: text stays in arrow from the
# file to the stored table, and is matched, trimmed and parsed by pyarrow's vectorised kernels, not
# value by value in Python objects, which was most of the time. Python's own parser stays the
# fallback for a chunk arrow cannot parse whole.
def _arrow_text(s: pd.Series) -> pd.Series:
    return s if s.dtype == ARROW_TEXT else s.astype(ARROW_TEXT)


def _arrow_array(s: pd.Series) -> pa_arrow.Array | pa_arrow.ChunkedArray:
    """The values of a text column as arrow, without a copy when they are arrow already."""
    if s.dtype == ARROW_TEXT:
        return pa_arrow.array(s.array)
    return pa_arrow.array(np.asarray(s, dtype=object), type=pa_arrow.string(), from_pandas=True)


def _stripped(s: pd.Series) -> pd.Series:
    return _arrow_text(s).str.strip()


def _to_numeric(s: pd.Series) -> pd.Series:
    """``pd.to_numeric(errors="coerce")``: arrow's cast when every filled value parses, else pandas."""
    if _kind(s) in _TEXT:
        try:
            text = pc.utf8_trim_whitespace(_arrow_array(s))
            text = pc.if_else(pc.equal(text, ""), pa_arrow.scalar(None, text.type), text)
            return pd.Series(
                pc.cast(text, pa_arrow.float64()).to_numpy(zero_copy_only=False), index=s.index
            )
        except (pa_arrow.ArrowInvalid, pa_arrow.ArrowTypeError, pa_arrow.ArrowNotImplementedError):
            pass
    return pd.to_numeric(pd.Series(np.asarray(s, dtype=object), index=s.index), errors="coerce")


# the days datetime64[ns] can hold: a date outside is no date, whatever form it came in
_FIRST_DAY, _LAST_DAY = pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D")
_FIRST_DAY_D, _LAST_DAY_D = (np.datetime64(d.date(), "D") for d in (_FIRST_DAY, _LAST_DAY))


def _parse_yyyymmdd(text: pd.Series) -> pd.Series:
    """Eight digits that name a real calendar day, else missing (20190230 is no day). Parsed as
    numbers, so it costs nanoseconds a value: arrow's strptime would roll 20190230 over to 2 March,
    and pandas' parser goes value by value."""
    arr = _arrow_array(text)
    eight = pc.fill_null(pc.match_substring_regex(arr, "^[0-9]{8}$"), False)
    digits = pc.cast(pc.if_else(eight, arr, "0"), pa_arrow.int64()).to_numpy(zero_copy_only=False)
    year, month, day = digits // 10_000, digits // 100 % 100, digits % 100
    first_of_month = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    days = first_of_month.astype("datetime64[D]") + (day - 1)
    valid = (
        eight.to_numpy(zero_copy_only=False)
        & (month >= 1)
        & (month <= 12)
        & (day >= 1)
        & (days.astype("datetime64[M]") == first_of_month)
        & (days >= _FIRST_DAY_D)
        & (days <= _LAST_DAY_D)
    )
    out = np.where(valid, days, np.datetime64("NaT")).astype("datetime64[ns]")
    return pd.Series(out, index=text.index)


# Codes of a fixed width: a re-export that delivers them as numbers has dropped the leading zeros,
# which are restored; other codes delivered as numbers become their whole-number text ("11", not "11.0").
CODE_WIDTHS = {
    "BSN": 9,
    "RINPERSOON": 9,
    "RINPERSOONMa": 9,
    "RINPERSOONpa": 9,
    "GBAHERKOMSTGROEPERING": 4,
}
_TEXT = {"string", "empty"}
_NUMBERS = {"integer", "floating", "mixed-integer-float", "decimal"}
_DATES = {"datetime64", "datetime", "date"}


def _kind(s: pd.Series) -> str:
    """What the values are, whatever the dtype: a re-export may type CBS's text columns."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = pd.Series(np.asarray(s, dtype=object), index=s.index)
    return pd.api.types.infer_dtype(s, skipna=True)


def _refuse_type(table: str, col: str, kind: str, expected: str) -> ExtractError:
    return ExtractError(
        f"CBS table {table}: column {col} holds {kind} values, expected {expected}; "
        f"export it as documented in the contract"
    )


def _numbers_as_text(s: pd.Series, width: int | None) -> tuple[pd.Series, pd.Series]:
    """(text, not_whole): whole numbers as text, zero-padded to ``width``; a fraction is no code."""
    num = _to_numeric(s)
    whole = num.notna() & (num % 1 == 0) & (num.abs() < 2**53)
    text = _arrow_text(num.where(whole).astype("Int64").astype("string"))
    if width:
        text = text.str.zfill(width)
    return text, s.notna() & ~whole


def _as_text(s: pd.Series, table: str, col: str) -> tuple[pd.Series, pd.Series]:
    """(text, not_whole) of a code column; text stays as it came."""
    kind = _kind(s)
    if kind in _TEXT:
        return _arrow_text(s), pd.Series(False, index=s.index)
    if kind in _NUMBERS:
        return _numbers_as_text(s, CODE_WIDTHS.get(col))
    width = f" of {CODE_WIDTHS[col]} digits" if col in CODE_WIDTHS else ""
    raise _refuse_type(table, col, kind, "text" + width)


def _as_dates(s: pd.Series, table: str, col: str) -> tuple[pd.Series, pd.Series]:
    """(dates, filled): YYYYMMDD text, or a date type or YYYYMMDD number as a re-export may deliver.

    Every form takes the same road (a day, and a date outside datetime64[ns] is no date), so a
    typed table gives what its text form gives.
    """
    kind = _kind(s)
    if kind in _DATES:
        if getattr(s.dtype, "tz", None) is not None:
            raise ExtractError(
                f"CBS table {table}: column {col} holds dates with a time zone, expected "
                f"calendar dates (YYYYMMDD text or a date type)"
            )
        if pd.api.types.is_datetime64_dtype(s.dtype):
            dates = s.where((s >= _FIRST_DAY) & (s <= _LAST_DAY)).astype("datetime64[ns]")
        else:  # date or datetime objects
            dates = pd.to_datetime(
                pd.Series(np.asarray(s, dtype=object), index=s.index), errors="coerce"
            )
            if dates.dt.tz is not None:
                raise ExtractError(
                    f"CBS table {table}: column {col} holds dates with a time zone, expected "
                    f"calendar dates (YYYYMMDD text or a date type)"
                )
        return dates.dt.normalize(), s.notna()
    if kind in _TEXT:
        txt, not_whole = _stripped(s), pd.Series(False, index=s.index)
    elif kind in _NUMBERS:
        txt, not_whole = _numbers_as_text(s, None)
    else:
        raise _refuse_type(table, col, kind, "dates (YYYYMMDD text or a date type)")
    return (
        _parse_yyyymmdd(txt),
        (txt.notna() & (txt != "")).fillna(False).astype(bool) | not_whole,
    )


def _as_numbers(s: pd.Series, table: str, col: str, expected: str) -> tuple[pd.Series, pd.Series]:
    """(numbers, filled) from text or numbers; dates or booleans in a number column are refused."""
    kind = _kind(s)
    if kind not in _TEXT | _NUMBERS:
        raise _refuse_type(table, col, kind, expected)
    filled = s.notna()
    if kind in _TEXT:
        filled &= (_stripped(s) != "").fillna(True).astype(bool)
    return _to_numeric(s), filled


def _whole_numbers(num: pd.Series) -> pd.Series:
    """Floats known to be whole (or missing) as Int64, without pandas' check of every value."""
    values = num.to_numpy(dtype="float64")
    missing = np.isnan(values)
    ints = np.where(missing, 0, values).astype(np.int64)
    return pd.Series(pd.arrays.IntegerArray(ints, missing), index=num.index)


class UnparseableTally:
    """Per column, over all chunks of a table: rows failing to parse, rows filled, first failing row.

    The register guard (``mostly_unparseable``) is decided on these whole-table totals, so a table read
    in chunks is refused exactly when the table read whole would be.
    """

    def __init__(self, table: str):
        self.table = table
        self.columns: dict[str, list] = {}  # column -> [form, failing, filled, first failing row]

    def add(self, parsed: list[tuple[str, pd.Series, pd.Series, str]], offset: int = 0) -> None:
        """``parsed``: (column, failing, filled, documented form) of one chunk starting at row ``offset``."""
        for col, failing, filled, form in parsed:
            tally = self.columns.setdefault(col, [form, 0, 0, None])
            tally[1] += int(failing.sum())
            tally[2] += int(filled.sum())
            if tally[3] is None and failing.any():
                tally[3] = offset + int(np.flatnonzero(failing.to_numpy())[0])

    def refuse(self) -> None:
        parts = [
            f"column {col} is not {form} in {failing} of {filled} rows (first at row {first + 1})"
            for col, (form, failing, filled, first) in self.columns.items()
            if mostly_unparseable_count(failing, filled)
        ]
        if parts:
            raise ExtractError(
                f"CBS table {self.table}: {'; '.join(parts)}; the table is refused rather than "
                "quarantined row by row: export it as documented in the contract"
            )


def _refuse_mostly_unparseable(
    table: str, checks: list[tuple[str, pd.Series, pd.Series, str]]
) -> None:
    """The register guard (``mostly_unparseable``) per column: (column, failing, filled, documented form)."""
    tally = UnparseableTally(table)
    tally.add(checks)
    tally.refuse()


def type_cbs_table(df: pd.DataFrame, layout: CbsTableLayout) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed table and quarantined rows (with reason): unparseable dates or numbers, bad person keys,
    negative values where the layout forbids them. A column that is mostly unparseable, or of a type
    that cannot hold its documented form, refuses the whole table (ExtractError naming table and column)."""
    accepted, quarantine, parsed = type_cbs_chunk(df, layout)
    _refuse_mostly_unparseable(layout.name, parsed)
    return _as_stored(accepted), _as_stored(quarantine.reset_index(drop=True))


def _as_stored(df: pd.DataFrame) -> pd.DataFrame:
    """Text as a stored table reads back (pandas' "string"), for frames kept in memory."""
    text = [c for c in df.columns if df[c].dtype == ARROW_TEXT]
    return df.astype(dict.fromkeys(text, "string")) if text else df


def type_cbs_chunk(
    df: pd.DataFrame, layout: CbsTableLayout
) -> tuple[pd.DataFrame, pd.DataFrame, list[tuple[str, pd.Series, pd.Series, str]]]:
    """``type_cbs_table`` on one chunk, without the whole-table refusal: (accepted, quarantine with the
    chunk's row positions as index, per column what failed to parse for ``UnparseableTally``)."""
    name = layout.name
    df = df.reset_index(drop=True)
    out = pd.DataFrame(index=df.index)
    reasons = pd.Series("", index=df.index, dtype=object)
    parsed: list[tuple[str, pd.Series, pd.Series, str]] = []  # column, failing, filled, form

    for col in layout.columns:
        s = df[col]
        if col in layout.numeric_columns:
            num, filled = _as_numbers(s, name, col, "numbers")
            failing = num.isna() & s.notna()
            _flag(reasons, failing, f"{col} is not a number")
            parsed.append((col, failing & filled, filled, "a number"))
            out[col] = num.astype("float64")
        elif col in DATE_COLUMNS.get(name, ()):
            dates, filled = _as_dates(s, name, col)
            failing = dates.isna() & filled
            _flag(reasons, failing, f"{col} is not a date (YYYYMMDD)")
            parsed.append((col, failing, filled, "a date (YYYYMMDD)"))
            out[col] = dates
        elif col in INTEGER_COLUMNS.get(name, ()):
            num, filled = _as_numbers(s, name, col, "whole numbers")
            whole = num.isna() | (
                (num % 1 == 0) & (num.abs() < 2**53)
            )  # 1980.5 or 1e30 cannot be Int64
            failing = (num.isna() & filled) | ~whole
            _flag(reasons, failing, f"{col} is not a whole number")
            parsed.append((col, failing, filled, "a whole number"))
            out[col] = _whole_numbers(num.where(whole))
        else:
            text, not_whole = _as_text(s, name, col)
            _flag(reasons, not_whole, f"{col} is not a whole number")
            parsed.append((col, not_whole, s.notna(), "text or a whole number"))
            out[col] = text
    if "RINPERSOON" in out:
        filled = out["RINPERSOON"].notna() & (out["RINPERSOON"] != "").fillna(False).astype(bool)
        not_rin = ~_is_rinpersoon(out["RINPERSOON"])
        _flag(reasons, not_rin, "RINPERSOON is not 9 digits")
        parsed.append(("RINPERSOON", not_rin & filled, filled, "a 9-digit person number"))
    for col in layout.non_negative_columns:
        _flag(reasons, (out[col] < 0).fillna(False).astype(bool), f"{col} is negative")
    bad = reasons != ""
    quarantine = out.loc[bad].assign(reason=reasons[bad])
    return out.loc[~bad].reset_index(drop=True), quarantine, parsed


def pseudonymise_key_file(
    df: pd.DataFrame, key: PseudonymKey, source: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """BSN -> pseudo_id; rows whose BSN fails the eleven-test or whose RINPERSOON is not 9 digits
    cannot link and are quarantined, and so is a repeated row. One BSN with two RINPERSOONs stays:
    linkage quarantines that person's spells as "ambiguous key" (``ambiguous_pseudonyms``)."""
    accepted, quarantine, parsed = pseudonymise_key_chunk(df, key, source)
    _refuse_mostly_unparseable("KOPPELTABEL", parsed)
    repeated = accepted.drop(columns=ROW_COLUMN).duplicated(keep="first").to_numpy()
    quarantine = pd.concat(
        [
            quarantine,
            accepted[repeated].set_index(ROW_COLUMN).assign(reason="duplicate row"),
        ]
    ).sort_index(kind="stable")
    accepted = accepted[~repeated].drop(columns=ROW_COLUMN)
    return _as_stored(accepted.reset_index(drop=True)), _as_stored(
        quarantine.reset_index(drop=True)
    )


def pseudonymise_key_chunk(df: pd.DataFrame, key: PseudonymKey, source: str):
    """``pseudonymise_key_file`` on one chunk: (accepted with each row's position in ``ROW_COLUMN``,
    quarantine with positions as index, what failed to parse). A repeated row is found over all
    chunks after the last one (``ingest_cbs_table``), or over the table (``pseudonymise_key_file``)."""
    table = "KOPPELTABEL"
    df = df.reset_index(drop=True)
    bsn_text, bsn_not_whole = _as_text(df["BSN"], table, "BSN")
    bsn = normalise_bsn(bsn_text)
    valid_bsn = is_valid_bsn(bsn)
    guard_demo_key(key, bsn[valid_bsn], source)
    kind, kind_not_whole = _as_text(df["RINPERSOONS"], table, "RINPERSOONS")
    rin, rin_not_whole = _as_text(df["RINPERSOON"], table, "RINPERSOON")
    out = pd.DataFrame(
        {PSEUDONYM_COLUMN: key.pseudonymise(bsn), "RINPERSOONS": kind, "RINPERSOON": rin}
    )
    reasons = pd.Series("", index=df.index, dtype=object)
    _flag(reasons, ~valid_bsn, "BSN fails the eleven-test")
    _flag(reasons, kind_not_whole, "RINPERSOONS is not a whole number")
    not_rin = ~_is_rinpersoon(out["RINPERSOON"])
    _flag(reasons, not_rin, "RINPERSOON is not 9 digits")
    filled = {
        c: s.notna() & (_stripped(s) != "").fillna(False).astype(bool)
        for c, s in (("BSN", bsn_text), ("RINPERSOON", rin))
    }
    parsed = [
        (
            "BSN",
            (~valid_bsn | bsn_not_whole) & filled["BSN"],
            filled["BSN"],
            "a BSN passing the eleven-test",
        ),
        (
            "RINPERSOON",
            (not_rin | rin_not_whole) & filled["RINPERSOON"],
            filled["RINPERSOON"],
            "a 9-digit person number",
        ),
    ]
    bad = reasons != ""
    quarantine = out.loc[bad].assign(reason=reasons[bad])
    accepted = out.loc[~bad].assign(**{ROW_COLUMN: np.flatnonzero(~bad.to_numpy())})
    return accepted.reset_index(drop=True), quarantine, parsed


@dataclass
class CbsIngestion:
    """One CBS table read, typed and written chunk by chunk into ``folder`` (a staging folder that
    ``datasets.swap_in`` puts in place once the checks pass). The quarantine is small and in memory."""

    table: str
    folder: Path
    rows_in: int
    rows_accepted: int
    quarantine: pd.DataFrame
    attrs: dict = field(default_factory=dict)
    chunks: int = 0

    def reason_counts(self) -> dict[str, int]:
        q = self.quarantine
        return q["reason"].str.split("; ").explode().value_counts().to_dict() if len(q) else {}


def _partition_years(table: str, year: int | None, accepted: pd.DataFrame) -> pd.Series | None:
    """The year folder of each accepted row of a yearly table: its file's delivery year, or for the
    older single file its year column."""
    if year is not None:
        return pd.Series(year, index=accepted.index, dtype="Int64")
    col = accepted[YEAR_COLUMNS[table]]
    return col.dt.year.astype("Int64") if pd.api.types.is_datetime64_any_dtype(col) else col


def ingest_cbs_table(
    landing: Path,
    table: str,
    folder: Path,
    key: PseudonymKey | None = None,
    chunk_rows: int | None = None,
    delivery: Delivery | None = None,
) -> CbsIngestion:
    """Read one CBS table chunk by chunk, type and quarantine each chunk, and append the accepted rows
    to parquet in ``folder`` (by year for a yearly table). Memory stays about one chunk whatever the
    table's size. The refusals (a mostly unparseable column) are decided on whole-table counts; on
    any refusal ``folder`` is removed, so nothing half-written remains. ``delivery`` when the caller
    already found it (``find_delivery``), so its files are not hashed twice.
    """
    layout = CBS_TABLES[table]
    if layout.holds_bsn and key is None:
        raise ValueError(f"{table} holds BSNs and needs the pseudonymisation key")
    chunk_rows = chunk_rows or int(os.environ.get(CHUNK_ROWS_ENV_VAR) or CHUNK_ROWS)
    delivery = delivery if delivery is not None else find_delivery(landing, table)
    path = ", ".join(str(f.path) for f in delivery.files)
    yearly = delivery_rules()[table].kind == "yearly"
    folder = Path(folder)
    attrs = {"key_fingerprint": key.fingerprint} if layout.holds_bsn else {}
    # the key file is written once more after its last chunk, without repeated rows
    target = folder / ".rows" if layout.holds_bsn else folder
    writer = PartitionedWriter(target, attrs)
    tally = UnparseableTally(table)
    quarantine_parts: list[pd.DataFrame] = []
    rows_in = chunks = 0
    try:
        with heap_frozen():
            for file, raw in read_delivery_chunks(delivery, list(layout.columns), chunk_rows):
                if layout.holds_bsn:
                    accepted, quarantine, parsed = pseudonymise_key_chunk(raw, key, str(path))
                    accepted[ROW_COLUMN] += rows_in
                else:
                    accepted, quarantine, parsed = type_cbs_chunk(raw, layout)
                tally.add(parsed, rows_in)
                writer.write(
                    accepted, _partition_years(table, file.year, accepted) if yearly else None
                )
                if len(quarantine) or not quarantine_parts:
                    quarantine_parts.append(
                        quarantine.assign(**{ROW_COLUMN: quarantine.index + rows_in})
                    )
                rows_in += len(raw)
                chunks += 1
                large = len(raw) >= 100_000  # a small chunk leaves nothing worth a collection
                del raw, accepted, quarantine, parsed
                if large:
                    release_memory()
        writer.close()
        if not rows_in:
            names = ", ".join(f.path.name for f in delivery.files)
            raise ExtractError(f"{names}: CBS table {layout.name} has no rows")
        tally.refuse()
        rows_accepted = writer.rows
        if layout.holds_bsn:
            repeated, attrs = _finish_key_file(target, folder, attrs, chunk_rows)
            quarantine_parts.append(repeated)
            rows_accepted -= len(repeated)
    except BaseException:
        writer.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    quarantine = (
        pd.concat(
            [q for q in quarantine_parts if len(q)] or quarantine_parts[:1], ignore_index=True
        )
        .sort_values(ROW_COLUMN, kind="stable")
        .drop(columns=ROW_COLUMN)
        .reset_index(drop=True)
        .pipe(_as_stored)
    )
    if rows_accepted + len(quarantine) != rows_in:
        shutil.rmtree(folder, ignore_errors=True)
        raise RuntimeError(f"{table}: rows in != accepted + quarantined")
    return CbsIngestion(table, folder, rows_in, rows_accepted, quarantine, attrs, chunks)


def _finish_key_file(
    rows: Path, folder: Path, attrs: dict, chunk_rows: int
) -> tuple[pd.DataFrame, dict]:
    """The key file's accepted rows without a row repeating an earlier chunk's (quarantined as a
    "duplicate row", as a single read does), and the number of ambiguous pseudonyms, both counted
    out of core by DuckDB over the rows written; then the rows are written again without them."""
    source = parquet_source(open_table(rows))
    key_cols = [PSEUDONYM_COLUMN, "RINPERSOONS", "RINPERSOON"]
    same = " AND ".join(f"k.{c} IS NOT DISTINCT FROM d.{c}" for c in key_cols)
    with duckdb_connection(temp_parent=folder) as con:
        repeated = (
            con.sql(
                f"""SELECT k.* FROM {source} k JOIN (
                      SELECT {", ".join(key_cols)}, min({ROW_COLUMN}) AS first_row
                      FROM {source} GROUP BY ALL HAVING count(*) > 1) d
                    ON {same} WHERE k.{ROW_COLUMN} <> d.first_row ORDER BY k.{ROW_COLUMN}"""
            )
            .to_arrow_table()
            .cast(open_table(rows).schema.remove_metadata())
            .to_pandas()
        )
        [(ambiguous,)] = con.execute(
            # plain GROUP BYs, which DuckDB spills to disk beyond its memory limit
            f"""SELECT count(*) FROM (
                  SELECT {PSEUDONYM_COLUMN} FROM (SELECT DISTINCT {", ".join(key_cols)} FROM {source})
                  GROUP BY {PSEUDONYM_COLUMN} HAVING count(*) > 1)"""
        ).fetchall()
    attrs = {**attrs, AMBIGUOUS_PSEUDONYMS: int(ambiguous)}
    drop = repeated[ROW_COLUMN].to_numpy()
    writer = PartitionedWriter(folder, attrs)
    for chunk in iter_frames(open_table(rows), chunk_rows, text=ARROW_TEXT):
        if len(drop):
            chunk = chunk[~chunk[ROW_COLUMN].isin(drop)]
        writer.write(chunk.drop(columns=ROW_COLUMN).reset_index(drop=True))
    writer.close()
    shutil.rmtree(rows)
    for col in (PSEUDONYM_COLUMN, "RINPERSOONS", "RINPERSOON"):
        repeated[col] = repeated[col].astype("string")
    return repeated.assign(reason="duplicate row"), attrs
