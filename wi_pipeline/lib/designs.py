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

from wi_pipeline.lib.layout import SRG_CATEGORIES

# Subgroups for heterogeneity: column -> plain label. Values are fixed per person at baseline.
SUBGROUPS = {
    "sex": "sex",
    "children": "number of children",
    "marital_status": "marital status",
    "health": "health",
    "age_band": "age band",
    "origin": "origin",
}
BASE_COVARIATES = ["age", "age_sq", "woman", "poor_health_num", "n_children", "single_parent_num", "married",
                   "origin_nl"]
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


def usable_covariates(df: pd.DataFrame, covariates, treatment: str | None = None, min_count: int = 10) -> list[str]:
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


def _children_band(n: pd.Series) -> pd.Series:
    return pd.cut(n.astype(float), [-1, 0, 1, 2, np.inf], labels=["0", "1", "2", "3+"]).astype(str)


def _age_band(age: pd.Series) -> pd.Series:
    return pd.cut(age.astype(float), [0, 27, 40, 55, 200], right=False,
                  labels=["18-26", "27-39", "40-54", "55+"]).astype(str)


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
    out["children"] = _children_band(out["n_children"])
    out["health"] = np.where(out["poor_health"].astype("boolean").fillna(False), "poor", "good")
    out["age_band"] = _age_band(out["age"])
    out["marital_status"] = out["marital_status"].astype(str)
    out["sex"] = out["sex"].astype(str)
    out["origin"] = out["origin"].astype(str)
    return out


HISTORY_COVARIATES = ["employed_l1", "employed_l2", "employed_l3", "employed_share_12", "employed_share_24",
                      "months_since_first_bijstand"]


def add_history(panel: pd.DataFrame) -> pd.DataFrame:
    """Labour-market history up to the month before: who starts an instrument depends on it, and
    employment is persistent, so one month's status alone leaves confounding behind."""
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
    first = month_no.where(panel["on_bijstand"]).groupby(panel["pseudo_id"], observed=True, sort=False).transform("min")
    out["months_since_first_bijstand"] = (month_no - first).astype(float)
    hist = pd.DataFrame(out, index=panel.index)
    return pd.concat([panel, hist.fillna(hist.mean())], axis=1)


def _shift_outcome(panel: pd.DataFrame, columns: list[str], h: int) -> pd.DataFrame:
    """Each person-month's outcome h months later (the panel is complete and sorted per person)."""
    g = panel.groupby("pseudo_id", observed=True, sort=False)
    return pd.DataFrame({f"{c}_h{h}": g[c].shift(-h) for c in columns})


RD_ELIGIBILITY_AGES = (24, 35)


def exemption_rd_sample(panel: pd.DataFrame, bandwidth_months: int = 24,
                        eligibility_ages: tuple[int, int] = RD_ELIGIBILITY_AGES) -> DesignSample:
    """Single parents on bijstand when their youngest child was 2, observed around the 5th birthday.

    Eligibility is fixed well before the cutoff: being on bijstand is partly an outcome, and
    selecting on it at ages close to 60 months would bend employment there. Two years earlier that
    selection has faded, so the only jump left at 60 months is the exemption ending.
    """
    p = panel
    lo, hi = eligibility_ages
    pre = p["single_parent"] & p["on_bijstand"] & p["youngest_child_age_months"].between(lo, hi)
    eligible = p.loc[pre, "pseudo_id"].unique()
    near = p["pseudo_id"].isin(eligible) & p["youngest_child_age_months"].between(
        RD_CUTOFF - bandwidth_months - 12, RD_CUTOFF + bandwidth_months + 11)
    s = p.loc[near].copy()
    base = (p.loc[pre].sort_values("month").groupby("pseudo_id", observed=True).first())
    fixed = ["sex", "n_children", "marital_status", "poor_health", "origin", "age", "single_parent"]
    s = s.drop(columns=fixed).merge(base[fixed], left_on="pseudo_id", right_index=True, how="left")
    s = add_covariates(s)
    s["running"] = s["youngest_child_age_months"].astype(float)
    s["event_time"] = (s["running"] - RD_CUTOFF).astype(int)
    s["past_cutoff"] = (s["running"] >= RD_CUTOFF).astype(float)
    for c in ("employed", "self_sufficient", "exemption_9a"):
        s[c] = s[c].astype(float)
    s["pseudo_id"] = s["pseudo_id"].astype(str)
    return DesignSample("exemption_9a", s.reset_index(drop=True), ("employed", "hours", "self_sufficient"),
                        "exemption_9a", tuple(BASE_COVARIATES))


