"""National-size CBS tables around a generated G4 landing, written in chunks as CBS delivers them.

The default generator writes the CBS tables for the G4 persons plus 10% others: enough for the
analysis, far too small to show what ingestion costs inside CBS Remote Access, where GBAPERSOONTAB
holds about 24 million persons and SPOLISBUS 15-20 million job rows a year. This module keeps every
row of the G4 tables (their persons keep their RINPERSOON and key-file rows, so the municipal runs
link as before) and adds filler persons up to the national size, drawn chunk by chunk with plain
numpy and written with one pyarrow ``ParquetWriter`` per delivered file: memory stays bounded by one
chunk whatever the size.

Files follow CBS's names (``SPOLISBUS2019V1.parquet``, ``GBAPERSOON2024TABV1.parquet``, ...) in
``<landing>/CBS/<TABLE>/``: yearly tables one file per year, snapshot tables one file of the newest
year. ``form="sav"`` writes them as SPSS files instead (``SPOLISBUS2019V1.sav``), CBS's usual form,
bytecode-compressed as SPSS saves by default,
through the project's own chunked writer (``synthetic/sav.py``): pyreadstat's ``write_sav`` takes
one whole DataFrame, which at national size is what this module exists to avoid.

BSNs: the synthetic 9999 range holds 9,091 eleven-proof numbers, 99 holds 909,091 and 9 holds
9,090,909: 24 million persons do not fit in any test range. Filler persons take the eleven-proof
numbers counted downward from just below the G4 persons' range (at national size down to about
726000000), so they never collide with a G4 BSN; such numbers can belong to real persons, so a
national landing is benchmark data only and is pseudonymised with a key of its own (never the demo
key, which refuses anything outside 9999).

Filler persons are simple by design: sex, birth date, an origin (code, generation) pair and household
and marital codes sampled from the G4 rows (so the codings are the documented ones), one household,
marital and socio-economic spell, jobs, healthcare costs and a debt flag per year. A SPOLISBUS row
is one job-month (the contract's payroll period: its hours stay under 400), so the 17 million rows a
year come from about 4.7 million filler persons in work a year for 3.6 months on average: fewer,
longer-paid persons than reality, the same rows. They never link to a register, so they cost
ingestion what real rows cost and change no estimate.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wi_pipeline.lib.cbs_delivery import delivery_rules, find_delivery, read_delivery_chunks
from wi_pipeline.lib.layout import CBS_FOLDER, CBS_TABLES
from wi_pipeline.synthetic.sav import SavWriter

FORMAT_VERSION = (
    1  # raised when the same parameters would write other files (the benchmark regenerates)
)

# Population of the Netherlands and the yearly sizes of the big tables at national_scale 1.0.
NATIONAL_PERSONS = 24_000_000
SPOLIS_ROWS_PER_YEAR = 17_000_000
CARE_COST_PERSONS_PER_YEAR = 17_000_000

# Yearly tables: one file per year, the year taken from this column's first four characters.
YEAR_COLUMN = {
    "SPOLISBUS": "SDATUMAANVANGIKO",
    "ZVWZORGKOSTENTAB": "JAAR",
    "PROBSCHULDTAB": "PEILDATUM",
}

# Filler persons' age in the snapshot year: uniform 0-79 with this weight, 80-99 otherwise.
_SHARE_UNDER_80 = 0.92
_WORKING_AGES = (18, 66)
_EMPLOYED = 0.35  # share of working-age filler persons in SPOLISBUS in a year (see the jobs)
_DEBT = 0.015  # share of adults with registered problematic debt at a reference date
_ORIGIN_DUTCH = 0.75  # share of Dutch origin nationally (the G4 register persons have fewer)
_RIN_STEP = 387_420_489  # 3**18: coprime to 10**9, so i -> (a*i + b) mod 10**9 is one-to-one
_RIN_OFFSET = 123_456_789
_MODULUS = 10**9
# the longest text of a filler person's number, where it may be longer than the G4 rows' own
_SAV_WIDTHS = {"HUISHOUDNR": 12, "IKVID": 9, "SBEID": 9, "BSN": 9, "RINPERSOON": 9}
# identifiers and amounts: a dictionary would only be tried and dropped, at a cost per row group
_HIGH_CARDINALITY = {"BSN", "RINPERSOON", "RINPERSOONMa", "RINPERSOONpa", "HUISHOUDNR", "IKVID"}
_WEIGHTS = np.array([9, 8, 7, 6, 5, 4, 3, 2], dtype=np.int64)


@dataclass(frozen=True)
class NationalConfig:
    national_scale: float = 1.0  # 1.0 = the population of the Netherlands
    seed: int = 20261202
    persons_per_chunk: int = 1_000_000
    form: str = "parquet"  # or "sav": CBS's usual form, written chunk by chunk (synthetic/sav.py)

    @property
    def persons(self) -> int:
        return int(round(NATIONAL_PERSONS * self.national_scale))

    @property
    def job_rows_per_year(self) -> int:
        return int(round(SPOLIS_ROWS_PER_YEAR * self.national_scale))

    @property
    def care_cost_persons_per_year(self) -> int:
        return int(round(CARE_COST_PERSONS_PER_YEAR * self.national_scale))


def delivered_file_name(table: str, year: int, form: str = "parquet") -> str:
    """CBS's name of the table's file of that year, version 1 (reference/cbs_deliveries.csv)."""
    return delivery_rules()[table].file_names[0].format(year=year, version=1) + f".{form}"


# ------------------------------------------------------------------------------------ G4 tables
def _read_g4_table(landing: Path, table: str) -> pa.Table:
    """The G4 landing's table as the pipeline would read it: the delivered files it would choose
    (highest version, the right years) or the older single parquet file."""
    delivery = find_delivery(landing, table)
    layout = CBS_TABLES[table]
    parts = []
    for _, chunk in read_delivery_chunks(delivery, list(layout.columns)):
        for c in layout.columns:  # text as text; an empty value is missing, as in SPSS
            if c not in layout.numeric_columns:
                chunk[c] = chunk[c].astype("string").replace("", pd.NA)
        parts.append(pa.Table.from_pandas(chunk, preserve_index=False))
    return _typed(pa.concat_tables(parts, promote_options="permissive"), table)


def _schema(table: str) -> pa.Schema:
    layout = CBS_TABLES[table]
    return pa.schema(
        [(c, pa.float64() if c in layout.numeric_columns else pa.string()) for c in layout.columns]
    )


def _typed(t: pa.Table, table: str) -> pa.Table:
    schema = _schema(table)
    missing = [c for c in schema.names if c not in t.column_names]
    if missing:
        raise ValueError(f"{table}: the G4 table lacks columns {missing}")
    return t.select(schema.names).cast(schema)


def _year_of(t: pa.Table, table: str, default: int) -> np.ndarray:
    """The year of each row of a yearly table; a row without one goes to ``default``'s file."""
    text = pc.utf8_slice_codeunits(t[YEAR_COLUMN[table]].fill_null(""), 0, 4)
    year = pc.if_else(pc.match_substring_regex(text, r"^\d{4}$"), text, str(default))
    return pc.cast(year, pa.int64()).to_numpy()


