"""Writes a simulated world as a landing folder: municipal register extracts (CSV) and CBS tables (parquet).

Registration faults are planted as extra rows (altered copies of true rows), so dropping the faulty
rows gives back exactly the true spells: ingestion can be tested against the truth.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from wi_pipeline.lib.layout import (
    CBS_FOLDER,
    CBS_TABLES,
    CSV_ENCODING,
    CSV_SEPARATOR,
    EXTRACT_NAME_FORMAT,
    REGISTERS,
    SRG_MAPPING_FILE,
)
from wi_pipeline.synthetic.world import GM_CODES, World, ymd

FAULT_KINDS = ("invalid_bsn", "duplicate_row", "overlapping_spell", "end_before_start", "unknown_code", "unparseable_date")
UNKNOWN_CODES = {"bijstand": ["WWB", "BBZ"], "ontheffingen": ["ART9B", "ONTH"], "schuldhulp": ["NAZORG", "ONBEKEND"],
                 "wmo": ["VERVOER", "ONBEKEND"], "reintegratie": ["ONBEKEND", "X-99"]}


# --------------------------------------------------------------------------------------------- formats
def _pad(x: np.ndarray, width: int) -> np.ndarray:
    x = np.asarray(x)
    if x.size == 0:
        return np.array([], dtype=object)
    return np.char.zfill(x.astype(np.int64).astype(str), width)


def register_dates(d) -> np.ndarray:
    """dd-mm-yyyy text; empty for an open end."""
    d = np.asarray(d, dtype="datetime64[D]")
    if d.size == 0:
        return np.array([], dtype=object)
    nat = np.isnat(d)
    y, m, day = ymd(np.where(nat, np.datetime64("2000-01-01"), d))
    out = np.char.add(np.char.add(np.char.add(np.char.add(_pad(day, 2), "-"), _pad(m, 2)), "-"), _pad(y, 4))
    return np.where(nat, "", out).astype(object)


def cbs_dates(d) -> np.ndarray:
    """YYYYMMDD text; empty for an open end."""
    d = np.asarray(d, dtype="datetime64[D]")
    nat = np.isnat(d)
    y, m, day = ymd(np.where(nat, np.datetime64("2000-01-01"), d))
    return np.where(nat, "", (y * 10000 + m * 100 + day).astype("U8"))


# --------------------------------------------------------------------------------------------- registers
def _register_frame(world: World, gm: str, name: str) -> pd.DataFrame:
    sp = world.register_spells
    sp = sp[(sp["gemeente"] == gm) & (sp["register"] == name)]
    layout = REGISTERS[name]
    out = pd.DataFrame({"BSN": sp["bsn"].to_numpy(dtype=object)})
    if name == "bijstand":
        out["DOSSIERNUMMER"] = sp["dossier"].to_numpy(dtype=object)
    out[layout.code_column] = sp["code"].to_numpy(dtype=object)
    if name == "reintegratie":
        out["VOORZIENING_OMSCHRIJVING"] = sp["omschrijving"].to_numpy(dtype=object)
    out[layout.start_column] = register_dates(sp["start"].to_numpy())
    out[layout.end_column] = register_dates(sp["end"].to_numpy())
    return out[layout.required_columns].reset_index(drop=True)


def _plant_faults(rng: np.random.Generator, df: pd.DataFrame, gm: str, name: str, rate: float,
                  other_local_codes: list[str]) -> tuple[pd.DataFrame, dict[str, int]]:
    layout = REGISTERS[name]
    s, e, c = layout.start_column, layout.end_column, layout.code_column
    n = len(df)
    counts = {k: 0 for k in FAULT_KINDS}
    if n == 0 or rate <= 0:
        return df, counts
    extra = []
    for kind in FAULT_KINDS:
        k = int(rng.binomial(n, rate))
        if n >= 10:
            k = max(k, 1)
        if k == 0:
            continue
        starts = pd.to_datetime(df[s], format="%d-%m-%Y")
        if kind == "overlapping_spell":
            ends = pd.to_datetime(df[e], format="%d-%m-%Y", errors="coerce")
            ok = np.nonzero((ends.isna() | (ends.dt.to_period("M") > starts.dt.to_period("M"))).to_numpy())[0]
            if len(ok) == 0:
                continue
            pick = rng.choice(ok, size=min(k, len(ok)), replace=False)
        else:
            pick = rng.choice(n, size=k, replace=n < k)
        rows = df.iloc[pick].copy()
        if kind == "invalid_bsn":
            b = rows["BSN"].astype(str)
            last = b.str[-1].astype(int).to_numpy()
            rows["BSN"] = b.str[:-1] + ((last + rng.integers(1, 10, len(rows))) % 10).astype(str)
        elif kind == "overlapping_spell":
            st = starts.iloc[pick]
            rows[s] = register_dates((st - pd.to_timedelta(st.dt.day - 1, unit="D")
                                      + pd.to_timedelta(st.dt.day % 28, unit="D")).to_numpy())
        elif kind == "end_before_start":
            st = starts.iloc[pick]
            rows[e] = register_dates((st - pd.to_timedelta(rng.integers(1, 400, len(rows)), unit="D")).to_numpy())
        elif kind == "unknown_code":
            pool = UNKNOWN_CODES[name] + (other_local_codes if name == "reintegratie" else [])
            rows[c] = np.array(pool, dtype=object)[rng.integers(0, len(pool), len(rows))]
        elif kind == "unparseable_date":
            st = starts.iloc[pick]
            style = rng.integers(0, 3, len(rows))
            iso = st.dt.strftime("%Y-%m-%d").to_numpy()
            slash = st.dt.strftime("%d/%m/%Y").to_numpy()
            feb = ("31-02-" + st.dt.year.astype(str)).to_numpy()
            rows[s] = np.where(style == 0, iso, np.where(style == 1, slash, feb))
        counts[kind] = len(rows)
        extra.append(rows)
    out = pd.concat([df, *extra], ignore_index=True) if extra else df
    return out.iloc[rng.permutation(len(out))].reset_index(drop=True), counts


def write_registers(world: World, landing: Path) -> dict:
    cfg = world.config
    rng = np.random.default_rng([cfg.seed, 7])
    name = pd.Timestamp(cfg.extract_date).strftime(EXTRACT_NAME_FORMAT) + ".csv"
    mapping = pd.read_csv(SRG_MAPPING_FILE, sep=";", dtype=str)
    summary: dict = {}
    for gm in GM_CODES:
        others = sorted(set(mapping.loc[mapping["GEMEENTE"] != gm, "VOORZIENING_CODE"])
                        - set(mapping.loc[mapping["GEMEENTE"] == gm, "VOORZIENING_CODE"]))
        for reg in REGISTERS:
            df = _register_frame(world, gm, reg)
            df, faults = _plant_faults(rng, df, gm, reg, cfg.fault_rate, others)
            path = Path(landing) / gm / reg / name
            path.parent.mkdir(parents=True, exist_ok=True)
            df.to_csv(path, sep=CSV_SEPARATOR, index=False, encoding=CSV_ENCODING, lineterminator="\n")
            summary[f"{gm}/{reg}/{name}"] = {"rows": len(df), "faults": faults}
    return summary


# --------------------------------------------------------------------------------------------- CBS
def _text(x) -> pa.Array:
    """Arrow text without a Python object per value where possible (memory at scale 1.0)."""
    if isinstance(x, pd.Series):
        x = x.array
    if hasattr(x, "__arrow_array__"):
        return pa.array(x).cast(pa.string())
    x = np.asarray(x)
    return pa.array(x if x.dtype.kind == "U" else x.astype(object), type=pa.string())


def _write_cbs(landing: Path, table: str, columns: dict) -> int:
    layout = CBS_TABLES[table]
    arrays = []
    for col in layout.columns:
        v = columns[col]
        arrays.append(pa.array(np.asarray(v, dtype=np.float64)) if col in layout.numeric_columns else _text(v))
    t = pa.Table.from_arrays(arrays, names=list(layout.columns))
    path = Path(landing) / CBS_FOLDER / f"{table}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(t, path, compression="snappy")
    return t.num_rows


def write_cbs(world: World, landing: Path) -> dict:
    rows = {}
    P_ = world.persons
    key = P_[P_["in_key_file"]]
    rows["KOPPELTABEL"] = _write_cbs(landing, "KOPPELTABEL", {
        "BSN": key["bsn"].to_numpy(), "RINPERSOONS": np.full(len(key), "R", dtype=object), "RINPERSOON": key["rinpersoon"].to_numpy()})

    people = pd.concat([
        P_[["rinpersoon", "sex", "birth_date", "origin_code", "generation"]],
        world.children[["rinpersoon", "sex", "birth_date", "origin_code", "generation"]],
        world.co_parents[["rinpersoon", "sex", "birth_date", "origin_code", "generation"]],
        world.noise[["rinpersoon", "sex", "birth_date", "origin_code", "generation"]],
    ], ignore_index=True)
    y, m, d = ymd(people["birth_date"].to_numpy())
    n = len(people)
    rows["GBAPERSOONTAB"] = _write_cbs(landing, "GBAPERSOONTAB", {
        "RINPERSOONS": np.full(n, "R", dtype=object), "RINPERSOON": people["rinpersoon"].to_numpy(),
        "GBAGESLACHT": np.where(people["sex"] == "man", "1", "2"), "GBAGEBOORTEJAAR": _pad(y, 4),
        "GBAGEBOORTEMAAND": _pad(m, 2), "GBAGEBOORTEDAG": _pad(d, 2),
        "GBAHERKOMSTGROEPERING": people["origin_code"].to_numpy(), "GBAGENERATIE": people["generation"].to_numpy()})

    ch = world.children
    parent_rin = P_["rinpersoon"].to_numpy()[ch["parent_person_id"].to_numpy()]
    parent_female = (P_["sex"].to_numpy() == "vrouw")[ch["parent_person_id"].to_numpy()]
    co = ch["co_parent_rinpersoon"].to_numpy()
    unknown = "---------"
    co_or_unknown = np.where(co == "", unknown, co)
    ma = np.where(parent_female, parent_rin, co_or_unknown)
    pa_ = np.where(parent_female, co_or_unknown, parent_rin)
    rows["KINDOUDERTAB"] = _write_cbs(landing, "KINDOUDERTAB", {
        "RINPERSOONS": np.full(len(ch), "R", dtype=object), "RINPERSOON": ch["rinpersoon"].to_numpy(),
        "RINPERSOONSMa": np.where(ma == unknown, "-", "R"), "RINPERSOONMa": ma,
        "RINPERSOONSpa": np.where(pa_ == unknown, "-", "R"), "RINPERSOONpa": pa_})

    ms = world.marital
    rows["GBABURGERLIJKESTAATBUS"] = _write_cbs(landing, "GBABURGERLIJKESTAATBUS", {
        "RINPERSOONS": np.full(len(ms), "R", dtype=object), "RINPERSOON": ms["rin"],
        "GBABURGERLIJKESTAATNW": ms["code"].to_numpy(),
        "GBADATUMAANVANGBURGERLIJKESTAAT": cbs_dates(ms["start"].to_numpy()),
        "GBADATUMEINDEBURGERLIJKESTAAT": cbs_dates(ms["end"].to_numpy())})

    hh = world.households
    yy = hh["youngest_year"].to_numpy()
    rows["GBAHUISHOUDENSBUS"] = _write_cbs(landing, "GBAHUISHOUDENSBUS", {
        "RINPERSOONS": np.full(len(hh), "R", dtype=object), "RINPERSOON": hh["rin"],
        "HUISHOUDNR": hh["hhnr"].to_numpy(), "DATUMAANVANGHH": cbs_dates(hh["start"].to_numpy()),
        "DATUMEINDEHH": cbs_dates(hh["end"].to_numpy()), "TYPHH": hh["typ"].astype(str).to_numpy(),
        "PLHH": hh["plhh"].astype(str).to_numpy(), "AANTALKINDHH": hh["n_children"].astype(str).to_numpy(),
        "GEBJAARJONGSTEKINDHH": np.where(yy > 0, yy.astype(str), ""),
        "GEBMAANDJONGSTEKINDHH": np.where(yy > 0, _pad(hh["youngest_month"].to_numpy(), 2), "")})

    jb = world.jobs
    rows["SPOLISBUS"] = _write_cbs(landing, "SPOLISBUS", {
        "RINPERSOONS": np.full(len(jb), "R", dtype=object), "RINPERSOON": jb["rin"],
        "IKVID": jb["job"].astype(str).to_numpy(), "SBEID": _pad(jb["employer"].to_numpy(), 9),
        "SDATUMAANVANGIKO": cbs_dates(jb["start"].to_numpy()), "SDATUMEINDEIKO": cbs_dates(jb["end"].to_numpy()),
        "SBASISLOON": jb["wage"].to_numpy(), "SBASISUREN": jb["hours"].to_numpy(),
        "SCONTRACTSOORT": np.where(jb["fixed_term"].to_numpy(), "B", "O"),
        "SPOLISDIENSTVERBAND": np.where(jb["fulltime"].to_numpy(), "1", "2")})

    se = world.secm
    rows["SECMBUS"] = _write_cbs(landing, "SECMBUS", {
        "RINPERSOONS": np.full(len(se), "R", dtype=object), "RINPERSOON": se["rin"],
        "AANVSECM": cbs_dates(se["start"].to_numpy()), "EINDSECM": cbs_dates(se["end"].to_numpy()),
        "SECM": se["code"].to_numpy()})

    zc = world.care_costs
    rows["ZVWZORGKOSTENTAB"] = _write_cbs(landing, "ZVWZORGKOSTENTAB", {
        "RINPERSOONS": np.full(len(zc), "R", dtype=object), "RINPERSOON": zc["rin"],
        "JAAR": zc["year"].astype(str).to_numpy(), "ZVWKHUISARTS": zc["huisarts"].to_numpy(),
        "ZVWKFARMACIE": zc["farmacie"].to_numpy(), "ZVWKZIEKENHUIS": zc["ziekenhuis"].to_numpy(),
        "ZVWKGGZ": zc["ggz"].to_numpy(), "ZVWKEERSTELIJNSPSYCHO": zc["psycho"].to_numpy()})

    db = world.debt
    rows["PROBSCHULDTAB"] = _write_cbs(landing, "PROBSCHULDTAB", {
        "RINPERSOONS": np.full(len(db), "R", dtype=object), "RINPERSOON": db["rin"],
        "PEILDATUM": (db["year"].astype(str) + "0101").to_numpy(),
        "PROBSCHULDPERS": np.where(db["person"].to_numpy(dtype=bool), "1", "0"),
        "PROBSCHULDHH": np.full(len(db), "1", dtype=object)})
    return rows


def write_landing(world: World, landing_dir: Path) -> dict:
    """Register extracts and CBS tables under landing_dir; returns rows per file and faults per kind."""
    landing = Path(landing_dir)
    registers = write_registers(world, landing)
    cbs = write_cbs(world, landing)
    faults = {k: sum(v["faults"][k] for v in registers.values()) for k in FAULT_KINDS}
    return {
        "landing": str(landing),
        "extract_date": world.config.extract_date,
        "bsn_prefix": world.bsn_prefix,
        "register_files": registers,
        "cbs_tables": {f"{CBS_FOLDER}/{t}.parquet": n for t, n in cbs.items()},
        "faults": faults,
        "faults_total": sum(faults.values()),
    }
