"""Per-measure effect estimates, overall and per subgroup, as one tidy table.

Every row carries its estimate with standard error, 95% interval, p-value, a Holm-adjusted p-value
across all subgroups of one family (measure x outcome x horizon x contrast), N per arm, degrees of
freedom, method and diagnostics. Rows that cannot be estimated or may not be published are kept
and marked, never dropped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from wi_pipeline.estimation._inference import holm
from wi_pipeline.lib.designs import (
    COMBINED_ARMS,
    CUMULATIVE_MONTHS,
    RD_CUTOFF,
    SUBGROUPS,
    WAIT,
    DesignSample,
    combined_sample,
    exemption_rd_sample,
    exemption_staggered_sample,
    instrument_choice_sample,
    one_episode_per_person,
    usable_covariates,
    with_history,
)
from wi_pipeline.lib.disclosure import (
    COMPLEMENTARY,
    DisclosureRules,
    dominance_reason,
    exposed_by_differencing,
    fewer_than,
    not_estimable,
)
from wi_pipeline.lib.layout import SRG_CATEGORIES

EFFECT_COLUMNS = [
    "measure",
    "gemeente",
    "subgroup",
    "subgroup_value",
    "outcome",
    "outcome_label",
    "unit",
    "horizon",
    "contrast",
    "comparison",
    "estimate",
    "std_error",
    "ci_low",
    "ci_high",
    "p_value",
    "p_adjusted",
    "mde_80",
    "level_treated",
    "level_control",
    "n_treated",
    "n_control",
    "df_resid",
    "rank",
    "rank_low",
    "rank_high",
    "in_best_set",
    "heterogeneity_p",
    "heterogeneity_test",
    "robustness_value",
    "method",
    "diagnostics",
    "suppressed",
    "suppression_reason",
]
POOLED = "G4"
SUBGROUP_HORIZON = 12  # subgroup heterogeneity of the instruments is estimated at this horizon
CHOICE = "instrument_choice"
INTERACTION = "interaction: (both - debt_only) - (mediation - neither)"
# (z_0.975 + z_0.80): the true effect an estimate with this standard error detects with 80% power
MDE_FACTOR = 2.8016

SHARE = "share of persons (0.01 = 1 percentage point)"
OUTCOMES_IN_WORDS = {
    "regular_work": (
        "in regular work: a job that is not a running wage-cost subsidy or sheltered-work placement",
        SHARE,
    ),
    "employed": ("in any job, subsidised and sheltered work included", SHARE),
    "self_sufficient": ("self-sufficient: not on bijstand", SHARE),
    f"regular_work_months_{CUMULATIVE_MONTHS}": (
        f"months in regular work in the {CUMULATIVE_MONTHS} months after the start",
        "months",
    ),
    "hours": ("hours worked in the month", "hours per month"),
    "care_costs_total": ("healthcare costs in the calendar year", "euros per person per year"),
    "care_costs_mental": (
        "mental healthcare costs in the calendar year",
        "euros per person per year",
    ),
}


def outcome_in_words(outcome: str, horizon: int, measure: str) -> tuple[str, str]:
    """What an outcome measures, when, and in which unit."""
    label, unit = OUTCOMES_IN_WORDS.get(outcome, (outcome, ""))
    if measure == "exemption_9a":
        return f"{label}, in the month (by the youngest child's age in months)", unit
    if outcome.startswith("regular_work_months"):
        return label, unit
    when = f"{horizon} months after the start"
    if measure == CHOICE and horizon == 3:
        when += " (lock-in: most instruments still run)"
    return f"{label}, {when}", unit


def comparison_in_words(measure: str, contrast: str) -> str:
    """Who is compared with whom, for a reader who has not seen the design."""
    if measure == CHOICE:
        instrument = contrast.split(" vs ")[0]
        return (
            f"starting {instrument} in a month, against starting no instrument that month (waiting), for "
            "everyone on bijstand who has not had an instrument yet"
        )
    if measure == "combined":
        who = "people on bijstand with problematic debt who have not had job mediation"
        if contrast == INTERACTION:
            return (
                f"{who}: how much more job mediation does once debt assistance has started (the effect of "
                "mediation with debt assistance minus its effect without)"
            )
        arms = {
            "both": "starting job mediation after debt assistance has started",
            "mediation": "starting job mediation without debt assistance",
            "neither": "neither (no mediation this month, no debt assistance yet)",
            "debt_only": "debt assistance started, no mediation this month",
        }
        a, b = contrast.split(" vs ")
        return f"{who}: {arms.get(a, a)}, against {arms.get(b, b)}"
    if contrast.startswith("staggered"):
        return (
            "single parents on bijstand: the months after the youngest child's 5th birthday (the "
            "exemption ends), against parents whose child turns 5 later, in the same calendar months"
        )
    if contrast.startswith(RD_ROBUSTNESS):
        return _robustness_in_words(contrast)
    if contrast.startswith("exemption"):
        return (
            "single parents on bijstand: the effect of the art. 9a exemption for parents whom "
            "the 5th birthday "
            "moves out of it (fuzzy regression discontinuity)"
        )
    return "single parents on bijstand: just after the youngest child's 5th birthday against just before"


def _robustness_in_words(contrast: str) -> str:
    what = (
        "the effect of the art. 9a exemption (fuzzy regression discontinuity)"
        if "fuzzy" in contrast
        else "just after the youngest child's 5th birthday against just before"
    )
    if "placebo cutoff" in contrast:
        at = contrast.split("placebo cutoff at ")[1].split(" months")[0]
        side = "under 60 months" if "under 60" in contrast else "60 months or older"
        return (
            f"single parents on bijstand, check: just after the youngest child turns {at} months against "
            f"just before, among children {side} only; nothing changes there, so an estimate far from "
            "zero would point at a trend the design does not capture"
        )
    if "donut" in contrast:
        months = contrast.split("donut without ages ")[1].split(" months")[0]
        return (
            f"single parents on bijstand, check: {what}, leaving out the months the child is {months} "
            "months old, right at the birthday (the estimate should not rest on them alone)"
        )
    return (
        f"single parents on bijstand, check: {what}, with another bandwidth (months either side of the "
        "birthday) than the published estimate"
    )


def _scalar_diagnostics(diag: dict) -> str:
    def ok(v):
        return isinstance(v, (int, float, str, bool, type(None))) and not (
            isinstance(v, float) and math.isnan(v)
        )

    flat = {}
    for k, v in (diag or {}).items():
        if isinstance(v, dict):
            flat.update({f"{k}.{kk}": vv for kk, vv in v.items() if ok(vv)})
        elif ok(v):
            flat[k] = v
        elif isinstance(v, (np.floating, np.integer, np.bool_)):
            flat[k] = v.item()
    return json.dumps(flat, default=str, sort_keys=True)


def _row(base: dict, result=None, reason: str | None = None, n=(0, 0)) -> dict:
    row = {
        **base,
        "estimate": np.nan,
        "std_error": np.nan,
        "ci_low": np.nan,
        "ci_high": np.nan,
        "p_value": np.nan,
        "level_treated": np.nan,
        "level_control": np.nan,
        "rank": np.nan,
        "rank_low": np.nan,
        "rank_high": np.nan,
        "in_best_set": np.nan,
        "heterogeneity_p": np.nan,
        "heterogeneity_test": "",
        "robustness_value": np.nan,
        "n_treated": n[0],
        "n_control": n[1],
        "df_resid": np.nan,
        "method": "",
        "diagnostics": "{}",
        "suppressed": reason is not None,
        "suppression_reason": reason or "",
    }
    if result is not None:
        row.update(
            estimate=result.estimate,
            std_error=result.std_error,
            ci_low=result.ci_low,
            ci_high=result.ci_high,
            p_value=result.p_value,
            n_treated=int(result.n_treated),
            n_control=int(result.n_control),
            df_resid=float(getattr(result, "df_resid", np.nan)),
            method=result.method,
            diagnostics=_scalar_diagnostics(result.diagnostics),
        )
    return row


def _subsets(df: pd.DataFrame, subgroups: Iterable[str]) -> Iterable[tuple[str, str, pd.DataFrame]]:
    yield "all", "all", df
    for col in subgroups:
        for value, part in df.groupby(col, observed=True, sort=True):
            yield col, str(value), part


def _municipality_effects(df: pd.DataFrame) -> list[str]:
    """Municipality fixed effects for pooled estimates (one dummy per city but the first)."""
    if "gemeente" not in df or df["gemeente"].nunique() < 2:
        return []
    dummies = sorted(df["gemeente"].astype(str).unique())[1:]
    for gm in dummies:
        df[f"fe_{gm}"] = (df["gemeente"].astype(str) == gm).astype(float)
    return [f"fe_{gm}" for gm in dummies]


def pooled_design(panels: dict[str, pd.DataFrame], build, **kw):
    """Build a design within each municipality and stack the samples (clusters stay per person); a
    design with one episode per person keeps one across the municipalities too."""
    parts = [build(panel, **kw) for _, panel in sorted(panels.items())]
    first = parts[0]
    data = pd.concat([d.data for d in parts], ignore_index=True)
    if first.episode_start is not None and len(parts) > 1:
        data = one_episode_per_person(data, first.episode_start)
    return replace(first, data=data)


@dataclass
class ExemptionFits:
    """What the pooled table's exemption plots are drawn from, kept as ``estimate_all`` makes it: the
    pooled RD sample and each outcome's staggered event study (group-time result, dynamic aggregation)."""

    rd_sample: pd.DataFrame | None = None
    staggered_design: DesignSample | None = None
    staggered: dict[str, tuple] = field(default_factory=dict)