def _g4_bsn_ceiling(koppel: pa.Table) -> int:
    """First number of the synthetic range the G4 BSNs come from (9999, 999, 99 or 9 prefix)."""
    bsns = [b for b in koppel["BSN"].to_pylist() if b and re.fullmatch(r"\d{9}", b)]
    for prefix in ("9999", "999", "99", "9"):
        if bsns and all(b.startswith(prefix) for b in bsns):
            return int(prefix) * 10 ** (9 - len(prefix))
    return 0  # no common range: filler BSNs are still kept apart from the G4 ones one by one


# ------------------------------------------------------------------------------- key sequences
class _BsnStream:
    """Eleven-proof BSNs counted downward from below ``ceiling``, skipping ``taken``; deterministic."""

    def __init__(self, ceiling: int, taken: np.ndarray):
        self._stem = ceiling // 10 - 1  # next 8-digit stem to test
        self._taken = np.sort(taken)
        self._buffer = np.empty(0, dtype=np.int64)

    def take(self, n: int) -> np.ndarray:
        while len(self._buffer) < n:
            if self._stem < 10_000_000:
                raise ValueError("too many persons for the 9-digit eleven-proof BSNs")
            block = min(2_000_000, int(1.15 * (n - len(self._buffer))) + 1000)
            low = max(10_000_000, self._stem - block + 1)
            stems = np.arange(self._stem, low - 1, -1, dtype=np.int64)
            digits = (stems[:, None] // 10 ** np.arange(7, -1, -1)) % 10
            check = (digits @ _WEIGHTS) % 11
            valid = stems[check <= 9] * 10 + check[check <= 9]
            valid = valid[~np.isin(valid, self._taken)]
            self._buffer = np.concatenate([self._buffer, valid])
            self._stem = low - 1
        out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out


def _rin_numbers(first: int, n: int, collisions: np.ndarray) -> np.ndarray:
    """RINPERSOON numbers of filler persons first..first+n-1: an affine bijection of 0..10**9-1, with
    the indices that would give a G4 person's number skipped (``collisions``, sorted)."""
    j = np.arange(first, first + n, dtype=np.int64)
    i = j + np.searchsorted(collisions - np.arange(len(collisions)), j, side="right")
    return (_RIN_STEP * i + _RIN_OFFSET) % _MODULUS


def _rin_collisions(g4_rins: np.ndarray, filler: int) -> np.ndarray:
    """Indices i whose number (a*i + b) mod 10**9 is a G4 person's, among the first ones used."""
    inverse = pow(_RIN_STEP, -1, _MODULUS)
    i = ((g4_rins - _RIN_OFFSET) % _MODULUS) * inverse % _MODULUS
    i = np.sort(np.unique(i))
    return i[i < filler + len(i)]


# ---------------------------------------------------------------------------------- formatting
def _text(values: np.ndarray, width: int = 0) -> pa.Array:
    out = pc.cast(pa.array(values, type=pa.int64()), pa.string())
    return pc.utf8_lpad(out, width, "0") if width else out


def _const(value: str | None, n: int) -> pa.Array:
    """n times ``value``; None is an empty (missing) value, written as null as SPSS leaves it."""
    if value is None:
        return pa.nulls(n, pa.string())
    return pc.take(pa.array([value]), pa.array(np.zeros(n, dtype=np.int32)))


def _pick(values: list[str], index: np.ndarray) -> pa.Array:
    return pc.take(pa.array(values, type=pa.string()), pa.array(index.astype(np.int32)))


def _date_text(days: np.ndarray) -> pa.Array:
    """YYYYMMDD text of days since 1970-01-01."""
    d = days.astype("datetime64[D]")
    month = d.astype("datetime64[M]")
    y = month.astype("datetime64[Y]").astype(np.int64) + 1970
    m = month.astype(np.int64) % 12 + 1
    day = (d - month.astype("datetime64[D]")).astype(np.int64) + 1
    return _text(y * 10000 + m * 100 + day)


def _day(year: np.ndarray | int, month: np.ndarray | int = 1, day: int = 1) -> np.ndarray:
    y = np.asarray(year, dtype=np.int64)
    m = np.asarray(month, dtype=np.int64)
    months = (y - 1970) * 12 + (m - 1)
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) + (day - 1)


