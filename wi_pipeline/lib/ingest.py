"""Ingestion of municipal register extracts: parse, validate, quarantine, harmonise, pseudonymise.

This is the only step that sees a BSN. What leaves it holds a keyed pseudonym instead, and every
row read is either accepted or quarantined with a reason, so rows in = accepted + quarantined.
File-level faults (a missing or doubled column, a wrong delimiter or encoding, no rows, a date
column in another format) stop the step with one message that names the file, so a bad extract
never replaces a good earlier result. Messages never quote data values: they may hold a BSN.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from wi_pipeline.lib.bsn import is_valid_bsn, normalise_bsn
from wi_pipeline.lib.layout import (
    CSV_ENCODING,
    CSV_SEPARATOR,
    DROPPED_AT_INGESTION,
    EXTRACT_NAME_FORMAT,
    REGISTER_DATE_FORMAT,
    SRG_MAPPING_FILE,
    RegisterLayout,
)
from wi_pipeline.lib.privacy import redact_identifiers
from wi_pipeline.lib.pseudonymise import PSEUDONYM_COLUMN, PseudonymKey, guard_demo_key

_EXTRACT_NAME = re.compile(r"^(\d{8})\.csv$")
_OTHER_SEPARATORS = {",": "comma", "\t": "tab", "|": "pipe"}
# A date column failing in more than this share of its filled rows (and at least this many rows)
# was exported in another format: the extract is refused rather than quarantined row by row.
# The same guard holds for every typed column of a CBS table (see ``mostly_unparseable``).
DATE_FORMAT_MAX_SHARE = 0.5
DATE_FORMAT_MIN_ROWS = 10


class ExtractError(Exception):
    """A whole extract is unusable; the message names the file and what to fix."""


@dataclass
class IngestResult:
    accepted: pd.DataFrame
    quarantine: pd.DataFrame
    rows_in: int
    source: str
    extract_date: pd.Timestamp
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def rows_accepted(self) -> int:
        return len(self.accepted)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)


def extract_date_of(path: Path) -> pd.Timestamp:
    m = _EXTRACT_NAME.match(path.name)
    if not m:
        raise ExtractError(f"{path}: extract files must be named YYYYMMDD.csv (the extraction date)")
    try:
        return pd.Timestamp(datetime.strptime(m.group(1), EXTRACT_NAME_FORMAT))
    except ValueError:
        raise ExtractError(f"{path}: the file name {path.name} is not a valid date YYYYMMDD") from None


def list_extracts(register_dir: Path) -> list[Path]:
    """Extracts of one register, oldest first; other files (e.g. a '.part' being written) are ignored."""
    if not register_dir.is_dir():
        return []
    return sorted(p for p in register_dir.iterdir() if p.is_file() and _EXTRACT_NAME.match(p.name))


def current_extract(landing: Path, gemeente: str, register: str) -> Path:
    """The newest extract is the current one."""
    folder = Path(landing) / gemeente / register
    extracts = list_extracts(folder)
    if not extracts:
        raise ExtractError(
            f"no extract for register '{register}' of {gemeente}: expected a file "
            f"{folder}/YYYYMMDD.csv (see the landing-folder contract in the README)"
        )
    return extracts[-1]


def load_srg_mapping(path: Path = SRG_MAPPING_FILE) -> pd.DataFrame:
    return pd.read_csv(path, sep=";", dtype=str)


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if not raw.strip():
        raise ExtractError(f"{path}: the file is empty; expected a header and at least one row")
    try:
        return raw.decode(CSV_ENCODING).lstrip("\ufeff")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ExtractError(
            f"{path}: not valid UTF-8 at line {line} (byte {e.start}); "
            "export the extract as UTF-8 (it looks like Latin-1/Windows-1252)"
        ) from None


def _check_header(path: Path, header: list[str], layout: RegisterLayout) -> None:
    """The first line must be the contract's header; data values never reach the message, as they may hold a BSN."""
    header = [h.strip() for h in header]
    expected = CSV_SEPARATOR.join(layout.required_columns)
    if len(header) == 1:
        for sep, name in _OTHER_SEPARATORS.items():
            if sep in header[0]:
                raise ExtractError(
                    f"{path}: the first line is separated by {name}s, expected semicolons (';') "
                    f"and the header {expected}"
                )
    if not set(layout.required_columns) & set(header):
        raise ExtractError(
            f"{path}: the first line is not a header of register '{layout.name}' (none of its columns found); "
            f"expected the header {expected} (unquoted, separated by ';')"
        )
    doubled = [c for c in layout.required_columns if header.count(c) > 1]
    if doubled:
        raise ExtractError(
            f"{path}: column(s) {', '.join(doubled)} appear more than once in the header of register "
            f"'{layout.name}'; each column must appear once"
        )
    missing = [c for c in layout.required_columns if c not in header]
    if missing:
        shown = [redact_identifiers(h) for h in header]
        others = [h for h in shown if h not in layout.required_columns]
        hints = []
        for c in missing:
            close = difflib.get_close_matches(c, others, n=1, cutoff=0.6)
            hints.append(f"{c} (renamed to {close[0]}?)" if close else c)
        raise ExtractError(
            f"{path}: missing column(s) {', '.join(hints)} in register '{layout.name}'; "
            f"found columns: {', '.join(shown)}"
        )


