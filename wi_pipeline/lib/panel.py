"""The linked person-month panel: one row per person per month, the table every estimate reads.

Conventions (the designs depend on them; see the column table in the README):
- the population is everyone with at least one month on bijstand in the municipality inside the
  window, with all months of the window (also those before and after their benefit);
- the window ends at the latest in the month of the oldest register extract: later months are
  unknown, not months without spells;
- a spell flag is true in a month when the spell overlaps any day of that month; end dates are
  inclusive, an open register spell runs to its own extract date and no register spell runs past it;
- ages (the person's in years, the youngest child's in months) are completed ages on the first
  day of the month, so a child turning 5 mid-month is 59 months old in that month and 60 in the next;
- categorical spells (marital status, household, SECM) take the value of the overlapping spell with
  the latest start date (then the latest end date);
- CBS tables are joined on the person key pair RINPERSOONS + RINPERSOON; linked register spells are
  all RINPERSOONS = 'R' (linkage quarantines the rest), so only 'R' rows are read;
- a missing value in a CBS table stays missing, never becomes 0 or 'no': a household row without TYPHH
  is household type 'unknown' (and no single parent), a debt row without PROBSCHULDPERS makes that year's
  `problematic_debt` missing, a year whose healthcare-cost components are all missing has missing costs
  (and, in the first window year, a missing `poor_health`).
Everything is computed on (persons x months) arrays: no Python loop over persons.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd
import pyarrow.dataset as ds

from wi_pipeline.lib.datasets import rows_with_keys
from wi_pipeline.lib.layout import (
    MARITAL_STATUS,
    ORIGIN_GROUPS,
    ORIGIN_OTHER,
    SECM_CATEGORIES,
    SRG_CATEGORIES,
)
from wi_pipeline.lib.pseudonymise import PSEUDONYM_COLUMN

if TYPE_CHECKING:
    import pandera.pandas as pdr

HOUSEHOLD_TYPES = {
    "1": "one_person",
    "2": "couple_no_children",
    "3": "couple_no_children",
    "4": "couple_with_children",
    "5": "couple_with_children",
    "6": "single_parent",
    "7": "other",
    "8": "institutional",
}
SEX = {"1": "man", "2": "vrouw"}
RELIABLE_KEY = "R"  # RINPERSOONS of persons that link reliably
PANEL_REGISTERS = ("bijstand", "ontheffingen", "reintegratie", "schuldhulp", "wmo")
_NEVER = -(10**6)
INSTRUMENT_FLAGS = [f"instr_{c}" for c in SRG_CATEGORIES]


@dataclass(frozen=True)
class PanelWindow:
    start: str = "2018-01"
    end: str = "2024-12"
    poor_health_threshold: float = 2500.0  # yearly healthcare costs (euro) in the first window year

    @property
    def months(self) -> pd.DatetimeIndex:
        return pd.date_range(self.start, self.end, freq="MS")

    def month_index(self, dates) -> np.ndarray:
        """Months since the window start (may be negative or beyond the end); NaT gives a large negative."""
        m = np.asarray(pd.to_datetime(dates), dtype="datetime64[ns]").astype("datetime64[M]")
        idx = m.astype(np.int64) - self.months[0].to_datetime64().astype("datetime64[M]").astype(
            np.int64
        )
        return np.where(np.isnat(m), _NEVER, idx)


def effective_window(
    window: PanelWindow, linked: pd.DataFrame
) -> tuple[PanelWindow, dict[str, pd.Timestamp]]:
    """The window ended at the last whole month the oldest register extract covers, and each
    register's extract date.

    Every register feeds a column, and a month after a register's extract would show 'no spell' where
    the truth is 'not yet known', so no month past the oldest extract is kept; nor the extract's own
    month unless the extract is dated its last day, since starts later that month are not in it yet.
    A window that starts after that month has no observed month and is refused.
    """
    if not len(linked):
        return window, {}
    dates = pd.to_datetime(linked["extract_date"]).groupby(linked["register"].astype(str)).min()
    extracts = {str(k): v for k, v in dates.dropna().items()}
    if not extracts:
        return window, {}
    limiting = min(extracts, key=extracts.get)
    oldest = extracts[limiting]
    last_month = (oldest + pd.Timedelta(days=1)).to_period(
        "M"
    ).to_timestamp() - pd.offsets.MonthBegin(1)
    if last_month < pd.Timestamp(window.start):
        raise ValueError(
            f"the panel window starts in {window.start}, after the oldest register extract ({limiting}, "
            f"{extracts[limiting].date()}): no month of the window is observed; set window_start to "
            f"{last_month:%Y-%m} or earlier, or load newer extracts"
        )
    if last_month < pd.Timestamp(window.end):
        window = replace(window, end=f"{last_month:%Y-%m}")
    return window, extracts


@dataclass
class PanelReport:
    persons: int = 0
    months: int = 0
    window: PanelWindow | None = (
        None  # the window the panel covers (the configured one, possibly capped)
    )
    extract_dates: dict[str, pd.Timestamp] = field(default_factory=dict)
    spells_used: dict[str, int] = field(default_factory=dict)
    spells_outside_window: dict[str, int] = field(default_factory=dict)
    spells_outside_population: dict[str, int] = field(default_factory=dict)
    persons_without_bijstand_in_window: int = 0
    persons_without_cbs_record: int = 0


class _Spells(NamedTuple):
    pos: np.ndarray  # person position
    s: np.ndarray  # first month, clipped to the window
    e: np.ndarray  # last month, clipped to the window
    s_raw: np.ndarray  # first month, unclipped
    e_raw: np.ndarray  # last month, unclipped
    keep: np.ndarray  # mask over the input rows: a spell overlapping the window


class _Grid:
    """Maps spells onto a persons x months array."""

    def __init__(self, persons: pd.Index, window: PanelWindow):
        self.persons = persons
        self.window = window
        self.n_p, self.n_m = len(persons), len(window.months)
        self.last_day = (window.months[-1] + pd.offsets.MonthEnd(0)).to_datetime64()

    def _pos(self, ids) -> np.ndarray:
        return self.persons.get_indexer(ids)

    def _months(
        self, ids, start, end, censor=None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(person position, start month, end month, usable) of every spell, not clipped to the window.

        ``censor`` is each spell's extract date (registers): an open spell runs to it and no end
        passes it. Without it (CBS tables) an open end runs to the window's last day.
        """
        end = np.asarray(pd.to_datetime(end), dtype="datetime64[ns]")
        if censor is None:
            end = np.where(np.isnat(end), self.last_day, end)
        else:
            cut = np.asarray(pd.to_datetime(censor), dtype="datetime64[ns]")
            end = np.where(np.isnat(end), cut, np.minimum(end, cut))
        s_raw, e_raw = self.window.month_index(start), self.window.month_index(end)
        pos = self._pos(ids)
        usable = (pos >= 0) & (s_raw > _NEVER) & (e_raw >= s_raw)
        return pos, s_raw, e_raw, usable

    def bounds(self, ids, start, end, censor=None) -> _Spells:
        """The spells overlapping the window, with their months clipped to it and unclipped."""
        pos, s_raw, e_raw, usable = self._months(ids, start, end, censor)
        keep = usable & (e_raw >= 0) & (s_raw <= self.n_m - 1)
        s, e = np.clip(s_raw, 0, self.n_m - 1), np.clip(e_raw, 0, self.n_m - 1)
        return _Spells(pos[keep], s[keep], e[keep], s_raw[keep], e_raw[keep], keep)

    def _flat(self, pos, s, e):
        lengths = e - s + 1
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return np.repeat(pos * self.n_m + s, lengths) + offsets, lengths

    def flag(self, ids, start, end, censor=None) -> np.ndarray:
        b = self.bounds(ids, start, end, censor)
        out = np.zeros(self.n_p * self.n_m, dtype=bool)
        flat, _ = self._flat(b.pos, b.s, b.e)
        out[flat] = True
        return out.reshape(self.n_p, self.n_m)

    def _latest(self, ids, start, end) -> np.ndarray:
        """Per person-month, the input row of the overlapping spell with the latest start date
        (ties: latest end); -1 where no spell overlaps.

        Ordered on the dates themselves, not on their months: two spells starting in one month are
        told apart by the day, never by their order in the file.
        """
        b = self.bounds(ids, start, end)
        rows = np.flatnonzero(b.keep)
        start_ns = np.asarray(pd.to_datetime(start), dtype="datetime64[ns]")[rows].astype(np.int64)
        end_ns = np.asarray(pd.to_datetime(end), dtype="datetime64[ns]")[rows]
        end_ns = np.where(np.isnat(end_ns), np.iinfo(np.int64).max, end_ns.astype(np.int64))
        order = np.lexsort((end_ns, start_ns))  # the one that wins comes last
        flat, lengths = self._flat(b.pos[order], b.s[order], b.e[order])
        winner = np.full(self.n_p * self.n_m, -1, dtype=np.int64)
        np.maximum.at(winner, flat, np.repeat(np.arange(len(order)), lengths))
        found = winner >= 0
        winner[found] = rows[order[winner[found]]]
        return winner.reshape(self.n_p, self.n_m)

    def latest_value(self, ids, start, end, values: np.ndarray, fill) -> np.ndarray:
        """The value of the latest spell (see ``_latest``) per person-month, ``fill`` where none."""
        winner = self._latest(ids, start, end)
        values = np.asarray(values)
        return np.where(winner >= 0, values[winner] if len(values) else fill, fill)

    def latest_category(self, ids, start, end, labels, fill: str) -> pd.Categorical:
        """``latest_value`` for labels, as a categorical over all person-months: the labels are
        coded once per input row, not once per person-month."""
        winner = self._latest(ids, start, end).ravel()
        categories = pd.Index(np.unique(np.append(np.asarray(labels, dtype=object), fill)))
        codes = categories.get_indexer(np.asarray(labels, dtype=object))
        coded = np.where(winner >= 0, codes[winner] if len(codes) else -1, categories.get_loc(fill))
        return pd.Categorical.from_codes(coded, categories).remove_unused_categories()

    def spread_sum(self, ids, start, end, values: np.ndarray) -> np.ndarray:
        """A period's amount spread evenly over all the months it covers, summed per person-month.

        The divisor is the whole period's months, also those outside the window, so a period that
        crosses a window edge puts only its share into the window's months.
        """
        b = self.bounds(ids, start, end)
        flat, lengths = self._flat(b.pos, b.s, b.e)
        covered = b.e_raw - b.s_raw + 1
        w = np.repeat(np.asarray(values, dtype=float)[b.keep] / covered, lengths)
        return np.bincount(flat, weights=w, minlength=self.n_p * self.n_m).reshape(
            self.n_p, self.n_m
        )

    def months_since_start(self, ids, start, end, censor=None) -> np.ndarray:
        """Months since the start of the latest spell started by this month, also one that ended
        before the window: a person who had the spell before is not a never-starter."""
        pos, s_raw, _, usable = self._months(ids, start, end, censor)
        use = usable & (s_raw <= self.n_m - 1)
        marker = np.full((self.n_p, self.n_m), _NEVER, dtype=np.int64)
        np.maximum.at(marker, (pos[use], np.clip(s_raw[use], 0, None)), s_raw[use])
        last = np.maximum.accumulate(marker, axis=1)
        since = np.arange(self.n_m)[None, :] - last
        return np.where(last > _NEVER, since, np.nan).astype(np.float32)