def _sample_rows(g4: pa.Table, columns: list[str], index: np.ndarray) -> dict[str, pa.Array]:
    return {c: pc.take(g4[c], pa.array(index)).combine_chunks() for c in columns}


# ------------------------------------------------------------------------------------- writing
class _Writers:
    """One writer per delivered file (parquet, or SPSS in CBS's usual form), opened on first use;
    rows per file counted."""

    def __init__(self, cbs: Path, form: str = "parquet"):
        if form not in ("parquet", "sav"):
            raise ValueError(f"national CBS tables are written as parquet or sav, not {form!r}")
        self._cbs, self._form, self._open, self.rows = cbs, form, {}, {}

    def write(self, table: str, year: int, data: pa.Table) -> None:
        if data.num_rows == 0:
            return
        name = delivered_file_name(table, year, self._form)
        schema = _schema(table)
        data = data.cast(schema)
        if name not in self._open:
            folder = self._cbs / table
            folder.mkdir(parents=True, exist_ok=True)
            self._open[name] = self._writer(folder / name, schema, data)
            self.rows[f"{table}/{name}"] = 0
        if self._form == "sav":
            self._open[name].write(data)
        else:
            self._open[name].write_table(data, row_group_size=1_100_000)
        self.rows[f"{table}/{name}"] += data.num_rows

    def _writer(self, path: Path, schema: pa.Schema, first: pa.Table):
        text = [c for c in schema.names if schema.field(c).type == pa.string()]
        if self._form == "sav":
            # a text column as wide as the first rows (the G4 rows) need, and as the filler
            # persons' numbers: their codes are drawn from the G4 rows
            widths = {
                c: max(_SAV_WIDTHS.get(c, 8), pc.max(pc.binary_length(first[c])).as_py() or 0)
                for c in text
            }
            return SavWriter(path, schema, widths)
        coded = [c for c in text if c not in _HIGH_CARDINALITY]
        return pq.ParquetWriter(path, schema, use_dictionary=coded)

    def write_by_year(self, table: str, data: pa.Table, years: np.ndarray) -> None:
        for y in np.unique(years):
            self.write(table, int(y), data.filter(pa.array(years == y)))

    def close(self) -> None:
        for w in self._open.values():
            w.close()


