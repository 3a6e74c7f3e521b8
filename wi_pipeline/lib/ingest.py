"""Ingestion of municipal register extracts: parse, validate, quarantine, harmonise, pseudonymise.

This is the only step that sees a BSN. What leaves it holds a keyed pseudonym instead, and every
row read is either accepted or quarantined with a reason, so rows in = accepted + quarantined.
File-level faults (a missing or doubled column, a wrong delimiter or encoding, no rows, a date
column in another format) stop the step with one message that names the file, so a bad extract
never replaces a good earlier result. Messages name files, columns, lines and positions, never a
field value (it may hold a BSN or a case number), and are capped in size.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pandas as pd
import pandera.pandas as pa

from wi_pipeline.lib.bsn import is_valid_bsn, normalise_bsn, written_with_separators
from wi_pipeline.lib.layout import (
    CSV_ENCODING,
    CSV_SEPARATOR,
    DROPPED_AT_INGESTION,
    EXTRACT_NAME_FORMAT,
    OPEN_END_DATES,
    REGISTER_DATE_FORMAT,
    SRG_MAPPING_FILE,
    RegisterLayout,
)
from wi_pipeline.lib.privacy import REDACTED, holds_bsn, shorten
from wi_pipeline.lib.pseudonymise import PSEUDONYM_COLUMN, PseudonymKey, guard_demo_key

_EXTRACT_NAME = re.compile(r"^(\d{8})\.csv$")
_OTHER_SEPARATORS = {",": "comma", "\t": "tab", "|": "pipe"}
# A date column failing in more than this share of its filled rows (and at least this many rows)
# was exported in another format: the extract is refused rather than quarantined row by row.
# The same guard holds for every typed column of a CBS table (see ``mostly_unparseable``).
DATE_FORMAT_MAX_SHARE = 0.5
DATE_FORMAT_MIN_ROWS = 10
# Header fields shown in a message must look like column names: a field value never does.
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_ ]{0,63}")
_HEADER_FIELDS_SHOWN = 30

# Why a row is quarantined. ``reason_code`` holds these codes (joined by "; " when a row breaks more than
# one rule, in the order of ``reason``), for code that counts reasons; ``reason`` holds the words for
# people, which may name the column and may be reworded.
REASON_CODES: dict[str, str] = {
    "field_count": "the line has another number of fields than the header",
    "duplicate_row": "an exact copy of an earlier row",
    "bsn_empty": "BSN is empty",
    "bsn_not_digits": "BSN is not 8 or 9 digits (after dropping the spaces or dots of a grouped BSN)",
    "bsn_eleven_test": "BSN fails the eleven-test",
    "not_a_date": "a date column does not hold a date dd-mm-yyyy",
    "date_out_of_range": "a date outside the plausible range of the register's suite",
    "start_after_extract": "the start date lies after the extract date",
    "end_before_start": "the end date lies before the start date",
    "unknown_code": "a code not in the register's list (or the municipality's mapping)",
    "bsn_in_field": "a field other than BSN holds what looks like a BSN; the value is masked",
}
INVALID_BSN_CODES = ("bsn_empty", "bsn_not_digits", "bsn_eleven_test")
REASON_SEPARATOR = "; "
# Quarantines stored before ``reason_code`` existed carry the words only: their codes, read once here.
_LEGACY_REASON_CODES = {"BSN is empty": "bsn_empty", "BSN fails the eleven-test": "bsn_eleven_test"}


class ExtractError(Exception):
    """A whole extract is unusable; the message names the file and what to fix (capped in size)."""

    def __init__(self, message: str):
        super().__init__(shorten(message))


def reason_codes(quarantine: pd.DataFrame) -> pd.Series:
    """Per quarantined row, its set of reason codes (from ``reason_code``, or for a quarantine stored
    before that column existed, from the reasons of the time)."""
    if "reason_code" in quarantine.columns:
        return quarantine["reason_code"].fillna("").str.split(REASON_SEPARATOR).map(set)
    words = quarantine["reason"].fillna("").str.split(REASON_SEPARATOR)
    return words.map(lambda ws: {_LEGACY_REASON_CODES[w] for w in ws if w in _LEGACY_REASON_CODES})


def count_invalid_bsn(quarantine: pd.DataFrame | None) -> int:
    """Quarantined rows whose BSN is missing or invalid: they could never be linked."""
    if quarantine is None or not len(quarantine):
        return 0
    return int(
        reason_codes(quarantine).map(lambda codes: bool(codes & set(INVALID_BSN_CODES))).sum()
    )


@dataclass
class IngestResult:
    accepted: pd.DataFrame
    quarantine: pd.DataFrame
    rows_in: int
    source: str
    extract_date: pd.Timestamp
    reasons: dict[str, int] = field(default_factory=dict)
    bsn_with_separators: int = 0  # BSNs written in groups ("1234 56 782"), read as their digits
    open_end_dates: int = 0  # end dates 31-12-9999 / 99991231, read as an open end

    @property
    def rows_accepted(self) -> int:
        return len(self.accepted)

    @property
    def rows_quarantined(self) -> int:
        return len(self.quarantine)


def extract_date_of(path: Path) -> pd.Timestamp:
    m = _EXTRACT_NAME.match(path.name)
    if not m:
        raise ExtractError(
            f"{path}: extract files must be named YYYYMMDD.csv (the extraction date)"
        )
    try:
        return pd.Timestamp(datetime.strptime(m.group(1), EXTRACT_NAME_FORMAT))
    except ValueError:
        raise ExtractError(
            f"{path}: the file name {path.name} is not a valid date YYYYMMDD"
        ) from None


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


_FILE_SIGNATURES = (
    (b"PK\x03\x04", "a zip archive (an Excel .xlsx workbook is one)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) workbook"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"%PDF", "a PDF document"),
)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def not_text_kind(head: bytes) -> str | None:
    """What the start of a file looks like when it is not UTF-8 text of the contract, for the message:
    UTF-16 (a byte-order mark, or a NUL byte next to every character), a zip or other binary format.
    None when it may be text."""
    for signature, kind in _FILE_SIGNATURES:
        if head.startswith(signature):
            return kind
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16 text (it starts with a UTF-16 byte-order mark)"
    sample = head[:4096]
    if b"\x00" in sample:
        odd, even = sample[1::2].count(0), sample[0::2].count(0)
        if max(odd, even) > 0.3 * len(sample) / 2 and min(odd, even) < 0.05 * len(sample) / 2:
            return "UTF-16 text without a byte-order mark (a NUL byte next to every character)"
        return "a binary file, not text (it holds NUL bytes)"
    return None


def _decodes_as_latin1_text(raw: bytes) -> bool:
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        return False
    return not _CONTROL_CHARACTERS.search(text)


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if not raw.strip():
        raise ExtractError(f"{path}: the file is empty; expected a header and at least one row")
    kind = not_text_kind(raw)
    if kind:
        raise ExtractError(
            f"{path}: not a UTF-8 text file, it looks like {kind}; "
            "export the extract as a semicolon-separated UTF-8 text file (CSV)"
        )
    try:
        return raw.decode(CSV_ENCODING).lstrip("\ufeff")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        looks = (
            "it looks like Latin-1/Windows-1252"
            if _decodes_as_latin1_text(raw)
            else "it is not text in Latin-1/Windows-1252 either: binary data or a damaged file?"
        )
        raise ExtractError(
            f"{path}: not valid UTF-8 at line {line} (byte {e.start}); export the extract as UTF-8 ({looks})"
        ) from None


def _shown_header(header: list[str]) -> list[str]:
    """Header fields for a message: those shaped like a column name; any other field may be a value."""
    shown = [
        h if _COLUMN_NAME.fullmatch(h) and sum(ch.isdigit() for ch in h) <= 4 else REDACTED
        for h in header
    ]
    if len(shown) > _HEADER_FIELDS_SHOWN:
        shown = shown[:_HEADER_FIELDS_SHOWN] + [f"and {len(shown) - _HEADER_FIELDS_SHOWN} more"]
    return shown


def _check_header(
    path: Path, header: list[str], layout: RegisterLayout, row_fields: Counter
) -> None:
    """The first line must be the contract's header of the rows below it. Data values never reach the
    message (they may hold a BSN): it names columns, fields by position and counts.

    ``row_fields`` counts the rows by their number of fields.
    """
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
            f"{path}: the first line is not a header of register '{layout.name}' (none of its "
            "columns found); "
            f"expected the header {expected} (unquoted, separated by ';')"
        )
    doubled = [c for c in layout.required_columns if header.count(c) > 1]
    if doubled:
        raise ExtractError(
            f"{path}: column(s) {', '.join(doubled)} appear more than once in the header of register "
            f"'{layout.name}'; each column must appear once"
        )
    missing = [c for c in layout.required_columns if c not in header]
    n_rows = sum(row_fields.values())
    fields, n_common = row_fields.most_common(1)[0] if n_rows else (len(header), 0)
    if fields != len(header) and n_common > n_rows / 2:
        run_on = [
            f"field {i} starts with column {c} and runs on"
            for i, h in enumerate(header, start=1)
            for c in missing
            if h.startswith(c)
        ]
        raise ExtractError(
            f"{path}: the first line has {len(header)} fields but {n_common} of {n_rows} rows have {fields}, "
            "so it is not the header of these rows"
            + (
                f" ({'; '.join(run_on)}: the header seems joined to the first row by a missing line break)"
                if run_on
                else ""
            )
            + f"; expected the header {expected} on a line of its own"
        )
    if missing:
        shown = _shown_header(header)
        others = [h for h in shown if h not in layout.required_columns and h != REDACTED]
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
    if "\r" in lines[0].removesuffix("\r"):
        raise ExtractError(
            f"{path}: line 1 holds bare carriage returns (CR) as line breaks, so the file reads as one line; "
            "export the extract with LF or CRLF line endings"
        )
    if lines[-1].strip():
        raise ExtractError(
            f"{path}: the last line (line {len(lines)}) does not end with a line break, so the file looks "
            "cut off while it was written; deliver the complete file (the previous extract's output stays "
            "in use)"
        )
    body = [(number, line.removesuffix("\r")) for number, line in enumerate(lines[1:], start=2)]
    body = [(number, line) for number, line in body if line.strip()]  # a blank line is not a row
    header = [h.strip() for h in lines[0].removesuffix("\r").split(CSV_SEPARATOR)]
    _check_header(path, header, layout, Counter(line.count(CSV_SEPARATOR) + 1 for _, line in body))
    good, good_lines, bad = [], [], []
    for number, line in body:
        fields = line.split(CSV_SEPARATOR)
        if len(fields) == len(header):
            good.append(fields)
            good_lines.append(number)
        else:
            bad.append(
                {
                    "line_number": number,
                    "reason_code": "field_count",
                    "reason": f"expected {len(header)} fields, found {len(fields)}",
                }
            )
    if not good and not bad:
        raise ExtractError(f"{path}: header only, the extract has no rows")
    rows = pd.DataFrame(good, columns=header, dtype="string")
    rows = rows[layout.required_columns].apply(lambda s: s.str.strip())
    rows.insert(0, "line_number", good_lines)
    return rows, pd.DataFrame(bad, columns=["line_number", "reason", "reason_code"])


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
    return mostly_unparseable_count(int(failing.sum()), int(filled.sum()))


def mostly_unparseable_count(n_failing: int, n_filled: int) -> bool:
    """``mostly_unparseable`` on counts: a table read in chunks is judged on its whole-table totals."""
    return n_failing >= DATE_FORMAT_MIN_ROWS and n_failing > DATE_FORMAT_MAX_SHARE * n_filled


def _parse_date(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, format=REGISTER_DATE_FORMAT, errors="coerce")


def plausible_date_bounds(
    layout: RegisterLayout,
) -> dict[str, tuple[pd.Timestamp | None, pd.Timestamp | None]]:
    """Raw date column -> (min, max) from the blocking range expectations in the register's GX suite.

    The suite (expectations/registers_<name>.json) stays the one place for the bounds; ingestion
    quarantines the rows it would block on, so one implausible date cannot stop a municipality.
    The range on ``start`` holds for the end date too unless the suite gives ``end`` its own.
    A missing or broken suite gives no bounds here: the gx_suite check reports it.
    """
    from wi_pipeline.lib.quality import SuiteError, expectation_severity, load_suite

    try:
        suite = load_suite(f"registers_{layout.name}")
    except SuiteError:
        return {}
    found = {}
    for exp in suite.expectations:
        config = exp.configuration
        column = config.kwargs.get("column")
        if (
            config.type == "expect_column_values_to_be_between"
            and expectation_severity(config) == "error"
            and column in ("start", "end")
        ):
            found[column] = tuple(
                None if config.kwargs.get(k) is None else pd.Timestamp(config.kwargs[k])
                for k in ("min_value", "max_value")
            )
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


def _rule(test, code: str, words: str) -> pa.Check:
    """A row rule: its reason code (one of REASON_CODES) as the check's name, its words as the error."""
    assert code in REASON_CODES, code
    return pa.Check(test, name=code, error=words)


