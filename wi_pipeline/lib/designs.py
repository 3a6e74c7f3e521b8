"""From the person-month panel to the estimation sample of each measure's design.

Each function returns a plain DataFrame with the outcome, treatment, covariates and a cluster
column, so the estimators in ``wi_pipeline.estimation`` can run on it without knowing the panel.
Subgroup columns (``SUBGROUPS``) are measured before treatment, so splitting by them cannot
condition on an outcome.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from wi_pipeline.lib.layout import SRG_CATEGORIES, SUBSIDISED_JOB_INSTRUMENTS

# Subgroups for heterogeneity: column -> plain label. Values are fixed per person at baseline.
SUBGROUPS = {
    "sex": "sex",
    "children": "number of children",
    "marital_status": "marital status",
    "health": "health",
    "age_band": "age band",
    "origin": "origin",
}
BASE_COVARIATES = [
    "age",
    "age_sq",
    "woman",
    "poor_health_num",
    "n_children",
    "single_parent_num",
    "married",
    "origin_nl",
]
HORIZONS = (6, 12, 24)
LOCK_IN_HORIZON = 3
RD_CUTOFF = 60


@dataclass(frozen=True)
class DesignSample:
    measure: str
    data: pd.DataFrame
    outcome_columns: tuple[str, ...]
    treatment: str
    covariates: tuple[str, ...]
    cluster: str = "pseudo_id"
    # a design with one episode per person names the column that orders a person's episodes: pooled
    # over municipalities (a person who moved has one in each), the earliest is kept, as within one
    episode_start: str | None = None


def one_episode_per_person(data: pd.DataFrame, episode_start: str) -> pd.DataFrame:
    """Per person the rows of the episode with the earliest ``episode_start`` (then the first
    municipality code, should two start in the same month)."""
    episodes = data[["pseudo_id", "gemeente", episode_start]].drop_duplicates()
    chosen = episodes.sort_values([episode_start, "gemeente"], kind="stable").drop_duplicates(
        "pseudo_id"
    )
    keep = pd.MultiIndex.from_frame(data[["pseudo_id", "gemeente", episode_start]]).isin(
        pd.MultiIndex.from_frame(chosen)
    )
    return data[keep].reset_index(drop=True)


def usable_covariates(
    df: pd.DataFrame, covariates, treatment: str | None = None, min_count: int = 10
) -> list[str]:
    """Covariates that can enter the models on this sample.

    A constant makes the design singular; a dummy that is rare, or constant within one arm,
    separates the arms perfectly in the propensity model. Both are left out (the effect is still
    adjusted for everything else).
    """
    cols = [c for c in covariates if c in df]
    if not cols:
        return []
    x = df[cols].to_numpy(dtype=float)
    lo, hi = np.nanmin(x, axis=0), np.nanmax(x, axis=0)
    keep = hi > lo
    binary = ((x == lo) | (x == hi) | np.isnan(x)).all(axis=0)
    if treatment is not None:
        arm = df[treatment].to_numpy() == 1
        n_hi = (x == hi).sum(axis=0)
        rare = np.minimum(n_hi, len(x) - n_hi) < min_count
        flat_arm = np.zeros(len(cols), dtype=bool)
        for a in (arm, ~arm):
            if a.any():
                flat_arm |= np.nanmin(x[a], axis=0) == np.nanmax(x[a], axis=0)
        keep &= ~(binary & (rare | flat_arm))
    return [c for c, k in zip(cols, keep) if k]


def children_band(n: pd.Series) -> pd.Series:
    return pd.cut(n.astype(float), [-1, 0, 1, 2, np.inf], labels=["0", "1", "2", "3+"]).astype(str)


def age_band(age: pd.Series) -> pd.Series:
    return pd.cut(
        age.astype(float),
        [0, 27, 40, 55, 200],
        right=False,
        labels=["18-26", "27-39", "40-54", "55+"],
    ).astype(str)


def add_covariates(df: pd.DataFrame) -> pd.DataFrame:
    """Numeric covariates and subgroup labels from the baseline row of each observation."""
    out = df.copy()
    out["age"] = out["age"].astype(float)
    out["age_sq"] = (out["age"] - 40.0) ** 2 / 100.0
    out["woman"] = (out["sex"] == "vrouw").astype(float)
    out["poor_health_num"] = out["poor_health"].astype("Float64").fillna(0.0).astype(float)
    out["n_children"] = out["n_children"].astype(float)
    out["single_parent_num"] = out["single_parent"].astype(float)
    out["married"] = (out["marital_status"] == "married").astype(float)
    out["origin_nl"] = (out["origin"] == "Nederland").astype(float)
    out["children"] = children_band(out["n_children"])
    # unknown health (no healthcare costs in the first window year) is in neither health subgroup
    poor = out["poor_health"].astype("boolean")
    health = pd.Series(np.where(poor.fillna(False), "poor", "good"), index=out.index)
    out["health"] = health.where(poor.notna())
    out["age_band"] = age_band(out["age"])
    out["marital_status"] = out["marital_status"].astype(str)
    out["sex"] = out["sex"].astype(str)
    out["origin"] = out["origin"].astype(str)
    return out


HISTORY_COVARIATES = [
    "employed_l1",
    "employed_l2",
    "employed_l3",
    "employed_share_12",
    "employed_share_24",
    "months_since_first_bijstand",
]


def add_history(panel: pd.DataFrame) -> pd.DataFrame:
    """Labour-market history up to the month before: who starts an instrument depends on it, and
    employment is persistent, so one month's status alone leaves confounding behind. The columns are
    added to ``panel`` itself (and it is returned): a copy of four G4 panels costs gigabytes. The
    panel asset adds them once and stores them; every design reads them from there."""
    g = panel.groupby("pseudo_id", observed=True, sort=False)
    emp = panel["employed"].astype(float)
    cum = emp.groupby(panel["pseudo_id"], observed=True, sort=False).cumsum()
    gc = cum.groupby(panel["pseudo_id"], observed=True, sort=False)
    out = {f"employed_l{k}": g["employed"].shift(k).astype(float) for k in (1, 2, 3)}
    for k in (12, 24):
        past = gc.shift(1) - gc.shift(k + 1).fillna(0)
        seen = g.cumcount().clip(upper=k)  # months of history available
        out[f"employed_share_{k}"] = (past / seen.replace(0, np.nan)).astype(float)
    month_no = panel["month"].dt.year * 12 + panel["month"].dt.month
    first = (
        month_no.where(panel["on_bijstand"])
        .groupby(panel["pseudo_id"], observed=True, sort=False)
        .transform("min")
    )
    out["months_since_first_bijstand"] = (month_no - first).astype(float)
    for name, values in out.items():
        panel[name] = values.fillna(values.mean()).astype(np.float32)
    return panel


def with_history(panel: pd.DataFrame) -> pd.DataFrame:
    """The panel with its labour-market history: the stored panel has it already; a panel built
    outside the pipeline (tests, the recovery study) gets it here, once, kept by whoever passes it on."""
    return panel if set(HISTORY_COVARIATES) <= set(panel.columns) else add_history(panel)


def _grouped_per_person(panel: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The panel with each person's months in one contiguous block, and integer person codes:
    months h apart are then rows h apart, so leads and lags are index arithmetic on the rows needed."""
    pid = panel["pseudo_id"]
    codes = (
        pid.cat.codes.to_numpy()
        if isinstance(pid.dtype, pd.CategoricalDtype)
        else pd.factorize(pid)[0]
    )
    blocks = int((np.diff(codes) != 0).sum()) + 1 if len(codes) else 0
    if blocks != len(
        np.unique(codes)
    ):  # e.g. sorted by month first: a stable sort keeps month order
        order = np.argsort(codes, kind="stable")
        panel, codes = panel.iloc[order].reset_index(drop=True), codes[order]
    return panel, codes


