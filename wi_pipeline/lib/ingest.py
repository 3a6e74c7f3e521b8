"""Ingestion of municipal register extracts: parse, validate, quarantine, harmonise, pseudonymise.

This is the only step that sees a BSN. What leaves it holds a keyed pseudonym instead, and every
row read is either accepted or quarantined with a reason, so rows in = accepted + quarantined.
File-level faults (a missing column, a wrong delimiter or encoding, no rows) stop the step with one
message that names the file, so a bad extract never replaces a good earlier result.
"""

from __future__ import annotations

import csv
import difflib
import io
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
    EXTRACT_NAME_FORMAT,
    REGISTER_DATE_FORMAT,
    SRG_MAPPING_FILE,
    RegisterLayout,
)
from wi_pipeline.lib.pseudonymise import PSEUDONYM_COLUMN, PseudonymKey, guard_demo_key

_EXTRACT_NAME = re.compile(r"^(\d{8})\.csv$")
_OTHER_SEPARATORS = {",": "comma", "\t": "tab", "|": "pipe"}


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
    header = [h.strip() for h in header]
    if len(header) == 1:
        for sep, name in _OTHER_SEPARATORS.items():
            if sep in header[0]:
                raise ExtractError(
                    f"{path}: the header is separated by {name}s, expected semicolons (';'): {header[0]!r}"
                )
    missing = [c for c in layout.required_columns if c not in header]
    if missing:
        hints = []
        for c in missing:
            close = difflib.get_close_matches(c, header, n=1, cutoff=0.6)
            hints.append(f"{c} (renamed to {close[0]}?)" if close else c)
        raise ExtractError(
            f"{path}: missing column(s) {', '.join(hints)} in register '{layout.name}'; "
            f"found columns: {', '.join(header)}"
        )


def _parse_rows(path: Path, text: str, layout: RegisterLayout) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split the file into well-formed rows and rows with the wrong number of fields (quarantined)."""
    reader = csv.reader(io.StringIO(text), delimiter=CSV_SEPARATOR)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ExtractError(f"{path}: the file is empty") from None
    _check_header(path, header, layout)
    good, good_lines, bad = [], [], []
    for fields in reader:
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # blank line: not a row
        if len(fields) == len(header):
            good.append(fields)
            good_lines.append(reader.line_num)
        else:
            bad.append({"line_number": reader.line_num,
                        "reason": f"expected {len(header)} fields, found {len(fields)}"})
    if not good and not bad:
        raise ExtractError(f"{path}: header only, the extract has no rows")
    rows = pd.DataFrame(good, columns=header, dtype="string")
    rows = rows[layout.required_columns].apply(lambda s: s.str.strip())
    rows.insert(0, "line_number", good_lines)
    return rows, pd.DataFrame(bad, columns=["line_number", "reason"])


def _parse_date(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, format=REGISTER_DATE_FORMAT, errors="coerce")


def register_contract(layout: RegisterLayout, allowed_codes: set[str], extract_date: pd.Timestamp) -> pa.DataFrameSchema:
    """The row-level contract of a raw register extract; a row that breaks it is quarantined."""
    start, end = layout.start_column, layout.end_column
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
             pa.Check(lambda s: ~(_parse_date(s) > extract_date), error=f"{start} lies after the extract date")],
            nullable=True,
        ),
        end: pa.Column(
            "string",
            pa.Check(lambda s: s.isna() | (s == "") | _parse_date(s).notna(),
                     error=f"{end} is not a date (dd-mm-yyyy)"),
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
) -> IngestResult:
    path = Path(path)
    extract_date = extract_date_of(path)
    text = _read_text(path)
    rows, malformed = _parse_rows(path, text, layout)
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

    schema = register_contract(layout, allowed, extract_date)
    reasons = _quarantine_reasons(rows[layout.required_columns], schema)
    bad = reasons != ""

    rows[PSEUDONYM_COLUMN] = key.pseudonymise(rows["BSN"])
    keep_cols = [c for c in layout.required_columns if c not in ("BSN", "VOORZIENING_OMSCHRIJVING", "DOSSIERNUMMER")]

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