def _run_start_before_window(grid: _Grid, ids, start, end, censor) -> np.ndarray:
    """Per person, the first month (relative to the window start, so <= 0) of the run of consecutive
    benefit months that reaches the window's first month; 0 for persons not on benefit then.

    Every spell counts, of any code and also before the window: a run split into back-to-back spells
    (PW until December, IOAW from January) is one run, as it is inside the window. Spells whose months
    follow each other without a month off are one run, as ``_run_duration`` counts them.
    """
    pos, s_raw, e_raw, usable = grid._months(ids, start, end, censor)
    use = usable & (s_raw <= 0)
    pos, s, e = pos[use], s_raw[use], e_raw[use]
    out = np.zeros(grid.n_p, dtype=np.int64)
    if not len(pos):
        return out
    order = np.lexsort((s, pos))
    pos, s, e = pos[order], s[order], e[order]
    reach = pd.Series(e).groupby(pos).cummax()  # the last month covered by this or an earlier spell
    before = reach.groupby(pos).shift(1).to_numpy(dtype=float)
    new_run = np.isnan(before) | (s > before + 1)
    run_start = s[np.maximum.accumulate(np.where(new_run, np.arange(len(s)), 0))]
    last = np.r_[pos[1:] != pos[:-1], True]  # a person's last run is the one that can reach month 0
    out[pos[last]] = run_start[last]
    return out