def _is_bsn_shaped(s: pd.Series) -> pd.Series:
    return s.isna() | (s == "") | s.str.fullmatch(r"\d{9}").fillna(False).astype(bool)


def register_contract(
    layout: RegisterLayout,
    allowed_codes: set[str],
    extract_date: pd.Timestamp,
    date_bounds: dict[str, tuple[pd.Timestamp | None, pd.Timestamp | None]] | None = None,
) -> pa.DataFrameSchema:
    """The row-level contract of a raw register extract; a row that breaks it is quarantined. Each rule
    says why in words that name the column, never the value."""
    start, end = layout.start_column, layout.end_column
    date_checks = {start: [], end: []}
    for col, (lo, hi) in (date_bounds or {}).items():
        if lo is None and hi is None:
            continue
        words = f"{col} outside the plausible range {_range_text(lo, hi)}"
        date_checks[col].append(
            _rule(
                lambda s, lo=lo, hi=hi: _within(_parse_date(s), lo, hi), "date_out_of_range", words
            )
        )
    columns = {
        "BSN": pa.Column(
            "string",
            [
                _rule(lambda s: s.notna() & (s != ""), "bsn_empty", "BSN is empty"),
                _rule(_is_bsn_shaped, "bsn_not_digits", "BSN is not 8 or 9 digits"),
                _rule(
                    lambda s: ~_is_bsn_shaped(s) | (s == "") | is_valid_bsn(s),
                    "bsn_eleven_test",
                    "BSN fails the eleven-test",
                ),
            ],
            nullable=True,
        ),
        start: pa.Column(
            "string",
            [
                _rule(
                    lambda s: _parse_date(s).notna(),
                    "not_a_date",
                    f"{start} is not a date (dd-mm-yyyy)",
                ),
                _rule(
                    lambda s: ~(_parse_date(s) > extract_date),
                    "start_after_extract",
                    f"{start} lies after the extract date",
                ),
                *date_checks[start],
            ],
            nullable=True,
        ),
        end: pa.Column(
            "string",
            [
                _rule(
                    lambda s: s.isna() | (s == "") | _parse_date(s).notna(),
                    "not_a_date",
                    f"{end} is not a date (dd-mm-yyyy)",
                ),
                *date_checks[end],
            ],
            nullable=True,
        ),
    }
    if layout.code_column:
        columns[layout.code_column] = pa.Column(
            "string",
            _rule(
                lambda s: s.isin(allowed_codes),
                "unknown_code",
                f"unknown code in {layout.code_column}",
            ),
            nullable=True,
        )
    return pa.DataFrameSchema(
        columns,
        checks=[
            _rule(
                lambda d: ~(_parse_date(d[end]) < _parse_date(d[start])),
                "end_before_start",
                f"{end} lies before {start}",
            )
        ],
        unique=[c for c in layout.required_columns],
        report_duplicates="exclude_first",
    )