def persons_per_arm(part: pd.DataFrame, treated: pd.Series) -> tuple[int, int]:
    """Distinct persons per arm: disclosure counts persons, and a control can appear in many months."""
    ids = part["pseudo_id"]
    return int(ids[treated].nunique()), int(ids[~treated].nunique())


def _with_persons(row: dict, persons: tuple[int, int]) -> dict:
    """Persons per arm in n_treated/n_control (what disclosure counts); observations go to diagnostics."""
    diag = json.loads(row["diagnostics"])
    diag.update(n_obs_treated=row["n_treated"], n_obs_control=row["n_control"])
    row["n_treated"], row["n_control"] = persons
    row["diagnostics"] = json.dumps(diag, sort_keys=True, default=str)
    return row


def _try(fn, base, n, persons=None, **kw):
    """One estimate as a row; ``persons(result)`` gives the persons per arm behind it."""
    try:
        result = fn(**kw)
    except (ValueError, np.linalg.LinAlgError) as err:
        return _row(base, reason=not_estimable(err), n=n)
    row = _row(base, result)
    return row if persons is None else _with_persons(row, persons(result))


def _rd_persons(part: pd.DataFrame):
    def count(result):
        left, right = _rd_person_sets(part, RD_CUTOFF, result.diagnostics)
        return len(right), len(left)

    return count


def _rd_person_sets(
    part: pd.DataFrame,
    cutoff: float,
    bandwidths: dict,
    sample=(-np.inf, np.inf),
    excluded=(np.nan, np.nan),
) -> tuple[frozenset, frozenset]:
    """The persons an RD estimate rests on, left and right: positive kernel weight (as rdrobust's N_h),
    inside the rows the estimate used (a placebo's side of the real cutoff, outside a donut)."""
    from wi_pipeline.estimation import rd_window

    x = part["running"].to_numpy(dtype=float)
    keep = (x >= sample[0]) & (x < sample[1])
    if not np.isnan(excluded[0]):
        keep &= ~((x >= excluded[0]) & (x < excluded[1]))
    h_left = bandwidths.get("bandwidth_left", bandwidths.get("bandwidth"))
    h_right = bandwidths.get("bandwidth_right", bandwidths.get("bandwidth"))
    left, right = rd_window(x, cutoff, h_left, h_right)
    ids = part["pseudo_id"].to_numpy()
    return frozenset(ids[keep & left]), frozenset(ids[keep & right])


# The robustness table is estimated on the overall sample for one outcome, the sharp reduced form and
# the fuzzy LATE: bandwidth multiples of the MSE-optimal h (b = h, rdrobust's rule for a fixed h), a
# donut without the months just before and at the cutoff (ages 59 and 60), and placebo cutoffs a year
# either side using only the parents on that side of 60 (Cattaneo, Idrobo & Titiunik 2020, section 5).
RD_ROBUSTNESS_OUTCOME = "employed"
RD_DONUT_MONTHS = 1
RD_PLACEBO_CUTOFFS = (RD_CUTOFF - 12, RD_CUTOFF + 12)
RD_ROBUSTNESS = "RD robustness"


def is_rd_robustness(table: pd.DataFrame) -> pd.Series:
    """Rows of the RD robustness table: checks on a published estimate, for referees, not headlines."""
    return table["contrast"].astype(str).str.startswith(RD_ROBUSTNESS)


def _robustness_contrast(
    variant: str, fuzzy: bool, multiple=np.nan, cutoff=np.nan, h=np.nan, dropped: str = ""
) -> str:
    head = f"{RD_ROBUSTNESS}{', fuzzy LATE' if fuzzy else ''}: "
    h_words = "" if np.isnan(h) else f"h = {h:.1f} months"
    if variant == "bandwidth":
        return (
            head + f"bandwidth {multiple:g}x MSE-optimal ({h_words + ', ' if h_words else ''}b = h)"
        )
    if variant == "donut":
        return head + f"donut without ages {dropped} months" + (f" ({h_words})" if h_words else "")
    side = "under 60" if cutoff < RD_CUTOFF else "60 and over"
    return (
        head
        + f"placebo cutoff at {cutoff:g} months (ages {side} only{'; ' + h_words if h_words else ''})"
    )


def _planned_robustness(fuzzy: bool) -> list[dict]:
    from wi_pipeline.estimation.discontinuity import ROBUSTNESS_MULTIPLES

    plan = [dict(variant="bandwidth", multiple=m) for m in ROBUSTNESS_MULTIPLES]
    dropped = " and ".join(str(RD_CUTOFF + k) for k in range(-RD_DONUT_MONTHS, RD_DONUT_MONTHS))
    plan.append(dict(variant="donut", dropped=dropped))
    if not fuzzy:
        plan += [dict(variant="placebo", cutoff=float(c)) for c in RD_PLACEBO_CUTOFFS]
    return plan


