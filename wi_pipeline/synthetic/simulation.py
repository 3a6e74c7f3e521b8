"""What the simulation (world.py) and the tables built from it (_tables.py) share: the codes, the
calendar helpers, the ``Simulation`` record of person x month arrays and the ``World`` it becomes.

Its own module so that neither of the two imports the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from wi_pipeline.lib.layout import G4, MARITAL_STATUS, ORIGIN_GROUPS
from wi_pipeline.synthetic.config import SyntheticConfig

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


# --------------------------------------------------------------------------------------------- records
def _drawn():
    """A field the simulation sets in one of its steps (reading it earlier is an AttributeError)."""
    return field(init=False, repr=False)


@dataclass
class Simulation:
    """The simulated paths: per person (N) or person x month (N, T) arrays, written step by step by
    ``world._simulate`` in the order the random numbers are drawn, then read by ``_tables.assemble``.
    """

    rng: np.random.Generator
    config: SyntheticConfig
    months: pd.DatetimeIndex
    gm1: np.ndarray  # municipality index (into GM_CODES) at the window start
    # calendar, derived from the months
    T: int = _drawn()
    tt: np.ndarray = _drawn()
    my: np.ndarray = _drawn()
    mm: np.ndarray = _drawn()
    mstart: np.ndarray = _drawn()
    mlen: np.ndarray = _drawn()
    mend: np.ndarray = _drawn()
    N: int = _drawn()
    # persons
    female: np.ndarray = _drawn()
    age0: np.ndarray = _drawn()
    birth: np.ndarray = _drawn()
    age: np.ndarray = _drawn()
    origin_code: np.ndarray = _drawn()
    nl: np.ndarray = _drawn()  # origin Nederland
    migration_group: np.ndarray = _drawn()
    generation: np.ndarray = _drawn()
    poor: np.ndarray = _drawn()
    alpha: np.ndarray = _drawn()
    # problematic debt
    debtor: np.ndarray = _drawn()
    years: np.ndarray = _drawn()
    debt_year: np.ndarray = _drawn()
    hh_debt_only: np.ndarray = _drawn()
    debt_m: np.ndarray = _drawn()
    # marital status, partners
    ms0: np.ndarray = _drawn()
    ms1: np.ndarray = _drawn()
    change_m: np.ndarray = _drawn()
    change_day: np.ndarray = _drawn()
    ms: np.ndarray = _drawn()
    cohab: np.ndarray = _drawn()
    partnered: np.ndarray = _drawn()
    special: np.ndarray = _drawn()  # 0, or household type 7 (other) or 8 (institutional)
    # children
    kids_drawn: np.ndarray = _drawn()
    kid_exists: np.ndarray = _drawn()
    kid_birth: np.ndarray = _drawn()
    youngest_ord: np.ndarray = _drawn()
    kids_home: np.ndarray = _drawn()
    youngest_home_ym: np.ndarray = _drawn()
    event_day: np.ndarray = _drawn()
    child_age: np.ndarray = _drawn()
    has_child: np.ndarray = _drawn()
    # households
    typ: np.ndarray = _drawn()
    plhh: np.ndarray = _drawn()
    n_children: np.ndarray = _drawn()
    single_parent: np.ndarray = _drawn()
    # bijstand entry, moves, exemption requests
    stock: np.ndarray = _drawn()
    d0: np.ndarray = _drawn()
    entry: np.ndarray = _drawn()
    mover: np.ndarray = _drawn()
    move_m: np.ndarray = _drawn()
    gm2: np.ndarray = _drawn()
    res: np.ndarray = _drawn()
    requester: np.ndarray = _drawn()
    # monthly paths
    A: np.ndarray = _drawn()  # on bijstand
    E: np.ndarray = _drawn()  # employed
    EX: np.ndarray = _drawn()  # art. 9a exemption
    DR: np.ndarray = _drawn()  # urgent-reason exemption
    IDX: np.ndarray = _drawn()  # employment index
    EFF: np.ndarray = _drawn()  # total planted effect per person-month (truth only)
    DUR: np.ndarray = _drawn()  # months on bijstand, -1 when off
    NEW: np.ndarray = _drawn()  # a bijstand spell starts this month
    start_day: np.ndarray = _drawn()
    exit_day: np.ndarray = _drawn()  # >0: the bijstand spell ends on this day of the month
    job_id: np.ndarray = _drawn()
    job_start_day: np.ndarray = _drawn()
    weekly_hours: np.ndarray = _drawn()
    hourly: np.ndarray = _drawn()
    dur: np.ndarray = _drawn()  # each instrument's duration in months
    during: np.ndarray = _drawn()  # each instrument's effect while it runs
    instr_start: np.ndarray = _drawn()
    instr_post: np.ndarray = _drawn()
    debt_start: np.ndarray = _drawn()
    debt_months: np.ndarray = _drawn()
    forced: np.ndarray = _drawn()  # the intervention applied to this person

    def __post_init__(self) -> None:
        months = self.months
        self.T = len(months)
        self.tt = np.arange(self.T)
        self.my, self.mm = months.year.to_numpy(), months.month.to_numpy()
        self.mstart = months.to_numpy().astype("datetime64[D]")
        self.mlen = months.days_in_month.to_numpy()
        self.mend = self.mstart + (self.mlen - 1)
        self.N = len(self.gm1)

    @property
    def y0(self) -> int:
        return int(self.my[0])

    @property
    def m0(self) -> int:
        return int(self.mm[0])


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
