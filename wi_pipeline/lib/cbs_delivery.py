"""CBS tables as CBS delivers them: which files in the landing folder make up a table, read in chunks.

Inside CBS Remote Access a table arrives as files named by CBS (stem, year, version), mostly SPSS
``.sav``, sometimes a ``.csv`` or ``.parquet`` copy, in ``<landing>/CBS/<TABLE>/``. Researchers use
the highest version of each year; a yearly table (jobs, care costs, debt) stacks its years, a
snapshot table (persons, households, the key file) is used in its newest year only. The file names
and kinds per table are set in ``reference/cbs_deliveries.csv``, so a name CBS spells otherwise is
one line to change, not code. The older form, one ``<landing>/CBS/<TABLE>.parquet``, keeps working.

Every file that is not used (older version, older year, a copy in another form, an unknown name) is
listed with the reason, so the asset metadata says exactly what was read and what was left.
Values are yielded as stored; ``lib/cbs.py`` types them into the documented codings.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wi_pipeline.lib.arrivals import file_sha256
from wi_pipeline.lib.datasets import ARROW_TEXT, text_as
from wi_pipeline.lib.ingest import ExtractError
from wi_pipeline.lib.layout import CBS_FOLDER, CBS_TABLES
from wi_pipeline.lib.spss import SavError, SavLayout, read_layout, read_sav_chunks

DELIVERY_RULES_FILE = Path(__file__).resolve().parent.parent / "reference" / "cbs_deliveries.csv"
# The form read when one (year, version) is delivered twice: SPSS is what CBS delivers and keeps
# its column types; parquet keeps them too; a csv copy is text and may have lost a separator choice.
FORM_PREFERENCE = ("sav", "parquet", "csv")
FORMS = {".sav": "sav", ".zsav": "sav", ".csv": "csv", ".parquet": "parquet"}
KINDS = ("yearly", "snapshot")
CSV_SEPARATORS = (";", ",", "\t", "|")  # tried in this order when the reference file sets none


@dataclass(frozen=True)
class DeliveryFile:
    path: Path
    year: (
        int | None
    )  # None: a file without a year (KOPPELTABEL.sav, legacy <landing>/CBS/<TABLE>.parquet)
    version: int | None  # the V<n> suffix; None when absent
    form: str  # "sav" | "csv" | "parquet"
    sha256: str


@dataclass(frozen=True)
class Delivery:
    table: str  # CBS table name as in layout.CBS_TABLES
    files: tuple[DeliveryFile, ...]  # chosen, sorted by year
    ignored: tuple[tuple[str, str], ...]  # (file name, reason)

    def metadata(self) -> dict:
        """JSON-able: the files read (name, year, version, form, sha256) and those left, with why."""
        return {
            "table": self.table,
            "files": [
                {
                    "name": _shown(f.path),
                    "year": f.year,
                    "version": f.version,
                    "form": f.form,
                    "sha256": f.sha256,
                }
                for f in self.files
            ],
            "ignored": [{"name": name, "reason": reason} for name, reason in self.ignored],
        }


@dataclass(frozen=True)
class DeliveryRule:
    """One line of the reference file: how CBS names a table's files and how its years combine."""

    table: str
    kind: str  # "yearly": stack every year; "snapshot": the newest year only
    file_names: tuple[str, ...]  # templates such as SPOLISBUS{year}V{version}
    csv_separator: str | None  # None: sniffed from the header line
    csv_encoding: str
    csv_decimal: str

    @property
    def patterns(self) -> tuple[re.Pattern, ...]:
        return tuple(_template_regex(t) for t in self.file_names)


def _template_regex(template: str) -> re.Pattern:
    """``{year}`` is four digits, optionally after a space (``PARTNERBUS 2014V1``); ``V{version}``
    may be absent; case is free, as real deliveries differ in it."""
    parts = re.split(r"(V\{version\}|\{version\}|\{year\})", template)
    regex = "".join(
        r"\s*(?P<year>\d{4})"
        if p == "{year}"
        else r"(?:V(?P<version>\d+))?"
        if p == "V{version}"
        else r"(?P<version>\d+)"
        if p == "{version}"
        else re.escape(p)
        for p in parts
    )
    return re.compile(regex, re.IGNORECASE)