def _rd_robustness_rows(
    part: pd.DataFrame,
    base: dict,
    main: dict,
    seen: list[frozenset],
    fuzzy: bool,
    covariates: list[str] | None,
    rules: DisclosureRules,
) -> list[dict]:
    """The robustness table of one published RD row as effect rows (each variant its own contrast).

    Withheld: a variant with fewer than ``min_units`` persons on a side, and one whose persons on a
    side are nested in (or contain) a side of a row published before it (``seen``, extended here)
    and differ by 1 to ``min_units - 1``: the bandwidth ladder, the donut and the main rows count
    persons in nested windows of months, so subtracting them would give the persons in a few months.
    """
    from wi_pipeline.estimation import rd_robustness

    n = (int(main["n_treated"]), int(main["n_control"]))
    if main["suppressed"]:
        return [
            _row(
                {**base, "contrast": _robustness_contrast(fuzzy=fuzzy, **v)},
                reason=main["suppression_reason"],
                n=n,
            )
            for v in _planned_robustness(fuzzy)
        ]
    diag = json.loads(main["diagnostics"])
    table = rd_robustness(
        part,
        RD_ROBUSTNESS_OUTCOME,
        "running",
        RD_CUTOFF,
        "exemption_9a" if fuzzy else None,
        bandwidth=(diag["bandwidth_left"], diag["bandwidth_right"]),
        placebo_cutoffs=() if fuzzy else RD_PLACEBO_CUTOFFS,
        donut=RD_DONUT_MONTHS,
        unit="pseudo_id",
        cluster="pseudo_id",
        covariates=covariates,
    )
    rows = []
    for r in table.itertuples(index=False):
        contrast = _robustness_contrast(
            r.variant,
            fuzzy,
            r.multiple,
            r.cutoff,
            r.bandwidth_left,
            r.excluded_values.replace(", ", " and "),
        )
        b = {**base, "contrast": contrast}
        if r.error:
            rows.append(_row(b, reason=not_estimable(ValueError(r.error)), n=n))
            continue
        persons = (int(r.persons_right), int(r.persons_left))
        sets = _rd_person_sets(
            part,
            r.cutoff,
            r._asdict(),
            (r.sample_low, r.sample_high),
            (r.excluded_low, r.excluded_high),
        )
        if min(persons) < rules.min_units:
            rows.append(_row(b, reason=fewer_than(rules, "persons on a side"), n=persons))
            continue
        if exposed_by_differencing(sets, seen, rules):
            rows.append(_row(b, reason=COMPLEMENTARY, n=persons))
            continue
        seen.extend(sets)
        row = _row(b, n=persons)
        row.update(
            estimate=r.estimate,
            std_error=r.std_error,
            ci_low=r.ci_low,
            ci_high=r.ci_high,
            p_value=r.p_value,
            df_resid=float(r.df_resid),
            method=f"{r.label}. {r.method}",
            diagnostics=json.dumps(
                {
                    "variant": r.variant,
                    "cutoff": r.cutoff,
                    "bandwidth": r.bandwidth_left,
                    "bandwidth_left": r.bandwidth_left,
                    "bandwidth_right": r.bandwidth_right,
                    "bandwidth_bias": r.bandwidth_bias,
                    "estimate_conventional": r.estimate_conventional,
                    "std_error_conventional": r.std_error_conventional,
                    "p_value_conventional": r.p_value_conventional,
                    "excluded_ages": r.excluded_values,
                    "n_obs_treated": int(r.n_right),
                    "n_obs_control": int(r.n_left),
                },
                sort_keys=True,
                default=str,
            ),
        )
        rows.append(row)
    return rows


def exemption_effects(
    panels: dict[str, pd.DataFrame],
    gemeente: str,
    subgroups: Iterable[str] = tuple(SUBGROUPS),
    rules: DisclosureRules = DisclosureRules(),
    fits: ExemptionFits | None = None,
) -> list[dict]:
    from wi_pipeline.estimation import estimate_discontinuity

    design = pooled_design(panels, exemption_rd_sample)
    df = design.data
    if fits is not None:
        fits.rd_sample = df
    fe = _municipality_effects(df)
    small = fewer_than(rules, "persons on a side")
    rows = []
    for sub, value, part in _subsets(df, subgroups):
        past = part["running"] >= RD_CUTOFF
        n = persons_per_arm(part, past)
        covs = usable_covariates(part, fe) or None
        first_rd_row = len(rows)
        for i, outcome in enumerate(design.outcome_columns):
            base = dict(
                measure="exemption_9a",
                gemeente=gemeente,
                subgroup=sub,
                subgroup_value=value,
                outcome=outcome,
                horizon=0,
                contrast="child aged 60+ months vs under 60 (reduced form)",
            )
            reason = (
                small if min(n) < rules.min_units else dominance_reason(part, outcome, past, rules)
            )
            if reason:
                rows.append(_row(base, reason=reason, n=n))
                continue
            # the manipulation test depends on the running variable only: once per subset
            rows.append(
                _try(
                    estimate_discontinuity,
                    base,
                    n,
                    _rd_persons(part),
                    df=part,
                    outcome=outcome,
                    running="running",
                    cutoff=RD_CUTOFF,
                    cluster="pseudo_id",
                    covariates=covs,
                    density_test=i == 0,
                )
            )
        base = dict(
            measure="exemption_9a",
            gemeente=gemeente,
            subgroup=sub,
            subgroup_value=value,
            outcome="employed",
            horizon=0,
            contrast="exemption (fuzzy RD, LATE)",
        )
        if min(n) >= rules.min_units:
            rows.append(
                _try(
                    estimate_discontinuity,
                    base,
                    n,
                    _rd_persons(part),
                    df=part,
                    outcome="employed",
                    running="running",
                    cutoff=RD_CUTOFF,
                    fuzzy="exemption_9a",
                    cluster="pseudo_id",
                    covariates=covs,
                    density_test=False,
                )
            )
        else:
            rows.append(_row(base, reason=small, n=n))
        rd_rows = rows[first_rd_row:]
        if sub == "all":
            # main RD rows are published at the MSE-optimal bandwidth of the full sample at 60 months
            seen = [
                s
                for r in rd_rows
                if not r["suppressed"]
                for s in _rd_person_sets(part, RD_CUTOFF, json.loads(r["diagnostics"]))
            ]
            sharp = next(r for r in rd_rows if r["outcome"] == RD_ROBUSTNESS_OUTCOME)
            for fuzzy, main in ((False, sharp), (True, rd_rows[-1])):
                rows += _rd_robustness_rows(
                    part, {k: main[k] for k in base}, main, seen, fuzzy, covs, rules
                )
    return rows


# Event times computed around the 5th birthday: a year on each side (the dynamic table's size, and
# what keeps dozens of monthly cohorts x ~100 months to seconds).
STAGGERED_WINDOW = (-12, 12)
STAGGERED_CONTRAST = (
    "staggered DiD (Callaway-Sant'Anna): mean effect in months 0..12 after the 5th "
    "birthday, not-yet-treated controls"
)