# ----------------------------------------------------------------------------- filler persons
def _filler_chunk(
    rng: np.random.Generator,
    rins: np.ndarray,
    bsns: np.ndarray,
    first: int,
    g4: dict[str, pa.Table],
    years: list[int],
    cfg: NationalConfig,
    writers: _Writers,
) -> None:
    """All tables' rows of one chunk of filler persons (first = their running number)."""
    n = len(rins)
    snapshot = max(years)
    rin = _text(rins, 9)
    r_col = _const("R", n)
    idx = np.arange(first, first + n, dtype=np.int64)

    # persons: sex, birth date, origin (code and generation sampled from the G4 persons)
    age = np.where(
        rng.random(n) < _SHARE_UNDER_80, rng.integers(0, 80, n), rng.integers(80, 100, n)
    )
    born = _day(snapshot - age) + rng.integers(0, 365, n)
    birth_year = born.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    birth = _date_text(born)
    persons = g4["GBAPERSOONTAB"]
    dutch = np.flatnonzero(pc.equal(persons["GBAGENERATIE"], "0").to_numpy())
    other = np.flatnonzero(pc.not_equal(persons["GBAGENERATIE"], "0").to_numpy())
    if len(dutch) and len(other):
        origin_rows = np.where(
            rng.random(n) < _ORIGIN_DUTCH, rng.choice(dutch, n), rng.choice(other, n)
        )
    else:
        origin_rows = rng.integers(0, persons.num_rows, n)
    origin = _sample_rows(persons, ["GBAHERKOMSTGROEPERING", "GBAGENERATIE"], origin_rows)
    writers.write(
        "GBAPERSOONTAB",
        snapshot,
        pa.table(
            {
                "RINPERSOONS": r_col,
                "RINPERSOON": rin,
                "GBAGESLACHT": _pick(["1", "2"], rng.integers(0, 2, n)),
                "GBAGEBOORTEJAAR": pc.utf8_slice_codeunits(birth, 0, 4),
                "GBAGEBOORTEMAAND": pc.utf8_slice_codeunits(birth, 4, 6),
                "GBAGEBOORTEDAG": pc.utf8_slice_codeunits(birth, 6, 8),
                **origin,
            }
        ),
    )
    writers.write(
        "KOPPELTABEL",
        snapshot,
        pa.table({"BSN": _text(bsns, 9), "RINPERSOONS": r_col, "RINPERSOON": rin}),
    )

    # parents: filler persons of the chunk born 18-45 years earlier, else unknown ('-', '---------')
    order = np.argsort(born, kind="stable")
    by_birth = born[order]

    def parent(share_unknown: float) -> tuple[np.ndarray, np.ndarray]:
        lo = np.searchsorted(by_birth, born - 45 * 365)
        hi = np.searchsorted(by_birth, born - 18 * 365, side="right")
        known = (hi > lo) & (rng.random(n) >= share_unknown)
        pick = order[np.minimum(lo + (rng.random(n) * (hi - lo)).astype(np.int64), n - 1)]
        return known, pick

    mother_known, mothers = parent(0.005)
    father_known, fathers = parent(0.20)
    writers.write(
        "KINDOUDERTAB",
        snapshot,
        pa.table(
            {
                "RINPERSOONS": r_col,
                "RINPERSOON": rin,
                "RINPERSOONSMa": _pick(["-", "R"], mother_known),
                "RINPERSOONMa": pc.if_else(
                    pa.array(mother_known), pc.take(rin, pa.array(mothers)), "---------"
                ),
                "RINPERSOONSpa": _pick(["-", "R"], father_known),
                "RINPERSOONpa": pc.if_else(
                    pa.array(father_known), pc.take(rin, pa.array(fathers)), "---------"
                ),
            }
        ),
    )

    # one household spell, codes sampled from the G4 spells, from birth or an earlier move
    window_start = _day(min(years))
    since = np.maximum(born, window_start - rng.integers(0, 20 * 365, n))
    hh = g4["GBAHUISHOUDENSBUS"]
    hh_codes = ["TYPHH", "PLHH", "AANTALKINDHH", "GEBJAARJONGSTEKINDHH", "GEBMAANDJONGSTEKINDHH"]
    empty = _const(None, n)
    writers.write(
        "GBAHUISHOUDENSBUS",
        snapshot,
        pa.table(
            {
                "RINPERSOONS": r_col,
                "RINPERSOON": rin,
                "HUISHOUDNR": _text(900_000_000_000 + idx, 12),
                "DATUMAANVANGHH": _date_text(since),
                "DATUMEINDEHH": empty,
                **_sample_rows(hh, hh_codes, rng.integers(0, hh.num_rows, n)),
            }
        ),
    )

    # one marital spell: never married from birth; otherwise from an adult date before the window
    adult = age >= 18
    status = np.where(adult, rng.choice(4, n, p=[0.40, 0.45, 0.10, 0.05]), 0)
    married_on = born + 18 * 365 + (rng.random(n) * np.maximum(window_start - born - 18 * 365, 1))
    writers.write(
        "GBABURGERLIJKESTAATBUS",
        snapshot,
        pa.table(
            {
                "RINPERSOONS": r_col,
                "RINPERSOON": rin,
                "GBABURGERLIJKESTAATNW": _pick(["O", "H", "G", "W"], status),
                "GBADATUMAANVANGBURGERLIJKESTAAT": _date_text(
                    np.where(status == 0, born, married_on.astype(np.int64))
                ),
                "GBADATUMEINDEBURGERLIJKESTAAT": empty,
            }
        ),
    )

    # jobs per year: a run of consecutive monthly payroll periods (the contract's rows: a period's
    # hours stay under 400), as many months on average as give the national job rows a year
    working_share = _SHARE_UNDER_80 * (_WORKING_AGES[1] - _WORKING_AGES[0] + 1) / 80
    mean_months = cfg.job_rows_per_year / (cfg.persons * working_share * _EMPLOYED)
    extra_month = np.clip((mean_months - 1) / 11, 0, 1)
    full_time = rng.random(n) < 0.35
    monthly_wage = np.exp(rng.normal(7.7, 0.45, n)) * np.where(full_time, 1.0, 0.6)
    monthly_hours = np.where(full_time, 160.0, 96.0)
    employed_2018 = np.zeros(n, dtype=bool)
    for year in years:
        age_y = year - birth_year
        works = (age_y >= _WORKING_AGES[0]) & (age_y <= _WORKING_AGES[1])
        works &= rng.random(n) < _EMPLOYED
        if year == min(years):
            employed_2018 = works
        who = np.flatnonzero(works)
        months = 1 + rng.binomial(11, extra_month, len(who))
        first_month = 1 + (rng.random(len(who)) * (13 - months)).astype(np.int64)
        p_who = np.repeat(who, months)
        month = np.repeat(first_month, months) + (
            np.arange(len(p_who)) - np.repeat(np.cumsum(months) - months, months)
        )
        start = _day(year, month)
        end = _day(year + (month == 12), np.where(month == 12, 1, month + 1)) - 1
        m = len(p_who)
        jobs = pa.table(
            {
                "RINPERSOONS": _const("R", m),
                "RINPERSOON": pc.take(rin, pa.array(p_who)),
                "IKVID": _text(100_000_000 + (idx[p_who] * 8 + year % 8) % 900_000_000),
                "SBEID": _text(rng.integers(100_000, 500_000, len(who)).repeat(months), 9),
                "SDATUMAANVANGIKO": _date_text(start),
                "SDATUMEINDEIKO": _date_text(end),
                "SBASISLOON": np.round(monthly_wage[p_who], 2),
                "SBASISUREN": monthly_hours[p_who],
                "SCONTRACTSOORT": _pick(["B", "O"], (rng.random(len(who)) < 0.6).repeat(months)),
                "SPOLISDIENSTVERBAND": _pick(["2", "1"], full_time[p_who]),
            }
        )
        writers.write("SPOLISBUS", year, jobs)

        # healthcare costs of the insured persons this year (those born by then)
        born_by = 1 - _SHARE_UNDER_80 * (snapshot - year) / 80
        insured = np.flatnonzero(
            (birth_year <= year)
            & (rng.random(n) < cfg.care_cost_persons_per_year / (cfg.persons * born_by))
        )
        k = len(insured)
        gp = np.round(np.exp(rng.normal(4.9, 0.8, k)), 2)
        pharmacy = np.round(np.exp(rng.normal(5.3, 1.0, k)), 2)
        hospital = np.round(np.where(rng.random(k) < 0.55, np.exp(rng.normal(6.5, 1.2, k)), 0), 2)
        mental = np.round(np.where(rng.random(k) < 0.08, np.exp(rng.normal(7.5, 1.0, k)), 0), 2)
        psych = np.round(np.where(rng.random(k) < 0.05, np.exp(rng.normal(6.0, 0.5, k)), 0), 2)
        writers.write(
            "ZVWZORGKOSTENTAB",
            year,
            pa.table(
                {
                    "RINPERSOONS": _const("R", k),
                    "RINPERSOON": pc.take(rin, pa.array(insured)),
                    "JAAR": _const(str(year), k),
                    "ZVWKHUISARTS": gp,
                    "ZVWKFARMACIE": pharmacy,
                    "ZVWKZIEKENHUIS": hospital,
                    "ZVWKGGZ": mental,
                    "ZVWKEERSTELIJNSPSYCHO": psych,
                }
            ),
        )

        # registered problematic debt at 1 January
        debtors = np.flatnonzero((age_y >= 18) & (rng.random(n) < _DEBT))
        d = len(debtors)
        writers.write(
            "PROBSCHULDTAB",
            year,
            pa.table(
                {
                    "RINPERSOONS": _const("R", d),
                    "RINPERSOON": pc.take(rin, pa.array(debtors)),
                    "PEILDATUM": _const(f"{year}0101", d),
                    "PROBSCHULDPERS": _pick(["0", "1"], rng.random(d) < 0.85),
                    "PROBSCHULDHH": _const("1", d),
                }
            ),
        )

    # one socio-economic spell from the window's start (or birth)
    age_0 = min(years) - birth_year
    secm = np.where(
        age_0 < 18,
        6,  # pupil
        np.where(
            age_0 > _WORKING_AGES[1], 5, np.where(employed_2018, 0, rng.choice([1, 2, 3, 4, 7], n))
        ),
    )
    writers.write(
        "SECMBUS",
        snapshot,
        pa.table(
            {
                "RINPERSOONS": r_col,
                "RINPERSOON": rin,
                "AANVSECM": _date_text(np.maximum(born, window_start)),
                "EINDSECM": empty,
                "SECM": _pick(["11", "13", "21", "22", "24", "26", "31", "32"], secm),
            }
        ),
    )


