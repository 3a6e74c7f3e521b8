"""Turns the simulated person x month arrays into spells, CBS-style tables and the true panel."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wi_pipeline.lib.layout import (
    MARITAL_STATUS,
    ORIGIN_GROUPS,
    ORIGIN_OTHER,
    SECM_CATEGORIES,
    SRG_CATEGORIES,
    SRG_MAPPING_FILE,
)
from wi_pipeline.lib.panel import PANEL_COLUMNS as LINKED_PANEL_COLUMNS
from wi_pipeline.lib.pseudonymise import PSEUDONYM_COLUMN
from wi_pipeline.synthetic import params as P
from wi_pipeline.synthetic.config import MISSING_FROM_KEY_FILE, NOISE_PERSON_SHARE
from wi_pipeline.synthetic.simulation import (
    _NAT,
    GM_CODES,
    HOUSEHOLD_LABELS,
    MARITAL_CODES,
    N_CHILD_BANDS,
    ORIGIN_CODES,
    ORIGIN_P,
    Simulation,
    World,
    _no_leap_day,
    _runs,
    from_parts,
    ymd,
)

DESCRIPTIONS = {
    "loonkostensubsidie": [
        "Loonkostensubsidie bij werkgever",
        "LKS proefperiode verlengd",
        "Loonkostensubsidie, loonwaarde vastgesteld",
    ],
    "scholing": [
        "Scholing orderpicker",
        "Cursus Nederlands op de werkvloer",
        "Opleiding heftruckcertificaat",
        "Scholing zorg en welzijn",
    ],
    "werkervaringsplaats": [
        "Werkervaringsplaats groenonderhoud",
        "Werkervaringsplaats horeca",
        "WEP logistiek, twee dagen per week",
    ],
    "jobcoach": [
        "Jobcoaching na plaatsing",
        "Jobcoach via externe partij",
        "Begeleiding op de werkplek",
    ],
    "proefplaatsing": [
        "Proefplaatsing met behoud van uitkering",
        "Proefplaatsing schoonmaak",
        "Proefplaatsing winkel",
    ],
    "sociale_activering": [
        "Sociale activering, vrijwilligerswerk",
        "Dagbesteding en participatie",
        "Participatietraject buurthuis",
    ],
    "bemiddeling": [
        "Bemiddeling naar werk",
        "Matching op vacature",
        "Werkgeversdienstverlening bemiddeling",
    ],
    "beschut_werk": [
        "Beschut werk bij sociaal ontwikkelbedrijf",
        "Beschutte werkplek, indicatie afgegeven",
    ],
}
DOSSIER_PREFIX = {"GM0363": "AMS", "GM0599": "RTD", "GM0518": "DHG", "GM0344": "UTR"}


def _dates_in_month(rng, mstart, mlen, tix, low=1, high=None) -> np.ndarray:
    """A random day of month tix (between day low and high, inclusive)."""
    high = mlen[tix] if high is None else high
    return mstart[tix] + (rng.integers(0, 1 << 30, len(tix)) % (high - low + 1) + low - 1)


def _month_date(y0, m0, t, day) -> np.ndarray:
    """Date for (possibly negative) month index t relative to the window start."""
    total = (y0 - 1970) * 12 + (m0 - 1) + np.asarray(t, dtype=np.int64)
    return total.astype("datetime64[M]").astype("datetime64[D]") + (
        np.asarray(day, dtype=np.int64) - 1
    )


def _choice(rng, codes: dict, n: int) -> np.ndarray:
    keys = list(codes)
    return np.array(keys)[
        rng.choice(len(keys), size=n, p=np.array(list(codes.values())) / sum(codes.values()))
    ]


def _s(x) -> pd.arrays.ArrowStringArray:
    """Compact text column (arrow buffer instead of one Python object per value)."""
    return pd.array(np.asarray(x).astype(str), dtype="string[pyarrow]")


def _clip(x):
    return np.clip(x, *P.PROB_CLIP)


def bsn_pool(prefix: str) -> np.ndarray:
    """All BSNs with this prefix that pass the eleven-test (9*d1 + ... + 2*d8 - d9 = 0 mod 11)."""
    free = 8 - len(prefix)
    stems = int(prefix) * 10**free + np.arange(10**free, dtype=np.int64)
    digits = (stems[:, None] // 10 ** np.arange(7, -1, -1)) % 10
    s = digits @ np.array([9, 8, 7, 6, 5, 4, 3, 2])
    check = s % 11
    ok = check <= 9
    return stems[ok] * 10 + check[ok]


def draw_bsns(rng: np.random.Generator, n: int) -> tuple[np.ndarray, str]:
    """n distinct valid BSNs from the synthetic 9999 range; wider 999/99 ranges only when it is too small."""
    for prefix in ("9999", "999", "99"):
        pool = bsn_pool(prefix)
        if len(pool) >= n:
            if prefix != "9999":
                warnings.warn(
                    f"{n} persons need BSNs but the synthetic 9999 range holds only {len(bsn_pool('9999'))} "
                    f"valid numbers; using the {prefix} range. The pipeline's demo key refuses these: set "
                    "WI_PSEUDONYM_KEY.",
                    stacklevel=3,
                )
            return rng.choice(pool, size=n, replace=False), prefix
    raise ValueError(f"{n} persons: too many for the synthetic BSN ranges")


@dataclass
class _Identifiers:
    """The persons' keys: RINPERSOON of register persons, children, co-parents and noise persons,
    BSNs, and which child and co-parent belongs to whom."""

    rin_p: np.ndarray
    rin_k: np.ndarray
    rin_c: np.ndarray
    rin_n: np.ndarray
    bsn: np.ndarray
    prefix: str
    in_key: np.ndarray
    kid_parent: np.ndarray
    kid_k: np.ndarray
    co_idx: np.ndarray
    n_noise: int


@dataclass
class _PanelSources:
    """What the true panel reads besides the simulation: where each spell was registered and the
    month-aligned values the CBS tables were written from."""

    origin_label: np.ndarray
    instr_gm: np.ndarray = field(init=False)
    debt_gm: np.ndarray = field(init=False)
    debt_last: np.ndarray = field(init=False)
    wmo_gm: np.ndarray = field(init=False)
    wmo_s: np.ndarray = field(init=False)
    wmo_e: np.ndarray = field(init=False)
    secm_code: np.ndarray = field(init=False)
    hours: np.ndarray = field(init=False)
    wage: np.ndarray = field(init=False)
    care_total: np.ndarray = field(init=False)
    care_mental: np.ndarray = field(init=False)


def assemble(s: Simulation) -> World:
    """The simulation as a World: persons, register spells, CBS tables and the true panel."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # concat of all-NaT end dates (open spells)
        return _assemble(s)