def exemption_staggered_did(design, outcome: str = "employed"):
    """Group-time effects of the exemption ending at the 5th birthday, cohorts by calendar month.

    Every cell against the month before the birthday (universal base period): the event-study plot then
    reads as usual (a smooth pre-trend shows as a slope, not as month-to-month steps), and its estimates
    and covariance are what a Rambachan-Roth sensitivity analysis takes (as HonestDiD uses did). The
    post-birthday estimates are the same under did's default varying base."""
    from wi_pipeline.estimation import estimate_staggered_did

    return estimate_staggered_did(
        design.data,
        outcome,
        unit="pseudo_id",
        time="month_no",
        cohort="cohort",
        control_group="not_yet_treated",
        cluster="pseudo_id",
        base_period="universal",
        event_window=STAGGERED_WINDOW,
    )


# Rambachan & Roth (2023) on the staggered event study: months in bins of a quarter (HonestDiD's exact
# search is fast for a handful of periods, not for 12 monthly post-periods), Mbar up to 2.
SENSITIVITY_BIN_MONTHS = 3
SENSITIVITY_MBAR = (0.5, 1.0, 1.5, 2.0)


def parallel_trend_sensitivity(
    dynamic, width: int = SENSITIVITY_BIN_MONTHS, mbar: tuple[float, ...] = SENSITIVITY_MBAR
) -> pd.DataFrame:
    """How far parallel trends may fail before the effect is no longer significant: relative
    magnitudes (Rambachan & Roth 2023) on the event study binned by ``width`` months.

    Bins end at the reference month -1: [-width, -1] is the reference bin, earlier complete bins are
    the pre-periods, [0, width - 1], [width, 2 width - 1], ... the post-periods; each bin's estimate is
    its months' mean minus the reference bin's, a linear map of the event-time estimates, so its
    covariance follows exactly. The target is the mean over the post bins. Rows: the original interval
    (mbar NaN), then one per Mbar; ``breakdown_mbar`` in ``attrs``."""
    from wi_pipeline.estimation import breakdown_mbar, original_ci, relative_magnitudes

    table, vcov = dynamic.table, dynamic.vcov
    e = table.index.to_numpy()
    known = table["std_error"].notna().to_numpy()
    beta = np.where(
        known, table["estimate"].to_numpy(dtype=float), 0.0
    )  # the reference month: 0 exactly
    sigma = np.zeros((len(e), len(e)))
    sigma[np.ix_(known, known)] = vcov.to_numpy()[np.ix_(known, known)]
    pre = [np.arange(-k * width, -(k - 1) * width) for k in range(e.min() // -width, 1, -1)]
    post = [np.arange(k * width, (k + 1) * width) for k in range((e.max() + 1) // width)]
    reference = np.arange(-width, 0)
    bins = [b for b in pre if b.min() >= e.min()] + post
    if (
        not all(np.isin(b, e).all() for b in [*bins, reference])
        or not post
        or len(bins) == len(post)
    ):
        raise ValueError(
            f"the event study's months {e.min()}..{e.max()} do not fill bins of {width} months "
            "around the reference month"
        )
    A = np.zeros((len(bins), len(e)))
    for i, b in enumerate(bins):
        A[i, np.isin(e, b)] += 1 / width
        A[i, np.isin(e, reference)] -= 1 / width
    b_hat, s_hat = A @ beta, A @ sigma @ A.T
    n_pre, n_post = len(bins) - len(post), len(post)
    l_vec = np.full(n_post, 1 / n_post)
    original = original_ci(b_hat, s_hat, n_pre, n_post, l_vec=l_vec)
    half = 40 * float(original["std_error"].iloc[0])
    centre = float(original["estimate"].iloc[0])
    robust = relative_magnitudes(
        b_hat,
        s_hat,
        n_pre,
        n_post,
        mbar=mbar,
        l_vec=l_vec,
        grid_lb=centre - half,
        grid_ub=centre + half,
    )
    out = pd.concat([original.assign(mbar=np.nan), robust], ignore_index=True)
    out.attrs["breakdown_mbar"] = breakdown_mbar(robust)
    out.attrs["bins"] = (
        f"{n_pre} pre and {n_post} post bins of {width} months, reference months -{width}..-1"
    )
    return out


def exemption_staggered_effects(
    panels: dict[str, pd.DataFrame],
    gemeente: str,
    rules: DisclosureRules = DisclosureRules(),
    fits: ExemptionFits | None = None,
) -> list[dict]:
    """The exemption as staggered adoption (Callaway & Sant'Anna): per outcome the event-study average over
    months 0..12 after the birthday, with did's pre-test of all pre-birthday cells and the joint test of
    the pre-birthday event months in the diagnostics. Persons per arm: parents in a treated (after their
    child's birthday) and in a control (child not yet 5) arm of any post-birthday cell. Each outcome's
    event study is kept in ``fits`` for the plot."""
    design = pooled_design(panels, exemption_staggered_sample)
    df = design.data
    if fits is not None:
        fits.staggered_design = design
    rows = []
    for outcome in design.outcome_columns:
        base = dict(
            measure="exemption_9a",
            gemeente=gemeente,
            subgroup="all",
            subgroup_value="all",
            outcome=outcome,
            horizon=0,
            contrast=STAGGERED_CONTRAST,
        )
        if df.empty:
            rows.append(_row(base, reason=fewer_than(rules, "persons in an arm")))
            continue
        try:
            result = exemption_staggered_did(design, outcome)
            dynamic = result.aggregate("dynamic", na_rm=True)
        except (ValueError, np.linalg.LinAlgError) as err:
            rows.append(_row(base, reason=not_estimable(err)))
            continue
        if fits is not None:
            fits.staggered[outcome] = (result, dynamic)
        o = dynamic.overall
        n = (o.n_treated, o.n_control)
        reason = (
            fewer_than(rules, "persons in an arm")
            if min(n) < rules.min_units
            else dominance_reason(df, outcome, df["event_time"] >= 0, rules)
        )
        if reason:
            rows.append(_row(base, reason=reason, n=n))
            continue
        simple = result.aggregate("simple", na_rm=True).overall
        o.df_resid = float(
            sum(n) - 2
        )  # each cell is a difference of two arm means (inference is normal)
        cells, event = result.pretrend_test, dynamic.pretrend_test
        tests = {}
        if cells:
            tests.update(
                pretrend_cells_chi2=cells.statistic,
                pretrend_cells_df=cells.df,
                pretrend_cells_p_value=cells.p_value,
            )
        else:
            tests["pretrend_cells_unavailable"] = result.diagnostics.get("pretrend_unavailable", "")
        if event:
            tests.update(
                pretrend_event_chi2=event.statistic,
                pretrend_event_df=event.df,
                pretrend_event_p_value=event.p_value,
            )
        o.diagnostics = {
            **tests,
            "n_cohorts": result.diagnostics["n_cohorts"],
            "n_event_times": len(dynamic.table),
            "n_cells": result.diagnostics["n_cells"],
            "event_window": "{}..{}".format(*STAGGERED_WINDOW),
            "simple_att": simple.estimate,
            "simple_att_std_error": simple.std_error,
            "n_clusters": o.n_units,
            "cells_withheld_in_plot": int(
                (dynamic.table[["n_treated", "n_control"]].min(axis=1) < rules.min_units).sum()
            ),
        }
        try:
            sensitivity = parallel_trend_sensitivity(dynamic)
            at_1 = sensitivity[sensitivity["mbar"] == 1.0].iloc[0]
            o.diagnostics.update(
                rm_breakdown_mbar=sensitivity.attrs["breakdown_mbar"],
                rm_ci_low_mbar_1=float(at_1["ci_low"]),
                rm_ci_high_mbar_1=float(at_1["ci_high"]),
                rm_bins=sensitivity.attrs["bins"],
            )
        except ValueError as err:  # a window too short to bin: the row stands, without the analysis
            o.diagnostics["rm_unavailable"] = not_estimable(err)
        rows.append(_row(base, o, n=n))
    return rows


def sensitivity_in_words(table: pd.DataFrame) -> str:
    """The staggered rows' Rambachan-Roth analysis for a reader: how large a violation of parallel
    trends, relative to the largest one before the birthday, the effect survives."""
    rows = table[
        (table["contrast"] == STAGGERED_CONTRAST)
        & (table["subgroup"] == "all")
        & ~table["suppressed"].astype(bool)
    ]
    lines = []
    for _, r in rows.iterrows():
        d = json.loads(r["diagnostics"])
        if "rm_breakdown_mbar" not in d:
            continue
        lines.append(
            f"- {r['outcome']}: {r['estimate']:+.4f} (95% CI {r['ci_low']:+.4f} to {r['ci_high']:+.4f}); "
            f"if after the birthday parallel trends fail by as much as the largest failure before it "
            f"(Mbar 1), the interval is {d['rm_ci_low_mbar_1']:+.4f} to {d['rm_ci_high_mbar_1']:+.4f}; "
            f"significant up to Mbar {d['rm_breakdown_mbar']:g} ({d['rm_bins']})."
        )
    head = (
        "Sensitivity to parallel-trend violations (Rambachan & Roth 2023, relative magnitudes), the mean "
        "effect over the post-birthday bins:"
    )
    return "\n".join([head, *lines]) if lines else head + " not available."


def exemption_staggered_points(
    fits: ExemptionFits, outcome: str = "employed"
) -> tuple[pd.DataFrame, str]:
    """The dynamic aggregation's event-time table (pre-birthday months included) for the plot, with a person
    count per month (its smaller arm) for disclosure control, and the pre-tests in words. The event study
    is the one the effect rows were estimated from (``fits``); one they could not estimate is tried again
    here, so the plot fails with the estimator's own message."""
    if outcome in fits.staggered:
        result, dynamic = fits.staggered[outcome]
    else:
        result = exemption_staggered_did(fits.staggered_design, outcome)
        dynamic = result.aggregate("dynamic", na_rm=True)
    table = dynamic.table.copy()
    table["n_units"] = table[["n_treated", "n_control"]].min(axis=1)
    cells = (
        f"did's pre-test of every pre-birthday cell: {result.pretrend_test}"
        if result.pretrend_test
        else "did's pre-test of the cells is not available: "
        + result.diagnostics.get("pretrend_unavailable", "")
    )
    event = f"; the {dynamic.pretrend_test}" if dynamic.pretrend_test else ""
    return table, cells + event


CHOICE_SUBGROUP_OUTCOMES = ("regular_work_h12", "self_sufficient_h12")
# Monthly start hazards are small for every instrument, so an absolute floor on the scores would drop
# most of the population, and Lechner's min-max rule dropped a sixth of it on the default data. Every
# arm is open to everyone in the population; overlap is shown (scores per arm, effective sample sizes)
# rather than bought by changing who is compared.
CHOICE_TRIM = None
CHOICE_BATCH = 3  # outcomes estimated together after the ones with subgroups
# The label of a missing subgroup value (e.g. health without cost data): the estimator needs a label
# on every row, but no row or test is published for it
MISSING_SUBGROUP = "(missing)"


def _split_outcome(column: str) -> tuple[str, int]:
    """'regular_work_h12' -> ('regular_work', 12); the cumulative outcome counts to its own end."""
    if column.startswith("regular_work_months_"):
        return column, CUMULATIVE_MONTHS
    name, h = column.rsplit("_h", 1)
    return name, int(h)


def _choice_persons(df: pd.DataFrame, outcome: str, subgroups: Iterable[str]) -> pd.DataFrame:
    """Distinct persons per arm in every cell (overall and per subgroup value) with the outcome observed."""
    d = df[df[outcome].notna()]
    parts = [
        d.groupby("arm", observed=True)["pseudo_id"]
        .nunique()
        .rename("n")
        .reset_index()
        .assign(subgroup="all", subgroup_value="all")
    ]
    for dim in subgroups:
        parts.append(
            d.groupby([dim, "arm"], observed=True)["pseudo_id"]
            .nunique()
            .rename("n")
            .reset_index()
            .rename(columns={dim: "subgroup_value"})
            .assign(subgroup=dim)
        )
    out = pd.concat(parts, ignore_index=True)
    out["subgroup_value"] = out["subgroup_value"].astype(str)
    return out.set_index(["subgroup", "subgroup_value", "arm"])["n"]


def instrument_choice_effects(
    panels: dict[str, pd.DataFrame],
    gemeente: str,
    subgroups: Iterable[str] = tuple(SUBGROUPS),
    rules: DisclosureRules = DisclosureRules(),
) -> list[dict]:
    """Every instrument against waiting, on one population, with ranks and heterogeneity tests.

    One multinomial propensity model and doubly robust average potential outcomes for every arm
    (``estimate_multivalued_treatments``); each row is one instrument's contrast with waiting.
    Ranks, the best set and the tests use only arms with enough persons to be published in the
    cell, so nothing withheld shapes a published number. ``panels`` carry their history."""
    from wi_pipeline.estimation.multivalued import estimate_multivalued_treatments

    subgroups = tuple(subgroups)
    design = pooled_design(panels, instrument_choice_sample)
    df = design.data
    covariates = usable_covariates(df, [*design.covariates, *_municipality_effects(df)])
    for dim in subgroups:
        df[dim] = df[dim].astype(str).where(df[dim].notna(), MISSING_SUBGROUP)
    rows = []
    # the outcomes with subgroups, then the rest a few at a time: every outcome held at once costs
    # gigabytes at G4 size, a refit of the propensity model seconds
    rest = [c for c in design.outcome_columns if c not in CHOICE_SUBGROUP_OUTCOMES]
    with_groups = [c for c in design.outcome_columns if c in CHOICE_SUBGROUP_OUTCOMES]
    batches = [(with_groups, list(subgroups))] if with_groups else []
    batches += [(rest[i : i + CHOICE_BATCH], []) for i in range(0, len(rest), CHOICE_BATCH)]
    for outcomes, groups in batches:
        try:
            results = estimate_multivalued_treatments(
                df,
                outcomes=outcomes,
                treatment="arm",
                covariates=covariates,
                cluster="pseudo_id",
                weights="sampling_weight",
                groups=groups or None,
                trim=CHOICE_TRIM,
            )
        except (ValueError, np.linalg.LinAlgError) as err:
            reason = not_estimable(err)
            rows += [
                _row(_choice_base(gemeente, "all", "all", column, k), reason=reason)
                for column in outcomes
                for k in SRG_CATEGORIES
            ]
            continue
        rows += _choice_rows(df, results, gemeente, subgroups, rules)
        del results
    return rows


def _choice_rows(
    df: pd.DataFrame,
    results: dict,
    gemeente: str,
    subgroups: tuple[str, ...],
    rules: DisclosureRules,
) -> list[dict]:
    rows = []
    for column, result in results.items():
        persons = _choice_persons(
            df, column, subgroups if column in CHOICE_SUBGROUP_OUTCOMES else ()
        )
        cells = [("all", "all")]
        if column in CHOICE_SUBGROUP_OUTCOMES:
            observed = df.loc[df[column].notna()]
            cells += [
                (dim, str(v))
                for dim in subgroups
                for v in sorted(observed[dim].unique())
                if v != MISSING_SUBGROUP
            ]
        amount = not df[column].dropna().isin([0, 1]).all()
        for dim, value in cells:
            cell = result if dim == "all" else result.within(dim, value)
            n = {arm: int(persons.get((dim, value, arm), 0)) for arm in (*SRG_CATEGORIES, WAIT)}
            shown = [
                k for k in SRG_CATEGORIES if n[k] >= rules.min_units and n[WAIT] >= rules.min_units
            ]
            ranks, best = _ranks(cell, shown)
            for k in SRG_CATEGORIES:
                base = _choice_base(gemeente, dim, value, column, k)
                if k not in shown:
                    rows.append(
                        _row(
                            base,
                            reason=fewer_than(rules, "persons in an arm"),
                            n=(n[k], n[WAIT]),
                        )
                    )
                    continue
                if amount:
                    part = df[
                        df["arm"].isin([k, WAIT]) & (df[dim] == value if dim != "all" else True)
                    ]
                    reason = dominance_reason(part, column, part["arm"] == k, rules)
                    if reason:
                        rows.append(_row(base, reason=reason, n=(n[k], n[WAIT])))
                        continue
                contrast = cell.contrast(k, WAIT)
                if (
                    dim == "all"
                ):  # the headline effects: how strong would hidden confounding have to be
                    contrast.diagnostics.update(cell.sensitivity(k, WAIT))
                row = _row(base, contrast, n=(n[k], n[WAIT]))
                row["robustness_value"] = contrast.diagnostics.get("robustness_value", np.nan)
                row["n_treated"], row["n_control"] = n[k], n[WAIT]
                apo = cell.potential_outcomes
                row["level_treated"], row["level_control"] = (
                    float(apo.loc[k, "estimate"]),
                    float(apo.loc[WAIT, "estimate"]),
                )
                if k in ranks.index:
                    row.update(
                        rank=ranks.loc[k, "rank"],
                        rank_low=ranks.loc[k, "rank_low"],
                        rank_high=ranks.loc[k, "rank_high"],
                        in_best_set=float(k in best),
                    )
                row["heterogeneity_p"], row["heterogeneity_test"] = _heterogeneity(
                    result, k, dim, column, persons, rules
                )
                rows.append(row)
    return rows


def _choice_base(gemeente: str, dim: str, value: str, column: str, instrument: str) -> dict:
    outcome, horizon = _split_outcome(column)
    return dict(
        measure=CHOICE,
        gemeente=gemeente,
        subgroup=dim,
        subgroup_value=value,
        outcome=outcome,
        horizon=horizon,
        contrast=f"{instrument} vs {WAIT}",
    )


def _ranks(cell, arms: list[str]) -> tuple[pd.DataFrame, list[str]]:
    """Simultaneous 95% rank sets and the best set among the instruments that can be published."""
    if len(arms) < 2:
        return pd.DataFrame(columns=["rank", "rank_low", "rank_high"]), list(arms)
    return cell.rank_sets(level=0.95, arms=arms), list(cell.best_set(level=0.95, arms=arms))


def _heterogeneity(
    result, instrument: str, dim: str, column: str, persons: pd.Series, rules: DisclosureRules
) -> tuple[float, str]:
    """The test that goes with a row: on a subgroup row, is this instrument's effect equal across the
    dimension's values (joint Wald test over the values with enough persons); on the overall row of
    an outcome with subgroups, is there any heterogeneity at all (best linear predictor)."""
    if column not in CHOICE_SUBGROUP_OUTCOMES:
        return np.nan, ""
    if dim == "all":
        test = result.blp_test(instrument, WAIT)
        return float(test.p_value), (
            "best linear predictor of the effect (Chernozhukov, Demirer, Duflo & "
            "Fernandez-Val): is there any heterogeneity; one-sided p"
        )
    values = [
        v
        for (d, v, arm), n in persons.items()
        if d == dim
        and arm == instrument
        and n >= rules.min_units
        and v != MISSING_SUBGROUP
        and persons.get((d, v, WAIT), 0) >= rules.min_units
    ]
    if len(values) < 2:
        return np.nan, ""
    test = result.heterogeneity_test(instrument, WAIT, dim, values=values)
    return float(
        test.p_value
    ), f"Wald test that the effect is equal across {SUBGROUPS[dim]} ({len(values)} values)"


# The full 2x2 of debt assistance x mediation: every simple effect, and the interaction (does
# removing the debt obstacle make mediation work better?) as (APO both - APO debt_only) -
# (APO mediation - APO neither).
COMBINED_CONTRASTS = {
    "mediation vs neither": {"mediation": 1, "neither": -1},
    "debt_only vs neither": {"debt_only": 1, "neither": -1},
    "both vs debt_only": {"both": 1, "debt_only": -1},
    "both vs mediation": {"both": 1, "mediation": -1},
    "both vs neither": {"both": 1, "neither": -1},
    INTERACTION: {"both": 1, "debt_only": -1, "mediation": -1, "neither": 1},
}


def combined_effects(
    panels: dict[str, pd.DataFrame],
    gemeente: str,
    subgroups: Iterable[str] = tuple(SUBGROUPS),
    rules: DisclosureRules = DisclosureRules(),
) -> list[dict]:
    """The 2x2 on one population (people with problematic debt who have not had mediation): doubly
    robust average potential outcomes of the four cells from one multinomial propensity model, each
    contrast and the interaction from their joint covariance. ``panels`` carry their history."""
    from wi_pipeline.estimation.multivalued import estimate_multivalued_treatments

    subgroups = tuple(subgroups)
    design = pooled_design(panels, combined_sample)
    df = design.data
    covariates = usable_covariates(df, [*design.covariates, *_municipality_effects(df)])
    for dim in subgroups:
        df[dim] = df[dim].astype(str)

    def base(column, dim, value, contrast):
        outcome, horizon = _split_outcome(column)
        return dict(
            measure="combined",
            gemeente=gemeente,
            subgroup=dim,
            subgroup_value=value,
            outcome=outcome,
            horizon=horizon,
            contrast=contrast,
        )

    try:
        results = estimate_multivalued_treatments(
            df,
            outcomes=design.outcome_columns,
            treatment="arm",
            covariates=covariates,
            cluster="pseudo_id",
            weights="sampling_weight",
            groups=list(subgroups) or None,
            trim=CHOICE_TRIM,
        )
    except (ValueError, np.linalg.LinAlgError) as err:
        return [
            _row(base(c, "all", "all", k), reason=not_estimable(err))
            for c in design.outcome_columns
            for k in COMBINED_CONTRASTS
        ]
    rows = []
    for column, result in results.items():
        persons = _choice_persons(df, column, subgroups)
        observed = df[df[column].notna()]
        amount = not observed[column].isin([0, 1]).all()
        cells = [
            ("all", "all"),
            *((dim, str(v)) for dim in subgroups for v in sorted(observed[dim].unique())),
        ]
        for dim, value in cells:
            cell = result if dim == "all" else result.within(dim, value)
            inside = observed if dim == "all" else observed[observed[dim] == value]
            n = {arm: int(persons.get((dim, value, arm), 0)) for arm in COMBINED_ARMS}
            for contrast, coefficients in COMBINED_CONTRASTS.items():
                rows.append(
                    _combined_row(
                        base(column, dim, value, contrast),
                        cell,
                        inside,
                        column,
                        coefficients,
                        n,
                        amount,
                        rules,
                    )
                )
    return rows


def _combined_row(
    base: dict,
    cell,
    part: pd.DataFrame,
    column: str,
    coefficients: dict,
    n: dict,
    amount: bool,
    rules: DisclosureRules,
) -> dict:
    """One contrast of the 2x2; persons per side count each person once (a person's months can fall
    in more than one cell), and every cell in the contrast needs enough persons of its own."""
    plus = [k for k, c in coefficients.items() if c > 0]
    minus = [k for k, c in coefficients.items() if c < 0]
    sides = tuple(
        int(part.loc[part["arm"].isin(arms), "pseudo_id"].nunique()) for arms in (plus, minus)
    )
    if min(n[k] for k in coefficients) < rules.min_units:
        return _row(
            base,
            reason=fewer_than(rules, "persons in a cell of the comparison"),
            n=sides,
        )
    if amount:
        for a, b in zip(plus, minus):
            pair = part[part["arm"].isin([a, b])]
            reason = dominance_reason(pair, column, pair["arm"] == a, rules)
            if reason:
                return _row(base, reason=reason, n=sides)
    result = cell.linear_contrast(coefficients)
    result.diagnostics.update({f"persons_{k}": n[k] for k in coefficients})
    row = _row(base, result, n=sides)
    row["n_treated"], row["n_control"] = sides
    apo = cell.potential_outcomes
    if len(coefficients) == 2:
        row["level_treated"], row["level_control"] = (
            float(apo.loc[plus[0], "estimate"]),
            float(apo.loc[minus[0], "estimate"]),
        )
    return row


def adjust_pvalues(table: pd.DataFrame) -> pd.Series:
    """Holm adjustment across all subgroup estimates of one measure, outcome, horizon and contrast
    (every dimension together: a reader scans them all for "who benefits"); the overall row is its
    own family. The instruments compared on one population form one family per outcome and horizon,
    every instrument and subgroup together, since the reader compares them all at once."""
    keys = ["measure", "gemeente", "outcome", "horizon", "contrast"]
    family = table[keys].astype(str).agg("|".join, axis=1) + np.where(
        table["subgroup"] == "all", "|all", "|sub"
    )
    choice = table["measure"] == CHOICE
    family = family.where(
        ~choice,
        table[["measure", "gemeente", "outcome", "horizon"]].astype(str).agg("|".join, axis=1),
    )
    return table["p_value"].groupby(family, sort=False).transform(lambda p: holm(p.to_numpy()))


def _in_words(table: pd.DataFrame) -> pd.DataFrame:
    """Outcome, unit and who-with-whom in words, and the minimum detectable effect, on every row."""
    words = [
        outcome_in_words(o, int(h), m)
        for o, h, m in zip(table["outcome"], table["horizon"], table["measure"])
    ]
    table["outcome_label"] = [w[0] for w in words]
    table["unit"] = [w[1] for w in words]
    table["comparison"] = [
        comparison_in_words(m, c) for m, c in zip(table["measure"], table["contrast"])
    ]
    table["mde_80"] = MDE_FACTOR * table["std_error"].astype(float)
    return table


def estimate_all(
    panels: dict[str, pd.DataFrame],
    gemeente: str,
    subgroups: Iterable[str] = tuple(SUBGROUPS),
    rules: DisclosureRules = DisclosureRules(),
    fits: ExemptionFits | None = None,
) -> pd.DataFrame:
    """All measures for one municipality ({gemeente: panel}) or pooled over several (``gemeente`` = 'G4').

    Diagnostics are complete here (for researchers in the secure environment); ``apply_disclosure``
    makes the table publishable. Given ``fits``, the exemption's RD sample and event studies are kept
    there for the plots, so they are not made a second time.
    """
    subgroups = tuple(subgroups)
    unknown = set(subgroups) - set(SUBGROUPS)
    if unknown:
        raise ValueError(
            f"unknown subgroup dimension(s) {sorted(unknown)}; choose from {list(SUBGROUPS)}"
        )
    histories = {
        gm: with_history(p) for gm, p in panels.items()
    }  # once, for both instrument designs
    rows = [
        *exemption_effects(panels, gemeente, subgroups, rules, fits),
        *exemption_staggered_effects(panels, gemeente, rules, fits),
        *instrument_choice_effects(histories, gemeente, subgroups, rules),
        *combined_effects(histories, gemeente, subgroups, rules),
    ]
    table = _in_words(pd.DataFrame(rows))
    table["p_adjusted"] = adjust_pvalues(table)
    table["in_best_set"] = table["in_best_set"].astype(float)
    return table[EFFECT_COLUMNS]


# Effects on employment the literature reports (shares; domain.md): what a design should be able to see.
MEDIATION_LITERATURE = (0.02, 0.05, "job mediation: +2 to +5 percentage points")
LITERATURE_EFFECTS = {
    "exemption_9a": (
        0.01,
        0.05,
        "the jump at the youngest child's 5th birthday: 1 to 5 percentage points",
    ),
    "bemiddeling": MEDIATION_LITERATURE,
    "scholing": (0.03, 0.08, "training after its lock-in: +3 to +8 percentage points"),
    "loonkostensubsidie": (
        0.02,
        0.06,
        "wage-cost subsidy after it ends: +2 to +6 percentage points",
    ),
    "combined": MEDIATION_LITERATURE,
}
GENERIC_LITERATURE = (
    0.02,
    0.05,
    "active labour-market programmes (Card, Kluve & Weber 2018): a few percentage "
    "points, near zero in the first year",
)


def literature_effect(measure: str, contrast: str) -> tuple[float, float, str]:
    """The effect size on employment the literature reports for a row's measure."""
    if measure == CHOICE:
        return LITERATURE_EFFECTS.get(contrast.split(" vs ")[0], GENERIC_LITERATURE)
    return LITERATURE_EFFECTS.get(measure, GENERIC_LITERATURE)


def power_in_words(table: pd.DataFrame) -> str:
    """Per published headline estimate on work, whether its design could detect an effect of the size the
    literature reports (minimum detectable effect at 80% power against the top of that range)."""
    work = table["outcome"].isin(["employed", "regular_work"]) & (table["subgroup"] == "all")
    work &= ~is_rd_robustness(table)  # checks of a headline estimate, not headlines themselves
    rows = table[work & ~table["suppressed"].astype(bool) & table["mde_80"].notna()]
    lines = [
        "Minimum detectable effect (MDE): the true effect an estimate with this standard error detects with "
        "80% power at the 5% level (2.8 standard errors)."
    ]
    for _, r in rows.iterrows():
        low, high, words = literature_effect(r["measure"], r["contrast"])
        mde = float(r["mde_80"])
        if mde > high:
            verdict = (
                f"cannot detect an effect of the size the literature reports ({words}); a result that is not "
                "significant here says little"
            )
        elif mde > low:
            verdict = f"detects only the larger effects the literature reports ({words})"
        else:
            verdict = f"can detect effects of the size the literature reports ({words})"
        lines.append(
            f"- {r['gemeente']}, {r['measure']}, {r['contrast']}, {r['outcome']} at {int(r['horizon'])} "
            f"months: MDE {mde * 100:.1f} pp; {verdict}."
        )
    if len(lines) == 1:
        lines.append("- No published estimate on work.")
    return "\n".join(lines)


WHAT_WORKS_OUTCOME = ("regular_work", SUBGROUP_HORIZON)


def what_works_for_whom(effects: pd.DataFrame) -> pd.DataFrame:
    """Per municipality and subgroup, every instrument against waiting on regular work a year after the
    start, in percentage points, with its rank set, whether it is in the best set and whether it is
    clearly better or worse than waiting (Holm across all instruments and subgroups).

    Withheld estimates stay in the list, unranked and marked with the reason in words, so a reader
    sees that an instrument was evaluated but cannot be shown rather than thinking it was never
    looked at.
    """
    from wi_pipeline.lib.disclosure import reason_in_words

    outcome, horizon = WHAT_WORKS_OUTCOME
    t = effects[
        (effects["measure"] == CHOICE)
        & (effects["outcome"] == outcome)
        & (effects["horizon"] == horizon)
    ].copy()
    t["instrument"] = t["contrast"].str.split(" vs ").str[0]
    pp = {
        c: t[c].astype(float) * 100
        for c in ("estimate", "ci_low", "ci_high", "level_treated", "level_control")
    }
    clearly = np.select(
        [
            (t["p_adjusted"] < 0.05) & (t["estimate"] > 0),
            (t["p_adjusted"] < 0.05) & (t["estimate"] < 0),
            t["suppressed"].astype(bool),
        ],
        ["better than waiting", "worse than waiting", ""],
        "not distinguishable from waiting",
    )
    rank_set = np.where(
        t["rank_low"].isna(),
        "",
        t["rank_low"].astype("Int64").astype(str)
        + np.where(
            t["rank_low"] == t["rank_high"], "", "-" + t["rank_high"].astype("Int64").astype(str)
        ),
    )
    out = pd.DataFrame(
        {
            "gemeente": t["gemeente"],
            "subgroup": t["subgroup"].map(lambda d: SUBGROUPS.get(d, d)),
            "subgroup_value": t["subgroup_value"],
            "instrument": t["instrument"],
            "outcome": t["outcome_label"],
            "effect_pp": pp["estimate"].round(2),
            "ci_low_pp": pp["ci_low"].round(2),
            "ci_high_pp": pp["ci_high"].round(2),
            "regular_work_pct_if_started": pp["level_treated"].round(1),
            "regular_work_pct_if_waiting": pp["level_control"].round(1),
            "rank": t["rank"],
            "rank_set": rank_set,
            "in_best_set": t["in_best_set"].map({1.0: "yes", 0.0: "no"}).fillna(""),
            "clearly": clearly,
            "p_holm": t["p_adjusted"].round(4),
            "heterogeneity_p": t["heterogeneity_p"].round(4),
            "heterogeneity_test": t["heterogeneity_test"],
            "robustness_value": t["robustness_value"].round(4),
            "persons_started": t["n_treated"],
            "persons_waiting": t["n_control"],
            "withheld": t["suppressed"].astype(bool),
            "withheld_because": t["suppression_reason"].map(reason_in_words),
        }
    )
    return (
        out.assign(_o=t["subgroup"].ne("all").to_numpy())
        .sort_values(["gemeente", "_o", "subgroup", "subgroup_value", "rank"], na_position="last")
        .drop(columns="_o")
        .reset_index(drop=True)
    )


def tailoring_tests(table: pd.DataFrame) -> pd.DataFrame:
    """One heterogeneity test per instrument and subgroup dimension of a what-works table's published
    rows, Holm-adjusted together (``p_holm``). An instrument worse than waiting for everyone is no
    option to tailor, so its tests are left out."""
    t = table[~table["withheld"].astype(bool)]
    worse = t.loc[(t["subgroup"] == "all") & (t["clearly"] == "worse than waiting"), "instrument"]
    tests = t[
        (t["subgroup"] != "all") & t["heterogeneity_p"].notna() & ~t["instrument"].isin(worse)
    ]
    tests = tests.drop_duplicates(["instrument", "subgroup"])
    return tests.assign(p_holm=holm(tests["heterogeneity_p"].to_numpy()) if len(tests) else [])


def tailoring_in_words(table: pd.DataFrame, gemeente: str = POOLED, alpha: float = 0.05) -> str:
    """What the what-works-for-whom table says for one municipality, in sentences a policy officer
    can act on: the best set overall, where the data support tailoring and where one answer fits all."""
    t = table[(table["gemeente"] == gemeente) & ~table["withheld"]]
    if t.empty:
        return f"{gemeente}: no instrument could be published (too few persons)."
    overall = t[t["subgroup"] == "all"]
    lines = [
        f"**{gemeente}: regular work a year after the start, each instrument against waiting.**"
    ]
    best = sorted(overall.loc[overall["in_best_set"] == "yes", "instrument"])
    if best:
        lines.append(
            f"- For everyone: the best instrument is among {', '.join(best)} (95% confidence, ranks "
            "compared jointly)."
        )
    better = sorted(overall.loc[overall["clearly"] == "better than waiting", "instrument"])
    worse = sorted(overall.loc[overall["clearly"] == "worse than waiting", "instrument"])
    lines.append(
        f"- Clearly better than waiting (Holm-adjusted over all instruments and subgroups): "
        f"{', '.join(better) or 'none'}; clearly worse: {', '.join(worse) or 'none'}."
    )
    tests = tailoring_tests(t)
    supported = tests[tests["p_holm"] < alpha]
    if len(supported):
        for dim, part in supported.groupby("subgroup", sort=True):
            for _, r in part.sort_values("instrument").iterrows():
                cells = t[(t["subgroup"] == dim) & (t["instrument"] == r["instrument"])]
                effects = "; ".join(
                    f"{v}: {e:+.1f} pp" for v, e in zip(cells["subgroup_value"], cells["effect_pp"])
                )
                lines.append(
                    f"- Tailoring supported: the effect of {r['instrument']} differs by {dim} "
                    f"(p = {r['heterogeneity_p']:.3f}, Holm {r['p_holm']:.3f}; {effects})."
                )
        lines.append(
            f"- Elsewhere ({len(tests) - len(supported)} of {len(tests)} instrument-by-dimension tests) the "
            "data show no difference between groups: one answer fits everyone there."
        )
    else:
        lines.append(
            f"- No instrument's effect differs clearly between groups ({len(tests)} tests): the data do not "
            "support tailoring by sex, children, marital status, health, age or origin."
        )
    lines.append(
        f"- Tests are Holm-adjusted over all {len(tests)} instrument-by-dimension tests at the 5% level."
    )
    return "\n".join(lines)
