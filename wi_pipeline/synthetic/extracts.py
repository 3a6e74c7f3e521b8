"""Writes a simulated world as a landing folder: municipal register extracts (CSV) and CBS tables as
CBS delivers them (SPSS .sav per table, per year for yearly tables, with versions).

Registration faults are planted as extra rows (altered copies of true rows), so dropping the faulty
rows gives back exactly the true spells: ingestion can be tested against the truth.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pyreadstat

from wi_pipeline.lib.cbs_delivery import delivery_folder, delivery_rules, legacy_path
from wi_pipeline.lib.layout import (
    CBS_FOLDER,
    CBS_TABLES,
    CSV_ENCODING,
    CSV_SEPARATOR,
    EXTRACT_NAME_FORMAT,
    REGISTERS,
    SRG_MAPPING_FILE,
)
from wi_pipeline.synthetic.config import EDGE_CASES
from wi_pipeline.synthetic.world import GM_CODES, World, ymd

FAULT_KINDS = (
    "invalid_bsn",
    "duplicate_row",
    "overlapping_spell",
    "end_before_start",
    "unknown_code",
    "unparseable_date",
)
UNKNOWN_CODES = {
    "bijstand": ["WWB", "BBZ"],
    "ontheffingen": ["ART9B", "ONTH"],
    "schuldhulp": ["NAZORG", "ONBEKEND"],
    "wmo": ["VERVOER", "ONBEKEND"],
    "reintegratie": ["ONBEKEND", "X-99"],
}


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
    out = np.char.add(
        np.char.add(np.char.add(np.char.add(_pad(day, 2), "-"), _pad(m, 2)), "-"), _pad(y, 4)
    )
    return np.where(nat, "", out).astype(object)


def cbs_dates(d) -> np.ndarray:
    """YYYYMMDD text; empty for an open end."""
    d = np.asarray(d, dtype="datetime64[D]")
    nat = np.isnat(d)
    y, m, day = ymd(np.where(nat, np.datetime64("2000-01-01"), d))
    return np.where(nat, "", (y * 10000 + m * 100 + day).astype("U8"))


# --------------------------------------------------------------------------------------------- registers
BENEFIT_CODES = ("PW", "IOAW", "IOAZ")


def _split_benefit_spells(
    rng: np.random.Generator, sp: pd.DataFrame, rate: float, last_day: np.datetime64
) -> tuple[pd.DataFrame, int]:
    """A share of the benefit spells delivered as two or three back-to-back spells, each with another
    code than the one before (a change of benefit, as from PW to IOAW): the run of benefit months is
    unchanged, so the panel's benefit duration has to count over the pieces, also before the window.
    Returns the spells and how many were split."""
    start = sp["start"].to_numpy().astype("datetime64[D]")
    end = sp["end"].to_numpy().astype("datetime64[D]")
    first_cut = start.astype("datetime64[M]") + 1  # a piece starts on the first day of a month
    last_cut = np.where(np.isnat(end), last_day, end).astype("datetime64[M]")
    n_cuts = (last_cut - first_cut).astype(np.int64) + 1
    candidates = np.flatnonzero(n_cuts >= 1)
    pick = np.sort(rng.choice(candidates, size=rng.binomial(len(candidates), rate), replace=False))
    pieces = np.ones(len(sp), dtype=np.int64)
    starts, ends, codes = [], [], []
    code = sp["code"].astype(str).to_numpy()
    for i in pick:
        k = min(1 + int(rng.random() < 0.3), int(n_cuts[i]))
        cuts = (first_cut[i] + np.sort(rng.choice(n_cuts[i], size=k, replace=False))).astype(
            "datetime64[D]"
        )
        pieces[i] = k + 1
        starts.append(np.r_[start[i], cuts])
        ends.append(np.r_[cuts - 1, end[i]])
        c = [code[i]]
        for _ in range(k):
            others = [x for x in BENEFIT_CODES if x != c[-1]]
            c.append(others[rng.integers(len(others))])
        codes.append(c)
    out = sp.loc[sp.index.repeat(pieces)].reset_index(drop=True)
    if len(pick):
        first_row = np.cumsum(pieces) - pieces
        rows = np.concatenate([first_row[i] + np.arange(pieces[i]) for i in pick])
        out["code"] = out["code"].astype(str)
        out.loc[rows, "start"] = np.concatenate(starts).astype("datetime64[s]")
        out.loc[rows, "end"] = np.concatenate(ends).astype("datetime64[s]")
        out.loc[rows, "code"] = np.concatenate(codes)
    return out, len(pick)


def _register_frame(
    world: World, gm: str, name: str, rng: np.random.Generator | None = None
) -> pd.DataFrame:
    """The register extract of a municipality; with ``rng``, bijstand runs are split now and then."""
    sp = world.register_spells
    sp = sp[(sp["gemeente"] == gm) & (sp["register"] == name)]
    split = 0
    if name == "bijstand" and rng is not None:
        last_day = np.datetime64(pd.Timestamp(world.config.extract_date).date(), "D")
        sp, split = _split_benefit_spells(rng, sp, EDGE_CASES["split_benefit_spells"], last_day)
    layout = REGISTERS[name]
    out = pd.DataFrame({"BSN": sp["bsn"].to_numpy(dtype=object)})
    if name == "bijstand":
        out["DOSSIERNUMMER"] = sp["dossier"].to_numpy(dtype=object)
    out[layout.code_column] = sp["code"].to_numpy(dtype=object)
    if name == "reintegratie":
        out["VOORZIENING_OMSCHRIJVING"] = sp["omschrijving"].to_numpy(dtype=object)
    out[layout.start_column] = register_dates(sp["start"].to_numpy())
    out[layout.end_column] = register_dates(sp["end"].to_numpy())
    out = out[layout.required_columns].reset_index(drop=True)
    out.attrs["split_benefit_spells"] = split
    return out


def _plant_faults(
    rng: np.random.Generator,
    df: pd.DataFrame,
    gm: str,
    name: str,
    rate: float,
    other_local_codes: list[str],
) -> tuple[pd.DataFrame, dict[str, int]]:
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
            ok = np.nonzero(
                (ends.isna() | (ends.dt.to_period("M") > starts.dt.to_period("M"))).to_numpy()
            )[0]
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
            rows[s] = register_dates(
                (
                    st
                    - pd.to_timedelta(st.dt.day - 1, unit="D")
                    + pd.to_timedelta(st.dt.day % 28, unit="D")
                ).to_numpy()
            )
        elif kind == "end_before_start":
            st = starts.iloc[pick]
            rows[e] = register_dates(
                (st - pd.to_timedelta(rng.integers(1, 400, len(rows)), unit="D")).to_numpy()
            )
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
    rng_split = np.random.default_rng(
        [cfg.seed, 17]
    )  # its own stream: the faults stay as they were
    name = pd.Timestamp(cfg.extract_date).strftime(EXTRACT_NAME_FORMAT) + ".csv"
    mapping = pd.read_csv(SRG_MAPPING_FILE, sep=";", dtype=str)
    summary: dict = {}
    for gm in GM_CODES:
        others = sorted(
            set(mapping.loc[mapping["GEMEENTE"] != gm, "VOORZIENING_CODE"])
            - set(mapping.loc[mapping["GEMEENTE"] == gm, "VOORZIENING_CODE"])
        )
        for reg in REGISTERS:
            df = _register_frame(world, gm, reg, rng_split)
            split = df.attrs.get("split_benefit_spells", 0)
            df, faults = _plant_faults(rng, df, gm, reg, cfg.fault_rate, others)
            path = Path(landing) / gm / reg / name
            path.parent.mkdir(parents=True, exist_ok=True)
            df.to_csv(
                path, sep=CSV_SEPARATOR, index=False, encoding=CSV_ENCODING, lineterminator="\n"
            )
            summary[f"{gm}/{reg}/{name}"] = {
                "rows": len(df),
                "faults": faults,
                "split_benefit_spells": split,
            }
    return summary


# --------------------------------------------------------------------------------------------- CBS
def _text(x) -> pa.Array:
    """Arrow text without a Python object per value where possible (memory at scale 1.0)."""
    if isinstance(x, pd.Series):
        x = x.array
    if hasattr(x, "__arrow_array__"):
        out = pa.array(x).cast(pa.string())
    else:
        x = np.asarray(x)
        out = pa.array(x if x.dtype.kind == "U" else x.astype(object), type=pa.string())
    # arrow gives a chunked array for concatenated arrow-backed columns and for numpy text of some
    # million rows (scale 1.0); the edge-case rows are appended to one array
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def _write_cbs(
    landing: Path,
    table: str,
    columns: dict,
    extra: dict | None = None,
    duplicates: np.ndarray | None = None,
    form: str = "sav",
    snapshot_year: int = 2024,
    created: str = "2025-01-15",
) -> tuple[int, list[str]]:
    """One CBS table; ``extra`` rows appended, and the rows ``duplicates`` (positions) written twice.
    ``form`` "sav": as CBS delivers (``write_delivery``); "parquet": the older single file. Returns
    the rows and the files written beside them that the pipeline must leave."""
    layout = CBS_TABLES[table]

    def arrow(col, v) -> pa.Array:
        if col in layout.numeric_columns:  # NaN is written as an empty value, as CBS leaves it
            return pa.array(np.asarray(v, dtype=np.float64), from_pandas=True)
        return _text(v)

    arrays = [arrow(c, columns[c]) for c in layout.columns]
    if extra is not None:
        arrays = [pa.concat_arrays([a, arrow(c, extra[c])]) for a, c in zip(arrays, layout.columns)]
    t = pa.Table.from_arrays(arrays, names=list(layout.columns))
    if duplicates is not None and len(duplicates):
        # each duplicate right after its original
        t = t.take(np.sort(np.r_[np.arange(t.num_rows), duplicates], kind="stable"))
    if form == "parquet":
        path = legacy_path(landing, table)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(t, path, compression="snappy")
        return t.num_rows, []
    left = write_delivery(landing, table, t, snapshot_year, created)
    return t.num_rows, [f"{CBS_FOLDER}/{table}/{name}" for name in left]


# Yearly tables are delivered one file per year, by the year of this column (YYYYMMDD or YYYY text).
DELIVERY_YEAR_COLUMNS = {
    "SPOLISBUS": "SDATUMAANVANGIKO",
    "ZVWZORGKOSTENTAB": "JAAR",
    "PROBSCHULDTAB": "PEILDATUM",
}


def _delivered_name(table: str, year: int | None, version: int) -> str:
    """The file name CBS gives, from the reference file's first name with a year (or without one)."""
    names = delivery_rules()[table].file_names
    template = next(n for n in names if ("{year}" in n) == (year is not None))
    return template.format(year=year, version=version) + ".sav"