def _lead(values: np.ndarray, codes: np.ndarray, rows: np.ndarray, h: int) -> np.ndarray:
    """values h rows later (h < 0: earlier) for the given rows, NaN where that leaves the person."""
    target = rows + h
    ok = (target >= 0) & (target < len(codes))
    ok[ok] = codes[target[ok]] == codes[rows[ok]]
    out = np.full(len(rows), np.nan)
    out[ok] = values[target[ok]]
    return out


def _sample_per_month(month_of: np.ndarray, quota: np.ndarray, seed: int) -> np.ndarray:
    """A random ``quota[m]`` of the rows of each month m (all when fewer), with a fixed seed."""
    order = np.lexsort((np.random.default_rng(seed).random(len(month_of)), month_of))
    first_in_month = np.searchsorted(month_of[order], np.arange(len(quota)))
    rank = np.empty(len(month_of), dtype=np.int64)
    rank[order] = np.arange(len(order)) - first_in_month[month_of[order]]
    return rank < quota[month_of]


RD_ELIGIBILITY_AGES = (24, 35)


def exemption_rd_sample(
    panel: pd.DataFrame,
    bandwidth_months: int = 24,
    eligibility_ages: tuple[int, int] = RD_ELIGIBILITY_AGES,
) -> DesignSample:
    """Single parents on bijstand when their youngest child was 2, observed around the 5th birthday.

    Eligibility is fixed well before the cutoff: being on bijstand is partly an outcome, and
    selecting on it at ages close to 60 months would bend employment there. Two years earlier that
    selection has faded, so the only jump left at 60 months is the exemption ending.
    """
    p = panel
    lo, hi = eligibility_ages
    pre = p["single_parent"] & p["on_bijstand"] & p["youngest_child_age_months"].between(lo, hi)
    base = p.loc[pre].sort_values("month").groupby("pseudo_id", observed=True).first()
    # One episode per parent: the child who was youngest at eligibility. A later-born child makes
    # the youngest child's age start again, which would put a second, never-eligible crossing in.
    child_born = p["month"].dt.year * 12 + p["month"].dt.month - p["youngest_child_age_months"]
    base_born = (
        base["month"].dt.year * 12 + base["month"].dt.month - base["youngest_child_age_months"]
    )
    same_child = child_born.eq(p["pseudo_id"].map(base_born).astype(float))
    near = same_child & p["youngest_child_age_months"].between(
        RD_CUTOFF - bandwidth_months - 12, RD_CUTOFF + bandwidth_months + 11
    )
    s = p.loc[near].copy()
    fixed = ["sex", "n_children", "marital_status", "poor_health", "origin", "age", "single_parent"]
    s = s.drop(columns=fixed).merge(base[fixed], left_on="pseudo_id", right_index=True, how="left")
    s = add_covariates(s)
    s["running"] = s["youngest_child_age_months"].astype(float)
    s["event_time"] = (s["running"] - RD_CUTOFF).astype(int)
    s["past_cutoff"] = (s["running"] >= RD_CUTOFF).astype(float)
    for c in ("employed", "self_sufficient", "exemption_9a"):
        s[c] = s[c].astype(float)
    s["pseudo_id"] = s["pseudo_id"].astype(str)
    s["eligible_month"] = s["pseudo_id"].map(base["month"].set_axis(base.index.astype(str)))
    return DesignSample(
        "exemption_9a",
        s.reset_index(drop=True),
        ("employed", "hours", "self_sufficient"),
        "exemption_9a",
        tuple(BASE_COVARIATES),
        episode_start="eligible_month",
    )