def load_delivery_rules(path: Path = DELIVERY_RULES_FILE) -> dict[str, DeliveryRule]:
    """Table -> rule; a table of layout.CBS_TABLES without a line, or a line that cannot be a rule,
    is a clear error naming the file."""
    rows = pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)
    rules = {}
    for row in rows.to_dict("records"):
        table, kind = row["TABLE"].strip(), row["KIND"].strip()
        if kind not in KINDS:
            raise ValueError(f"{path}: {table} has KIND {kind!r}; expected one of {KINDS}")
        names = tuple(n.strip() for n in row["FILE_NAMES"].split("|") if n.strip())
        if not names:
            raise ValueError(f"{path}: {table} has no FILE_NAMES")
        rules[table] = DeliveryRule(
            table=table,
            kind=kind,
            file_names=names,
            csv_separator=row["CSV_SEPARATOR"].replace("\\t", "\t") or None,
            csv_encoding=row["CSV_ENCODING"].strip() or "utf-8-sig",
            csv_decimal=row["CSV_DECIMAL"].strip() or ".",
        )
    missing = sorted(set(CBS_TABLES) - set(rules))
    if missing:
        raise ValueError(f"{path}: no delivery rule for CBS table(s) {', '.join(missing)}")
    return rules


@lru_cache(maxsize=1)
def delivery_rules() -> dict[str, DeliveryRule]:
    return load_delivery_rules()


def legacy_path(landing: Path, table: str) -> Path:
    """The older landing form: the whole table as one parquet file beside the delivery folders."""
    return Path(landing) / CBS_FOLDER / f"{table}.parquet"


def delivery_folder(landing: Path, table: str) -> Path:
    return Path(landing) / CBS_FOLDER / table


def _shown(path: Path) -> str:
    """A file as the metadata names it: CBS/<TABLE>/<name> or CBS/<TABLE>.parquet."""
    parts = Path(path).parts
    i = max((k for k, p in enumerate(parts) if p == CBS_FOLDER), default=len(parts) - 1)
    return "/".join(parts[i:])


def _version_name(version: int | None) -> str:
    return "no version" if version is None else f"V{version}"


def _choose(table: str, rule: DeliveryRule, folder: Path):
    """(chosen (path, year, version, form), ignored (name, reason)) among the folder's files."""
    ignored: list[tuple[str, str]] = []
    matched: list[tuple[Path, int | None, int | None, str]] = []
    templates = " or ".join(f"{t}.sav" for t in rule.file_names)
    for path in sorted(folder.iterdir()):
        name = path.name
        if path.is_dir():
            ignored.append(
                (name, "a folder: only the files directly in the table's folder are read")
            )
            continue
        form = FORMS.get(path.suffix.lower())
        if form is None:
            ignored.append((name, "not a .sav, .csv or .parquet file"))
            continue
        stem = path.name[: -len(path.suffix)].strip()
        hit = next((m for p in rule.patterns if (m := p.fullmatch(stem))), None)
        if hit is None:
            ignored.append(
                (name, f"name does not match {templates} (reference/cbs_deliveries.csv)")
            )
            continue
        year = int(hit["year"]) if "year" in hit.re.groupindex and hit["year"] else None
        version = int(hit["version"]) if "version" in hit.re.groupindex and hit["version"] else None
        matched.append((path, year, version, form))

    by_year = sorted({m[1] for m in matched}, key=lambda y: -1 if y is None else y)
    dated = [y for y in by_year if y is not None]
    if dated:  # a file without a year is used only when no file names its year
        for path, year, *_ in matched:
            if year is None:
                ignored.append(
                    (path.name, "no year in its name, while files with a year are delivered")
                )
        years = dated[-1:] if rule.kind == "snapshot" else dated
    else:
        years = by_year
    chosen = []
    for path, year, *_ in matched:
        if year is not None and year not in years:
            ignored.append(
                (path.name, f"older year: {table} is a snapshot table, {years[-1]} is used")
            )
    for year in years:
        here = [m for m in matched if m[1] == year]
        top = max((m[2] for m in here), key=lambda v: -1 if v is None else v)
        for path, _, version, _ in here:
            if version != top:
                ignored.append(
                    (
                        path.name,
                        f"older version: {_version_name(top)} is used for {year or 'the table'}",
                    )
                )
        best = [m for m in here if m[2] == top]
        form = min((m[3] for m in best), key=FORM_PREFERENCE.index)
        same = [m for m in best if m[3] == form]
        if len(same) > 1:
            raise ExtractError(
                f"CBS table {table}: {' and '.join(_shown(m[0]) for m in same)} are the same year and "
                f"version in the same form; remove the one that is not the delivery"
            )
        chosen.append(same[0])
        for path, _, _, other in best:
            if other != form:
                ignored.append(
                    (
                        path.name,
                        f"a .{other} copy of {same[0][0].name}, which is read "
                        f"(preferred form: {' > '.join('.' + f for f in FORM_PREFERENCE)})",
                    )
                )
    return chosen, ignored


