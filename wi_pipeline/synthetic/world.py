"""A simulated G4 world: persons, households, children, register spells and monthly outcomes.

Employment is Bernoulli(p) each month with p = clip(index) and an index that never depends on past
outcomes, so a planted effect is exactly the shift of that month's probability: the truth file can
state effects that estimators on the panel should recover. Participation depends on observables and
on the elapsed bijstand duration only, never on the idiosyncratic terms.

Everything is vectorised over persons; the only loops are over the months of the window, the
instruments and a person's (at most four) children.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wi_pipeline.lib.layout import (
    G4,
    MARITAL_STATUS,
    ORIGIN_GROUPS,
    SRG_CATEGORIES,
)
from wi_pipeline.synthetic import params as P
from wi_pipeline.synthetic.config import (
    MOVER_SHARE,
    SyntheticConfig,
)

GM_CODES = list(G4)
MARITAL_CODES = list(MARITAL_STATUS)  # O, H, G, W -> 0..3
UNMARRIED, MARRIED, DIVORCED, WIDOWED = range(4)
OTHER_ORIGIN_CODES = ["5049", "5010", "6018", "5034", "7050", "6037", "5047", "9089"]
ORIGIN_CODES = list(ORIGIN_GROUPS) + OTHER_ORIGIN_CODES
ORIGIN_P = [0.42, 0.13, 0.09, 0.10, 0.04] + [0.22 / len(OTHER_ORIGIN_CODES)] * len(
    OTHER_ORIGIN_CODES
)
HOUSEHOLD_LABELS = {
    1: "one_person",
    2: "couple_no_children",
    3: "couple_no_children",
    4: "couple_with_children",
    5: "couple_with_children",
    6: "single_parent",
    7: "other",
    8: "institutional",
}
N_CHILD_BANDS = ("0", "1", "2", "3+")
MAX_KIDS = 4
_NAT = np.datetime64("NaT", "D")


# --------------------------------------------------------------------------------------------- dates
def ymd(d: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.asarray(d, dtype="datetime64[D]")
    m = d.astype("datetime64[M]")
    return (
        d.astype("datetime64[Y]").astype(np.int64) + 1970,
        m.astype(np.int64) % 12 + 1,
        (d - m.astype("datetime64[D]")).astype(np.int64) + 1,
    )


def from_parts(y, m, d) -> np.ndarray:
    months = (np.asarray(y, dtype=np.int64) - 1970) * 12 + np.asarray(m, dtype=np.int64) - 1
    return months.astype("datetime64[M]").astype("datetime64[D]") + (
        np.asarray(d, dtype=np.int64) - 1
    )


def _no_leap_day(d: np.ndarray) -> np.ndarray:
    """Feb 29 becomes Feb 28, so every birthday exists in every year."""
    _, m, day = ymd(d)
    return np.where((m == 2) & (day == 29), d - 1, d)


def _runs(v: np.ndarray, breaks: np.ndarray | None = None):
    """Runs of equal non-negative values per row: (row, first col, last col, value)."""
    n, t = v.shape
    on = v >= 0
    change = np.ones((n, t + 1), dtype=bool)
    change[:, 1:t] = v[:, 1:] != v[:, :-1]
    if breaks is not None:
        change[:, 1:t] |= breaks[:, 1:]
    start = on & change[:, :t]
    end = on & change[:, 1:]
    rows, first = np.nonzero(start)
    _, last = np.nonzero(end)
    return rows, first, last, v[rows, first]


@dataclass
class World:
    """The simulated population and everything the extracts and the truth file are written from."""

    config: SyntheticConfig
    months: pd.DatetimeIndex
    persons: pd.DataFrame  # register persons: ids, true attributes, latent terms
    children: pd.DataFrame  # children of register persons (persons in GBAPERSOONTAB)
    co_parents: pd.DataFrame  # the other legal parent, where known
    noise: pd.DataFrame  # national persons in the CBS tables who are in no register
    register_spells: pd.DataFrame  # clean spells of all five registers, all municipalities
    marital: pd.DataFrame
    households: pd.DataFrame
    jobs: pd.DataFrame  # one row per job per month worked
    secm: pd.DataFrame
    care_costs: pd.DataFrame
    debt: pd.DataFrame
    panel: pd.DataFrame
    starts: pd.DataFrame  # one row per instrument start, with the planted effect at each horizon
    exemption_months: pd.DataFrame  # exempt person-months with their planted effect
    stats: dict = field(default_factory=dict)
    bsn_prefix: str = "9999"


# --------------------------------------------------------------------------------------------- BSN
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


# --------------------------------------------------------------------------------------------- main
def simulate_world(config: SyntheticConfig | None = None) -> World:
    """Simulate the G4 world of this configuration (deterministic in config.seed)."""
    # the simulation's locals are freed before the tables and the panel are built
    return _assemble(_simulate(config or SyntheticConfig()))


@dataclass(frozen=True)
class Intervention:
    """Set each person's choice in one month: start instrument ``arm`` (an index into SRG_CATEGORIES)
    or, with arm == len(SRG_CATEGORIES), start nothing that month. It applies only where the person is
    on bijstand and has never started an instrument (the population the instruments are compared
    on); before that month every person's path is the one of the world without intervention, since
    each month draws the same random numbers for every person whatever happens to others."""

    month: np.ndarray  # month index per person, -1 for none
    arm: np.ndarray  # arm index per person


def _simulate(config: SyntheticConfig, intervention: Intervention | None = None) -> dict:
    rng = np.random.default_rng(config.seed)
    months = pd.date_range(config.window_start, config.window_end, freq="MS")
    T = len(months)
    tt = np.arange(T)
    my, mm = months.year.to_numpy(), months.month.to_numpy()
    y0, m0 = int(my[0]), int(mm[0])
    mstart = months.to_numpy().astype("datetime64[D]")
    mlen = months.days_in_month.to_numpy()
    mend = mstart + (mlen - 1)
    window_start_day = mstart[0]

    def month_of(d):
        y, m, _ = ymd(d)
        return (y - y0) * 12 + (m - m0)

    counts = config.persons_per_municipality()
    gm1 = np.repeat(np.arange(4), [counts[g] for g in GM_CODES]).astype(np.int8)
    N = len(gm1)

    # --- persons ---------------------------------------------------------------------------------
    female = rng.random(N) < 0.58
    ages = np.arange(18, 67)
    w = np.select([ages <= 22, ages <= 29, ages <= 59, ages <= 64], [0.5, 1.0, 1.2, 0.9], 0.6)
    age0 = rng.choice(ages, size=N, p=w / w.sum())
    birth = _no_leap_day(from_parts(y0 - 1 - age0, 1, 2) + rng.integers(0, 363, N))
    by, bm, bd = ymd(birth)
    age = (
        my[None, :]
        - by[:, None]
        - ((mm[None, :] < bm[:, None]) | ((mm[None, :] == bm[:, None]) & (bd[:, None] > 1)))
    ).astype(np.int16)
    origin_idx = rng.choice(len(ORIGIN_CODES), size=N, p=ORIGIN_P)
    origin_code = np.array(ORIGIN_CODES)[origin_idx]
    nl = origin_idx == 0
    migration_group = (origin_idx >= 1) & (origin_idx <= 4)
    generation = np.where(nl, "0", np.where(rng.random(N) < 0.6, "1", "2"))
    poor = rng.random(N) < np.clip(0.16 + 0.006 * (age0 - 18), 0.1, 0.6)
    alpha = rng.normal(0, P.EMPLOYMENT_INDEX["person_effect_sd"], N)

    # problematic debt: one episode of whole years per debtor
    debtor = rng.random(N) < P.PROBLEMATIC_DEBT_SHARE
    d_first = rng.integers(y0 - 3, int(my[-1]) + 1, N)
    d_last = d_first + rng.integers(1, 6, N)
    years = np.arange(y0, int(my[-1]) + 1)
    debt_year = (
        debtor[:, None] & (years[None, :] >= d_first[:, None]) & (years[None, :] <= d_last[:, None])
    )
    hh_debt_only = ~debtor & (rng.random(N) < 0.03)
    debt_m = debt_year[:, my - y0]

    # marital status: one optional change during the window
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
    ms0 = (u[:, None] > cum).sum(axis=1).clip(0, 3).astype(np.int8)
    changes = rng.random(N) < 0.10
    ms1 = np.select(
        [ms0 == UNMARRIED, ms0 == MARRIED, ms0 == DIVORCED],
        [MARRIED, np.where(rng.random(N) < 0.85, DIVORCED, WIDOWED), MARRIED],
        MARRIED,
    ).astype(np.int8)
    change_m = np.where(changes, rng.integers(1, T, N), -1)
    change_day = rng.integers(1, 29, N)
    ms = np.where(
        (change_m[:, None] >= 0) & (tt[None, :] >= change_m[:, None]), ms1[:, None], ms0[:, None]
    ).astype(np.int8)
    cohab = (ms0 != MARRIED) & (rng.random(N) < 0.05)
    partnered = (ms == MARRIED) | (
        cohab[:, None] & ((change_m[:, None] < 0) | (tt[None, :] < change_m[:, None]))
    )
    special = rng.choice(
        [0, 7, 8], size=N, p=[0.95, 0.04, 0.01]
    )  # 7 other, 8 institutional household

    # children (up to four, born in order)
    n_kids = np.where(
        female,
        rng.choice(5, N, p=[0.14, 0.21, 0.31, 0.21, 0.13]),
        rng.choice(5, N, p=[0.55, 0.18, 0.16, 0.07, 0.04]),
    )
    first_age = np.where(female, rng.uniform(18.5, 31, N), rng.uniform(21, 40, N))
    gaps = np.concatenate(
        [first_age[:, None], rng.uniform(1.2, 4.5, (N, MAX_KIDS - 1))], axis=1
    ).cumsum(axis=1)
    kid_birth = _no_leap_day(birth[:, None] + np.round(gaps * 365.25).astype(np.int64))
    max_parent_age = np.where(female, 45, 55)[:, None]
    kid_exists = (
        (np.arange(MAX_KIDS)[None, :] < n_kids[:, None])
        & (gaps <= max_parent_age)
        & (kid_birth <= mend[-1])
    )
    kid_birth = np.where(kid_exists, kid_birth, _NAT)
    kb_y, kb_m, kb_d = ymd(np.where(kid_exists, kid_birth, window_start_day))
    kid_month = (kb_y - y0) * 12 + (kb_m - m0)  # month in which the child is born
    kid_present = kid_month + (kb_d > 1)  # counted from the first day of a month on
    kid_18 = kid_month + 18 * 12  # leaves home in the month of the 18th birthday
    custodial_f = rng.random(N) < 0.97
    custodial_m = rng.random(N) < 0.15
    custodial = np.where(female[:, None], custodial_f[:, None], partnered | custodial_m[:, None])

    youngest_ord = np.zeros(
        (N, T), dtype=np.int64
    )  # latest birth (yyyymmdd) among children born by the 1st
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
    hit = change_m >= 1
    event_day[hit, change_m[hit]] = np.maximum(event_day[hit, change_m[hit]], change_day[hit])
    yo_y, yo_m, yo_d = youngest_ord // 10000, (youngest_ord // 100) % 100, youngest_ord % 100
    child_age = np.where(
        youngest_ord > 0, (my[None, :] - yo_y) * 12 + (mm[None, :] - yo_m) - (yo_d > 1), -1
    ).astype(np.int16)
    has_child = child_age >= 0

    married = ms == MARRIED
    typ = np.where(
        partnered,
        np.where(kids_home > 0, np.where(married, 4, 5), np.where(married, 2, 3)),
        np.where(kids_home > 0, 6, 1),
    ).astype(np.int8)
    typ = np.where(special[:, None] > 0, special[:, None], typ).astype(np.int8)
    plhh = np.select(
        [typ == 1, typ == 2, typ == 3, typ == 4, typ == 5, typ == 6, typ == 7],
        [2, 3, 5, 4, 6, 7, 8],
        10,
    ).astype(np.int8)
    n_children = np.where(np.isin(typ, (4, 5, 6)), kids_home, 0).astype(np.int16)
    single_parent = typ == 6
    youngest_home_ym = np.where(n_children > 0, youngest_home_ym, 0)

    # bijstand entry, moves
    bj = P.BIJSTAND
    stock = rng.random(N) < bj["stock_share_at_window_start"]
    d0 = np.minimum(
        np.minimum(rng.exponential(bj["stock_elapsed_months_mean"], N).astype(np.int64), 180),
        (age0 - 18) * 12,
    )
    last_ok = (age < bj["pension_age"]).sum(axis=1) - 1
    entry = np.where(stock, -d0, np.minimum(rng.integers(0, T, N), last_ok))
    stock = entry <= 0
    d0 = np.where(stock, -entry, 0)
    mover = stock & (age0 <= 60) & (rng.random(N) < MOVER_SHARE / bj["stock_share_at_window_start"])
    move_m = np.where(mover, rng.integers(6, T - 6, N), T + 1)
    gm2 = np.where(mover, (gm1 + rng.integers(1, 4, N)) % 4, gm1).astype(np.int8)
    res = np.where(tt[None, :] < move_m[:, None], gm1[:, None], gm2[:, None]).astype(np.int8)
    since_entry = tt[None, :] - entry[:, None]

    # exemption take-up (on request), observables only
    ex_p = P.EXEMPTION_9A
    requester = rng.random(N) < np.clip(
        ex_p["take_up_base"]
        + ex_p["take_up_poor_health"] * poor
        + ex_p["take_up_two_or_more_children"] * (n_kids >= 2)
        + ex_p["take_up_origin_nederland"] * nl
        + ex_p["take_up_under_30"] * (age0 < 30),
        0,
        1,
    )

    # --- employment index without treatment effects --------------------------------------------
    e = P.EMPLOYMENT_INDEX
    base = np.full((N, T), e["intercept"], dtype=np.float32)
    base += (
        e["man"] * ~female
        + e["poor_health"] * poor
        + e["origin_nederland"] * nl
        + e["origin_migration_group"] * migration_group
        + alpha
    )[:, None].astype(np.float32)
    base += (e["age_18_22"] * (age <= 22) + e["per_year_over_35"] * np.maximum(age - 35, 0)).astype(
        np.float32
    )
    base += (
        e["per_child_at_home_max3"] * np.minimum(n_children, 3) + e["single_parent"] * single_parent
    ).astype(np.float32)
    base += (
        e["married"] * married + e["widowed"] * (ms == WIDOWED) + e["problematic_debt"] * debt_m
    ).astype(np.float32)
    base += np.where(
        since_entry < 0,
        e["before_first_bijstand_entry"],
        e["per_month_since_first_entry_max60"] * np.minimum(since_entry, 60),
    ).astype(np.float32)
    base += np.where(
        has_child & (child_age < 216),
        e["youngest_child_age_trend_intercept"]
        + e["youngest_child_age_trend_per_month"] * child_age,
        0,
    ).astype(np.float32)
    trend = P.TREND_PER_YEAR * tt / 12.0
    ym_str = np.array([f"{y}-{m:02d}" for y, m in zip(my, mm)])
    trend = trend + np.where(
        (ym_str >= P.COVID_DIP["from"]) & (ym_str <= P.COVID_DIP["to"]), P.COVID_DIP["effect"], 0.0
    )
    base += trend[None, :].astype(np.float32)

    # --- monthly simulation --------------------------------------------------------------------
    K = len(SRG_CATEGORIES)
    inst = [P.INSTRUMENTS[c] for c in SRG_CATEGORIES]
    dur = np.array([i.duration for i in inst])
    during = np.array([i.during for i in inst])
    k_bem = SRG_CATEGORIES.index("bemiddeling")
    post_mult = np.where(
        female, P.POST_MULTIPLIERS["sex"]["vrouw"], P.POST_MULTIPLIERS["sex"]["man"]
    ) * np.where(poor, P.POST_MULTIPLIERS["health"]["poor"], P.POST_MULTIPLIERS["health"]["good"])
    kid_mult = np.array([P.POST_MULTIPLIERS["n_children"][b] for b in N_CHILD_BANDS])
    ms_mult = np.array(
        [P.POST_MULTIPLIERS["marital_status"][MARITAL_STATUS[c]] for c in MARITAL_CODES]
    )

    A = np.zeros((N, T), dtype=bool)
    E = np.zeros((N, T), dtype=bool)
    EX = np.zeros((N, T), dtype=bool)
    DR = np.zeros((N, T), dtype=bool)
    IDX = np.zeros((N, T), dtype=np.float32)
    EFF = np.zeros((N, T), dtype=np.float32)  # total planted effect per person-month (truth only)
    DUR = np.full((N, T), -1, dtype=np.int16)
    NEW = np.zeros((N, T), dtype=bool)
    start_day = np.ones((N, T), dtype=np.int8)
    exit_day = np.zeros(
        (N, T), dtype=np.int8
    )  # >0: the bijstand spell ends on this day of the month
    job_id = np.full((N, T), -1, dtype=np.int32)
    job_start_day = np.zeros((N, T), dtype=np.int8)
    weekly_hours = np.zeros((N, T), dtype=np.float32)
    hourly = np.zeros((N, T), dtype=np.float32)
    instr_start = np.full((N, K), -1, dtype=np.int16)
    instr_post = np.zeros((N, K), dtype=np.float32)
    debt_start = np.full(N, -1, dtype=np.int16)
    debt_months = rng.integers(
        P.DEBT_ASSISTANCE["months"][0], P.DEBT_ASSISTANCE["months"][1] + 1, N
    )
    dr_left = np.zeros(N, dtype=np.int16)
    FORCED = np.zeros(N, dtype=bool)  # the intervention applied to this person

    v = rng.normal(0, e["ar1_sd"], N)
    rho = e["ar1_rho"]
    A_prev = np.zeros(N, bool)
    E_prev = np.zeros(N, bool)
    exit_prev = np.zeros(N, bool)
    reenter = np.zeros(N, bool)
    d = np.full(N, -1, dtype=np.int64)
    cur_job = np.full(N, -1, dtype=np.int64)
    cur_hours = np.zeros(N)
    cur_wage = np.zeros(N)
    next_job = 0

    conditions: dict[str, np.ndarray] = {}

    def cond(name, t_, dd):
        """Observable conditions in month t_ (built once a month, on first use)."""
        if conditions.get("_month") != t_:
            conditions.clear()
            conditions["_month"] = t_
        if name not in conditions:
            conditions[name] = {
                "good_health": lambda: ~poor,
                "poor_health": lambda: poor,
                "woman": lambda: female,
                "man": lambda: ~female,
                "age_under_30": lambda: age[:, t_] < 30,
                "age_50_plus": lambda: age[:, t_] >= 50,
                "duration_under_12": lambda: dd < 12,
                "duration_6_36": lambda: (dd >= 6) & (dd < 36),
                "duration_12_60": lambda: (dd >= 12) & (dd < 60),
                "duration_36_plus": lambda: dd >= 36,
                "duration_60_plus": lambda: dd >= 60,
                "origin_not_nederland": lambda: ~nl,
                "single_parent": lambda: single_parent[:, t_],
                "employed_last_month": lambda: E_prev,
            }[name]()
        return conditions[name]

    for t in range(T):
        move_now = move_m == t
        if t == 0:
            a = stock.copy()
        else:
            a = (
                (A_prev & ~exit_prev)
                | reenter
                | (entry == t)
                | (move_now & (age[:, t] < bj["pension_age"]))
            )
        a &= age[:, t] < bj["pension_age"]
        new = a & ((~A_prev) | move_now) if t > 0 else np.zeros(N, bool)
        d = np.where(a, np.where(new, 0, d + 1), -1) if t > 0 else np.where(a, d0, -1)
        sd = np.where(move_now, 1, rng.integers(1, 29, N))
        start_day[:, t] = np.where(new, sd, 1)

        ex = (
            requester
            & a
            & single_parent[:, t]
            & has_child[:, t]
            & (child_age[:, t] < ex_p["cutoff_months"])
        )

        # debt assistance (once per person), then instrument starts
        da = P.DEBT_ASSISTANCE
        haz = np.full(N, da["hazard"])
        for name, f in da["hazard_multipliers"]:
            haz = np.where(cond(name, t, d), haz * f, haz)
        start_debt = a & debt_m[:, t] & (debt_start < 0) & (rng.random(N) < haz)
        debt_start[start_debt] = t
        debt_active = (debt_start >= 0) & (t - debt_start < debt_months)

        active = (instr_start >= 0) & (t - instr_start < dur[None, :])
        eligible = a & ~active.any(axis=1)
        hz = np.zeros((N, K))
        for k, ins in enumerate(inst):
            h = np.full(N, ins.hazard)
            for name, f in ins.hazard_multipliers:
                c = debt_active if name == "debt_assistance_active" else cond(name, t, d)
                h = np.where(c, h * f, h)
            hz[:, k] = np.where(instr_start[:, k] < 0, h, 0.0)
        cumh = np.cumsum(hz, axis=1)
        uu = rng.random(N)
        pick = (uu[:, None] >= cumh).sum(axis=1)
        starting = eligible & (pick < K)
        if intervention is not None:
            forced = (intervention.month == t) & eligible & (instr_start < 0).all(axis=1)
            pick = np.where(forced, intervention.arm, pick)
            starting = np.where(forced, intervention.arm < K, starting)
            FORCED[forced] = True
        rows = np.nonzero(starting)[0]
        ks = pick[rows]
        instr_start[rows, ks] = t
        band = np.minimum(n_children[rows, t], 3)
        pe = (
            np.array([inst[k].post for k in ks])
            * post_mult[rows]
            * kid_mult[band]
            * ms_mult[ms[rows, t]]
        )
        for k in np.unique(ks):
            for name, f in inst[k].post_modifiers:
                mine = ks == k
                pe[mine] *= np.where(cond(name, t, d)[rows[mine]], f, 1.0)
        pe = pe + np.where(
            (ks == k_bem) & (debt_start[rows] >= 0), da["mediation_interaction"], 0.0
        )
        instr_post[rows, ks] = pe
        active = (instr_start >= 0) & (t - instr_start < dur[None, :])
        started = instr_start >= 0

        # urgent-reason exemptions (no effect)
        dr_left = np.where(a, dr_left, 0)
        dr_haz = np.where(
            poor, P.ART9_DRINGEND["hazard_poor_health"], P.ART9_DRINGEND["hazard_good_health"]
        )
        dr_new = a & ~ex & (dr_left == 0) & (rng.random(N) < dr_haz)
        dr_left = np.where(
            dr_new,
            rng.integers(P.ART9_DRINGEND["months"][0], P.ART9_DRINGEND["months"][1] + 1, N),
            dr_left,
        )
        DR[:, t] = dr_left > 0
        dr_left = np.maximum(dr_left - 1, 0)

        effect = ex_p["effect"] * ex + np.where(
            active, during[None, :], np.where(started, instr_post, 0.0)
        ).sum(axis=1)
        v = rho * v + np.sqrt(1 - rho**2) * rng.normal(0, e["ar1_sd"], N)
        idx = base[:, t] + v + effect
        p = np.clip(idx, *P.PROB_CLIP)
        EFF[:, t] = p - np.clip(idx - effect, *P.PROB_CLIP)
        emp = rng.random(N) < p

        # jobs: a run of employed months is one job
        job_new = emp & ~E_prev
        n_new = int(job_new.sum())
        cur_job[job_new] = next_job + np.arange(n_new)
        next_job += n_new
        # drawn for everyone, used for new jobs: one person's draws never depend on another's path
        part = rng.random(N) < 0.4
        hours_part, hours_full, wage = (
            rng.uniform(8, 19.5, N),
            rng.uniform(20, 38, N),
            rng.uniform(12.5, 24.0, N),
        )
        cur_hours = np.where(job_new, np.where(part, hours_part, hours_full), cur_hours)
        cur_wage = np.where(job_new, wage * (1 + 0.02 * (t / 12)), cur_wage)
        job_id[:, t] = np.where(emp, cur_job, -1)
        weekly_hours[:, t] = np.where(emp, cur_hours, 0)
        hourly[:, t] = np.where(emp, cur_wage, 0)
        jsd = np.where(t == 0, 1, rng.integers(2, 29, N))
        job_start_day[:, t] = np.where(job_new, jsd, 0)

        # bijstand ends this month?
        low = cur_hours < bj["low_hours_per_week"]
        ue = rng.random(N)
        p_exit = np.where(
            E_prev,
            bj["exit_if_employed_two_months"],
            np.where(cur_hours >= 32, bj["exit_if_new_fulltime_job"], bj["exit_if_new_other_job"]),
        )
        exit_work = a & emp & ~low & (ue < p_exit)
        exit_other = a & ~emp & (rng.random(N) < bj["exit_other_reasons_per_month"])
        exit_aow = a & ((age[:, t + 1] >= bj["pension_age"]) if t + 1 < T else False)
        ex_now = exit_work | exit_other | exit_aow
        eday = np.where(
            exit_work & job_new, job_start_day[:, t] - 1, rng.integers(1, mlen[t] + 1, N)
        )
        eday = np.where(exit_aow & ~exit_work, mlen[t], eday)
        if t == T - 1:
            ex_now = exit_work | exit_other  # later ends are unknown at the extract date
        exit_day[:, t] = np.where(ex_now, np.maximum(eday, np.where(new, start_day[:, t], 1)), 0)
        reenter = (
            (~a)
            & (entry <= t)
            & ~emp
            & ~E_prev
            & (rng.random(N) < bj["reentry_per_month_after_two_months_without_job"])
        )

        A[:, t], E[:, t], EX[:, t], IDX[:, t], DUR[:, t], NEW[:, t] = a, emp, ex, idx, d, new
        A_prev, E_prev, exit_prev = a, emp, ex_now
    DR &= A
    del base

    # --- assemble ------------------------------------------------------------------------------
    sim = dict(
        rng=rng,
        config=config,
        months=months,
        T=T,
        tt=tt,
        my=my,
        mm=mm,
        mstart=mstart,
        mlen=mlen,
        mend=mend,
        N=N,
        gm1=gm1,
        gm2=gm2,
        move_m=move_m,
        res=res,
        female=female,
        birth=birth,
        age=age,
        age0=age0,
        origin_code=origin_code,
        generation=generation,
        poor=poor,
        alpha=alpha,
        debtor=debtor,
        debt_year=debt_year,
        hh_debt_only=hh_debt_only,
        years=years,
        ms=ms,
        ms0=ms0,
        ms1=ms1,
        change_m=change_m,
        change_day=change_day,
        cohab=cohab,
        typ=typ,
        plhh=plhh,
        n_children=n_children,
        single_parent=single_parent,
        youngest_home_ym=youngest_home_ym,
        event_day=event_day,
        child_age=child_age,
        youngest_ord=youngest_ord,
        kid_exists=kid_exists,
        kid_birth=kid_birth,
        stock=stock,
        d0=d0,
        entry=entry,
        mover=mover,
        requester=requester,
        A=A,
        E=E,
        EX=EX,
        DR=DR,
        IDX=IDX,
        EFF=EFF,
        DUR=DUR,
        NEW=NEW,
        start_day=start_day,
        exit_day=exit_day,
        job_id=job_id,
        job_start_day=job_start_day,
        weekly_hours=weekly_hours,
        hourly=hourly,
        instr_start=instr_start,
        instr_post=instr_post,
        dur=dur,
        during=during,
        debt_start=debt_start,
        debt_months=debt_months,
        debt_m=debt_m,
        forced=FORCED,
    )
    return sim


def _assemble(s: dict) -> World:
    from wi_pipeline.synthetic import _tables

    return _tables.assemble(s)
