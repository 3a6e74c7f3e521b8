"""Which columns and values are person identifiers, and scanning outputs for those that must not be there.

After ingestion no column may hold a BSN; RINPERSOON is allowed only where linking needs it; a
published output may hold no person key at all (BSN, RINPERSOON, pseudonym). Values are scanned
too, free text included: any 9-digit number that passes the eleven-test is treated as a BSN.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

from wi_pipeline.lib.bsn import is_valid_bsn, normalise_bsn, written_with_separators

REDACTED = "<redacted>"
# in running text: runs of 8+ digits (a BSN, with or without its leading zero) and hex pseudonyms;
# an extract's file name (its YYYYMMDD extraction date) is kept, since messages must name the file
_IDENTIFIER_IN_TEXT = re.compile(r"\d{8,}(?!\d|\.csv|\.parquet)|[0-9a-fA-F]{32,}")


def redact_identifiers(text: str) -> str:
    """Text as it may be shown in a message, log or report: anything that could be a BSN or
    pseudonym is masked."""
    return _IDENTIFIER_IN_TEXT.sub(REDACTED, text)


def looks_like_identifier(text: str) -> bool:
    """True where ``redact_identifiers`` would mask something: a value to show whole or not at all."""
    return _IDENTIFIER_IN_TEXT.search(text) is not None


# A message (error, check metadata, report line) names files, columns and lines: it never needs more.
MESSAGE_MAX_CHARS = 2000
# A cell of a preview in the UI: enough to recognise a value, not a megabyte of it in every event.
PREVIEW_CELL_MAX_CHARS = 60


def shorten(text: str, limit: int = MESSAGE_MAX_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters, saying how much was left out."""
    if len(text) <= limit:
        return text
    cut = max(limit - len(f"… ({len(text):,} more characters)"), 1)
    return f"{text[:cut]}… ({len(text) - cut:,} more characters)"


def holds_bsn(values: pd.Series) -> pd.Series:
    """True where a value holds a number that passes the eleven-test: 9 digits, or 8 digits (a BSN without
    its leading zero), not part of a longer digit run. It catches all the identifier scan catches (and
    8-digit BSNs), so a value masked with it no longer fails the scan."""
    s = values.astype("string")
    out = pd.Series(False, index=values.index)
    if not s.str.contains(r"\d{8}", regex=True).any():
        return out
    candidates = s.str.extractall(r"(?<!\d)(\d{8,9})(?!\d)")[0]
    if len(candidates):
        nine = candidates.where(candidates.str.len() == 9, "0" + candidates).reset_index(drop=True)
        valid = is_valid_bsn(nine).to_numpy()
        out.loc[candidates.index.get_level_values(0)[valid].unique()] = True
    return out


BSN_COLUMNS = ("bsn", "burgerservicenummer", "sofinummer")
CBS_KEY_COLUMNS = (
    "rinpersoon",
    "rinpersoons",
    "rinpersoonma",
    "rinpersoonpa",
    "rinpersoonsma",
    "rinpersoonspa",
)
PSEUDONYM_COLUMNS = ("pseudo_id", "person_id")


def is_identifier_column(name) -> bool:
    """A column named as a person key (any case): a BSN anywhere in the name, a CBS person number, a
    pseudonym. The one list every preview, check sample and scan goes by."""
    low = str(name).lower()
    return any(b in low for b in BSN_COLUMNS) or low in CBS_KEY_COLUMNS or low in PSEUDONYM_COLUMNS


# CBS's own numbers for jobs, employers and households: 9 digits, not persons, allowed with CBS keys.
CBS_NON_PERSON_KEYS = ("ikvid", "sbeid", "huishoudnr")
_NINE_DIGITS = r"(?<!\d)(\d{9})(?!\d)"
_PSEUDONYM = r"^[0-9a-f]{32,}$"  # ours are 64 (HMAC-SHA256); 32 is the shortest hash we would miss


@dataclass(frozen=True)
class Finding:
    column: str
    kind: str  # "bsn column", "cbs key column", "pseudonym column", "bsn value", "pseudonym value"
    rows: int

    def __str__(self) -> str:
        return (
            f"{self.kind} in column '{self.column}' ({self.rows} rows)"
            if self.rows
            else f"{self.kind} '{self.column}'"
        )