def instrument_sample(
    panel: pd.DataFrame,
    category: str,
    horizons: tuple[int, ...] = (LOCK_IN_HORIZON, *HORIZONS),
    controls_per_starter: int = 10,
    seed: int = 0,
    outcome_cols: tuple[str, ...] = ("employed", "self_sufficient"),
    eligible: pd.Series | None = None,
) -> DesignSample:
    """Starters of an instrument against not-yet-starters in the same month (dynamic comparison).

    In every calendar month, persons on bijstand who start their first spell of the instrument are
    compared with persons on bijstand who have not started it yet; outcomes are measured h months
    later. Equal elapsed benefit duration enters through duration-band covariates; controls are a
    random subset per month (fixed seed) to keep the sample small without losing balance.
    """
    if category not in SRG_CATEGORIES:
        raise ValueError(f"unknown instrument category {category!r}; expected one of {', '.join(SRG_CATEGORIES)}")
    p = panel.reset_index(drop=True)
    if not set(HISTORY_COVARIATES) <= set(p.columns):
        p = add_history(p)
    eligible = None if eligible is None else eligible.reset_index(drop=True)
    since = p[f"months_since_start_{category}"]
    outcome_cols = list(outcome_cols)
    shifted = pd.concat([_shift_outcome(p, outcome_cols, h) for h in horizons], axis=1)
    # a first start: the instrument starts this month and had not started before
    started_before = p.groupby("pseudo_id", observed=True, sort=False)[f"months_since_start_{category}"].shift(1).notna()
    base = p["on_bijstand"] if eligible is None else p["on_bijstand"] & eligible
    starter = base & (since == 0) & ~started_before
    # a control could have started this month: on bijstand and in no instrument (one at a time)
    in_any = p[[f"instr_{c}" for c in SRG_CATEGORIES]].any(axis=1)
    control = base & since.isna() & ~in_any
    elig = starter | control
    s = pd.concat([p.loc[elig], shifted.loc[elig]], axis=1)
    s["treated"] = starter[elig].astype(float)
    rng = np.random.default_rng(seed)
    s["_u"] = rng.random(len(s))
    n_start = s.groupby("month")["treated"].transform("sum")
    rank = s[s["treated"] == 0].groupby("month")["_u"].rank(method="first")
    keep_ctrl = (s["treated"] == 0) & (rank.reindex(s.index) <= n_start * controls_per_starter)
    s = s[(s["treated"] == 1) | keep_ctrl].drop(columns="_u")
    s = add_covariates(s)
    dur = s["bijstand_duration_months"].astype(float)
    s["duration"] = dur
    for lo, hi in ((0, 6), (6, 12), (12, 24), (24, 48)):
        s[f"dur_{lo}_{hi}"] = ((dur >= lo) & (dur < hi)).astype(float)
    s["employed_now"] = s["employed"].astype(float)
    s["year"] = s["month"].dt.year
    year_dummies = pd.get_dummies(s["year"], prefix="y", drop_first=True, dtype=float)
    s = pd.concat([s, year_dummies], axis=1)
    covs = (*BASE_COVARIATES, "duration", "dur_0_6", "dur_6_12", "dur_12_24", "dur_24_48", "employed_now",
            *HISTORY_COVARIATES, *year_dummies.columns)
    outcomes = tuple(f"{c}_h{h}" for h in horizons for c in outcome_cols)
    for c in outcomes:
        s[c] = s[c].astype("Float64").astype(float)
    s["pseudo_id"] = s["pseudo_id"].astype(str)
    return DesignSample(f"instrument:{category}", s.reset_index(drop=True), outcomes, "treated", covs)


COMBINED_ARMS = ("both", "mediation", "neither", "debt_only")


def combined_sample(panel: pd.DataFrame, horizon: int = 12, seed: int = 0,
                    outcome_cols: tuple[str, ...] = ("employed", "care_costs_total")) -> DesignSample:
    """People on bijstand with problematic debt: mediation together with debt assistance, mediation alone, neither.

    A dynamic comparison like the instruments': in each month, those who start mediation
    (bemiddeling) are compared with those who have not started it yet, all with registered
    problematic debt; the arm also records whether debt assistance is running in that month.
    Outcomes: employment ``horizon`` months later and healthcare costs of the calendar year then.
    """
    design = instrument_sample(panel, "bemiddeling", horizons=(horizon,), seed=seed,
                               outcome_cols=outcome_cols, eligible=panel["problematic_debt"].astype(bool))
    s = design.data
    debt = s["debt_assistance"].astype(bool)
    treated = s["treated"] == 1
    s["arm"] = np.select([treated & debt, treated & ~debt, ~treated & ~debt], ["both", "mediation", "neither"], "debt_only")
    s["care_costs_base"] = s["care_costs_total"].astype(float)
    outcomes = (f"employed_h{horizon}", f"care_costs_total_h{horizon}")
    return DesignSample("combined", s, outcomes, "arm", (*design.covariates, "care_costs_base"))