def _starters_and_controls(
    p: pd.DataFrame,
    codes: np.ndarray,
    category: str,
    controls_per_starter: int,
    seed: int,
    eligible: str | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of first starts of ``category`` and of sampled not-yet-starters in the same months (positions
    in ``p``, grouped per person), whether each panel row is a start, and each panel row's sampling weight."""
    since = p[f"months_since_start_{category}"].to_numpy(dtype=float)
    base = p["on_bijstand"].to_numpy(dtype=bool)
    if eligible is not None:  # a boolean column restricting both arms
        base = base & p[eligible].fillna(False).to_numpy(dtype=bool)
    # a first start: the instrument starts this month and had not started before
    starter = base & (since == 0)
    candidates = np.flatnonzero(starter)
    starter[candidates[~np.isnan(_lead(since, codes, candidates, -1))]] = False
    # a control could have started this month: on bijstand and in no instrument (one at a time)
    in_any = p[[f"instr_{c}" for c in SRG_CATEGORIES]].to_numpy(dtype=bool).any(axis=1)
    control = base & np.isnan(since) & ~in_any
    # controls_per_starter random controls per starter in each month (fixed seed)
    month = p["month"].to_numpy()
    treated_rows, control_rows = np.flatnonzero(starter), np.flatnonzero(control)
    months, month_of_control = np.unique(month[control_rows], return_inverse=True)
    quota = (
        pd.Series(month[treated_rows]).value_counts().reindex(months, fill_value=0).to_numpy()
        * controls_per_starter
    )
    picked = _sample_per_month(month_of_control, quota, seed)
    available = np.bincount(month_of_control, minlength=len(months))
    chosen = np.bincount(month_of_control[picked], minlength=len(months))
    weight = np.ones(len(p))  # controls stand for every control of their month
    weight[control_rows[picked]] = (available / np.maximum(chosen, 1))[month_of_control[picked]]
    rows = np.sort(np.concatenate([treated_rows, control_rows[picked]]))
    return rows, starter, weight


# The staggered design around the 5th birthday: months from the end of the eligibility window (a
# parent's outcomes while eligibility is measured are selected on, bijstand being partly an outcome)
# to a year after the birthday, the last month an event-study cell reaches.
STAGGERED_CHILD_AGES = (RD_ELIGIBILITY_AGES[1] + 1, RD_CUTOFF + 12)


def month_number(month: pd.Series) -> pd.Series:
    """Calendar months as consecutive integers (year * 12 + month - 1): a staggered design's time axis."""
    return month.dt.year * 12 + month.dt.month - 1


def exemption_staggered_sample(
    panel: pd.DataFrame,
    child_ages: tuple[int, int] = STAGGERED_CHILD_AGES,
    eligibility_ages: tuple[int, int] = RD_ELIGIBILITY_AGES,
) -> DesignSample:
    """The exemption as staggered adoption: each eligible parent's cohort is the calendar month the
    youngest child turns 5 (60 months), when the art. 9a exemption ends.

    Parents are eligible as in ``exemption_rd_sample`` (single parent on bijstand when the youngest
    child was 24-35 months old, one episode: the child youngest at eligibility) and are followed in
    calendar time while that child is ``child_ages`` months old and still the youngest. Parents whose
    child turns 5 later serve as not-yet-treated controls; a cohort after the panel's last month is
    never treated within it. The panel is unbalanced by design (each parent covers ~3 years), so a
    cell compares the parents observed in both of its months. ``month_no`` is the time axis,
    ``cohort`` the month number of the 5th birthday, ``event_time`` the months since it.
    """
    p = panel
    lo, hi = eligibility_ages
    pre = p["single_parent"] & p["on_bijstand"] & p["youngest_child_age_months"].between(lo, hi)
    base = p.loc[pre].sort_values("month").groupby("pseudo_id", observed=True).first()
    month_no = month_number(p["month"])
    child_born = month_no - p["youngest_child_age_months"]
    base_born = month_number(base["month"]) - base["youngest_child_age_months"]
    same_child = child_born.eq(p["pseudo_id"].map(base_born).astype(float))
    keep = same_child & p["youngest_child_age_months"].between(*child_ages)
    s = p.loc[keep].copy()
    fixed = ["sex", "n_children", "marital_status", "poor_health", "origin", "age", "single_parent"]
    s = s.drop(columns=fixed).merge(base[fixed], left_on="pseudo_id", right_index=True, how="left")
    s = add_covariates(s)
    s["month_no"] = month_number(s["month"]).astype(np.int64)
    s["cohort"] = (s["pseudo_id"].map(base_born).astype(float) + RD_CUTOFF).astype(np.int64)
    s["event_time"] = s["month_no"] - s["cohort"]
    for c in ("employed", "self_sufficient", "exemption_9a"):
        s[c] = s[c].astype(float)
    s["hours"] = s["hours"].astype(float)
    s["pseudo_id"] = s["pseudo_id"].astype(str)
    s["eligible_month"] = s["pseudo_id"].map(base["month"].set_axis(base.index.astype(str)))
    return DesignSample(
        "exemption_9a",
        s.reset_index(drop=True),
        ("employed", "hours", "self_sufficient"),
        "exemption_9a",
        tuple(BASE_COVARIATES),
        episode_start="eligible_month",
    )


def instrument_sample(
    panel: pd.DataFrame,
    category: str,
    horizons: tuple[int, ...] = (LOCK_IN_HORIZON, *HORIZONS),
    controls_per_starter: int = 5,
    seed: int = 0,
    outcome_cols: tuple[str, ...] = ("employed", "self_sufficient"),
    eligible: str | None = None,
) -> DesignSample:
    """Starters of an instrument against not-yet-starters in the same month (dynamic comparison).

    In every calendar month, persons on bijstand who start their first spell of the instrument are
    compared with persons on bijstand who have not started it yet; outcomes are measured h months
    later. Equal elapsed benefit duration enters through duration-band covariates. Controls are a
    random subset per month (fixed seed), ``controls_per_starter`` per starter: the ATT's variance
    shrinks with (1 + 1/k), so more controls buy little precision and cost time at G4 scale.
    """
    if category not in SRG_CATEGORIES:
        raise ValueError(
            f"unknown instrument category {category!r}; expected one of {', '.join(SRG_CATEGORIES)}"
        )
    p = with_history(panel)
    p, codes = _grouped_per_person(p)  # rows are addressed by position from here on
    rows, starter, weight = _starters_and_controls(
        p, codes, category, controls_per_starter, seed, eligible
    )
    s = p.iloc[rows].reset_index(drop=True)
    s["treated"] = starter[rows].astype(float)
    s["sampling_weight"] = weight[rows]
    for c in outcome_cols:
        values = p[c].to_numpy(dtype=float, na_value=np.nan)
        for h in horizons:
            s[f"{c}_h{h}"] = _lead(values, codes, rows, h)
    s, covs = _start_month_covariates(s)
    outcomes = tuple(f"{c}_h{h}" for h in horizons for c in outcome_cols)
    return DesignSample(
        f"instrument:{category}", s.reset_index(drop=True), outcomes, "treated", covs
    )


DURATION_BANDS = ((0, 6), (6, 12), (12, 24), (24, 36), (36, 60))


def _start_month_covariates(s: pd.DataFrame) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Covariates measured in the month of the (possible) start: demographics, elapsed benefit
    duration in bands (caseworkers act on it), this month's work, labour-market history, calendar year."""
    s = add_covariates(s)
    dur = s["bijstand_duration_months"].astype(float)
    s["duration"] = dur
    for lo, hi in DURATION_BANDS:
        s[f"dur_{lo}_{hi}"] = ((dur >= lo) & (dur < hi)).astype(float)
    s["employed_now"] = s["employed"].astype(float)
    s["year"] = s["month"].dt.year
    year_dummies = pd.get_dummies(s["year"], prefix="y", drop_first=True, dtype=float)
    s = pd.concat([s, year_dummies], axis=1)
    covs = (
        *BASE_COVARIATES,
        "duration",
        *(f"dur_{lo}_{hi}" for lo, hi in DURATION_BANDS),
        "employed_now",
        *HISTORY_COVARIATES,
        *year_dummies.columns,
    )
    s["pseudo_id"] = s["pseudo_id"].astype(str)
    return s, covs


WAIT = "wait"  # the arm of those who start no instrument this month
CHOICE_HORIZONS = (3, 6, 12, 24, 36)  # 3: lock-in, while most instruments still run
CUMULATIVE_MONTHS = 24
ANY_JOB_HORIZON = 12  # any job, placements included: shown next to regular work, never ranked
# Conditions that caseworkers act on when they offer an instrument, beyond the shared covariates.
# Months before the choice whose employment share is the placebo outcome: beyond the 24 months the
# history covariates describe, so an instrument's "effect" on it is hidden selection, not an effect.
PLACEBO_MONTHS = (25, 36)
PLACEBO_OUTCOME = "employed_share_before_25_36"
CHOICE_COVARIATES = ("age_under_30", "age_50_plus", "divorced", "widowed", "debt_assistance_now")


def regular_work(panel: pd.DataFrame) -> np.ndarray:
    """Employed in a month in which no wage-cost subsidy or sheltered-work placement runs: the job a
    municipality wants people to reach, not the placement it pays for."""
    placed = (
        panel[[f"instr_{c}" for c in SUBSIDISED_JOB_INSTRUMENTS]].to_numpy(dtype=bool).any(axis=1)
    )
    return panel["employed"].to_numpy(dtype=float, na_value=np.nan) * ~placed


def instrument_choice_sample(
    panel: pd.DataFrame,
    horizons: tuple[int, ...] = CHOICE_HORIZONS,
    waits_per_starter: int = 5,
    seed: int = 0,
) -> DesignSample:
    """Every instrument and waiting, compared on one population.

    The population is every month on bijstand of a person who has not started any instrument yet:
    that month they start one of the instruments, or start nothing (wait, and perhaps start one
    later: the comparison is starting now against the municipality's usual course). Months in which
    two instruments start are left out and counted (``attrs["simultaneous_starts"]``). All starters
    are kept; waiting months are sampled per calendar month in proportion to their number, with
    ``sampling_weight`` = waiting months / sampled ones, so weighted sums stay population sums.
    """
    p = with_history(panel)
    p, codes = _grouped_per_person(p)
    since = p[[f"months_since_start_{c}" for c in SRG_CATEGORIES]].to_numpy(
        dtype=float, na_value=np.nan
    )
    now = since == 0
    n_now = now.sum(axis=1)
    first = p["on_bijstand"].to_numpy(dtype=bool) & (np.isnan(since) | now).all(axis=1)
    starters = np.flatnonzero(first & (n_now == 1))
    waiting = np.flatnonzero(first & (n_now == 0))
    month = p["month"].to_numpy()
    rate = min(1.0, waits_per_starter * len(starters) / max(len(waiting), 1))
    months, month_of = np.unique(month[waiting], return_inverse=True)
    available = np.bincount(month_of, minlength=len(months))
    quota = np.maximum(1, np.round(rate * available)).astype(np.int64)
    sampled = _sample_per_month(month_of, quota, seed)
    rows = np.concatenate([starters, waiting[sampled]])
    weight = np.concatenate([np.ones(len(starters)), (available / quota)[month_of[sampled]]])
    order = np.argsort(rows, kind="stable")
    rows, weight = rows[order], weight[order]

    # only what the covariates and subgroups are made from: the instrument columns are in `arm` now
    needed = [
        c
        for c in p.columns
        if not c.startswith(("instr_", "months_since_start_"))
        and c
        not in ("wage", "hours", "secm", "care_costs_total", "care_costs_mental", "household_type")
    ]
    s = p.iloc[rows][needed].reset_index(drop=True)
    arm_index = np.where(n_now[rows] == 1, now[rows].argmax(axis=1), len(SRG_CATEGORIES))
    s["arm"] = np.array([*SRG_CATEGORIES, WAIT])[arm_index]
    s["sampling_weight"] = weight
    regular = regular_work(p)
    series = {
        "regular_work": regular,
        "self_sufficient": p["self_sufficient"].to_numpy(dtype=float, na_value=np.nan),
        "employed": p["employed"].to_numpy(dtype=float, na_value=np.nan),
    }
    outcomes = []
    for h in horizons:
        for name, values in series.items():
            if name == "employed" and h != ANY_JOB_HORIZON or name == "self_sufficient" and h < 6:
                continue
            s[f"{name}_h{h}"] = _lead(values, codes, rows, h)
            outcomes.append(f"{name}_h{h}")
    running = np.concatenate([[0.0], np.cumsum(np.nan_to_num(regular))])
    end = _lead(
        np.arange(len(p), dtype=float), codes, rows, CUMULATIVE_MONTHS
    )  # NaN past the window
    ok = ~np.isnan(end)
    total = np.full(len(rows), np.nan)
    total[ok] = running[end[ok].astype(np.int64) + 1] - running[rows[ok] + 1]
    s[f"regular_work_months_{CUMULATIVE_MONTHS}"] = total
    outcomes.append(f"regular_work_months_{CUMULATIVE_MONTHS}")
    # a placebo outcome: work long before the choice, past the reach of the history covariates
    lo, hi = PLACEBO_MONTHS
    before = np.column_stack(
        [_lead(series["employed"], codes, rows, -m) for m in range(lo, hi + 1)]
    )
    seen = (~np.isnan(before)).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        s[PLACEBO_OUTCOME] = np.where(
            seen >= (hi - lo + 1) // 2, np.nansum(before, axis=1) / seen, np.nan
        )

    s, covs = _start_month_covariates(s)
    s["age_under_30"] = (s["age"] < 30).astype(float)
    s["age_50_plus"] = (s["age"] >= 50).astype(float)
    s["divorced"] = (s["marital_status"] == "divorced").astype(float)
    s["widowed"] = (s["marital_status"] == "widowed").astype(float)
    s["debt_assistance_now"] = s["debt_assistance"].astype(float)
    # this month's work follows the choice (a subsidised or sheltered placement is a job from its first
    # month): adjusting for it would take part of the effect away
    covs = tuple(c for c in covs if c != "employed_now")
    design = DesignSample(
        "instrument_choice", s, tuple(outcomes), "arm", (*covs, *CHOICE_COVARIATES)
    )
    design.data.attrs["simultaneous_starts"] = int((first & (n_now > 1)).sum())
    return design


COMBINED_ARMS = ("both", "mediation", "debt_only", "neither")
COMBINED_HORIZONS = (12, 24)
COMBINED_OUTCOMES = ("regular_work", "care_costs_total", "care_costs_mental")


def combined_sample(
    panel: pd.DataFrame,
    horizons: tuple[int, ...] = COMBINED_HORIZONS,
    seed: int = 0,
    outcome_cols: tuple[str, ...] = COMBINED_OUTCOMES,
) -> DesignSample:
    """Debt assistance x job mediation (bemiddeling), all four cells, among people with problematic debt.

    In each month, people on bijstand with registered problematic debt who have not had mediation
    start it or not (the dynamic comparison of ``instrument_sample``); the second factor is whether
    debt assistance has started by then. Covariates are measured in the month before the first of
    the two started: for someone whose debt assistance began earlier, before it began, so nothing it
    changed is adjusted away. Care costs at baseline are those of the calendar year before that
    month. People whose debt assistance began before the panel's first month have no such month and
    are left out (counted in ``attrs["debt_assistance_before_window"]``).
    """
    p = with_history(panel)
    p, codes = _grouped_per_person(p)
    pos, starter, weight = _starters_and_controls(
        p, codes, "bemiddeling", 5, seed, "problematic_debt"
    )
    da = p["debt_assistance"].fillna(False).to_numpy(dtype=bool)
    row = np.arange(len(p))
    first_da = pd.Series(np.where(da, row, len(p))).groupby(codes).transform("min").to_numpy()[pos]
    person_first = pd.Series(row).groupby(codes).transform("min").to_numpy()[pos]
    da_started = first_da <= pos
    before_window = da_started & (first_da == person_first)
    first_start = np.where(da_started, first_da, pos)
    ok = ~before_window & (
        first_start > person_first
    )  # the month before the first start is observed
    n_before_window = int(pd.unique(codes[pos[before_window]]).size)
    pos, first_start, da_started = pos[ok], first_start[ok], da_started[ok]
    baseline = p.iloc[first_start - 1].reset_index(drop=True)
    outcomes = tuple(f"{c}_h{h}" for h in horizons for c in outcome_cols)
    b = baseline
    b["baseline_month"] = baseline["month"]
    b["month"] = p["month"].to_numpy()[
        pos
    ]  # the month of the choice: calendar-year covariates and leads
    b["treated"] = starter[pos].astype(float)
    b["sampling_weight"] = weight[pos]
    for c in outcome_cols:
        values = (
            regular_work(p) if c == "regular_work" else p[c].to_numpy(dtype=float, na_value=np.nan)
        )
        for h in horizons:
            b[f"{c}_h{h}"] = _lead(values, codes, pos, h)
    # the calendar year before the baseline month: its December is (month number) rows earlier
    costs = p["care_costs_total"].to_numpy(dtype=float, na_value=np.nan)
    b["care_costs_base"] = _lead(
        costs, codes, first_start - 1, -b["baseline_month"].dt.month.to_numpy()
    )
    b["care_costs_base_missing"] = b["care_costs_base"].isna().astype(float)
    known = b["care_costs_base"].notna().any()
    b["care_costs_base"] = (
        b["care_costs_base"].fillna(b["care_costs_base"].mean() if known else 0.0).astype(float)
    )
    # the month before may precede the benefit (debt assistance can start first): no elapsed duration yet
    b["bijstand_duration_months"] = b["bijstand_duration_months"].fillna(0)
    b, covs = _start_month_covariates(b)
    treated = b["treated"].to_numpy() == 1
    b["debt_assistance_started"] = da_started.astype(float)
    b["arm"] = np.select(
        [treated & da_started, treated & ~da_started, ~treated & da_started],
        ["both", "mediation", "debt_only"],
        "neither",
    )
    out = DesignSample(
        "combined", b, outcomes, "arm", (*covs, "care_costs_base", "care_costs_base_missing")
    )
    out.data.attrs["debt_assistance_before_window"] = n_before_window
    return out