def _distinct_text(s: pd.Series) -> pd.Series:
    if isinstance(s.dtype, pd.CategoricalDtype):
        return pd.Series(s.cat.categories.astype(str))
    values = pd.Series(s.dropna().unique())  # distinct first: a birth year column has a hundred
    if not isinstance(s.dtype, pd.StringDtype):  # text already: no copy into Python objects
        values = values.astype(str).drop_duplicates()
    return values


def _count_rows(s: pd.Series, bad_values: set[str]) -> int:
    return int(s.astype(str).isin(bad_values).sum()) if bad_values else 0


def scan_identifiers(
    df: pd.DataFrame, *, allow_cbs_keys: bool = False, published: bool = False
) -> list[Finding]:
    """Identifiers found in ``df``, its index included; an empty list means clean."""
    findings: list[Finding] = []
    for col, s in _columns_and_index(df):
        name = str(col).lower()
        if any(b in name for b in BSN_COLUMNS):
            findings.append(Finding(str(col), "bsn column", 0))
            continue
        if name in CBS_KEY_COLUMNS:
            if not allow_cbs_keys or published:
                findings.append(Finding(str(col), "cbs key column", 0))
            continue  # values of an allowed key column are RINPERSOONs, not BSNs
        if name in CBS_NON_PERSON_KEYS and allow_cbs_keys and not published:
            continue
        if name in PSEUDONYM_COLUMNS and published:
            findings.append(Finding(str(col), "pseudonym column", 0))
            continue
        if not (
            pd.api.types.is_object_dtype(s)
            or pd.api.types.is_string_dtype(s)
            or isinstance(s.dtype, pd.CategoricalDtype)
            or pd.api.types.is_integer_dtype(s)
        ):
            continue
        values = _distinct_text(s)
        if values.empty:
            continue
        hashes = values.str.fullmatch(_PSEUDONYM)
        if name in PSEUDONYM_COLUMNS:
            values = values[~hashes]  # a hash may contain nine digits in a row by chance: not a BSN
            if values.empty:
                continue
        hits = _bsn_values(values)
        if hits:
            findings.append(Finding(str(col), "bsn value", _count_rows(s, hits)))
        if published and name not in PSEUDONYM_COLUMNS:
            pseudo = values[values.str.fullmatch(_PSEUDONYM)]
            if len(pseudo):
                findings.append(Finding(str(col), "pseudonym value", _count_rows(s, set(pseudo))))
    return findings


def _columns_and_index(df: pd.DataFrame) -> Iterable[tuple[str, pd.Series]]:
    """The columns, then each level of an index that holds values (not a plain row count)."""
    for col in df.columns:
        yield col, df[col]
    if isinstance(df.index, pd.RangeIndex):
        return
    for i, level in enumerate(df.index.names):
        yield (
            (level if level is not None else f"index {i}"),
            df.index.get_level_values(i).to_series(),
        )


def _bsn_values(values: pd.Series) -> set[str]:
    """The distinct values holding a BSN: nine digits in a row that pass the eleven-test, or a whole
    value written in three groups with spaces or dots ("1234.56.782", "123 456 782")."""
    hits: set[str] = set()
    if values.str.contains(r"\d{9}", regex=True).any():
        candidates = values.str.extractall(_NINE_DIGITS)[0]
        valid = candidates[is_valid_bsn(candidates.reset_index(drop=True)).to_numpy()]
        hits |= set(values[valid.index.get_level_values(0).unique()])
    # three groups, one separator: as a BSN is written, and not how an amount ("1234567.89") is
    three_groups = values.str.fullmatch(r"\s*[0-9]+(?: [0-9]+ |\.[0-9]+\.)[0-9]+\s*").fillna(False)
    grouped = values[(written_with_separators(values) & three_groups).to_numpy(dtype=bool)]
    if len(grouped):
        hits |= set(grouped[is_valid_bsn(normalise_bsn(grouped)).to_numpy()])
    return hits


def scan_identifiers_in_parts(
    frames: Iterable[pd.DataFrame], *, allow_cbs_keys: bool = False, published: bool = False
) -> list[Finding]:
    """``scan_identifiers`` over a table read in parts: the same findings, rows added up."""
    rows: dict[tuple[str, str], int] = {}
    for df in frames:
        for f in scan_identifiers(df, allow_cbs_keys=allow_cbs_keys, published=published):
            rows[(f.column, f.kind)] = rows.get((f.column, f.kind), 0) + f.rows
    return [Finding(column, kind, n) for (column, kind), n in rows.items()]