def _assemble(s: Simulation) -> World:
    ids = _identifiers(s)
    src = _PanelSources(
        origin_label=pd.Series(s.origin_code).map(ORIGIN_GROUPS).fillna(ORIGIN_OTHER).to_numpy()
    )
    persons = _persons(s, ids, src.origin_label)
    children, co_parents = _relatives(s, ids)
    register_spells = _register_spells(s, ids.bsn, src)
    adult = _no_leap_day(from_parts(ymd(s.birth)[0] + 18, ymd(s.birth)[1], ymd(s.birth)[2]))
    marital = _marital_spells(s, ids.rin_p, adult)
    households = _household_spells(s, ids.rin_p, adult)
    jobs = _job_rows(s, ids.rin_p, src)
    secm = _secm_spells(s, ids.rin_p, src)
    costs_frame, debt = _care_costs_and_debt(s, ids.rin_p, src)

    noise, noise_tables = _noise(s.rng, ids.n_noise, ids.rin_n, s)
    marital = pd.concat([marital, noise_tables["marital"]], ignore_index=True)
    households = pd.concat([households, noise_tables["households"]], ignore_index=True)
    jobs = pd.concat([jobs, noise_tables["jobs"]], ignore_index=True)
    secm = pd.concat([secm, noise_tables["secm"]], ignore_index=True)
    costs_frame = pd.concat([costs_frame, noise_tables["care"]], ignore_index=True)
    debt = pd.concat([debt, noise_tables["debt"]], ignore_index=True)

    # the true panel: first free what only the tables needed
    for name in _TABLES_ONLY:
        setattr(s, name, None)
    return World(
        config=s.config,
        months=s.months,
        persons=persons,
        children=children,
        co_parents=co_parents,
        noise=noise,
        register_spells=register_spells,
        marital=marital,
        households=households,
        jobs=jobs,
        secm=secm,
        care_costs=costs_frame,
        debt=debt,
        panel=_panel(s, src),
        starts=_starts(s, src),
        exemption_months=_exemption_months(s),
        stats=_stats(s, ids),
        bsn_prefix=ids.prefix,
    )


_TABLES_ONLY = (
    "youngest_home_ym",
    "event_day",
    "job_id",
    "job_start_day",
    "weekly_hours",
    "hourly",
    "start_day",
    "exit_day",
    "NEW",
    "DR",
    "plhh",
    "kid_birth",
)


def _stats(s: Simulation, ids: _Identifiers) -> dict:
    """The world's counts for the truth file and the command line."""
    return {
        "persons": s.N,
        "children": len(ids.kid_parent),
        "co_parents": len(ids.co_idx),
        "noise_persons": ids.n_noise,
        "movers": int(s.mover.sum()),
        "missing_from_key_file": int((~ids.in_key).sum()),
        "bsn_prefix": ids.prefix,
        "index_clipped_share_on_bijstand": float(
            ((s.IDX < P.PROB_CLIP[0]) | (s.IDX > P.PROB_CLIP[1]))[s.A].mean()
        ),
    }


# --------------------------------------------------------------------------------------------- persons
def _identifiers(s: Simulation) -> _Identifiers:
    """Distinct RINPERSOONs for everyone, BSNs for register persons, and who is in the key file."""
    rng, N = s.rng, s.N
    kid_parent, kid_k = np.nonzero(s.kid_exists)
    has_kids = s.kid_exists.any(axis=1)
    co_known = has_kids & (rng.random(N) < np.where(s.female, 0.75, 0.98))
    co_idx = np.nonzero(co_known)[0]
    n_noise = int(round(NOISE_PERSON_SHARE * N))
    total = N + len(kid_parent) + len(co_idx) + n_noise
    rin_int = rng.choice(999_999_998, size=total, replace=False) + 1
    rin = np.char.zfill(rin_int.astype(str), 9)
    rin_p, rin_k, rin_c, rin_n = np.split(rin, np.cumsum([N, len(kid_parent), len(co_idx)]))
    bsn, prefix = draw_bsns(rng, N)
    in_key = rng.random(N) >= MISSING_FROM_KEY_FILE
    return _Identifiers(
        rin_p, rin_k, rin_c, rin_n, bsn, prefix, in_key, kid_parent, kid_k, co_idx, n_noise
    )


def _persons(s: Simulation, ids: _Identifiers, origin_label: np.ndarray) -> pd.DataFrame:
    """The register persons with their true attributes and latent terms (the truth's person table)."""
    gm_arr = np.array(GM_CODES)
    return pd.DataFrame(
        {
            "person_id": np.arange(s.N, dtype=np.int32),
            "bsn": ids.bsn.astype(str),
            "rinpersoon": ids.rin_p,
            "in_key_file": ids.in_key,
            "gemeente": gm_arr[s.gm1],
            "gemeente_after_move": np.where(s.mover, gm_arr[s.gm2], None),
            "move_month": np.where(s.mover, s.months[np.minimum(s.move_m, s.T - 1)], pd.NaT),
            "sex": np.where(s.female, "vrouw", "man"),
            "birth_date": s.birth,
            "origin_code": s.origin_code,
            "origin": origin_label,
            "generation": s.generation,
            "poor_health": s.poor,
            "problematic_debt_ever": s.debt_year.any(axis=1),
            "person_effect": s.alpha.astype(np.float32),
            "requests_9a_exemption": s.requester,
            "on_bijstand_at_window_start": s.stock,
            "elapsed_months_at_window_start": np.where(s.stock, s.d0, np.nan),
            "first_entry_month": s.entry,
            "children": s.kid_exists.sum(axis=1),
        }
    )