def find_delivery(landing: Path, table: str) -> Delivery:
    """The files that make up ``table`` in the landing folder; ExtractError when none is usable.

    The delivery folder ``<landing>/CBS/<TABLE>/`` wins over the older ``<landing>/CBS/<TABLE>.parquet``
    when it holds at least one usable file; the other is then listed as ignored.
    """
    if table not in CBS_TABLES:
        raise ValueError(f"unknown CBS table {table!r}")
    rule = delivery_rules()[table]
    folder, legacy = delivery_folder(landing, table), legacy_path(landing, table)
    chosen, ignored = _choose(table, rule, folder) if folder.is_dir() else ([], [])
    if chosen and legacy.is_file():
        ignored.append((legacy.name, f"the delivered files in {_shown(folder)}/ are used"))
    elif not chosen and legacy.is_file():
        chosen = [(legacy, None, None, "parquet")]
    if not chosen:
        expected = " or ".join(f"{t}.sav" for t in rule.file_names)
        left = "; ".join(f"{n}: {r}" for n, r in ignored)
        raise ExtractError(
            f"CBS table {table} not found at {folder}/ (files named like {expected}, or .csv/"
            f".parquet copies) or {legacy}"
            + (f"; files there are not used: {left}" if left else "")
        )
    files = tuple(
        sorted(
            (DeliveryFile(p, y, v, form, file_sha256(p)) for p, y, v, form in chosen),
            key=lambda f: (-1 if f.year is None else f.year),
        )
    )
    return Delivery(table=table, files=files, ignored=tuple(sorted(ignored)))


# ----------------------------------------------------------------------------------------- reading
def _missing_columns(file: DeliveryFile, table: str, names: Sequence[str], columns) -> dict:
    """Requested column -> its name in the file (case may differ); a missing one is an ExtractError."""
    by_upper = {n.upper(): n for n in names}
    found = {c: (c if c in names else by_upper.get(c.upper())) for c in columns}
    missing = [c for c, n in found.items() if n is None]
    if missing:
        raise ExtractError(
            f"{_shown(file.path)}: missing column(s) {', '.join(missing)} in CBS table {table}"
        )
    return found