def _parse_rows(path: Path, text: str, layout: RegisterLayout) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the file into well-formed rows and rows with the wrong number of fields (quarantined).

    Socrates exports are unquoted, so every physical line is one record: a stray quote cannot join
    lines into one row and make rows vanish from the count.
    """
    lines = text.split("\n")
    header = [h.strip() for h in lines[0].removesuffix("\r").split(CSV_SEPARATOR)]
    _check_header(path, header, layout)
    good, good_lines, bad = [], [], []
    for number, line in enumerate(lines[1:], start=2):
        line = line.removesuffix("\r")
        if not line.strip():
            continue  # blank line: not a row
        fields = line.split(CSV_SEPARATOR)
        if len(fields) == len(header):
            good.append(fields)
            good_lines.append(number)
        else:
            bad.append({"line_number": number,
                        "reason": f"expected {len(header)} fields, found {len(fields)}"})
    if not good and not bad:
        raise ExtractError(f"{path}: header only, the extract has no rows")
    rows = pd.DataFrame(good, columns=header, dtype="string")
    rows = rows[layout.required_columns].apply(lambda s: s.str.strip())
    rows.insert(0, "line_number", good_lines)
    return rows, pd.DataFrame(bad, columns=["line_number", "reason"])


def _check_date_format(path: Path, rows: pd.DataFrame, layout: RegisterLayout) -> None:
    """Most of a date column unparseable is an export setting, not bad rows: stop with one message
    instead of quarantining the whole extract."""
    for col in (layout.start_column, layout.end_column):
        filled = rows[col].notna() & (rows[col] != "")
        failing = filled & _parse_date(rows[col]).isna()
        if mostly_unparseable(failing, filled):
            n_failing, n_filled = int(failing.sum()), int(filled.sum())
            first = int(rows.loc[failing, "line_number"].iloc[0])
            raise ExtractError(
                f"{path}: column {col} is not in the expected date format dd-mm-yyyy in {n_failing} of "
                f"{n_filled} rows (first at line {first}); export the dates as dd-mm-yyyy"
            )


def mostly_unparseable(failing: pd.Series, filled: pd.Series) -> bool:
    """A column whose filled values mostly fail to parse was exported in another form: a file-level
    fault to refuse with one message, not rows to quarantine one by one (registers and CBS tables)."""
    n_failing, n_filled = int(failing.sum()), int(filled.sum())
    return n_failing >= DATE_FORMAT_MIN_ROWS and n_failing > DATE_FORMAT_MAX_SHARE * n_filled


def _parse_date(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, format=REGISTER_DATE_FORMAT, errors="coerce")


def plausible_date_bounds(layout: RegisterLayout) -> dict[str, tuple[pd.Timestamp | None, pd.Timestamp | None]]:
    """Raw date column -> (min, max) from the blocking range expectations in the register's GX suite.

    The suite (expectations/registers_<name>.json) stays the one place for the bounds; ingestion
    quarantines the rows it would block on, so one implausible date cannot stop a municipality.
    The range on ``start`` holds for the end date too unless the suite gives ``end`` its own.
    A missing or broken suite gives no bounds here: the gx_suite check reports it.
    """
    from wi_pipeline.lib.quality import suite_path

    try:
        suite = json.loads(suite_path(f"registers_{layout.name}").read_text(encoding="utf-8"))
        found = {}
        for exp in suite["expectations"]:
            kwargs = exp.get("kwargs") or {}
            severity = str((exp.get("meta") or {}).get("severity") or exp.get("severity") or "error").lower()
            if (exp.get("type") == "expect_column_values_to_be_between" and severity not in ("warn", "warning", "info")
                    and kwargs.get("column") in ("start", "end")):
                found[kwargs["column"]] = tuple(None if kwargs.get(k) is None else pd.Timestamp(kwargs[k])
                                                for k in ("min_value", "max_value"))
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return {}
    bounds = {}
    if "start" in found:
        bounds[layout.start_column] = found["start"]
    if "end" in found or "start" in found:
        bounds[layout.end_column] = found.get("end", found.get("start"))
    return bounds


def _range_text(lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> str:
    if lo is not None and hi is not None:
        return f"{lo:%d-%m-%Y} to {hi:%d-%m-%Y}"
    return f"from {lo:%d-%m-%Y}" if lo is not None else f"up to {hi:%d-%m-%Y}"


def _within(dates: pd.Series, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pd.Series:
    """True unless the date lies outside the bounds; an unparseable date is another check's fault."""
    outside = pd.Series(False, index=dates.index)
    if lo is not None:
        outside |= dates < lo
    if hi is not None:
        outside |= dates > hi
    return ~outside