def _run_duration(on: np.ndarray, start_at_first_month: np.ndarray) -> np.ndarray:
    """Months since the start of the current run of consecutive 'on' months (NaN when off)."""
    n_m = on.shape[1]
    prev = np.zeros_like(on)
    prev[:, 1:] = on[:, :-1]
    marker = np.where(on & ~prev, np.arange(n_m)[None, :], _NEVER)
    marker[:, 0] = np.where(on[:, 0], start_at_first_month, _NEVER)
    last = np.maximum.accumulate(marker, axis=1)
    return np.where(on, np.arange(n_m)[None, :] - last, np.nan).astype(np.float32)


def _read(source: ds.Dataset | pd.DataFrame, columns: list[str], persons) -> pd.DataFrame:
    """Only the rows of these persons (RINPERSOONS 'R'), read by a semi-join on the stored table."""
    return rows_with_keys(source, columns, persons, [("RINPERSOONS", "RINPERSOON")], RELIABLE_KEY)


def _person_key(kind: pd.Series, rin: pd.Series) -> pd.Series:
    """The CBS person key as one string: RINPERSOONS + RINPERSOON."""
    return kind.astype("string") + rin.astype("string")


def build_panel(
    gemeente: str,
    linked: pd.DataFrame,
    cbs: dict[str, ds.Dataset | pd.DataFrame],
    window: PanelWindow = PanelWindow(),
) -> tuple[pd.DataFrame, PanelReport]:
    """Person-month rows for everyone with a month of social assistance in the municipality in the window.

    ``linked`` holds the municipality's linked register spells (RINPERSOONS = 'R' only); ``cbs`` maps
    CBS table names to datasets or frames, of which only the persons' rows are read (a semi-join).
    The window is capped at the oldest register extract (see ``effective_window``); ``report.window``
    is the one used.
    """
    report = PanelReport()
    window, report.extract_dates = effective_window(window, linked)
    report.window = window
    regs = {name: linked[linked["register"] == name] for name in PANEL_REGISTERS}
    persons_rin = _population(regs["bijstand"], window, report)
    grid = _Grid(persons_rin, window)
    report.persons, report.months = grid.n_p, grid.n_m
    _count_register_spells(grid, regs, report)

    cols = _register_columns(grid, regs)
    in_persons = list(persons_rin)
    persons_tab, person_cols = _person_columns(grid, cbs, report)
    cols.update(person_cols)
    cols["marital_status"] = _marital_status(grid, cbs, in_persons)
    cols.update(_household_columns(grid, cbs, in_persons))
    cols.update(_job_columns(grid, cbs, in_persons))
    cols["secm"] = _secm(grid, cbs, in_persons)
    cols.update(_care_cost_columns(grid, cbs, in_persons))
    problematic_debt = _problematic_debt(grid, cbs, in_persons)
    secm_social_assistance = (cols["secm"] == SECM_CATEGORIES["22"]).reshape(grid.n_p, grid.n_m)
    cols["self_sufficient"] = ~cols["on_bijstand"] & ~secm_social_assistance

    pseudo = linked.drop_duplicates("RINPERSOON").set_index("RINPERSOON")[PSEUDONYM_COLUMN]
    panel = _frame(gemeente, grid, pseudo, persons_tab, cols, problematic_debt)
    return panel[PANEL_COLUMNS], report