def _relatives(s: Simulation, ids: _Identifiers) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Children of register persons and their other legal parent, where known (KINDOUDERTAB)."""
    rng, kid_parent, co_idx = s.rng, ids.kid_parent, ids.co_idx
    children = pd.DataFrame(
        {
            "rinpersoon": ids.rin_k,
            "parent_person_id": kid_parent.astype(np.int32),
            "birth_date": s.kid_birth[kid_parent, ids.kid_k],
            "sex": np.where(rng.random(len(kid_parent)) < 0.5, "man", "vrouw"),
            "origin_code": s.origin_code[kid_parent],
            "generation": np.where(s.generation[kid_parent] == "0", "0", "2"),
        }
    )
    co_birth = _no_leap_day(s.birth[co_idx] + rng.integers(-5 * 365, 5 * 365, len(co_idx)))
    co_parents = pd.DataFrame(
        {
            "rinpersoon": ids.rin_c,
            "partner_of_person_id": co_idx.astype(np.int32),
            "birth_date": co_birth,
            "sex": np.where(s.female[co_idx], "man", "vrouw"),
            "origin_code": np.where(
                rng.random(len(co_idx)) < 0.7,
                s.origin_code[co_idx],
                np.array(ORIGIN_CODES)[rng.choice(len(ORIGIN_CODES), len(co_idx), p=ORIGIN_P)],
            ),
        }
    )
    co_parents["generation"] = np.where(co_parents["origin_code"] == "6030", "0", "1")
    co_of_person = np.full(s.N, "", dtype=object)
    co_of_person[co_idx] = ids.rin_c
    children["co_parent_rinpersoon"] = co_of_person[kid_parent]
    return children, co_parents


# --------------------------------------------------------------------------------------------- registers
def _register_spells(s: Simulation, bsn: np.ndarray, src: _PanelSources) -> pd.DataFrame:
    """The clean spells of all five registers, all municipalities, in local codes."""
    start_date = s.mstart[None, :] + (s.start_day.astype(np.int64) - 1)
    spells = [
        _bijstand_spells(s, start_date),
        _exemption_9a_spells(s, start_date),
        _urgent_exemption_spells(s, start_date),
        _instrument_spells(s, start_date, src),
        _debt_assistance_spells(s, src),
        _wmo_spells(s, src),
    ]
    register_spells = pd.concat(spells, ignore_index=True)
    register_spells.insert(0, "gemeente", np.array(GM_CODES)[register_spells.pop("gm").to_numpy()])
    register_spells["bsn"] = _s(bsn[register_spells["person"].to_numpy()])
    for c in ("code", "category", "dossier", "omschrijving"):
        register_spells[c] = register_spells[c].astype("category")
    register_spells["start"] = register_spells["start"].astype("datetime64[s]")
    register_spells["end"] = register_spells["end"].astype("datetime64[s]")
    return register_spells


def _bijstand_spells(s: Simulation, start_date: np.ndarray) -> pd.DataFrame:
    """One bijstand spell per run of months in one municipality, with its regulation and dossier."""
    rng, T, mstart, mend = s.rng, s.T, s.mstart, s.mend
    NEW = s.NEW
    rows, F, L, g = _runs(np.where(s.A, s.res, -1), breaks=NEW)
    pre = (F == 0) & ~NEW[rows, 0]
    pre_start = _month_date(
        s.y0, s.m0, -s.d0[rows], np.where(s.d0[rows] == 0, 1, rng.integers(1, 29, len(rows)))
    )
    b_start = np.where(pre, pre_start, start_date[rows, F])
    xd = s.exit_day[rows, L].astype(np.int64)
    b_end = np.where(xd > 0, mstart[L] + xd - 1, np.where(L == T - 1, _NAT, mend[L]))
    age_start = s.age[rows, F]
    u = rng.random(len(rows))
    regeling = np.where(
        (age_start >= 60) & (u < 0.35),
        "IOAW",
        np.where((age_start >= 55) & (u > 0.95), "IOAZ", "PW"),
    )
    serial = rng.permutation(s.N * 4).reshape(s.N, 4) + 1
    dossier = np.char.add(
        np.char.add(np.array([DOSSIER_PREFIX[c] for c in GM_CODES])[g], "-"),
        np.char.zfill(serial[rows, g].astype(str), 7),
    )
    return pd.DataFrame(
        {
            "register": "bijstand",
            "gm": g,
            "person": rows,
            "code": regeling,
            "start": b_start,
            "end": b_end,
            "dossier": dossier,
        }
    )


def _exemption_9a_spells(s: Simulation, start_date: np.ndarray) -> pd.DataFrame:
    """Art. 9a exemptions: end the day before the 5th birthday of the youngest child, or with bijstand."""
    T, mstart, mend, NEW, yo_all = s.T, s.mstart, s.mend, s.NEW, s.youngest_ord
    rows, F, L, g = _runs(np.where(s.EX, s.res, -1), breaks=NEW)
    yo = yo_all[rows, L]
    b5 = from_parts(yo // 10000 + 5, (yo // 100) % 100, yo % 100)
    yob0 = from_parts(
        yo_all[rows, 0] // 10000,
        (yo_all[rows, 0] // 100) % 100,
        np.maximum(yo_all[rows, 0] % 100, 1),
    )
    first_of_pre = _month_date(s.y0, s.m0, -s.d0[rows], 1)
    e_start = np.where(
        NEW[rows, F],
        start_date[rows, F],
        np.where(F == 0, np.minimum(np.maximum(first_of_pre, yob0 + 14), mstart[0]), mstart[F]),
    )
    cand = np.where(b5 - 1 <= mend[L], b5 - 1, mend[L])
    xdl = s.exit_day[rows, L].astype(np.int64)
    cand = np.where(xdl > 0, np.minimum(cand, mstart[L] + xdl - 1), cand)
    e_end = np.where((L == T - 1) & (xdl == 0), _NAT, np.maximum(cand, e_start))
    return pd.DataFrame(
        {
            "register": "ontheffingen",
            "gm": g,
            "person": rows,
            "code": "ART9A",
            "start": e_start,
            "end": e_end,
        }
    )


def _urgent_exemption_spells(s: Simulation, start_date: np.ndarray) -> pd.DataFrame:
    """Urgent-reason exemptions, which end with bijstand at the latest."""
    rng, T, mstart, mlen, NEW = s.rng, s.T, s.mstart, s.mlen, s.NEW
    rows, F, L, g = _runs(np.where(s.DR, s.res, -1), breaks=NEW)
    d_start = np.where(
        NEW[rows, F], start_date[rows, F], _dates_in_month(rng, mstart, mlen, F, 1, 28)
    )
    xdl = s.exit_day[rows, L].astype(np.int64)
    d_end = np.where(
        xdl > 0,
        mstart[L] + xdl - 1,
        np.where(L == T - 1, _NAT, _dates_in_month(rng, mstart, mlen, L)),
    )
    d_end = np.where(np.isnat(d_end), d_end, np.maximum(d_end, d_start))
    return pd.DataFrame(
        {
            "register": "ontheffingen",
            "gm": g,
            "person": rows,
            "code": "ART9_DRINGEND",
            "start": d_start,
            "end": d_end,
        }
    )


def _local_codes() -> tuple[dict, dict]:
    """Each municipality's code for each SRG category: the current one and the pre-2020 one."""
    mapping = pd.read_csv(SRG_MAPPING_FILE, sep=";", dtype=str)
    local = {
        (r.GEMEENTE, r.SRG_CATEGORIE): r.VOORZIENING_CODE
        for r in mapping.itertuples()
        if not r.VOORZIENING_CODE.endswith("-OUD")
    }
    legacy = {
        (r.GEMEENTE, r.SRG_CATEGORIE): r.VOORZIENING_CODE
        for r in mapping.itertuples()
        if r.VOORZIENING_CODE.endswith("-OUD")
    }
    return local, legacy