_PANDERA_UNIQUE_CHECK = (
    "multiple_fields_uniqueness"  # pandera's name for the failures of ``unique=``
)


def _quarantine_reasons(path: Path, rows: pd.DataFrame, schema: pa.DataFrameSchema) -> pd.DataFrame:
    """Per row index, the broken rules in plain words (``reason``) and as codes (``reason_code``), each
    joined by "; "; empty for rows that pass.

    Only the rule's words are read from pandera's failure cases, never the failing value. A rule that
    could not run (pandera reports it without a row) stops the extract with the rule's name.
    """
    empty = pd.DataFrame({"reason": "", "reason_code": ""}, index=rows.index)
    try:
        schema.validate(rows, lazy=True)
        return empty
    except pa.errors.SchemaErrors as err:
        fc = err.failure_cases[["index", "column", "check"]].copy()
    codes = {
        check.error: check.name for column in schema.columns.values() for check in column.checks
    }
    codes |= {check.error: check.name for check in schema.checks}
    codes[_PANDERA_UNIQUE_CHECK] = "duplicate_row"
    fc["check"] = fc["check"].astype(str)
    unexplained = fc[fc["index"].isna() | ~fc["check"].isin(list(codes))]
    if len(unexplained):
        where = ", ".join(
            sorted(
                {
                    f"{r.column or 'row'}: {r.check if r.check in codes else 'a pandera check'}"
                    for r in unexplained.itertuples()
                }
            )
        )
        raise ExtractError(
            f"{path}: a row rule could not be applied ({where}); the extract is refused "
            "rather than rows accepted unchecked"
        )
    fc["reason"] = fc["check"].replace({_PANDERA_UNIQUE_CHECK: "duplicate row"})
    fc["reason_code"] = fc["check"].map(codes)
    fc = fc.drop_duplicates(["index", "reason"])
    joined = fc.groupby("index")[["reason", "reason_code"]].agg(REASON_SEPARATOR.join)
    return joined.reindex(rows.index, fill_value="")