# Where an SPSS file's header holds its creation date and time ("dd Mon yy", "hh:mm:ss").
SAV_CREATED_AT = 92


def _write_sav(t: pa.Table, path: Path, created: str) -> None:
    """SPSS as CBS delivers: text stays text (an empty string where the value is missing), numbers
    are doubles, rows compressed as SPSS saves them by default. The header's creation time is set
    to ``created`` (YYYY-MM-DD), so one seed gives the same bytes on every run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pyreadstat.write_sav(t.to_pandas(), str(path), row_compress=True)
    with open(path, "r+b") as f:
        f.seek(SAV_CREATED_AT)
        f.write(pd.Timestamp(created).strftime("%d %b %y00:00:00").encode("ascii"))


def write_delivery(
    landing: Path, table: str, t: pa.Table, snapshot_year: int, created: str
) -> list[str]:
    """``t`` as CBS delivers it in ``<landing>/CBS/<TABLE>/``, with the leftovers a real folder holds:
    an older version of the jobs' first year with fewer rows, an older year of the persons table, a
    csv copy and a stray copy of the debt table, and a readme. The files the pipeline chooses hold
    exactly the rows of ``t``; returns the names of those it must leave."""
    folder = delivery_folder(landing, table)
    left: list[str] = []
    if table in DELIVERY_YEAR_COLUMNS:
        text = pc.utf8_slice_codeunits(t[DELIVERY_YEAR_COLUMNS[table]].fill_null(""), 0, 4)
        year = np.asarray(
            pc.cast(
                pc.if_else(pc.match_substring_regex(text, r"^\d{4}$"), text, None), pa.int64()
            ).to_numpy(zero_copy_only=False),
            dtype=float,
        )
        year[np.isnan(year)] = snapshot_year  # a row without a year in the newest year's file
        years = sorted({int(y) for y in year})
        for y in years:
            part = t.filter(pa.array(year == y))
            replaced = table == "SPOLISBUS" and y == years[0]  # V1 of that year, replaced by V2
            if replaced:
                older = folder / _delivered_name(table, y, 1)
                _write_sav(part.slice(0, part.num_rows // 2), older, created)
                left.append(older.name)
            _write_sav(part, folder / _delivered_name(table, y, 2 if replaced else 1), created)
        if table == "PROBSCHULDTAB":
            newest = folder / _delivered_name(table, years[-1], 1)
            copy = newest.with_suffix(".csv")
            part = t.filter(pa.array(year == years[-1]))
            part.to_pandas().to_csv(copy, sep=";", index=False, encoding="utf-8")
            stray = newest.with_name(f"{newest.stem} - kopie.sav")
            shutil.copyfile(newest, stray)
            left += [copy.name, stray.name]
        if table == "SPOLISBUS":
            (folder / "readme.txt").write_text(
                "Polisadministratie, banen per periode; zie de documentatie van CBS.\n",
                encoding="utf-8",
            )
            left.append("readme.txt")
    elif table == "KOPPELTABEL":
        _write_sav(t, folder / _delivered_name(table, None, 1), created)
    else:
        _write_sav(t, folder / _delivered_name(table, snapshot_year, 1), created)
        if table == "GBAPERSOONTAB":  # last year's snapshot, still in the folder
            older = folder / _delivered_name(table, snapshot_year - 1, 1)
            _write_sav(t.slice(0, t.num_rows // 2), older, created)
            left.append(older.name)
    return left


def _pick(rng: np.random.Generator, n: int, rate: float) -> np.ndarray:
    """A random share ``rate`` of n rows (at least one when there are 100 rows or more)."""
    k = int(rng.binomial(n, rate)) if n else 0
    k = max(k, 1) if n >= 100 else k
    return np.sort(rng.choice(n, size=k, replace=False))


def _namesakes(
    rng: np.random.Generator, world: World, other_key: np.ndarray | None = None
) -> dict[str, dict]:
    """Persons with RINPERSOONS 'S' and the RINPERSOON of a register person: someone else, whose job,
    household (a single parent), benefit elsewhere (SECM 22), divorce and debt must not reach the
    register person's panel rows. Not of a person whose own key is 'S' (``other_key``): the two
    would be one CBS person twice (at scale 1.0 a few are drawn)."""
    persons = world.persons["rinpersoon"].to_numpy()
    rin = persons[_pick(rng, len(persons), EDGE_CASES["other_key_namesakes"])]
    if other_key is not None:
        rin = rin[~np.isin(rin, other_key)]
    n = len(rin)

    def full(value) -> np.ndarray:
        return np.full(n, value, dtype=object)

    years = world.months.year
    year = rng.integers(years.min(), years.max() + 1, n)
    first, last = (
        (year * 10000 + 101).astype(str),
        (year * 10000 + 131).astype(str),
    )  # a job in January
    key = {"RINPERSOONS": full("S"), "RINPERSOON": rin}
    return {
        "GBAPERSOONTAB": {
            **key,
            "GBAGESLACHT": rng.choice(["1", "2"], n),
            "GBAGEBOORTEJAAR": rng.integers(1940, 2000, n).astype(str),
            "GBAGEBOORTEMAAND": _pad(rng.integers(1, 13, n), 2),
            "GBAGEBOORTEDAG": _pad(rng.integers(1, 29, n), 2),
            "GBAHERKOMSTGROEPERING": full("6030"),
            "GBAGENERATIE": full("0"),
        },
        "SPOLISBUS": {
            **key,
            "IKVID": (9 * 10**8 + np.arange(n)).astype(str),
            "SBEID": _pad(rng.integers(1, 10**6, n), 9),
            "SDATUMAANVANGIKO": first,
            "SDATUMEINDEIKO": last,
            "SBASISLOON": np.full(n, 2500.0),
            "SBASISUREN": np.full(n, 150.0),
            "SCONTRACTSOORT": full("O"),
            "SPOLISDIENSTVERBAND": full("1"),
        },
        "GBAHUISHOUDENSBUS": {
            **key,
            "HUISHOUDNR": np.char.zfill((9 * 10**10 + np.arange(n)).astype(str), 12),
            "DATUMAANVANGHH": full("20100101"),
            "DATUMEINDEHH": full(""),
            "TYPHH": full("6"),
            "PLHH": full("7"),
            "AANTALKINDHH": full("2"),
            "GEBJAARJONGSTEKINDHH": full("2009"),
            "GEBMAANDJONGSTEKINDHH": full("06"),
        },
        "SECMBUS": {**key, "AANVSECM": full("20150101"), "EINDSECM": full(""), "SECM": full("22")},
        "GBABURGERLIJKESTAATBUS": {
            **key,
            "GBABURGERLIJKESTAATNW": full("G"),
            "GBADATUMAANVANGBURGERLIJKESTAAT": full("20120301"),
            "GBADATUMEINDEBURGERLIJKESTAAT": full(""),
        },
        "PROBSCHULDTAB": {
            **key,
            "PEILDATUM": first,
            "PROBSCHULDPERS": full("1"),
            "PROBSCHULDHH": full("1"),
        },
    }


def write_cbs(world: World, landing: Path, form: str = "sav") -> tuple[dict, dict]:
    """The CBS tables, with the edge cases of ``EDGE_CASES`` (drawn from a stream of their own, so the
    tables' other values are those of the world); returns rows per table and the edge cases planted.
    ``form`` "sav" writes them as CBS delivers (the files to leave listed under ``cbs_not_used`` in
    the edge cases), "parquet" as the older single file per table."""
    if form not in ("sav", "parquet"):
        raise ValueError(f"form must be 'sav' or 'parquet', got {form!r}")
    rows, cases = {}, {}
    not_used: list[str] = []
    snapshot_year = int(world.config.window_end[:4])
    rng = np.random.default_rng([world.config.seed, 19])
    P_ = world.persons
    other_key = P_["rinpersoon"].to_numpy()[_pick(rng, len(P_), EDGE_CASES["other_key_persons"])]
    cases["other_key_persons"] = len(other_key)

    def kinds(rin) -> np.ndarray:
        """RINPERSOONS of each row: 'S' for the persons whose key is not 'R'."""
        rin = rin if isinstance(rin, pd.Series) else pd.Series(np.asarray(rin))
        return np.where(rin.isin(other_key).to_numpy(), "S", "R")

    namesakes = _namesakes(rng, world, other_key)
    cases["other_key_namesakes"] = len(namesakes["GBAPERSOONTAB"]["RINPERSOON"])

    def write(table: str, columns: dict, duplicates: bool = False) -> None:
        extra = namesakes.get(table)
        n = len(next(iter(columns.values()))) + (len(extra["RINPERSOON"]) if extra else 0)
        twice = _pick(rng, n, EDGE_CASES["duplicated_rows"]) if duplicates else None
        if duplicates:
            cases[f"duplicated_rows_{table}"] = len(twice)
        rows[table], left = _write_cbs(
            landing,
            table,
            columns,
            extra,
            twice,
            form=form,
            snapshot_year=snapshot_year,
            created=world.config.extract_date,
        )
        not_used.extend(left)

    key = P_[P_["in_key_file"]]
    write(
        "KOPPELTABEL",
        {
            "BSN": key["bsn"].to_numpy(),
            "RINPERSOONS": kinds(key["rinpersoon"]),
            "RINPERSOON": key["rinpersoon"].to_numpy(),
        },
    )

    people = pd.concat(
        [
            P_[["rinpersoon", "sex", "birth_date", "origin_code", "generation"]],
            world.children[["rinpersoon", "sex", "birth_date", "origin_code", "generation"]],
            world.co_parents[["rinpersoon", "sex", "birth_date", "origin_code", "generation"]],
            world.noise[["rinpersoon", "sex", "birth_date", "origin_code", "generation"]],
        ],
        ignore_index=True,
    )
    y, m, d = ymd(people["birth_date"].to_numpy())
    write(
        "GBAPERSOONTAB",
        {
            "RINPERSOONS": kinds(people["rinpersoon"]),
            "RINPERSOON": people["rinpersoon"].to_numpy(),
            "GBAGESLACHT": np.where(people["sex"] == "man", "1", "2"),
            "GBAGEBOORTEJAAR": _pad(y, 4),
            "GBAGEBOORTEMAAND": _pad(m, 2),
            "GBAGEBOORTEDAG": _pad(d, 2),
            "GBAHERKOMSTGROEPERING": people["origin_code"].to_numpy(),
            "GBAGENERATIE": people["generation"].to_numpy(),
        },
    )

    ch = world.children
    parent_rin = P_["rinpersoon"].to_numpy()[ch["parent_person_id"].to_numpy()]
    parent_female = (P_["sex"].to_numpy() == "vrouw")[ch["parent_person_id"].to_numpy()]
    co = ch["co_parent_rinpersoon"].to_numpy()
    unknown = "---------"
    co_or_unknown = np.where(co == "", unknown, co)
    ma = np.where(parent_female, parent_rin, co_or_unknown)
    pa_ = np.where(parent_female, co_or_unknown, parent_rin)
    write(
        "KINDOUDERTAB",
        {
            "RINPERSOONS": kinds(ch["rinpersoon"]),
            "RINPERSOON": ch["rinpersoon"].to_numpy(),
            "RINPERSOONSMa": np.where(ma == unknown, "-", kinds(ma)),
            "RINPERSOONMa": ma,
            "RINPERSOONSpa": np.where(pa_ == unknown, "-", kinds(pa_)),
            "RINPERSOONpa": pa_,
        },
    )

    ms = world.marital
    write(
        "GBABURGERLIJKESTAATBUS",
        {
            "RINPERSOONS": kinds(ms["rin"]),
            "RINPERSOON": ms["rin"],
            "GBABURGERLIJKESTAATNW": ms["code"].to_numpy(),
            "GBADATUMAANVANGBURGERLIJKESTAAT": cbs_dates(ms["start"].to_numpy()),
            "GBADATUMEINDEBURGERLIJKESTAAT": cbs_dates(ms["end"].to_numpy()),
        },
        duplicates=True,
    )

    hh = world.households
    yy = hh["youngest_year"].to_numpy()
    typ = hh["typ"].astype(str).to_numpy(dtype=object)
    # TYPHH empty in some rows, also in some single-parent rows (PLHH 7 stays)
    missing = np.union1d(
        _pick(rng, len(hh), EDGE_CASES["household_type_missing"]),
        np.flatnonzero(typ == "6")[
            _pick(rng, int((typ == "6").sum()), EDGE_CASES["household_type_missing"])
        ],
    )
    typ[missing] = None
    cases["household_type_missing"] = len(missing)
    write(
        "GBAHUISHOUDENSBUS",
        {
            "RINPERSOONS": kinds(hh["rin"]),
            "RINPERSOON": hh["rin"],
            "HUISHOUDNR": hh["hhnr"].to_numpy(),
            "DATUMAANVANGHH": cbs_dates(hh["start"].to_numpy()),
            "DATUMEINDEHH": cbs_dates(hh["end"].to_numpy()),
            "TYPHH": typ,
            "PLHH": hh["plhh"].astype(str).to_numpy(),
            "AANTALKINDHH": hh["n_children"].astype(str).to_numpy(),
            "GEBJAARJONGSTEKINDHH": np.where(yy > 0, yy.astype(str), ""),
            "GEBMAANDJONGSTEKINDHH": np.where(yy > 0, _pad(hh["youngest_month"].to_numpy(), 2), ""),
        },
        duplicates=True,
    )

    jb = world.jobs
    write(
        "SPOLISBUS",
        {
            "RINPERSOONS": kinds(jb["rin"]),
            "RINPERSOON": jb["rin"],
            "IKVID": jb["job"].astype(str).to_numpy(),
            "SBEID": _pad(jb["employer"].to_numpy(), 9),
            "SDATUMAANVANGIKO": cbs_dates(jb["start"].to_numpy()),
            "SDATUMEINDEIKO": cbs_dates(jb["end"].to_numpy()),
            "SBASISLOON": jb["wage"].to_numpy(),
            "SBASISUREN": jb["hours"].to_numpy(),
            "SCONTRACTSOORT": np.where(jb["fixed_term"].to_numpy(), "B", "O"),
            "SPOLISDIENSTVERBAND": np.where(jb["fulltime"].to_numpy(), "1", "2"),
        },
        duplicates=True,
    )

    se = world.secm
    write(
        "SECMBUS",
        {
            "RINPERSOONS": kinds(se["rin"]),
            "RINPERSOON": se["rin"],
            "AANVSECM": cbs_dates(se["start"].to_numpy()),
            "EINDSECM": cbs_dates(se["end"].to_numpy()),
            "SECM": se["code"].to_numpy(),
        },
        duplicates=True,
    )

    zc = world.care_costs
    components = {
        c: zc[src].to_numpy(dtype=np.float64, copy=True)
        for c, src in (
            ("ZVWKHUISARTS", "huisarts"),
            ("ZVWKFARMACIE", "farmacie"),
            ("ZVWKZIEKENHUIS", "ziekenhuis"),
            ("ZVWKGGZ", "ggz"),
            ("ZVWKEERSTELIJNSPSYCHO", "psycho"),
        )
    }
    missing = _pick(
        rng, len(zc), EDGE_CASES["care_cost_year_missing"]
    )  # a person-year without cost data
    for v in components.values():
        v[missing] = np.nan
    cases["care_cost_year_missing"] = len(missing)
    write(
        "ZVWZORGKOSTENTAB",
        {
            "RINPERSOONS": kinds(zc["rin"]),
            "RINPERSOON": zc["rin"],
            "JAAR": zc["year"].astype(str).to_numpy(),
            **components,
        },
    )

    db = world.debt
    status = np.where(db["person"].to_numpy(dtype=bool), "1", "0").astype(object)
    missing = _pick(rng, len(db), EDGE_CASES["debt_status_missing"])
    status[missing] = None
    cases["debt_status_missing"] = len(missing)
    write(
        "PROBSCHULDTAB",
        {
            "RINPERSOONS": kinds(db["rin"]),
            "RINPERSOON": db["rin"],
            "PEILDATUM": (db["year"].astype(str) + "0101").to_numpy(),
            "PROBSCHULDPERS": status,
            "PROBSCHULDHH": np.full(len(db), "1", dtype=object),
        },
        duplicates=True,
    )
    if form == "sav":
        cases["cbs_not_used"] = not_used
    return rows, cases


def write_landing(world: World, landing_dir: Path, cbs_form: str = "sav") -> dict:
    """Register extracts and CBS tables under landing_dir; returns rows per file and faults per kind.
    ``cbs_form``: "sav" as CBS delivers, "parquet" the older single file per table."""
    landing = Path(landing_dir)
    registers = write_registers(world, landing)
    cbs, edge_cases = write_cbs(world, landing, cbs_form)
    not_used = edge_cases.pop("cbs_not_used", [])
    faults = {k: sum(v["faults"][k] for v in registers.values()) for k in FAULT_KINDS}
    split = sum(v["split_benefit_spells"] for v in registers.values())
    edge_cases = {"split_benefit_spells": split, **edge_cases}
    return {
        "landing": str(landing),
        "extract_date": world.config.extract_date,
        "bsn_prefix": world.bsn_prefix,
        "register_files": registers,
        # rows per table as the pipeline reads it (highest versions, the snapshot's newest year)
        "cbs_tables": {
            (f"{CBS_FOLDER}/{t}.parquet" if cbs_form == "parquet" else f"{CBS_FOLDER}/{t}/"): n
            for t, n in cbs.items()
        },
        "cbs_files_not_used": not_used,
        "faults": faults,
        "faults_total": sum(faults.values()),
        "edge_cases": edge_cases,
    }
