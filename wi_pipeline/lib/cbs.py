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
    df = pq.read_table(path, columns=list(layout.columns)).to_pandas()
    if df.empty:
        raise ExtractError(f"{path}: CBS table {layout.name} has no rows")
    return df


def type_cbs_table(df: pd.DataFrame, layout: CbsTableLayout) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Typed table and quarantined rows (with reason): unparseable dates or numbers, bad person keys."""
    name = layout.name
    out = pd.DataFrame(index=df.index)
    reasons = pd.Series("", index=df.index, dtype=object)

    def flag(mask: pd.Series, reason: str) -> None:
        reasons[mask] = reasons[mask].where(reasons[mask] == "", reasons[mask] + "; ") + reason

    for col in layout.columns:
        s = df[col]
        if col in layout.numeric_columns:
            num = pd.to_numeric(s, errors="coerce")
            flag(num.isna() & s.notna(), f"{col} is not a number")
            out[col] = num.astype("float64")
        elif col in DATE_COLUMNS.get(name, ()):
            txt = s.astype("string").str.strip()
            parsed = pd.to_datetime(txt, format=CBS_DATE_FORMAT, errors="coerce")
            flag(parsed.isna() & txt.notna() & (txt != ""), f"{col} is not a date (YYYYMMDD)")
            out[col] = parsed
        elif col in INTEGER_COLUMNS.get(name, ()):
            num = pd.to_numeric(s, errors="coerce")
            flag(num.isna() & s.notna() & (s.astype("string").str.strip() != ""), f"{col} is not a whole number")
            out[col] = num.astype("Int64")
        else:
            out[col] = s.astype("string")
    if "RINPERSOON" in out:
        ok_key = out["RINPERSOON"].str.fullmatch(r"\d{9}").fillna(False).astype(bool)
        flag(~ok_key, "RINPERSOON is not 9 digits")
    bad = reasons != ""
    quarantine = out.loc[bad].assign(reason=reasons[bad]).reset_index(drop=True)
    return out.loc[~bad].reset_index(drop=True), quarantine


def pseudonymise_key_file(df: pd.DataFrame, key: PseudonymKey, source: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """BSN -> pseudo_id; rows whose BSN fails the eleven-test cannot link and are quarantined."""
    bsn = normalise_bsn(df["BSN"])
    valid = is_valid_bsn(bsn)
    guard_demo_key(key, bsn[valid], source)
    out = pd.DataFrame(
        {
            PSEUDONYM_COLUMN: key.pseudonymise(bsn),
            "RINPERSOONS": df["RINPERSOONS"].astype("string"),
            "RINPERSOON": df["RINPERSOON"].astype("string"),
        }
    )
    quarantine = out.loc[~valid].assign(reason="BSN fails the eleven-test").reset_index(drop=True)
    return out.loc[valid].reset_index(drop=True), quarantine


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
