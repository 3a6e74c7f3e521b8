"""A simulated G4 world: persons, households, children, register spells and monthly outcomes.

Employment is Bernoulli(p) each month with p = clip(index) and an index that never depends on past
outcomes, so a planted effect is exactly the shift of that month's probability: the truth file can
state effects that estimators on the panel should recover. Participation depends on observables and
on the elapsed bijstand duration only, never on the idiosyncratic terms.

Everything is vectorised over persons; the only loops are over the months of the window, the
instruments and a person's (at most four) children. Each step draws its random numbers in a fixed
order: the same seed gives the same world, and an intervention changes nothing before its month.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wi_pipeline.lib.layout import MARITAL_STATUS, SRG_CATEGORIES
from wi_pipeline.synthetic import params as P
from wi_pipeline.synthetic._tables import assemble, bsn_pool, draw_bsns
from wi_pipeline.synthetic.config import MOVER_SHARE, SyntheticConfig
from wi_pipeline.synthetic.simulation import (
    _NAT,
    DIVORCED,
    GM_CODES,
    HOUSEHOLD_LABELS,
    MARITAL_CODES,
    MARRIED,
    MAX_KIDS,
    N_CHILD_BANDS,
    ORIGIN_CODES,
    ORIGIN_P,
    OTHER_ORIGIN_CODES,
    UNMARRIED,
    WIDOWED,
    Simulation,
    World,
    _no_leap_day,
    from_parts,
    ymd,
)

# what other modules import from here (the codes and helpers live in simulation.py)
__all__ = [
    "GM_CODES",
    "HOUSEHOLD_LABELS",
    "MARITAL_CODES",
    "ORIGIN_CODES",
    "ORIGIN_P",
    "OTHER_ORIGIN_CODES",
    "Intervention",
    "World",
    "bsn_pool",
    "draw_bsns",
    "from_parts",
    "simulate_world",
    "ymd",
]


def simulate_world(config: SyntheticConfig | None = None) -> World:
    """Simulate the G4 world of this configuration (deterministic in config.seed)."""
    # the simulation's locals are freed before the tables and the panel are built
    return assemble(_simulate(config or SyntheticConfig()))


@dataclass(frozen=True)
class Intervention:
    """Set each person's choice in one month: start instrument ``arm`` (an index into SRG_CATEGORIES)
    or, with arm == len(SRG_CATEGORIES), start nothing that month. It applies only where the person is
    on bijstand and has never started an instrument (the population the instruments are compared
    on); before that month every person's path is the one of the world without intervention, since
    each month draws the same random numbers for every person whatever happens to others."""

    month: np.ndarray  # month index per person, -1 for none
    arm: np.ndarray  # arm index per person


def _simulate(config: SyntheticConfig, intervention: Intervention | None = None) -> Simulation:
    """The person x month paths of this configuration; the steps run in the order they draw."""
    counts = config.persons_per_municipality()
    s = Simulation(
        rng=np.random.default_rng(config.seed),
        config=config,
        months=pd.date_range(config.window_start, config.window_end, freq="MS"),
        gm1=np.repeat(np.arange(4), [counts[g] for g in GM_CODES]).astype(np.int8),
    )
    _draw_persons(s)
    _draw_debt(s)
    _draw_marital_status(s)
    _draw_children(s)
    _derive_households(s)
    _draw_bijstand_entry(s)
    _draw_exemption_requests(s)
    _simulate_months(s, _employment_index(s), intervention)
    return s


# --------------------------------------------------------------------------------------------- persons
def _draw_persons(s: Simulation) -> None:
    """Sex, birth date, origin, health and the constant person effect of the employment index."""
    rng, N = s.rng, s.N
    my, mm = s.my, s.mm
    s.female = rng.random(N) < 0.58
    ages = np.arange(18, 67)
    w = np.select([ages <= 22, ages <= 29, ages <= 59, ages <= 64], [0.5, 1.0, 1.2, 0.9], 0.6)
    s.age0 = rng.choice(ages, size=N, p=w / w.sum())
    s.birth = _no_leap_day(from_parts(s.y0 - 1 - s.age0, 1, 2) + rng.integers(0, 363, N))
    by, bm, bd = ymd(s.birth)
    s.age = (
        my[None, :]
        - by[:, None]
        - ((mm[None, :] < bm[:, None]) | ((mm[None, :] == bm[:, None]) & (bd[:, None] > 1)))
    ).astype(np.int16)
    origin_idx = rng.choice(len(ORIGIN_CODES), size=N, p=ORIGIN_P)
    s.origin_code = np.array(ORIGIN_CODES)[origin_idx]
    s.nl = origin_idx == 0
    s.migration_group = (origin_idx >= 1) & (origin_idx <= 4)
    s.generation = np.where(s.nl, "0", np.where(rng.random(N) < 0.6, "1", "2"))
    s.poor = rng.random(N) < np.clip(0.16 + 0.006 * (s.age0 - 18), 0.1, 0.6)
    s.alpha = rng.normal(0, P.EMPLOYMENT_INDEX["person_effect_sd"], N)


def _draw_debt(s: Simulation) -> None:
    """Problematic debt: one episode of whole years per debtor (and debt of the household only)."""
    rng, N, y0 = s.rng, s.N, s.y0
    s.debtor = rng.random(N) < P.PROBLEMATIC_DEBT_SHARE
    d_first = rng.integers(y0 - 3, int(s.my[-1]) + 1, N)
    d_last = d_first + rng.integers(1, 6, N)
    s.years = years = np.arange(y0, int(s.my[-1]) + 1)
    s.debt_year = (
        s.debtor[:, None]
        & (years[None, :] >= d_first[:, None])
        & (years[None, :] <= d_last[:, None])
    )
    s.hh_debt_only = ~s.debtor & (rng.random(N) < 0.03)
    s.debt_m = s.debt_year[:, s.my - y0]


def _draw_marital_status(s: Simulation) -> None:
    """Marital status with one optional change in the window, cohabitation and special households."""
    rng, N, T, tt, age0 = s.rng, s.N, s.T, s.tt, s.age0
    u = rng.random(N)
    cum = np.where(
        (age0 < 30)[:, None],
        np.cumsum([0.84, 0.08, 0.08, 0.0]),
        np.where(
            (age0 < 45)[:, None],
            np.cumsum([0.58, 0.12, 0.28, 0.02]),
            np.cumsum([0.33, 0.22, 0.37, 0.08]),
        ),
    )
    ms0 = s.ms0 = (u[:, None] > cum).sum(axis=1).clip(0, 3).astype(np.int8)
    changes = rng.random(N) < 0.10
    s.ms1 = np.select(
        [ms0 == UNMARRIED, ms0 == MARRIED, ms0 == DIVORCED],
        [MARRIED, np.where(rng.random(N) < 0.85, DIVORCED, WIDOWED), MARRIED],
        MARRIED,
    ).astype(np.int8)
    change_m = s.change_m = np.where(changes, rng.integers(1, T, N), -1)
    s.change_day = rng.integers(1, 29, N)
    s.ms = np.where(
        (change_m[:, None] >= 0) & (tt[None, :] >= change_m[:, None]),
        s.ms1[:, None],
        ms0[:, None],
    ).astype(np.int8)
    s.cohab = (ms0 != MARRIED) & (rng.random(N) < 0.05)
    s.partnered = (s.ms == MARRIED) | (
        s.cohab[:, None] & ((change_m[:, None] < 0) | (tt[None, :] < change_m[:, None]))
    )
    s.special = rng.choice([0, 7, 8], size=N, p=[0.95, 0.04, 0.01])  # 7 other, 8 institutional


def _draw_children(s: Simulation) -> None:
    """Up to four children born in order, who live with the person (custody) until they turn 18."""
    rng, N, female = s.rng, s.N, s.female
    s.kids_drawn = np.where(
        female,
        rng.choice(5, N, p=[0.14, 0.21, 0.31, 0.21, 0.13]),
        rng.choice(5, N, p=[0.55, 0.18, 0.16, 0.07, 0.04]),
    )
    first_age = np.where(female, rng.uniform(18.5, 31, N), rng.uniform(21, 40, N))
    gaps = np.concatenate(
        [first_age[:, None], rng.uniform(1.2, 4.5, (N, MAX_KIDS - 1))], axis=1
    ).cumsum(axis=1)
    kid_birth = _no_leap_day(s.birth[:, None] + np.round(gaps * 365.25).astype(np.int64))
    max_parent_age = np.where(female, 45, 55)[:, None]
    s.kid_exists = (
        (np.arange(MAX_KIDS)[None, :] < s.kids_drawn[:, None])
        & (gaps <= max_parent_age)
        & (kid_birth <= s.mend[-1])
    )
    s.kid_birth = np.where(s.kid_exists, kid_birth, _NAT)
    custodial_f = rng.random(N) < 0.97
    custodial_m = rng.random(N) < 0.15
    custodial = np.where(female[:, None], custodial_f[:, None], s.partnered | custodial_m[:, None])
    _children_at_home(s, custodial)
    yo = s.youngest_ord
    yo_y, yo_m, yo_d = yo // 10000, (yo // 100) % 100, yo % 100
    s.child_age = np.where(
        yo > 0, (s.my[None, :] - yo_y) * 12 + (s.mm[None, :] - yo_m) - (yo_d > 1), -1
    ).astype(np.int16)
    s.has_child = s.child_age >= 0


def _children_at_home(s: Simulation, custodial: np.ndarray) -> None:
    """Per month: the youngest child born by the 1st, the children at home and the youngest of them,
    and the day a household event (a birth, an 18th birthday, a marital change) falls on."""
    N, T, tt, y0, m0 = s.N, s.T, s.tt, s.y0, s.m0
    kid_exists = s.kid_exists
    kb_y, kb_m, kb_d = ymd(np.where(kid_exists, s.kid_birth, s.mstart[0]))
    kid_month = (kb_y - y0) * 12 + (kb_m - m0)  # month in which the child is born
    kid_present = kid_month + (kb_d > 1)  # counted from the first day of a month on
    kid_18 = kid_month + 18 * 12  # leaves home in the month of the 18th birthday
    youngest_ord = np.zeros((N, T), dtype=np.int64)  # latest birth (yyyymmdd) born by the 1st
    kids_home = np.zeros((N, T), dtype=np.int16)
    youngest_home_ym = np.zeros((N, T), dtype=np.int64)
    event_day = np.ones((N, T), dtype=np.int8)
    for k in range(MAX_KIDS):
        ex_k = kid_exists[:, k][:, None]
        ordk = (kb_y * 10000 + kb_m * 100 + kb_d)[:, k][:, None]
        youngest_ord = np.where(
            ex_k & (kid_present[:, k][:, None] <= tt[None, :]), ordk, youngest_ord
        )
        home = (
            ex_k
            & (kid_month[:, k][:, None] <= tt[None, :])
            & (tt[None, :] < kid_18[:, k][:, None])
            & custodial
        )
        kids_home += home
        youngest_home_ym = np.where(home, (kb_y * 100 + kb_m)[:, k][:, None], youngest_home_ym)
        for mk in (kid_month[:, k], kid_18[:, k]):
            hit = ex_k[:, 0] & (mk >= 1) & (mk < T)
            event_day[hit, mk[hit]] = np.maximum(event_day[hit, mk[hit]], kb_d[:, k][hit])
    hit = s.change_m >= 1
    event_day[hit, s.change_m[hit]] = np.maximum(event_day[hit, s.change_m[hit]], s.change_day[hit])
    s.youngest_ord, s.kids_home = youngest_ord, kids_home
    s.youngest_home_ym, s.event_day = youngest_home_ym, event_day


def _derive_households(s: Simulation) -> None:
    """Household type and place in it (CBS TYPHH, PLHH) and the children counted in it."""
    married = s.ms == MARRIED
    kids_home = s.kids_home
    typ = np.where(
        s.partnered,
        np.where(kids_home > 0, np.where(married, 4, 5), np.where(married, 2, 3)),
        np.where(kids_home > 0, 6, 1),
    ).astype(np.int8)
    s.typ = typ = np.where(s.special[:, None] > 0, s.special[:, None], typ).astype(np.int8)
    s.plhh = np.select(
        [typ == 1, typ == 2, typ == 3, typ == 4, typ == 5, typ == 6, typ == 7],
        [2, 3, 5, 4, 6, 7, 8],
        10,
    ).astype(np.int8)
    s.n_children = np.where(np.isin(typ, (4, 5, 6)), kids_home, 0).astype(np.int16)
    s.single_parent = typ == 6
    s.youngest_home_ym = np.where(s.n_children > 0, s.youngest_home_ym, 0)


def _draw_bijstand_entry(s: Simulation) -> None:
    """The stock on bijstand at the window start with its elapsed months, later entries, and moves."""
    rng, N, T, tt, age0 = s.rng, s.N, s.T, s.tt, s.age0
    bj = P.BIJSTAND
    stock = rng.random(N) < bj["stock_share_at_window_start"]
    d0 = np.minimum(
        np.minimum(rng.exponential(bj["stock_elapsed_months_mean"], N).astype(np.int64), 180),
        (age0 - 18) * 12,
    )
    last_ok = (s.age < bj["pension_age"]).sum(axis=1) - 1
    s.entry = entry = np.where(stock, -d0, np.minimum(rng.integers(0, T, N), last_ok))
    s.stock = stock = entry <= 0
    s.d0 = np.where(stock, -entry, 0)
    s.mover = mover = (
        stock & (age0 <= 60) & (rng.random(N) < MOVER_SHARE / bj["stock_share_at_window_start"])
    )
    s.move_m = np.where(mover, rng.integers(6, T - 6, N), T + 1)
    s.gm2 = np.where(mover, (s.gm1 + rng.integers(1, 4, N)) % 4, s.gm1).astype(np.int8)
    s.res = np.where(tt[None, :] < s.move_m[:, None], s.gm1[:, None], s.gm2[:, None]).astype(
        np.int8
    )


def _draw_exemption_requests(s: Simulation) -> None:
    """Who would request an art. 9a exemption: on observables only."""
    ex_p = P.EXEMPTION_9A
    s.requester = s.rng.random(s.N) < np.clip(
        ex_p["take_up_base"]
        + ex_p["take_up_poor_health"] * s.poor
        + ex_p["take_up_two_or_more_children"] * (s.kids_drawn >= 2)
        + ex_p["take_up_origin_nederland"] * s.nl
        + ex_p["take_up_under_30"] * (s.age0 < 30),
        0,
        1,
    )


def _employment_index(s: Simulation) -> np.ndarray:
    """The employment index without treatment effects and without the AR(1) term (N x T)."""
    e = P.EMPLOYMENT_INDEX
    age, ms, tt = s.age, s.ms, s.tt
    since_entry = tt[None, :] - s.entry[:, None]
    base = np.full((s.N, s.T), e["intercept"], dtype=np.float32)
    base += (
        e["man"] * ~s.female
        + e["poor_health"] * s.poor
        + e["origin_nederland"] * s.nl
        + e["origin_migration_group"] * s.migration_group
        + s.alpha
    )[:, None].astype(np.float32)
    base += (e["age_18_22"] * (age <= 22) + e["per_year_over_35"] * np.maximum(age - 35, 0)).astype(
        np.float32
    )
    base += (
        e["per_child_at_home_max3"] * np.minimum(s.n_children, 3)
        + e["single_parent"] * s.single_parent
    ).astype(np.float32)
    base += (
        e["married"] * (ms == MARRIED)
        + e["widowed"] * (ms == WIDOWED)
        + e["problematic_debt"] * s.debt_m
    ).astype(np.float32)
    base += np.where(
        since_entry < 0,
        e["before_first_bijstand_entry"],
        e["per_month_since_first_entry_max60"] * np.minimum(since_entry, 60),
    ).astype(np.float32)
    base += np.where(
        s.has_child & (s.child_age < 216),
        e["youngest_child_age_trend_intercept"]
        + e["youngest_child_age_trend_per_month"] * s.child_age,
        0,
    ).astype(np.float32)
    trend = P.TREND_PER_YEAR * tt / 12.0
    ym_str = np.array([f"{y}-{m:02d}" for y, m in zip(s.my, s.mm)])
    trend = trend + np.where(
        (ym_str >= P.COVID_DIP["from"]) & (ym_str <= P.COVID_DIP["to"]), P.COVID_DIP["effect"], 0.0
    )
    base += trend[None, :].astype(np.float32)
    return base


# --------------------------------------------------------------------------------------------- months
@dataclass
class _Carry:
    """What one month hands on to the next, and the per-person multipliers every month reads."""

    inst: list  # the instruments' parameters, in SRG_CATEGORIES order
    post_mult: np.ndarray
    kid_mult: np.ndarray
    ms_mult: np.ndarray
    v: np.ndarray  # AR(1) term of the employment index
    dr_left: np.ndarray  # months left of an urgent-reason exemption
    A_prev: np.ndarray
    E_prev: np.ndarray
    exit_prev: np.ndarray
    reenter: np.ndarray
    d: np.ndarray  # months on bijstand, -1 when off
    cur_job: np.ndarray
    cur_hours: np.ndarray
    cur_wage: np.ndarray
    next_job: int = 0
    conditions: dict = field(default_factory=dict)


def _simulate_months(s: Simulation, base: np.ndarray, intervention: Intervention | None) -> None:
    """Month by month: bijstand, exemptions, debt assistance, instruments, employment, jobs, exits."""
    c = _start_months(s)
    for t in range(s.T):
        a, new = _on_bijstand(s, c, t)
        ex = (
            s.requester
            & a
            & s.single_parent[:, t]
            & s.has_child[:, t]
            & (s.child_age[:, t] < P.EXEMPTION_9A["cutoff_months"])
        )
        debt_active = _start_debt_assistance(s, c, t, a)
        active, started = _start_instruments(s, c, t, a, debt_active, intervention)
        _urgent_exemptions(s, c, t, a, ex)
        emp, idx = _employment(s, c, t, base[:, t], ex, active, started)
        job_new = _jobs(s, c, t, emp)
        ex_now = _bijstand_exit(s, c, t, a, emp, new, job_new)
        s.A[:, t], s.E[:, t], s.EX[:, t] = a, emp, ex
        s.IDX[:, t], s.DUR[:, t], s.NEW[:, t] = idx, c.d, new
        c.A_prev, c.E_prev, c.exit_prev = a, emp, ex_now
    s.DR &= s.A


def _start_months(s: Simulation) -> _Carry:
    """The empty monthly paths, the instruments' parameters and the state before the first month."""
    rng, N, T = s.rng, s.N, s.T
    K = len(SRG_CATEGORIES)
    inst = [P.INSTRUMENTS[c] for c in SRG_CATEGORIES]
    s.dur = np.array([i.duration for i in inst])
    s.during = np.array([i.during for i in inst])
    pm = P.POST_MULTIPLIERS
    post_mult = np.where(s.female, pm["sex"]["vrouw"], pm["sex"]["man"]) * np.where(
        s.poor, pm["health"]["poor"], pm["health"]["good"]
    )
    kid_mult = np.array([pm["n_children"][b] for b in N_CHILD_BANDS])
    ms_mult = np.array([pm["marital_status"][MARITAL_STATUS[c]] for c in MARITAL_CODES])
    for name in ("A", "E", "EX", "DR", "NEW"):
        setattr(s, name, np.zeros((N, T), dtype=bool))
    s.IDX = np.zeros((N, T), dtype=np.float32)
    s.EFF = np.zeros((N, T), dtype=np.float32)
    s.DUR = np.full((N, T), -1, dtype=np.int16)
    s.start_day = np.ones((N, T), dtype=np.int8)
    s.exit_day = np.zeros((N, T), dtype=np.int8)
    s.job_id = np.full((N, T), -1, dtype=np.int32)
    s.job_start_day = np.zeros((N, T), dtype=np.int8)
    s.weekly_hours = np.zeros((N, T), dtype=np.float32)
    s.hourly = np.zeros((N, T), dtype=np.float32)
    s.instr_start = np.full((N, K), -1, dtype=np.int16)
    s.instr_post = np.zeros((N, K), dtype=np.float32)
    s.debt_start = np.full(N, -1, dtype=np.int16)
    months = P.DEBT_ASSISTANCE["months"]
    s.debt_months = rng.integers(months[0], months[1] + 1, N)
    s.forced = np.zeros(N, dtype=bool)
    return _Carry(
        inst=inst,
        post_mult=post_mult,
        kid_mult=kid_mult,
        ms_mult=ms_mult,
        v=rng.normal(0, P.EMPLOYMENT_INDEX["ar1_sd"], N),
        dr_left=np.zeros(N, dtype=np.int16),
        A_prev=np.zeros(N, bool),
        E_prev=np.zeros(N, bool),
        exit_prev=np.zeros(N, bool),
        reenter=np.zeros(N, bool),
        d=np.full(N, -1, dtype=np.int64),
        cur_job=np.full(N, -1, dtype=np.int64),
        cur_hours=np.zeros(N),
        cur_wage=np.zeros(N),
    )