def _blank_as_missing(values: pa.Array) -> pa.Array:
    """An empty text value is a missing one, in every form: SPSS has no other way to store a missing
    text, a csv's empty field is read as missing, and a parquet re-export writes either."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        return values
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values)


# SPSS formats pyreadstat turns into dates, date-times or times (its own lists): their files are
# read by pyreadstat, so a date column arrives as a date whichever reader reads the file
_SPSS_TIME_FORMATS = {
    "DATE",
    "ADATE",
    "EDATE",
    "JDATE",
    "SDATE",
    "DATETIME",
    "YMDHMS",
    "TIME",
    "DTIME",
}


def _spss_layout(file: DeliveryFile, meta, used: Sequence[str]) -> SavLayout | None:
    """The layout for `spss.read_sav_chunks` (one pass, numpy), or None where pyreadstat reads."""
    try:
        layout = read_layout(file.path)
    except SavError:
        return None
    formats = meta.original_variable_types
    dated = [
        c for c in used if re.match(r"[A-Z]*", formats.get(c, "")).group() in _SPSS_TIME_FORMATS
    ]
    if layout.names != list(meta.column_names) or dated or layout.why_not(used):
        return None
    return layout


def _sav_chunks(file: DeliveryFile, table: str, columns: Sequence[str], chunk_rows: int):
    import pyreadstat

    try:
        _, meta = pyreadstat.read_sav(str(file.path), metadataonly=True)
    except Exception as e:  # pyreadstat raises its own ReadstatError and plain exceptions
        raise ExtractError(f"{_shown(file.path)}: not a readable SPSS file ({e})") from None
    found = _missing_columns(file, table, meta.column_names, columns)
    used = list(dict.fromkeys(found.values()))
    layout = _spss_layout(file, meta, used)
    if layout is not None:
        chunks = read_sav_chunks(file.path, used, chunk_rows, layout)
    else:
        chunks = (
            {c: pa.array(values, from_pandas=True) for c, values in chunk.items()}
            for chunk, _ in pyreadstat.read_file_in_chunks(
                pyreadstat.read_sav,
                str(file.path),
                chunksize=chunk_rows,
                usecols=used,
                output_format="dict",  # lists straight into arrow: 2.6 times faster than its DataFrame
            )
        )
    try:
        for chunk in chunks:
            arrays = {c: _blank_as_missing(chunk[found[c]]) for c in columns}
            yield pa.table(arrays).to_pandas(types_mapper=text_as(ARROW_TEXT))
    except ExtractError:
        raise
    except Exception as e:
        raise ExtractError(
            f"{_shown(file.path)}: CBS table {table} could not be read, the file looks damaged ({e})"
        ) from None


def _csv_separator(file: DeliveryFile, rule: DeliveryRule) -> str:
    if rule.csv_separator:
        return rule.csv_separator
    with open(file.path, encoding=rule.csv_encoding, errors="replace", newline="") as f:
        header = f.readline()
    counts = {s: next(csv.reader([header], delimiter=s), []).__len__() for s in CSV_SEPARATORS}
    sep = max(CSV_SEPARATORS, key=lambda s: counts[s])  # ties go to the first: ';' as CBS writes
    return sep


def _csv_chunks(file: DeliveryFile, table: str, columns: Sequence[str], chunk_rows: int):
    rule = delivery_rules()[table]
    sep = _csv_separator(file, rule)
    try:
        names = pd.read_csv(
            file.path, sep=sep, nrows=0, encoding=rule.csv_encoding
        ).columns.tolist()
        found = _missing_columns(file, table, names, columns)
        numeric = set(CBS_TABLES[table].numeric_columns)
        reader = pd.read_csv(
            file.path,
            sep=sep,
            encoding=rule.csv_encoding,
            dtype=ARROW_TEXT,
            usecols=list(dict.fromkeys(found.values())),
            keep_default_na=False,  # 'NA' or 'NULL' are values, only an empty field is missing
            na_values=[""],
            chunksize=chunk_rows,
        )
        for df in reader:
            df = df.rename(columns={v: k for k, v in found.items()})[list(columns)]
            if rule.csv_decimal != ".":
                for c in numeric.intersection(columns):
                    df[c] = df[c].str.replace(rule.csv_decimal, ".", regex=False)
            yield df
    except ExtractError:
        raise
    except UnicodeDecodeError as e:
        raise ExtractError(
            f"{_shown(file.path)}: not {rule.csv_encoding} text ({e.reason} at byte {e.start}); "
            f"set CSV_ENCODING for {table} in reference/cbs_deliveries.csv"
        ) from None
    except (pd.errors.ParserError, ValueError, OSError) as e:
        raise ExtractError(f"{_shown(file.path)}: not a readable csv file ({e})") from None


def _parquet_chunks(file: DeliveryFile, table: str, columns: Sequence[str], chunk_rows: int):
    try:
        pf = pq.ParquetFile(file.path)
    except (pa.ArrowInvalid, OSError) as e:
        raise ExtractError(f"{_shown(file.path)}: not a readable parquet file ({e})") from None
    found = _missing_columns(file, table, pf.schema_arrow.names, columns)
    try:
        for batch in pf.iter_batches(
            batch_size=chunk_rows, columns=list(dict.fromkeys(found.values()))
        ):
            batch = pa.RecordBatch.from_arrays(
                [_blank_as_missing(a) for a in batch.columns], schema=batch.schema
            )
            df = batch.to_pandas(types_mapper=text_as(ARROW_TEXT))
            yield df.rename(columns={v: k for k, v in found.items()})[list(columns)]
    except (pa.ArrowException, OSError) as e:
        raise ExtractError(
            f"{_shown(file.path)}: CBS table {table} could not be read, the file looks damaged ({e})"
        ) from None


_READERS = {"sav": _sav_chunks, "csv": _csv_chunks, "parquet": _parquet_chunks}


def read_delivery_chunks(
    delivery: Delivery, columns: Sequence[str], chunk_rows: int = 500_000
) -> Iterator[tuple[DeliveryFile, pd.DataFrame]]:
    """Only ``columns``, chunk by chunk over the delivery's files in year order, never a whole file.

    Each chunk has a fresh RangeIndex; values are as stored (text, numbers or dates), except that an
    empty text value is missing in every form, as CBS's SPSS files have no other way to say so.
    """
    columns = list(columns)
    for file in delivery.files:
        for df in _READERS[file.form](file, delivery.table, columns, chunk_rows):
            if len(df):
                yield file, df.reset_index(drop=True)