def _instrument_spells(s: Simulation, start_date: np.ndarray, src: _PanelSources) -> pd.DataFrame:
    """Re-integration instruments in the local codes of the municipality they start in."""
    rng, T, mstart, mlen, NEW = s.rng, s.T, s.mstart, s.mlen, s.NEW
    local, legacy = _local_codes()
    istart, dur = s.instr_start, s.dur
    rows, ks = np.nonzero(istart >= 0)
    st = istart[rows, ks].astype(np.int64)
    g = s.res[rows, st]
    first_day = np.where(NEW[rows, st], s.start_day[rows, st], 1)
    day = np.maximum(rng.integers(1, 29, len(rows)), first_day)
    i_start = mstart[st] + day - 1
    last = st + dur[ks] - 1
    lastc = np.minimum(last, T - 1)
    i_end = np.where(last > T - 1, _NAT, _dates_in_month(rng, mstart, mlen, lastc))
    cat = np.array(SRG_CATEGORIES)[ks]
    gm_codes = np.array(GM_CODES)[g]
    code = np.array([local[(a, b)] for a, b in zip(gm_codes, cat)], dtype=object)
    old = np.array([(a, b) in legacy for a, b in zip(gm_codes, cat)], dtype=bool) & (
        s.my[st] < 2020
    )
    code[old] = [legacy[(a, b)] for a, b in zip(gm_codes[old], cat[old])]
    desc_pick = rng.integers(0, 1 << 20, len(rows))
    desc = np.array(
        [DESCRIPTIONS[c][i % len(DESCRIPTIONS[c])] for c, i in zip(cat, desc_pick)], dtype=object
    )
    src.instr_gm = np.full(istart.shape, -1, dtype=np.int8)
    src.instr_gm[rows, ks] = g
    return pd.DataFrame(
        {
            "register": "reintegratie",
            "gm": g,
            "person": rows,
            "code": code,
            "category": cat,
            "start": i_start,
            "end": i_end,
            "omschrijving": desc,
        }
    )


def _debt_assistance_spells(s: Simulation, src: _PanelSources) -> pd.DataFrame:
    """Debt assistance, registered by the municipality it starts in."""
    rng, T, mstart, mlen, NEW = s.rng, s.T, s.mstart, s.mlen, s.NEW
    rows = np.nonzero(s.debt_start >= 0)[0]
    st = s.debt_start[rows].astype(np.int64)
    g = s.res[rows, st]
    last = st + s.debt_months[rows] - 1
    sh_start = (
        mstart[st]
        + np.maximum(
            rng.integers(1, 29, len(rows)), np.where(NEW[rows, st], s.start_day[rows, st], 1)
        )
        - 1
    )
    sh_end = np.where(
        last > T - 1, _NAT, _dates_in_month(rng, mstart, mlen, np.minimum(last, T - 1))
    )
    spells = pd.DataFrame(
        {
            "register": "schuldhulp",
            "gm": g,
            "person": rows,
            "code": _choice(rng, P.DEBT_ASSISTANCE["codes"], len(rows)),
            "start": sh_start,
            "end": sh_end,
        }
    )
    src.debt_gm = np.full(s.N, -1, dtype=np.int8)
    src.debt_gm[rows] = g
    src.debt_last = np.where(s.debt_start >= 0, s.debt_start + s.debt_months - 1, -1)
    return spells


def _wmo_spells(s: Simulation, src: _PanelSources) -> pd.DataFrame:
    """WMO support (no effect), more often for persons in poor health or over 55."""
    rng, N, T, y0, m0 = s.rng, s.N, s.T, s.y0, s.m0
    wm = P.WMO
    has = rng.random(N) < np.where(
        s.poor, wm["share_poor_health"], wm["share_good_health"]
    ) * np.where(s.age0 >= 55, 1.4, 1.0)
    w_s = rng.integers(-24, T, N)
    w_e = w_s + rng.integers(wm["months"][0], wm["months"][1] + 1, N) - 1
    has &= w_e >= 0
    rows = np.nonzero(has)[0]
    ws, we = w_s[rows], w_e[rows]
    g = s.res[rows, np.maximum(ws, 0)]
    wmo_start = _month_date(y0, m0, ws, rng.integers(1, 29, len(rows)))
    wmo_end = np.where(
        we > T - 1,
        _NAT,
        _month_date(y0, m0, np.minimum(we, T - 1), 1) + rng.integers(0, 28, len(rows)),
    )
    spells = pd.DataFrame(
        {
            "register": "wmo",
            "gm": g,
            "person": rows,
            "code": _choice(rng, wm["codes"], len(rows)),
            "start": wmo_start,
            "end": wmo_end,
        }
    )
    src.wmo_gm = np.full(N, -1, dtype=np.int8)
    src.wmo_s = np.full(N, T + 1)
    src.wmo_e = np.full(N, -1)
    src.wmo_gm[rows], src.wmo_s[rows], src.wmo_e[rows] = g, ws, we
    return spells


