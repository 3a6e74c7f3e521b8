"""Reading CBS microdata tables: only the needed columns, typed, validated.

CBS ships text: person numbers as 9-character strings with leading zeros and dates as YYYYMMDD.
Typing happens once here so that every consumer sees the same dates and codes. The key file
(KOPPELTABEL) is the one CBS table with a BSN; it is pseudonymised on the way in.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa_arrow
import pyarrow.parquet as pq

from wi_pipeline.lib.bsn import is_valid_bsn, normalise_bsn
from wi_pipeline.lib.ingest import ExtractError
from wi_pipeline.lib.layout import CBS_DATE_FORMAT, CBS_FOLDER, CBS_TABLES, CbsTableLayout
from wi_pipeline.lib.pseudonymise import PSEUDONYM_COLUMN, PseudonymKey, guard_demo_key

MISSING_PERSON = "---------"  # KINDOUDERTAB: parent unknown
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
    return Path(landing) / CBS_FOLDER / f"{table}.parquet"


def read_cbs_table(path: Path, layout: CbsTableLayout) -> pd.DataFrame:
    """Read the layout's columns only; a missing file or column is one clear error."""
    path = Path(path)
    if not path.is_file():
        raise ExtractError(f"CBS table {layout.name} not found at {path}")
    try:
        names = pq.read_schema(path).names
    except (pa_arrow.ArrowInvalid, OSError) as e:
        raise ExtractError(f"{path}: not a readable parquet file ({e})") from None
    missing = [c for c in layout.columns if c not in names]
    if missing:
        raise ExtractError(f"{path}: missing column(s) {', '.join(missing)} in CBS table {layout.name}")
    try:
        df = pq.read_table(path, columns=list(layout.columns)).to_pandas()
    except (pa_arrow.ArrowException, OSError) as e:
        raise ExtractError(f"{path}: CBS table {layout.name} could not be read, the file looks damaged ({e})") from None
    if df.empty:
        raise ExtractError(f"{path}: CBS table {layout.name} has no rows")
    return df


def _flag(reasons: pd.Series, mask: pd.Series, reason: str) -> None:
    """Add a reason to the rows in ``mask``, after any reason they already have."""
    reasons[mask] = reasons[mask].where(reasons[mask] == "", reasons[mask] + "; ") + reason


def _is_rinpersoon(s: pd.Series) -> pd.Series:
    return s.astype("string").str.fullmatch(r"\d{9}").fillna(False).astype(bool)


def type_cbs_table(df: pd.DataFrame, layout: CbsTableLayout) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed table and quarantined rows (with reason): unparseable dates or numbers, bad person keys."""
    name = layout.name
    out = pd.DataFrame(index=df.index)
    reasons = pd.Series("", index=df.index, dtype=object)

    for col in layout.columns:
        s = df[col]
        if col in layout.numeric_columns:
            num = pd.to_numeric(s, errors="coerce")
            _flag(reasons, num.isna() & s.notna(), f"{col} is not a number")
            out[col] = num.astype("float64")
        elif col in DATE_COLUMNS.get(name, ()):
            txt = s.astype("string").str.strip()
            parsed = pd.to_datetime(txt, format=CBS_DATE_FORMAT, errors="coerce")
            _flag(reasons, parsed.isna() & txt.notna() & (txt != ""), f"{col} is not a date (YYYYMMDD)")
            out[col] = parsed
        elif col in INTEGER_COLUMNS.get(name, ()):
            num = pd.to_numeric(s, errors="coerce")
            whole = num.isna() | ((num % 1 == 0) & (num.abs() < 2**53))  # 1980.5 or 1e30 cannot be Int64
            _flag(reasons, (num.isna() & s.notna() & (s.astype("string").str.strip() != "")) | ~whole,
                  f"{col} is not a whole number")
            out[col] = num.where(whole).astype("Int64")
        else:
            out[col] = s.astype("string")
    if "RINPERSOON" in out:
        _flag(reasons, ~_is_rinpersoon(out["RINPERSOON"]), "RINPERSOON is not 9 digits")
    bad = reasons != ""
    quarantine = out.loc[bad].assign(reason=reasons[bad]).reset_index(drop=True)
    return out.loc[~bad].reset_index(drop=True), quarantine


def pseudonymise_key_file(df: pd.DataFrame, key: PseudonymKey, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """BSN -> pseudo_id; rows whose BSN fails the eleven-test or whose RINPERSOON is not 9 digits
    cannot link and are quarantined."""
    bsn = normalise_bsn(df["BSN"])
    valid_bsn = is_valid_bsn(bsn)
    guard_demo_key(key, bsn[valid_bsn], source)
    out = pd.DataFrame(
        {
            PSEUDONYM_COLUMN: key.pseudonymise(bsn),
            "RINPERSOONS": df["RINPERSOONS"].astype("string"),
            "RINPERSOON": df["RINPERSOON"].astype("string"),
        }
    )
    reasons = pd.Series("", index=df.index, dtype=object)
    _flag(reasons, ~valid_bsn, "BSN fails the eleven-test")
    _flag(reasons, ~_is_rinpersoon(out["RINPERSOON"]), "RINPERSOON is not 9 digits")
    bad = reasons != ""
    quarantine = out.loc[bad].assign(reason=reasons[bad]).reset_index(drop=True)
    return out.loc[~bad].reset_index(drop=True), quarantine


def ingest_cbs_table(landing: Path, table: str, key: PseudonymKey | None = None) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """(accepted, quarantine, rows_in) for one CBS table from the landing folder."""
    layout = CBS_TABLES[table]
    path = cbs_path(landing, table)
    raw = read_cbs_table(path, layout)
    if layout.holds_bsn:
        if key is None:
            raise ValueError(f"{table} holds BSNs and needs the pseudonymisation key")
        accepted, quarantine = pseudonymise_key_file(raw, key, str(path))
    else:
        accepted, quarantine = type_cbs_table(raw, layout)
    if len(accepted) + len(quarantine) != len(raw):
        raise RuntimeError(f"{table}: rows in != accepted + quarantined")
    return accepted, quarantine, len(raw)