def _add_reason(reasons: pd.DataFrame, rows: pd.Series, code: str, words: str) -> None:
    """Add one more broken rule to the reasons of ``rows`` (a boolean mask)."""
    for part, text in (("reason", words), ("reason_code", code)):
        before = reasons.loc[rows, part]
        reasons.loc[rows, part] = before.where(before == "", before + REASON_SEPARATOR) + text


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
    open_end = rows[layout.end_column].isin(OPEN_END_DATES)
    rows.loc[open_end, layout.end_column] = ""
    _check_date_format(path, rows, layout)
    grouped_bsn = written_with_separators(rows["BSN"])
    rows["BSN"] = normalise_bsn(rows["BSN"]).astype("string")  # the contract's dtype
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
    reasons = _quarantine_reasons(path, rows[layout.required_columns], schema)

    rows[PSEUDONYM_COLUMN] = key.pseudonymise(rows["BSN"])
    keep_cols = [c for c in layout.required_columns if c not in DROPPED_AT_INGESTION]
    # a BSN typed into a kept column: that row is quarantined with the value masked, the rest goes on
    for col in keep_cols:
        typed = holds_bsn(rows[col])
        if typed.any():
            rows.loc[typed, col] = REDACTED
            _add_reason(
                reasons, typed, "bsn_in_field", f"{col} holds what looks like a BSN (masked)"
            )
    bad = reasons["reason"] != ""

    quarantine = rows.loc[bad, ["line_number", PSEUDONYM_COLUMN, *keep_cols]].copy()
    quarantine.insert(1, "reason", reasons.loc[bad, "reason"])
    quarantine.insert(2, "reason_code", reasons.loc[bad, "reason_code"])
    if len(malformed):
        quarantine = pd.concat([quarantine, malformed], ignore_index=True)
    quarantine.insert(0, "gemeente", gemeente)
    quarantine.insert(1, "source_file", path.name)
    quarantine = quarantine.sort_values("line_number", kind="stable").reset_index(drop=True)
    for col in keep_cols + [PSEUDONYM_COLUMN, "reason", "reason_code"]:
        quarantine[col] = quarantine[col].astype("string")

    ok = rows.loc[~bad]
    accepted = pd.DataFrame(
        {
            "gemeente": gemeente,
            PSEUDONYM_COLUMN: ok[PSEUDONYM_COLUMN].astype("string"),
            "code": (
                ok[layout.code_column].map(local_map) if local_map else ok[layout.code_column]
            ).astype("string"),
            "start": _parse_date(ok[layout.start_column]),
            "end": _parse_date(ok[layout.end_column]),
            "extract_date": extract_date,
        }
    )
    if local_map:
        accepted.insert(3, "local_code", ok[layout.code_column].astype("string"))
    accepted = accepted.reset_index(drop=True)

    counts = (
        quarantine["reason"].str.split(REASON_SEPARATOR).explode().value_counts().to_dict()
        if len(quarantine)
        else {}
    )
    result = IngestResult(
        accepted,
        quarantine,
        len(rows) + len(malformed),
        path.name,
        extract_date,
        counts,
        bsn_with_separators=int(grouped_bsn.sum()),
        open_end_dates=int(open_end.sum()),
    )
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