# ---------------------------------------------------------------------------------------- main
def write_national_cbs(g4_landing: Path, out: Path, config: NationalConfig | None = None) -> dict:
    """National-size CBS tables in ``out/CBS/<TABLE>/`` around the G4 landing's tables; the G4
    landing's other folders (the municipal registers) are copied to ``out`` when it is another
    folder, and its single-file tables removed when it is the same one. Returns rows per file,
    persons and time taken."""
    cfg = config or NationalConfig()
    t0 = time.perf_counter()
    g4_landing, out = Path(g4_landing).resolve(), Path(out).resolve()
    g4 = {t: _read_g4_table(g4_landing, t) for t in CBS_TABLES}
    care_years = pc.utf8_slice_codeunits(g4["ZVWZORGKOSTENTAB"]["JAAR"], 0, 4).unique()
    years = sorted(int(y) for y in care_years.to_pylist() if y and y.isdigit())
    snapshot = max(years)

    cbs = out / CBS_FOLDER
    if out != g4_landing:
        out.mkdir(parents=True, exist_ok=True)
        for item in g4_landing.iterdir():
            if item.name != CBS_FOLDER and item.is_dir():
                shutil.copytree(item, out / item.name, dirs_exist_ok=True)
    for t in CBS_TABLES:
        shutil.rmtree(cbs / t, ignore_errors=True)
        (cbs / f"{t}.parquet").unlink(missing_ok=True)

    writers = _Writers(cbs, cfg.form)
    try:
        for t, data in g4.items():  # the G4 rows first, as they are
            if t in YEAR_COLUMN:
                writers.write_by_year(t, data, _year_of(data, t, snapshot))
            else:
                writers.write(t, snapshot, data)

        g4_rins = np.unique(
            np.concatenate(
                [
                    np.array(
                        [int(r) for r in g4[t][c].to_pylist() if r and r.isdigit()], dtype=np.int64
                    )
                    for t, c in [
                        ("GBAPERSOONTAB", "RINPERSOON"),
                        ("KOPPELTABEL", "RINPERSOON"),
                        ("KINDOUDERTAB", "RINPERSOONMa"),
                        ("KINDOUDERTAB", "RINPERSOONpa"),
                    ]
                ]
            )
        )
        g4_persons = g4["GBAPERSOONTAB"].num_rows  # a namesake under RINPERSOONS 'S' counts too
        filler = max(0, cfg.persons - g4_persons)
        collisions = _rin_collisions(g4_rins, filler)
        g4_bsns = np.array(
            [int(b) for b in g4["KOPPELTABEL"]["BSN"].to_pylist() if b and b.isdigit()],
            dtype=np.int64,
        )
        bsn_stream = _BsnStream(_g4_bsn_ceiling(g4["KOPPELTABEL"]), g4_bsns)
        for chunk, first in enumerate(range(0, filler, cfg.persons_per_chunk)):
            n = min(cfg.persons_per_chunk, filler - first)
            rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, chunk]))
            _filler_chunk(
                rng,
                _rin_numbers(first, n, collisions),
                bsn_stream.take(n),
                first,
                g4,
                years,
                cfg,
                writers,
            )
    finally:
        writers.close()
    return {
        "config": asdict(cfg),
        "persons": g4_persons + filler,
        "g4_persons": g4_persons,
        "years": years,
        "files": writers.rows,
        "rows": sum(writers.rows.values()),
        "seconds": round(time.perf_counter() - t0, 1),
    }