# --------------------------------------------------------------------------------------------- CBS
def _marital_spells(s: Simulation, rin_p: np.ndarray, adult: np.ndarray) -> pd.DataFrame:
    """GBABURGERLIJKESTAATBUS: the status at the window start (since birth or a date in adulthood),
    and the status after a change in the window."""
    rng, mstart, birth, ms0 = s.rng, s.mstart, s.birth, s.ms0
    span = np.maximum((mstart[0] - adult).astype(np.int64), 1)
    before = adult + (rng.random(s.N) * span).astype(np.int64)
    changed = s.change_m >= 0
    chg_date = mstart[np.maximum(s.change_m, 0)] + s.change_day - 1
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "rin": rin_p,
                    "code": np.array(MARITAL_CODES)[ms0],
                    "start": np.where(ms0 == 0, birth, before),
                    "end": np.where(changed, chg_date - 1, _NAT),
                }
            ),
            pd.DataFrame(
                {
                    "rin": rin_p[changed],
                    "code": np.array(MARITAL_CODES)[s.ms1[changed]],
                    "start": chg_date[changed],
                    "end": _NAT,
                }
            ),
        ],
        ignore_index=True,
    )


def _household_spells(s: Simulation, rin_p: np.ndarray, adult: np.ndarray) -> pd.DataFrame:
    """GBAHUISHOUDENSBUS: a spell per run of the same household, starting on the day of its event."""
    rng, mstart = s.rng, s.mstart
    typ, plhh, nch, yh = s.typ, s.plhh, s.n_children, s.youngest_home_ym
    key = ((typ.astype(np.int64) * 100 + plhh) * 10 + nch) * 1_000_000 + yh
    rows, F, L, _ = _runs(key)
    first = F == 0
    h_start = mstart[F] + s.event_day[rows, F].astype(np.int64) - 1
    pre = np.maximum(mstart[0] - rng.integers(1, 2500, len(rows)), adult[rows])
    yh0 = yh[rows, 0]
    pre = np.maximum(
        pre,
        np.where(
            yh0 > 0, from_parts(np.maximum(yh0 // 100, 1970), np.maximum(yh0 % 100, 1), 1), pre
        ),
    )
    h_start = np.where(first, np.minimum(pre, mstart[0]), h_start)
    nxt_same = np.r_[rows[1:] == rows[:-1], False]
    h_end = np.where(nxt_same, np.r_[h_start[1:], h_start[:1]] - 1, _NAT)
    yh_run = yh[rows, F]
    return pd.DataFrame(
        {
            "rin": _s(rin_p[rows]),
            "hhnr": np.char.zfill((rng.permutation(len(rows)) + 10**10).astype(str), 12),
            "start": h_start,
            "end": h_end,
            "typ": typ[rows, F],
            "plhh": plhh[rows, F],
            "n_children": nch[rows, F],
            "youngest_year": np.where(yh_run > 0, yh_run // 100, 0),
            "youngest_month": np.where(yh_run > 0, yh_run % 100, 0),
        }
    )


def _job_rows(s: Simulation, rin_p: np.ndarray, src: _PanelSources) -> pd.DataFrame:
    """SPOLISBUS: one row per job per month worked, prorated in a job's first and last month."""
    rng, N, T, mstart, mlen, E = s.rng, s.N, s.T, s.mstart, s.mlen, s.E
    pi, ti = np.nonzero(E)
    nxt_emp = np.zeros_like(E)
    nxt_emp[:, :-1] = E[:, 1:]
    jsd = s.job_start_day[pi, ti].astype(np.int64)
    p_start_day = np.where(jsd > 0, jsd, 1)
    ends_here = ~nxt_emp[pi, ti] & (ti < T - 1)
    span_days = mlen[ti] - p_start_day + 1
    p_end_day = np.where(
        ends_here, p_start_day + (rng.random(len(pi)) * span_days).astype(np.int64), mlen[ti]
    )
    days = p_end_day - p_start_day + 1
    hours = np.round(s.weekly_hours[pi, ti] * days / 7.0, 2)
    wage = np.round(hours * s.hourly[pi, ti], 2)
    src.hours = np.zeros((N, T), dtype=np.float32)
    src.wage = np.zeros((N, T), dtype=np.float32)
    src.hours[pi, ti] = hours
    src.wage[pi, ti] = wage
    jid = s.job_id[pi, ti].astype(np.int64)
    n_jobs = int(jid.max()) + 1 if len(jid) else 0
    employer = rng.integers(1, max(N // 4, 50), n_jobs + 1)
    fixed = rng.random(n_jobs + 1) < 0.6
    return pd.DataFrame(
        {
            "rin": _s(rin_p[pi]),
            "job": jid,
            "employer": employer[jid],
            "start": mstart[ti] + p_start_day - 1,
            "end": mstart[ti] + p_end_day - 1,
            "wage": wage,
            "hours": hours,
            "fixed_term": fixed[jid],
            "fulltime": s.weekly_hours[pi, ti] >= 32,
        }
    )


def _secm_spells(s: Simulation, rin_p: np.ndarray, src: _PanelSources) -> pd.DataFrame:
    """SECMBUS: the socio-economic category of each month (bijstand, employee, pension, other)."""
    rng, N, T, tt, entry = s.rng, s.N, s.T, s.tt, s.entry
    off_cat = np.where(
        s.poor & (rng.random(N) < 0.5),
        24,
        np.where((s.age0 < 23) & (rng.random(N) < 0.3), 31, 32),
    )
    src.secm_code = np.where(
        s.A,
        np.int8(22),
        np.where(
            s.E,
            11,
            np.where(
                s.age >= 67,
                26,
                np.where(
                    (tt[None, :] < entry[:, None]) & (entry[:, None] - tt[None, :] <= 9),
                    21,
                    off_cat[:, None],
                ),
            ),
        ),
    ).astype(np.int8)
    rows, F, L, code = _runs(src.secm_code.astype(np.int16))
    se_start = np.where(
        F == 0, _month_date(s.y0, s.m0, -rng.integers(0, 25, len(rows)), 1), s.mstart[F]
    )
    se_end = np.where(L == T - 1, _NAT, s.mend[L])
    return pd.DataFrame(
        {"rin": _s(rin_p[rows]), "start": se_start, "end": se_end, "code": code.astype(str)}
    )


def _care_costs_and_debt(
    s: Simulation, rin_p: np.ndarray, src: _PanelSources
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ZVWZORGKOSTENTAB (lower after debt assistance starts) and PROBSCHULDTAB, per year."""
    rng, N, years = s.rng, s.N, s.years
    Y = len(years)
    debt_start_year = np.where(s.debt_start >= 0, s.my[np.maximum(s.debt_start, 0)], 10**4)
    saving = np.where(
        years[None, :] > debt_start_year[:, None],
        P.DEBT_ASSISTANCE["care_cost_effect_eur_per_year"],
        0.0,
    )
    costs = _care_costs(rng, s.poor, saving)
    src.care_total = costs["total"].reshape(N, Y)
    src.care_mental = costs["mental"].reshape(N, Y)
    costs_frame = pd.DataFrame(
        {
            "rin": _s(np.repeat(rin_p, Y)),
            "year": np.tile(years, N),
            **{c: costs[c] for c in ("huisarts", "farmacie", "ziekenhuis", "ggz", "psycho")},
        }
    )
    debt_rows, debt_y = np.nonzero(
        s.debt_year | s.hh_debt_only[:, None] & (rng.random((N, Y)) < 0.5)
    )
    debt = pd.DataFrame(
        {
            "rin": rin_p[debt_rows],
            "year": years[debt_y],
            "person": s.debt_year[debt_rows, debt_y],
        }
    )
    return costs_frame, debt


def _care_costs(rng, poor: np.ndarray, saving: np.ndarray) -> dict[str, np.ndarray]:
    """Yearly costs: poor health >= the threshold in every year (also after the debt-assistance saving)."""
    n, y = saving.shape
    poor_r = np.repeat(poor, y)
    scale = np.repeat(rng.lognormal(0, 0.4, n), y)
    lo, hi = P.GOOD_HEALTH_COSTS
    good_total = lo + (hi - lo) * np.clip(rng.beta(1.3, 4.0, n * y) * scale, 0, 1)
    poor_total = P.POOR_HEALTH_MIN_COSTS + rng.lognormal(np.log(1800), 0.8, n * y) * scale
    total = np.where(poor_r, poor_total, good_total) + saving.ravel()
    has_ggz = rng.random(n * y) < np.where(poor_r, 0.6, 0.04)
    ggz = np.where(
        has_ggz,
        total * np.where(poor_r, rng.uniform(0.2, 0.6, n * y), rng.uniform(0.05, 0.3, n * y)),
        0.0,
    )
    has_psy = rng.random(n * y) < np.where(poor_r, 0.2, 0.05)
    psy = np.where(has_psy, np.minimum(rng.uniform(100, 900, n * y), 0.3 * total), 0.0)
    rest = total - ggz - psy
    huis = rest * rng.uniform(0.05, 0.2, n * y)
    farm = rest * rng.uniform(0.1, 0.35, n * y)
    neg = rng.random(n * y) < 0.03  # a correction booked in the pharmacy column
    farm = np.where(neg, -rng.uniform(5, 60, n * y), farm)
    huis, farm, ggz, psy = (np.round(x, 2) for x in (huis, farm, ggz, psy))
    zk = np.round(total - huis - farm - ggz - psy, 2)
    return {
        "huisarts": huis,
        "farmacie": farm,
        "ziekenhuis": zk,
        "ggz": ggz,
        "psycho": psy,
        "total": huis + farm + zk + ggz + psy,
        "mental": ggz + psy,
    }


def _noise(rng, n: int, rin: np.ndarray, s: Simulation):
    """National persons in no register: one marital and household spell, maybe one job, costs, debt."""
    noise, age0, birth = _noise_persons(rng, n, rin, s)
    adult = _no_leap_day(from_parts(ymd(birth)[0] + 18, ymd(birth)[1], ymd(birth)[2]))
    marital, households = _noise_marital_and_household(rng, n, rin, s, birth, adult)
    jobs, secm = _noise_jobs_and_secm(rng, n, rin, s, age0)
    care, debt = _noise_care_and_debt(rng, n, rin, s)
    return noise, {
        "marital": marital,
        "households": households,
        "jobs": jobs,
        "secm": secm,
        "care": care,
        "debt": debt,
    }


def _noise_persons(
    rng, n: int, rin: np.ndarray, s: Simulation
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The noise persons' GBAPERSOONTAB rows, and their ages at the window start and birth dates."""
    female = rng.random(n) < 0.5
    age0 = rng.integers(18, 80, n)
    birth = _no_leap_day(from_parts(s.y0 - 1 - age0, 1, 2) + rng.integers(0, 363, n))
    origin = np.array(ORIGIN_CODES)[
        rng.choice(len(ORIGIN_CODES), n, p=[0.7, 0.04, 0.04, 0.04, 0.02] + [0.16 / 8] * 8)
    ]
    noise = pd.DataFrame(
        {
            "rinpersoon": rin,
            "birth_date": birth,
            "sex": np.where(female, "vrouw", "man"),
            "origin_code": origin,
            "generation": np.where(origin == "6030", "0", "1"),
        }
    )
    return noise, age0, birth


def _noise_marital_and_household(
    rng, n: int, rin: np.ndarray, s: Simulation, birth: np.ndarray, adult: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One open marital-status spell and one open household spell per noise person."""
    mstart = s.mstart
    ms = rng.choice(4, n, p=[0.4, 0.45, 0.1, 0.05])
    start = np.where(
        ms == 0, birth, np.minimum(adult + rng.integers(0, 20 * 365, n), mstart[0] - 1)
    )
    marital = pd.DataFrame(
        {"rin": rin, "code": np.array(MARITAL_CODES)[ms], "start": start, "end": _NAT}
    )
    typ = np.where(ms == 1, rng.choice([2, 4], n), rng.choice([1, 6, 7], n, p=[0.8, 0.1, 0.1]))
    plhh = np.select([typ == 1, typ == 2, typ == 4, typ == 6], [2, 3, 4, 7], 8)
    nk = np.where(np.isin(typ, (4, 6)), rng.integers(1, 4, n), 0)
    yy = np.where(nk > 0, rng.integers(2002, 2018, n), 0)
    households = pd.DataFrame(
        {
            "rin": rin,
            "hhnr": np.char.zfill((rng.permutation(n) + 5 * 10**10).astype(str), 12),
            "start": np.minimum(adult + rng.integers(0, 15 * 365, n), mstart[0] - 1),
            "end": _NAT,
            "typ": typ,
            "plhh": plhh,
            "n_children": nk,
            "youngest_year": yy,
            "youngest_month": np.where(nk > 0, rng.integers(1, 13, n), 0),
        }
    )
    return marital, households


def _noise_jobs_and_secm(
    rng, n: int, rin: np.ndarray, s: Simulation, age0: np.ndarray
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """At most one job per noise person (monthly SPOLISBUS rows) and the SECM spells around it."""
    T, mstart, mlen, mend = s.T, s.mstart, s.mlen, s.mend
    employed = (rng.random(n) < 0.65) & (age0 < 64)
    js = np.where(rng.random(n) < 0.6, 0, rng.integers(0, T, n))
    je = np.where(rng.random(n) < 0.6, T - 1, np.minimum(js + rng.integers(3, 60, n), T - 1))
    emp = (
        employed[:, None]
        & (np.arange(T)[None, :] >= js[:, None])
        & (np.arange(T)[None, :] <= je[:, None])
    )
    pi, ti = np.nonzero(emp)
    wh = rng.uniform(12, 40, n)
    hw = rng.uniform(13, 35, n)
    days = mlen[ti]
    hours = np.round(wh[pi] * days / 7.0, 2)
    jobs = pd.DataFrame(
        {
            "rin": rin[pi],
            "job": 10**8 + pi,
            "employer": rng.integers(1, max(n // 3, 10), n)[pi],
            "start": mstart[ti],
            "end": mend[ti],
            "wage": np.round(hours * hw[pi], 2),
            "hours": hours,
            "fixed_term": (rng.random(n) < 0.3)[pi],
            "fulltime": wh[pi] >= 32,
        }
    )
    other = np.where(age0 >= 67, 26, rng.choice([32, 24, 21, 13], n, p=[0.5, 0.2, 0.1, 0.2]))
    code = np.where(emp, 11, other[:, None])
    rows, F, L, c = _runs(code.astype(np.int16))
    secm = pd.DataFrame(
        {
            "rin": rin[rows],
            "start": np.where(
                F == 0, _month_date(s.y0, s.m0, -rng.integers(0, 25, len(rows)), 1), mstart[F]
            ),
            "end": np.where(L == T - 1, _NAT, mend[L]),
            "code": c.astype(str),
        }
    )
    return jobs, secm


def _noise_care_and_debt(
    rng, n: int, rin: np.ndarray, s: Simulation
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Yearly healthcare costs for every noise person and problematic debt for a few."""
    years = s.years
    Y = len(years)
    poor = rng.random(n) < 0.2
    costs = _care_costs(rng, poor, np.zeros((n, Y)))
    care = pd.DataFrame(
        {
            "rin": np.repeat(rin, Y),
            "year": np.tile(years, n),
            **{c: costs[c] for c in ("huisarts", "farmacie", "ziekenhuis", "ggz", "psycho")},
        }
    )
    dflag = (rng.random(n) < 0.07)[:, None] & (rng.random((n, Y)) < 0.7)
    dr, dy = np.nonzero(dflag)
    debt = pd.DataFrame({"rin": rin[dr], "year": years[dy], "person": True})
    return care, debt


# the linked panel's columns, with the generator's true person id where the panel has the pseudonym
PANEL_COLUMNS = ["person_id" if c == PSEUDONYM_COLUMN else c for c in LINKED_PANEL_COLUMNS]


def _flat(x) -> np.ndarray:
    """Person x month rows in the panel's row order (person-major), without a copy where possible."""
    return np.ascontiguousarray(x).reshape(-1)


def _panel(s: Simulation, src: _PanelSources) -> pd.DataFrame:
    """One row per person per month for everyone ever on bijstand in the municipality, per municipality."""
    A, res = s.A, s.res
    members = [np.nonzero((A & (res == g)).any(axis=1))[0] for g in range(4)]
    rows = np.concatenate(members)
    gm_row = np.repeat(np.arange(4), [len(m) for m in members]).astype(np.int8)
    cols = {
        **_panel_person_columns(s, src, rows, gm_row),
        **_panel_register_columns(s, src, rows, gm_row),
        **_panel_outcome_columns(s, src, rows),
    }
    # one column at a time: no consolidation copy of ~1 GB at scale 1.0
    panel = pd.DataFrame(index=pd.RangeIndex(len(rows) * s.T))
    for c in PANEL_COLUMNS:
        panel[c] = cols.pop(c)
    # truth only (never in an extract): the summed planted effect on this month's employment probability
    panel["true_effect"] = _flat(s.EFF[rows])
    return panel


def _panel_person_columns(
    s: Simulation, src: _PanelSources, rows: np.ndarray, gm_row: np.ndarray
) -> dict[str, object]:
    """Who the person is in each month: municipality, age, sex, origin, marital status, household."""
    T = s.T
    cols: dict[str, object] = {}
    cols["gemeente"] = pd.Categorical.from_codes(np.repeat(gm_row, T), categories=GM_CODES)
    cols["person_id"] = np.repeat(rows.astype(np.int32), T)
    cols["month"] = np.tile(s.months.to_numpy(), len(rows))
    cols["age"] = _flat(s.age[rows])
    cols["sex"] = pd.Categorical.from_codes(
        np.repeat(s.female[rows].astype(np.int8), T), categories=["man", "vrouw"]
    )
    origin_cats = sorted(set(ORIGIN_GROUPS.values()) | {ORIGIN_OTHER})
    oc = pd.Categorical(src.origin_label[rows], categories=origin_cats).codes
    cols["origin"] = pd.Categorical.from_codes(np.repeat(oc, T), categories=origin_cats)
    ms_labels = [MARITAL_STATUS[c] for c in MARITAL_CODES]
    cols["marital_status"] = pd.Categorical.from_codes(_flat(s.ms[rows]), categories=ms_labels)
    hh_labels = sorted(set(HOUSEHOLD_LABELS.values()))
    typ_to_code = np.zeros(9, dtype=np.int8)
    for k, lab in HOUSEHOLD_LABELS.items():
        typ_to_code[k] = hh_labels.index(lab)
    cols["household_type"] = pd.Categorical.from_codes(
        _flat(typ_to_code[s.typ[rows]]), categories=hh_labels
    )
    cols["single_parent"] = _flat(s.single_parent[rows])
    cols["n_children"] = _flat(s.n_children[rows])
    ca = s.child_age[rows]
    cols["youngest_child_age_months"] = _flat(np.where(ca >= 0, ca, np.nan).astype(np.float32))
    return cols


def _panel_register_columns(
    s: Simulation, src: _PanelSources, rows: np.ndarray, gm_row: np.ndarray
) -> dict[str, object]:
    """The register columns, each only in the municipality that registered the spell."""
    tt = s.tt
    here = s.res[rows] == gm_row[:, None]
    cols: dict[str, object] = {}
    on = s.A[rows] & here
    cols["on_bijstand"] = _flat(on)
    cols["bijstand_duration_months"] = _flat(np.where(on, s.DUR[rows], np.nan).astype(np.float32))
    cols["exemption_9a"] = _flat(s.EX[rows] & here)
    for k, cat in enumerate(SRG_CATEGORIES):
        st = s.instr_start[rows, k].astype(np.int64)
        mine = (st >= 0) & (src.instr_gm[rows, k] == gm_row)
        since = tt[None, :] - st[:, None]
        valid = mine[:, None] & (since >= 0)
        cols[f"instr_{cat}"] = _flat(valid & (since < s.dur[k]))
        cols[f"months_since_start_{cat}"] = _flat(np.where(valid, since, np.nan).astype(np.float32))
    ds_ = s.debt_start[rows].astype(np.int64)
    cols["debt_assistance"] = _flat(
        (src.debt_gm[rows] == gm_row)[:, None]
        & (tt[None, :] >= ds_[:, None])
        & (tt[None, :] <= src.debt_last[rows][:, None])
        & (ds_[:, None] >= 0)
    )
    cols["wmo_support"] = _flat(
        (src.wmo_gm[rows] == gm_row)[:, None]
        & (tt[None, :] >= src.wmo_s[rows][:, None])
        & (tt[None, :] <= src.wmo_e[rows][:, None])
    )
    return cols


def _panel_outcome_columns(
    s: Simulation, src: _PanelSources, rows: np.ndarray
) -> dict[str, object]:
    """The CBS columns as the tables were written: work, SECM, care costs, debt, self-sufficiency."""
    T = s.T
    cols: dict[str, object] = {}
    cols["employed"] = _flat(s.E[rows])
    # hours and wage as in the job rows (prorated in the first and last month of a job)
    cols["hours"] = _flat(src.hours[rows].astype(np.float32))
    cols["wage"] = _flat(src.wage[rows].astype(np.float32))
    secm_labels = sorted(SECM_CATEGORIES.values())
    code_to_label = {int(k): secm_labels.index(v) for k, v in SECM_CATEGORIES.items()}
    lut = np.zeros(100, dtype=np.int8)
    for k, v in code_to_label.items():
        lut[k] = v
    cols["secm"] = pd.Categorical.from_codes(
        _flat(lut[src.secm_code[rows]]), categories=secm_labels
    )
    yi = s.my - s.my[0]
    cols["care_costs_total"] = _flat(src.care_total[rows][:, yi].astype(np.float32))
    cols["care_costs_mental"] = _flat(src.care_mental[rows][:, yi].astype(np.float32))
    cols["problematic_debt"] = _flat(s.debt_m[rows])
    cols["poor_health"] = np.repeat(src.care_total[rows, 0] >= P.POOR_HEALTH_THRESHOLD, T)
    cols["self_sufficient"] = _flat(~s.A[rows])
    return cols


def _starts(s: Simulation, src: _PanelSources) -> pd.DataFrame:
    """Every instrument start with its planted effect on the employment probability at each horizon."""
    T = s.T
    rows, ks = np.nonzero(s.instr_start >= 0)
    st = s.instr_start[rows, ks].astype(np.int64)
    band = np.minimum(s.n_children[rows, st], 3)
    out = pd.DataFrame(
        {
            "person_id": rows.astype(np.int32),
            "gemeente": np.array(GM_CODES)[src.instr_gm[rows, ks]],
            "category": np.array(SRG_CATEGORIES)[ks],
            "start_month": s.months[st],
            "sex": np.where(s.female[rows], "vrouw", "man"),
            "n_children": np.array(N_CHILD_BANDS)[band],
            "marital_status": np.array([MARITAL_STATUS[c] for c in MARITAL_CODES])[s.ms[rows, st]],
            "health": np.where(s.poor[rows], "poor", "good"),
            "problematic_debt": s.debt_m[rows, st],
            "debt_assistance_before": (s.debt_start[rows] >= 0) & (s.debt_start[rows] <= st),
            "post_effect": s.instr_post[rows, ks],
        }
    )
    for h in P.HORIZONS:
        t = st + h
        ok = t <= T - 1
        tc = np.minimum(t, T - 1)
        nominal = np.where(h < s.dur[ks], s.during[ks], s.instr_post[rows, ks])
        idx = s.IDX[rows, tc]
        eff = _clip(idx) - _clip(idx - nominal)
        out[f"nominal_h{h}"] = np.where(ok, nominal, np.nan)
        out[f"effect_h{h}"] = np.where(ok, eff, np.nan)
    return out


def _exemption_months(s: Simulation) -> pd.DataFrame:
    """Every exempt person-month with its planted effect on the employment probability."""
    rows, ti = np.nonzero(s.EX)
    idx = s.IDX[rows, ti]
    eff = P.EXEMPTION_9A["effect"]
    return pd.DataFrame(
        {
            "person_id": rows.astype(np.int32),
            "month_index": ti,
            "youngest_child_age_months": s.child_age[rows, ti],
            "effect": _clip(idx) - _clip(idx - eff),
        }
    )