def _population(bijstand: pd.DataFrame, window: PanelWindow, report: PanelReport) -> pd.Index:
    """The persons of the panel: a bijstand spell overlapping a month of the window, not just any spell."""
    b = bijstand
    candidates = pd.Index(np.sort(b["RINPERSOON"].dropna().unique()))
    in_window = (
        _Grid(candidates, window)
        .bounds(b["RINPERSOON"], b["start"], b["end"], b["extract_date"])
        .keep
    )
    persons_rin = pd.Index(np.unique(b["RINPERSOON"].to_numpy()[in_window].astype(str)))
    report.persons_without_bijstand_in_window = len(candidates) - len(persons_rin)
    return persons_rin


def _count_register_spells(grid: _Grid, regs: dict[str, pd.DataFrame], report: PanelReport) -> None:
    """Every linked spell is accounted for: used, outside the window or outside the population."""
    for name, r in regs.items():
        keep = grid.bounds(r["RINPERSOON"], r["start"], r["end"], r["extract_date"]).keep
        in_pop = grid._pos(r["RINPERSOON"]) >= 0
        report.spells_used[name] = int(keep.sum())
        report.spells_outside_window[name] = int((in_pop & ~keep).sum())
        report.spells_outside_population[name] = int((~in_pop).sum())


def _register_columns(grid: _Grid, regs: dict[str, pd.DataFrame]) -> dict[str, np.ndarray]:
    """The municipal registers' columns: benefit and its duration, exemptions, instruments, support."""

    def spells(name, code=None):
        r = regs[name]
        r = r if code is None else r[r["code"] == code]
        return r["RINPERSOON"], r["start"], r["end"], r["extract_date"]

    cols: dict[str, np.ndarray] = {}
    on = grid.flag(*spells("bijstand"))
    cols["on_bijstand"] = on
    cols["bijstand_duration_months"] = _run_duration(
        on, _run_start_before_window(grid, *spells("bijstand"))
    )
    cols["exemption_9a"] = grid.flag(*spells("ontheffingen", "ART9A"))
    for cat in SRG_CATEGORIES:
        cols[f"instr_{cat}"] = grid.flag(*spells("reintegratie", cat))
        cols[f"months_since_start_{cat}"] = grid.months_since_start(*spells("reintegratie", cat))
    cols["debt_assistance"] = grid.flag(*spells("schuldhulp"))
    cols["wmo_support"] = grid.flag(*spells("wmo"))
    return cols