def register_contract(layout: RegisterLayout, allowed_codes: set[str], extract_date: pd.Timestamp,
                      date_bounds: dict[str, tuple[pd.Timestamp | None, pd.Timestamp | None]] | None = None,
                      ) -> pa.DataFrameSchema:
    """The row-level contract of a raw register extract; a row that breaks it is quarantined."""
    start, end = layout.start_column, layout.end_column
    date_checks = {start: [], end: []}
    for col, (lo, hi) in (date_bounds or {}).items():
        if lo is None and hi is None:
            continue
        date_checks[col].append(pa.Check(lambda s, lo=lo, hi=hi: _within(_parse_date(s), lo, hi),
                                         error=f"{col} outside the plausible range {_range_text(lo, hi)}"))
    columns = {
        "BSN": pa.Column(
            "string",
            [pa.Check(lambda s: s.notna() & (s != ""), error="BSN is empty"),
             pa.Check(lambda s: is_valid_bsn(s), error="BSN fails the eleven-test")],
            nullable=True,
        ),
        start: pa.Column(
            "string",
            [pa.Check(lambda s: _parse_date(s).notna(), error=f"{start} is not a date (dd-mm-yyyy)"),
             pa.Check(lambda s: ~(_parse_date(s) > extract_date), error=f"{start} lies after the extract date"),
             *date_checks[start]],
            nullable=True,
        ),
        end: pa.Column(
            "string",
            [pa.Check(lambda s: s.isna() | (s == "") | _parse_date(s).notna(),
                      error=f"{end} is not a date (dd-mm-yyyy)"),
             *date_checks[end]],
            nullable=True,
        ),
    }
    if layout.code_column:
        columns[layout.code_column] = pa.Column(
            "string",
            pa.Check(lambda s: s.isin(allowed_codes), error=f"unknown code in {layout.code_column}"),
            nullable=True,
        )
    return pa.DataFrameSchema(
        columns,
        checks=[pa.Check(lambda d: ~(_parse_date(d[end]) < _parse_date(d[start])),
                         error=f"{end} lies before {start}")],
        unique=[c for c in layout.required_columns],
        report_duplicates="exclude_first",
    )