def _condition(s: Simulation, c: _Carry, name: str, t: int) -> np.ndarray:
    """An observable condition in month t (built once a month, on first use)."""
    conditions, dd = c.conditions, c.d
    if conditions.get("_month") != t:
        conditions.clear()
        conditions["_month"] = t
    if name not in conditions:
        conditions[name] = {
            "good_health": lambda: ~s.poor,
            "poor_health": lambda: s.poor,
            "woman": lambda: s.female,
            "man": lambda: ~s.female,
            "age_under_30": lambda: s.age[:, t] < 30,
            "age_50_plus": lambda: s.age[:, t] >= 50,
            "duration_under_12": lambda: dd < 12,
            "duration_6_36": lambda: (dd >= 6) & (dd < 36),
            "duration_12_60": lambda: (dd >= 12) & (dd < 60),
            "duration_36_plus": lambda: dd >= 36,
            "duration_60_plus": lambda: dd >= 60,
            "origin_not_nederland": lambda: ~s.nl,
            "single_parent": lambda: s.single_parent[:, t],
            "employed_last_month": lambda: c.E_prev,
        }[name]()
    return conditions[name]


def _on_bijstand(s: Simulation, c: _Carry, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Who is on bijstand in month t and whose spell starts then (a move starts a new one)."""
    N, age, bj = s.N, s.age, P.BIJSTAND
    move_now = s.move_m == t
    if t == 0:
        a = s.stock.copy()
    else:
        a = (
            (c.A_prev & ~c.exit_prev)
            | c.reenter
            | (s.entry == t)
            | (move_now & (age[:, t] < bj["pension_age"]))
        )
    a &= age[:, t] < bj["pension_age"]
    new = a & ((~c.A_prev) | move_now) if t > 0 else np.zeros(N, bool)
    c.d = np.where(a, np.where(new, 0, c.d + 1), -1) if t > 0 else np.where(a, s.d0, -1)
    sd = np.where(move_now, 1, s.rng.integers(1, 29, N))
    s.start_day[:, t] = np.where(new, sd, 1)
    return a, new


def _start_debt_assistance(s: Simulation, c: _Carry, t: int, a: np.ndarray) -> np.ndarray:
    """Debt assistance starts (once per person) for debtors on bijstand; who is in it in month t."""
    da = P.DEBT_ASSISTANCE
    haz = np.full(s.N, da["hazard"])
    for name, f in da["hazard_multipliers"]:
        haz = np.where(_condition(s, c, name, t), haz * f, haz)
    start_debt = a & s.debt_m[:, t] & (s.debt_start < 0) & (s.rng.random(s.N) < haz)
    s.debt_start[start_debt] = t
    return (s.debt_start >= 0) & (t - s.debt_start < s.debt_months)


def _start_instruments(
    s: Simulation,
    c: _Carry,
    t: int,
    a: np.ndarray,
    debt_active: np.ndarray,
    intervention: Intervention | None,
) -> tuple[np.ndarray, np.ndarray]:
    """At most one instrument start per person-month, each instrument at most once per person,
    with its post-programme effect; returns the instruments running and those ever started."""
    N, K, inst = s.N, len(SRG_CATEGORIES), c.inst
    active = (s.instr_start >= 0) & (t - s.instr_start < s.dur[None, :])
    eligible = a & ~active.any(axis=1)
    hz = np.zeros((N, K))
    for k, ins in enumerate(inst):
        h = np.full(N, ins.hazard)
        for name, f in ins.hazard_multipliers:
            cond = debt_active if name == "debt_assistance_active" else _condition(s, c, name, t)
            h = np.where(cond, h * f, h)
        hz[:, k] = np.where(s.instr_start[:, k] < 0, h, 0.0)
    cumh = np.cumsum(hz, axis=1)
    uu = s.rng.random(N)
    pick = (uu[:, None] >= cumh).sum(axis=1)
    starting = eligible & (pick < K)
    if intervention is not None:
        forced = (intervention.month == t) & eligible & (s.instr_start < 0).all(axis=1)
        pick = np.where(forced, intervention.arm, pick)
        starting = np.where(forced, intervention.arm < K, starting)
        s.forced[forced] = True
    rows = np.nonzero(starting)[0]
    ks = pick[rows]
    s.instr_start[rows, ks] = t
    s.instr_post[rows, ks] = _post_effects(s, c, t, rows, ks)
    active = (s.instr_start >= 0) & (t - s.instr_start < s.dur[None, :])
    return active, s.instr_start >= 0


def _post_effects(s: Simulation, c: _Carry, t: int, rows: np.ndarray, ks: np.ndarray) -> np.ndarray:
    """The planted post-programme effect of each start: the instrument's, times the starter's
    multipliers and modifiers, plus mediation's interaction with debt assistance."""
    band = np.minimum(s.n_children[rows, t], 3)
    pe = (
        np.array([c.inst[k].post for k in ks])
        * c.post_mult[rows]
        * c.kid_mult[band]
        * c.ms_mult[s.ms[rows, t]]
    )
    for k in np.unique(ks):
        for name, f in c.inst[k].post_modifiers:
            mine = ks == k
            pe[mine] *= np.where(_condition(s, c, name, t)[rows[mine]], f, 1.0)
    k_bem = SRG_CATEGORIES.index("bemiddeling")
    return pe + np.where(
        (ks == k_bem) & (s.debt_start[rows] >= 0),
        P.DEBT_ASSISTANCE["mediation_interaction"],
        0.0,
    )


def _urgent_exemptions(s: Simulation, c: _Carry, t: int, a: np.ndarray, ex: np.ndarray) -> None:
    """Urgent-reason exemptions (no effect), for a drawn number of months while on bijstand."""
    dr_p, N, rng = P.ART9_DRINGEND, s.N, s.rng
    c.dr_left = np.where(a, c.dr_left, 0)
    dr_haz = np.where(s.poor, dr_p["hazard_poor_health"], dr_p["hazard_good_health"])
    dr_new = a & ~ex & (c.dr_left == 0) & (rng.random(N) < dr_haz)
    c.dr_left = np.where(
        dr_new, rng.integers(dr_p["months"][0], dr_p["months"][1] + 1, N), c.dr_left
    )
    s.DR[:, t] = c.dr_left > 0
    c.dr_left = np.maximum(c.dr_left - 1, 0)


def _employment(
    s: Simulation,
    c: _Carry,
    t: int,
    base_t: np.ndarray,
    ex: np.ndarray,
    active: np.ndarray,
    started: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Employment in month t: Bernoulli(clip(index)), the planted effects added to the index."""
    e = P.EMPLOYMENT_INDEX
    rho = e["ar1_rho"]
    effect = P.EXEMPTION_9A["effect"] * ex + np.where(
        active, s.during[None, :], np.where(started, s.instr_post, 0.0)
    ).sum(axis=1)
    c.v = rho * c.v + np.sqrt(1 - rho**2) * s.rng.normal(0, e["ar1_sd"], s.N)
    idx = base_t + c.v + effect
    p = np.clip(idx, *P.PROB_CLIP)
    s.EFF[:, t] = p - np.clip(idx - effect, *P.PROB_CLIP)
    return s.rng.random(s.N) < p, idx


def _jobs(s: Simulation, c: _Carry, t: int, emp: np.ndarray) -> np.ndarray:
    """A run of employed months is one job, with hours and wage drawn when it starts."""
    rng, N = s.rng, s.N
    job_new = emp & ~c.E_prev
    n_new = int(job_new.sum())
    c.cur_job[job_new] = c.next_job + np.arange(n_new)
    c.next_job += n_new
    # drawn for everyone, used for new jobs: one person's draws never depend on another's path
    part = rng.random(N) < 0.4
    hours_part, hours_full, wage = (
        rng.uniform(8, 19.5, N),
        rng.uniform(20, 38, N),
        rng.uniform(12.5, 24.0, N),
    )
    c.cur_hours = np.where(job_new, np.where(part, hours_part, hours_full), c.cur_hours)
    c.cur_wage = np.where(job_new, wage * (1 + 0.02 * (t / 12)), c.cur_wage)
    s.job_id[:, t] = np.where(emp, c.cur_job, -1)
    s.weekly_hours[:, t] = np.where(emp, c.cur_hours, 0)
    s.hourly[:, t] = np.where(emp, c.cur_wage, 0)
    jsd = np.where(t == 0, 1, rng.integers(2, 29, N))
    s.job_start_day[:, t] = np.where(job_new, jsd, 0)
    return job_new


def _bijstand_exit(
    s: Simulation,
    c: _Carry,
    t: int,
    a: np.ndarray,
    emp: np.ndarray,
    new: np.ndarray,
    job_new: np.ndarray,
) -> np.ndarray:
    """Whose bijstand ends this month (work, other reasons, pension age) and on which day; who
    re-enters next month."""
    rng, N, T, bj = s.rng, s.N, s.T, P.BIJSTAND
    low = c.cur_hours < bj["low_hours_per_week"]
    ue = rng.random(N)
    p_exit = np.where(
        c.E_prev,
        bj["exit_if_employed_two_months"],
        np.where(c.cur_hours >= 32, bj["exit_if_new_fulltime_job"], bj["exit_if_new_other_job"]),
    )
    exit_work = a & emp & ~low & (ue < p_exit)
    exit_other = a & ~emp & (rng.random(N) < bj["exit_other_reasons_per_month"])
    exit_aow = a & ((s.age[:, t + 1] >= bj["pension_age"]) if t + 1 < T else False)
    ex_now = exit_work | exit_other | exit_aow
    eday = np.where(
        exit_work & job_new, s.job_start_day[:, t] - 1, rng.integers(1, s.mlen[t] + 1, N)
    )
    eday = np.where(exit_aow & ~exit_work, s.mlen[t], eday)
    if t == T - 1:
        ex_now = exit_work | exit_other  # later ends are unknown at the extract date
    s.exit_day[:, t] = np.where(ex_now, np.maximum(eday, np.where(new, s.start_day[:, t], 1)), 0)
    c.reenter = (
        (~a)
        & (s.entry <= t)
        & ~emp
        & ~c.E_prev
        & (rng.random(N) < bj["reentry_per_month_after_two_months_without_job"])
    )
    return ex_now