def _person_columns(
    grid: _Grid, cbs: dict, report: PanelReport
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """GBAPERSOONTAB of the persons and their children (KINDOUDERTAB): age and youngest child's age.

    Returns the persons table too, since sex and origin are per person, not per month."""
    ids = list(grid.persons)
    parents = [("RINPERSOONSMa", "RINPERSOONMa"), ("RINPERSOONSpa", "RINPERSOONpa")]
    ko = rows_with_keys(
        cbs["KINDOUDERTAB"],
        ["RINPERSOONS", "RINPERSOON", *(c for pair in parents for c in pair)],
        ids,
        parents,
        RELIABLE_KEY,
    )
    ko["child"] = _person_key(ko["RINPERSOONS"], ko["RINPERSOON"])
    child_rins = sorted(set(ko["RINPERSOON"].dropna()))
    person_keys = _person_keys(grid)
    persons_tab = rows_with_keys(
        cbs["GBAPERSOONTAB"],
        [
            "RINPERSOONS",
            "RINPERSOON",
            "GBAGESLACHT",
            "GBAGEBOORTEJAAR",
            "GBAGEBOORTEMAAND",
            "GBAGEBOORTEDAG",
            "GBAHERKOMSTGROEPERING",
        ],
        ids + child_rins,
        [(None, "RINPERSOON")],
    )
    persons_tab["key"] = _person_key(persons_tab["RINPERSOONS"], persons_tab["RINPERSOON"])
    persons_tab = persons_tab.drop_duplicates("key").set_index("key")
    report.persons_without_cbs_record = int((~person_keys.isin(persons_tab.index)).sum())

    my, mm = _calendar(grid)
    by, bm, bd = (x[:, None] for x in _birth_parts(persons_tab, person_keys))
    age = my - by - ((mm < bm) | ((mm == bm) & (bd > 1)))
    return persons_tab, {
        "age": age,
        "youngest_child_age_months": _youngest_child_age(grid, ko, persons_tab),
    }


def _person_keys(grid: _Grid) -> pd.Index:
    """The persons' CBS keys (RINPERSOONS + RINPERSOON), in the grid's order."""
    return pd.Index(RELIABLE_KEY + grid.persons.astype(str))


def _calendar(grid: _Grid) -> tuple[np.ndarray, np.ndarray]:
    """Year and month of each window month, as a (1, months) row to broadcast against persons."""
    months = grid.window.months
    return months.year.to_numpy()[None, :], months.month.to_numpy()[None, :]


def _birth_parts(persons_tab: pd.DataFrame, keys) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Birth year, month and day (NaN where unknown) of these person keys."""
    p = persons_tab.reindex(keys)
    return tuple(
        pd.to_numeric(p[c], errors="coerce").to_numpy(dtype=float)
        for c in ("GBAGEBOORTEJAAR", "GBAGEBOORTEMAAND", "GBAGEBOORTEDAG")
    )


def _youngest_child_age(grid: _Grid, ko: pd.DataFrame, persons_tab: pd.DataFrame) -> np.ndarray:
    """Months since the latest birth among children born by the first day of the month (NaN: none)."""
    n_p, n_m = grid.n_p, grid.n_m
    if not len(ko):
        return np.full((n_p, n_m), np.nan, dtype=np.float32)
    persons_rin, months = grid.persons, grid.window.months
    parents = pd.concat(
        [
            ko.loc[ko[kind].eq(RELIABLE_KEY).fillna(False).astype(bool), ["child", rin]].set_axis(
                ["child", "parent"], axis=1
            )
            for kind, rin in (
                ("RINPERSOONSMa", "RINPERSOONMa"),
                ("RINPERSOONSpa", "RINPERSOONpa"),
            )
        ]
    )
    parents = parents[persons_rin.get_indexer(parents["parent"]) >= 0].drop_duplicates()
    cy, cm, cd = _birth_parts(persons_tab, parents["child"])
    ok = ~np.isnan(cy)
    parents, cy, cm, cd = parents[ok], cy[ok], cm[ok], cd[ok]
    present_from = ((cy - months[0].year) * 12 + (cm - months[0].month) + (cd > 1)).astype(np.int64)
    ordinal = (cy * 10000 + cm * 100 + cd).astype(np.int64)
    ppos = persons_rin.get_indexer(parents["parent"])
    inside = present_from <= n_m - 1
    marker = np.full((n_p, n_m), -1, dtype=np.int64)
    np.maximum.at(marker, (ppos[inside], np.clip(present_from[inside], 0, None)), ordinal[inside])
    youngest = np.maximum.accumulate(marker, axis=1)
    yy, ym, yd = youngest // 10000, (youngest // 100) % 100, youngest % 100
    my, mm = _calendar(grid)
    child_age = (my - yy) * 12 + (mm - ym) - (yd > 1)
    return np.where(youngest > 0, child_age, np.nan).astype(np.float32)


def _marital_status(grid: _Grid, cbs: dict, in_persons) -> pd.Categorical:
    """GBABURGERLIJKESTAATBUS: the marital status in each month."""
    bs = _read(
        cbs["GBABURGERLIJKESTAATBUS"],
        [
            "RINPERSOON",
            "GBABURGERLIJKESTAATNW",
            "GBADATUMAANVANGBURGERLIJKESTAAT",
            "GBADATUMEINDEBURGERLIJKESTAAT",
        ],
        in_persons,
    )
    return grid.latest_category(
        bs["RINPERSOON"],
        bs["GBADATUMAANVANGBURGERLIJKESTAAT"],
        bs["GBADATUMEINDEBURGERLIJKESTAAT"],
        bs["GBABURGERLIJKESTAATNW"].map(MARITAL_STATUS).fillna("unknown").to_numpy(dtype=object),
        "unknown",
    )


def _household_columns(grid: _Grid, cbs: dict, in_persons) -> dict[str, np.ndarray]:
    """GBAHUISHOUDENSBUS: household type, single parenthood and the number of children at home."""
    hh = _read(
        cbs["GBAHUISHOUDENSBUS"],
        ["RINPERSOON", "DATUMAANVANGHH", "DATUMEINDEHH", "TYPHH", "PLHH", "AANTALKINDHH"],
        in_persons,
    )
    spell = (hh["RINPERSOON"], hh["DATUMAANVANGHH"], hh["DATUMEINDEHH"])
    hh_type = (
        hh["TYPHH"].astype("string").map(HOUSEHOLD_TYPES).fillna("unknown").to_numpy(dtype=object)
    )
    # a missing TYPHH or PLHH leaves the household type unknown: not known to be a single parent
    is_sp = ((hh["TYPHH"].astype("string") == "6") & (hh["PLHH"].astype("string") == "7")).fillna(
        False
    )
    is_sp = is_sp.to_numpy(dtype=bool)
    n_kids = pd.to_numeric(hh["AANTALKINDHH"], errors="coerce").fillna(0).to_numpy(dtype=np.int64)
    return {
        "household_type": grid.latest_category(*spell, hh_type, "unknown"),
        "single_parent": grid.latest_value(*spell, is_sp, False).astype(bool),
        "n_children": grid.latest_value(*spell, n_kids, 0).astype(np.int16),
    }


def _job_columns(grid: _Grid, cbs: dict, in_persons) -> dict[str, np.ndarray]:
    """SPOLISBUS: employment, and hours and wage spread over the months of each job period."""
    jobs = _read(
        cbs["SPOLISBUS"],
        ["RINPERSOON", "IKVID", "SDATUMAANVANGIKO", "SDATUMEINDEIKO", "SBASISLOON", "SBASISUREN"],
        in_persons,
    )
    jobs = jobs.drop_duplicates()  # a job period delivered twice is paid once
    spell = (jobs["RINPERSOON"], jobs["SDATUMAANVANGIKO"], jobs["SDATUMEINDEIKO"])
    return {
        "employed": grid.flag(*spell),
        "hours": grid.spread_sum(*spell, jobs["SBASISUREN"].fillna(0)),
        "wage": grid.spread_sum(*spell, jobs["SBASISLOON"].fillna(0)),
    }


def _secm(grid: _Grid, cbs: dict, in_persons) -> pd.Categorical:
    """SECMBUS: the socio-economic category in each month (self-sufficiency reads it)."""
    secm = _read(cbs["SECMBUS"], ["RINPERSOON", "AANVSECM", "EINDSECM", "SECM"], in_persons)
    return grid.latest_category(
        secm["RINPERSOON"],
        secm["AANVSECM"],
        secm["EINDSECM"],
        secm["SECM"].astype("string").map(SECM_CATEGORIES).fillna("unknown").to_numpy(dtype=object),
        "unknown",
    )


def _years(grid: _Grid) -> tuple[pd.Index, np.ndarray]:
    """The window's calendar years, and each month's position among them (yearly tables)."""
    years = grid.window.months.year.to_numpy()
    window_years = pd.Index(np.unique(years))
    return window_years, window_years.get_indexer(years)


def _care_cost_columns(grid: _Grid, cbs: dict, in_persons) -> dict[str, np.ndarray]:
    """ZVWZORGKOSTENTAB: yearly healthcare costs, total and mental, and poor health from the first year."""
    zvw = _read(
        cbs["ZVWZORGKOSTENTAB"],
        [
            "RINPERSOON",
            "JAAR",
            "ZVWKHUISARTS",
            "ZVWKFARMACIE",
            "ZVWKZIEKENHUIS",
            "ZVWKGGZ",
            "ZVWKEERSTELIJNSPSYCHO",
        ],
        in_persons,
    )
    zvw["total"] = zvw[
        ["ZVWKHUISARTS", "ZVWKFARMACIE", "ZVWKZIEKENHUIS", "ZVWKGGZ", "ZVWKEERSTELIJNSPSYCHO"]
    ].sum(axis=1, min_count=1)
    zvw["mental"] = zvw[["ZVWKGGZ", "ZVWKEERSTELIJNSPSYCHO"]].sum(axis=1, min_count=1)
    # a person-year without any cost data stays missing (a plain sum would make it 0)
    zvw = zvw.groupby(["RINPERSOON", "JAAR"], as_index=False)[["total", "mental"]].sum(min_count=1)
    window_years, month_year = _years(grid)
    yr_pos = window_years.get_indexer(pd.to_numeric(zvw["JAAR"]))
    ppos = grid._pos(zvw["RINPERSOON"])
    ok = (yr_pos >= 0) & (ppos >= 0)
    cols = {}
    for out_col, src in (("care_costs_total", "total"), ("care_costs_mental", "mental")):
        by_year = np.full((grid.n_p, len(window_years)), np.nan)
        by_year[ppos[ok], yr_pos[ok]] = zvw[src].to_numpy()[ok]
        cols[out_col] = by_year[:, month_year]
    first_year_costs = cols["care_costs_total"][:, 0]
    cols["poor_health"] = np.where(
        np.isnan(first_year_costs),
        np.nan,
        first_year_costs >= grid.window.poor_health_threshold,
    )
    return cols


def _problematic_debt(grid: _Grid, cbs: dict, in_persons) -> pd.arrays.BooleanArray:
    """PROBSCHULDTAB: problematic debt per year, missing where that year's status is unknown."""
    debt = _read(cbs["PROBSCHULDTAB"], ["RINPERSOON", "PEILDATUM", "PROBSCHULDPERS"], in_persons)
    window_years, month_year = _years(grid)
    n_y = len(window_years)
    dpos = window_years.get_indexer(pd.to_datetime(debt["PEILDATUM"]).dt.year)
    ppos = grid._pos(debt["RINPERSOON"])
    ok = (dpos >= 0) & (ppos >= 0)
    status = debt["PROBSCHULDPERS"].astype("string")
    has_debt = ok & (status == "1").fillna(False).to_numpy(dtype=bool)
    unknown = ok & ~status.isin(["0", "1"]).to_numpy(dtype=bool)
    debt_year = np.zeros((grid.n_p, n_y), dtype=bool)
    debt_year[ppos[has_debt], dpos[has_debt]] = True
    debt_unknown = np.zeros((grid.n_p, n_y), dtype=bool)
    debt_unknown[ppos[unknown], dpos[unknown]] = True
    # registered debt in a row of the year wins; otherwise a row without a status leaves the year unknown
    return pd.arrays.BooleanArray(
        debt_year[:, month_year].ravel(), (debt_unknown & ~debt_year)[:, month_year].ravel()
    )


def _frame(
    gemeente: str,
    grid: _Grid,
    pseudo: pd.Series,
    persons_tab: pd.DataFrame,
    cols: dict[str, np.ndarray],
    problematic_debt: pd.arrays.BooleanArray,
) -> pd.DataFrame:
    """The person x month arrays as rows, with the per-person columns repeated over the months."""
    n_p, n_m = grid.n_p, grid.n_m
    n = n_p * n_m
    me = persons_tab.reindex(_person_keys(grid))
    sex = me["GBAGESLACHT"].map(SEX)
    origin = (
        me["GBAHERKOMSTGROEPERING"].map(ORIGIN_GROUPS).where(me["GBAHERKOMSTGROEPERING"].notna())
    )
    origin = origin.fillna(ORIGIN_OTHER).where(me.index.isin(persons_tab.index))
    poor_health = cols.pop("poor_health")
    frame = {
        "gemeente": pd.Categorical.from_codes(np.zeros(n, dtype=np.int8), [gemeente]),
        PSEUDONYM_COLUMN: pd.Categorical.from_codes(
            np.repeat(np.arange(n_p), n_m),
            categories=pseudo.reindex(grid.persons).astype(str).to_numpy(),
        )
        if n_p
        else pd.Categorical([]),
        "month": np.tile(grid.window.months.to_numpy(), n_p),
        "age": pd.array(cols.pop("age").ravel(), dtype="Int16")
        if n_p
        else pd.array([], dtype="Int16"),
        "sex": _every_month(pd.Categorical(sex, categories=["man", "vrouw"]), n_m),
        "origin": _every_month(pd.Categorical(origin), n_m),
        "poor_health": pd.array(np.repeat(poor_health, n_m), dtype="float").astype("boolean")
        if n_p
        else pd.array([], dtype="boolean"),
        "problematic_debt": problematic_debt,
    }
    for name in ("marital_status", "household_type", "secm"):
        frame[name] = cols.pop(name)
    for name in cols:
        frame[name] = cols[name].ravel()
    return pd.DataFrame(frame)


def _every_month(per_person: pd.Categorical, n_m: int) -> pd.Categorical:
    """A person's value in each of their months, repeated as codes."""
    return pd.Categorical.from_codes(np.repeat(per_person.codes, n_m), dtype=per_person.dtype)


PANEL_COLUMNS = [
    "gemeente",
    PSEUDONYM_COLUMN,
    "month",
    "age",
    "sex",
    "origin",
    "marital_status",
    "household_type",
    "single_parent",
    "n_children",
    "youngest_child_age_months",
    "on_bijstand",
    "bijstand_duration_months",
    "exemption_9a",
    *[c for cat in SRG_CATEGORIES for c in (f"instr_{cat}", f"months_since_start_{cat}")],
    "debt_assistance",
    "wmo_support",
    "employed",
    "hours",
    "wage",
    "secm",
    "care_costs_total",
    "care_costs_mental",
    "problematic_debt",
    "poor_health",
    "self_sufficient",
]


def panel_contract(window: PanelWindow) -> pdr.DataFrameSchema:
    """What the panel promises every estimate: complete person-month rows and flags that agree."""
    import pandera.pandas as pdr

    months = window.months
    n_m = len(months)
    checks = [
        pdr.Check(
            lambda d: ~d.duplicated(["pseudo_id", "month"]), error="one row per person-month"
        ),
        pdr.Check(
            lambda d: d.groupby("pseudo_id", observed=True)["month"].transform("size") == n_m,
            error=f"every person has all {n_m} months of the window (no gaps)",
        ),
        pdr.Check(
            lambda d: d["on_bijstand"] == d["bijstand_duration_months"].notna(),
            error="benefit duration is set exactly in months on bijstand",
        ),
        pdr.Check(
            lambda d: ~(d["self_sufficient"] & d["on_bijstand"]),
            error="self-sufficient months are not on bijstand",
        ),
        pdr.Check(
            lambda d: d["employed"] | ((d["wage"] == 0) & (d["hours"] == 0)),
            error="wage and hours only in employed months",
        ),
        *[
            pdr.Check(
                lambda d, c=c: ~d[f"instr_{c}"] | (d[f"months_since_start_{c}"] >= 0),
                error=f"an active {c} spell has a start",
            )
            for c in SRG_CATEGORIES
        ],
    ]
    flags = [
        "single_parent",
        "on_bijstand",
        "exemption_9a",
        *INSTRUMENT_FLAGS,
        "debt_assistance",
        "wmo_support",
        "employed",
        "self_sufficient",
    ]
    columns = {
        "gemeente": pdr.Column("category"),
        "pseudo_id": pdr.Column("category"),
        "month": pdr.Column("datetime64[ns]", pdr.Check.in_range(months[0], months[-1])),
        "age": pdr.Column("Int16", pdr.Check.in_range(0, 120), nullable=True),
        "youngest_child_age_months": pdr.Column("float32", pdr.Check.ge(0), nullable=True),
        "n_children": pdr.Column("int16", pdr.Check.ge(0)),
        # named after their source: a negative value here is a SPOLISBUS row that ingestion let through
        "hours": pdr.Column(
            float, pdr.Check.ge(0, error="hours (SPOLISBUS SBASISUREN) are negative")
        ),
        "wage": pdr.Column(float, pdr.Check.ge(0, error="wage (SPOLISBUS SBASISLOON) is negative")),
        **{f: pdr.Column(bool) for f in flags},
        "problematic_debt": pdr.Column(
            "boolean", nullable=True
        ),  # missing: that year's status is unknown
    }
    return pdr.DataFrameSchema(columns, checks=checks)