def _quarantine_reasons(rows: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.Series:
    """Per row index, the broken rules joined in plain words; empty for rows that pass."""
    try:
        schema.validate(rows, lazy=True)
        return pd.Series("", index=rows.index)
    except pa.errors.SchemaErrors as err:
        fc = err.failure_cases
    fc = fc[fc["index"].notna()].copy()
    fc["reason"] = fc["check"].astype(str).replace({"multiple_fields_uniqueness": "duplicate row"})
    reasons = fc.drop_duplicates(["index", "reason"]).groupby("index")["reason"].agg("; ".join)
    return reasons.reindex(rows.index, fill_value="")


def ingest_register(
    path: Path,
    layout: RegisterLayout,
    gemeente: str,
    key: PseudonymKey,
    srg_mapping: pd.DataFrame | None = None,
    date_bounds: dict[str, tuple[pd.Timestamp | None, pd.Timestamp | None]] | None = None,
) -> IngestResult:
    """Without ``date_bounds`` the plausible date range is read from the register's GX suite."""
    path = Path(path)
    extract_date = extract_date_of(path)
    text = _read_text(path)
    rows, malformed = _parse_rows(path, text, layout)
    _check_date_format(path, rows, layout)
    rows["BSN"] = normalise_bsn(rows["BSN"])
    guard_demo_key(key, rows.loc[is_valid_bsn(rows["BSN"]), "BSN"], str(path))

    local_map = None
    if layout.name == "reintegratie":
        mapping = srg_mapping if srg_mapping is not None else load_srg_mapping()
        local = mapping[mapping["GEMEENTE"] == gemeente]
        local_map = dict(zip(local["VOORZIENING_CODE"], local["SRG_CATEGORIE"]))
        allowed = set(local_map)
    else:
        allowed = set(layout.codes)

    bounds = plausible_date_bounds(layout) if date_bounds is None else date_bounds
    schema = register_contract(layout, allowed, extract_date, bounds)
    reasons = _quarantine_reasons(rows[layout.required_columns], schema)
    bad = reasons != ""

    rows[PSEUDONYM_COLUMN] = key.pseudonymise(rows["BSN"])
    keep_cols = [c for c in layout.required_columns if c not in DROPPED_AT_INGESTION]

    quarantine = rows.loc[bad, ["line_number", PSEUDONYM_COLUMN, *keep_cols]].copy()
    quarantine.insert(1, "reason", reasons[bad])
    if len(malformed):
        quarantine = pd.concat([quarantine, malformed], ignore_index=True)
    quarantine.insert(0, "gemeente", gemeente)
    quarantine.insert(1, "source_file", path.name)
    quarantine = quarantine.sort_values("line_number", kind="stable").reset_index(drop=True)
    for col in keep_cols + [PSEUDONYM_COLUMN, "reason"]:
        quarantine[col] = quarantine[col].astype("string")

    ok = rows.loc[~bad]
    accepted = pd.DataFrame(
        {
            "gemeente": gemeente,
            PSEUDONYM_COLUMN: ok[PSEUDONYM_COLUMN].astype("string"),
            "code": (ok[layout.code_column].map(local_map) if local_map else ok[layout.code_column]).astype("string"),
            "start": _parse_date(ok[layout.start_column]),
            "end": _parse_date(ok[layout.end_column]),
            "extract_date": extract_date,
        }
    )
    if local_map:
        accepted.insert(3, "local_code", ok[layout.code_column].astype("string"))
    accepted = accepted.reset_index(drop=True)

    counts = quarantine["reason"].str.split("; ").explode().value_counts().to_dict() if len(quarantine) else {}
    result = IngestResult(accepted, quarantine, len(rows) + len(malformed), path.name, extract_date, counts)
    assert result.rows_in == result.rows_accepted + result.rows_quarantined
    return result


def register_output_schema(layout: RegisterLayout) -> pa.DataFrameSchema:
    """What a harmonised register partition promises to downstream assets."""
    columns = {
        "gemeente": pa.Column(str),
        PSEUDONYM_COLUMN: pa.Column("string", pa.Check.str_matches(r"^[0-9a-f]{32}$")),
        "code": pa.Column("string"),
        "start": pa.Column("datetime64[ns]"),
        "end": pa.Column("datetime64[ns]", nullable=True),
        "extract_date": pa.Column("datetime64[ns]"),
    }
    if layout.name == "reintegratie":
        columns["local_code"] = pa.Column("string")
    return pa.DataFrameSchema(columns, strict=True, ordered=False)
