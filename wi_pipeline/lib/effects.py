"""Per-measure effect estimates, overall and per subgroup, as one tidy table.

Every row carries its estimate with standard error, 95% interval, p-value, a Holm-adjusted p-value
across the subgroups of one family (measure x outcome x horizon x subgroup dimension), N per arm,
degrees of freedom, method and diagnostics. Rows that cannot be estimated or may not be published
are kept and marked, never dropped.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import numpy as np
import pandas as pd

from wi_pipeline.lib.designs import (HORIZONS, LOCK_IN_HORIZON, SUBGROUPS, add_history, combined_sample,
                                     exemption_rd_sample, instrument_sample, usable_covariates)
from wi_pipeline.lib.designs import RD_CUTOFF
from wi_pipeline.lib.disclosure import DisclosureRules, Nested, suppress_cells, suppress_effect_table
from wi_pipeline.lib.layout import SRG_CATEGORIES

EFFECT_COLUMNS = [
    "measure", "gemeente", "subgroup", "subgroup_value", "outcome", "horizon", "contrast", "estimate", "std_error",
    "ci_low", "ci_high", "p_value", "p_adjusted", "n_treated", "n_control", "df_resid", "method", "diagnostics",
    "suppressed", "suppression_reason",
]
POOLED = "G4"
MIN_ARM = 10  # below this an arm is not even estimated (disclosure control marks it too)
SUBGROUP_HORIZON = 12  # subgroup heterogeneity is estimated at this horizon for the instruments


def _scalar_diagnostics(diag: dict) -> str:
    def ok(v):
        return isinstance(v, (int, float, str, bool, type(None))) and not (isinstance(v, float) and math.isnan(v))
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
    row = {**base, "estimate": np.nan, "std_error": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan,
           "n_treated": n[0], "n_control": n[1], "df_resid": np.nan, "method": "", "diagnostics": "{}",
           "suppressed": reason is not None, "suppression_reason": reason or ""}
    if result is not None:
        row.update(estimate=result.estimate, std_error=result.std_error, ci_low=result.ci_low, ci_high=result.ci_high,
                   p_value=result.p_value, n_treated=int(result.n_treated), n_control=int(result.n_control),
                   df_resid=float(getattr(result, "df_resid", np.nan)), method=result.method,
                   diagnostics=_scalar_diagnostics(result.diagnostics))
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
    """Build a design within each municipality and stack the samples (clusters stay per person)."""
    parts = [build(panel, **kw) for _, panel in sorted(panels.items())]
    first = parts[0]
    data = pd.concat([d.data for d in parts], ignore_index=True)
    return type(first)(first.measure, data, first.outcome_columns, first.treatment, first.covariates, first.cluster)


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
        return _row(base, reason=f"not estimable: {err}"[:200], n=n)
    row = _row(base, result)
    return row if persons is None else _with_persons(row, persons(result))


def _rd_persons(part: pd.DataFrame):
    def count(result):
        d = result.diagnostics
        h_left = d.get("bandwidth_left", d.get("bandwidth"))
        h_right = d.get("bandwidth_right", d.get("bandwidth"))
        r = part["running"]
        left = part.loc[(r < RD_CUTOFF) & (r >= RD_CUTOFF - h_left), "pseudo_id"].nunique()
        right = part.loc[(r >= RD_CUTOFF) & (r <= RD_CUTOFF + h_right), "pseudo_id"].nunique()
        return int(right), int(left)
    return count


def exemption_effects(panels: dict[str, pd.DataFrame], gemeente: str, subgroups: Iterable[str] = tuple(SUBGROUPS)) -> list[dict]:
    from wi_pipeline.estimation import estimate_discontinuity, estimate_event_study

    design = pooled_design(panels, exemption_rd_sample)
    df = design.data
    fe = _municipality_effects(df)
    rows = []
    for sub, value, part in _subsets(df, subgroups):
        n = persons_per_arm(part, part["running"] >= RD_CUTOFF)
        covs = usable_covariates(part, fe) or None
        for i, outcome in enumerate(design.outcome_columns):
            base = dict(measure="exemption_9a", gemeente=gemeente, subgroup=sub, subgroup_value=value,
                        outcome=outcome, horizon=0, contrast="child aged 60+ months vs under 60 (reduced form)")
            if min(n) < MIN_ARM:
                rows.append(_row(base, reason="fewer than 10 persons on a side", n=n))
                continue
            # the manipulation test depends on the running variable only: once per subset
            rows.append(_try(estimate_discontinuity, base, n, _rd_persons(part), df=part, outcome=outcome,
                             running="running", cutoff=RD_CUTOFF, cluster="pseudo_id", covariates=covs,
                             density_test=i == 0))
        base = dict(measure="exemption_9a", gemeente=gemeente, subgroup=sub, subgroup_value=value,
                    outcome="employed", horizon=0, contrast="exemption (fuzzy RD, LATE)")
        if min(n) >= MIN_ARM:
            rows.append(_try(estimate_discontinuity, base, n, _rd_persons(part), df=part, outcome="employed",
                             running="running", cutoff=RD_CUTOFF, fuzzy="exemption_9a", cluster="pseudo_id",
                             covariates=covs, density_test=False))
        else:
            rows.append(_row(base, reason="fewer than 10 persons on a side", n=n))
        if sub == "all":
            base = dict(measure="exemption_9a", gemeente=gemeente, subgroup=sub, subgroup_value=value,
                        outcome="employed", horizon=0, contrast="event study: mean post - pre, person and month FE")
            rows.append(_try(estimate_event_study, base, n, df=part, outcome="employed", unit="pseudo_id",
                             event_time="event_time", window=(-12, 12), reference=-1, cluster="pseudo_id", time="month"))
    return rows


def instrument_effects(panels: dict[str, pd.DataFrame], gemeente: str, subgroups: Iterable[str] = tuple(SUBGROUPS),
                       categories: Iterable[str] = SRG_CATEGORIES) -> list[dict]:
    """Per instrument and horizon, both outcomes overall; heterogeneity in employment a year after the start."""
    rows = []
    panels = {gm: add_history(p) for gm, p in panels.items()}  # once, not per instrument
    for cat in categories:
        design = pooled_design(panels, instrument_sample, category=cat)
        df = design.data
        covariates = [*design.covariates, *_municipality_effects(df)]
        for h in (LOCK_IN_HORIZON, *HORIZONS):
            def base(outcome, sub="all", value="all", h=h):
                return dict(measure=f"instrument:{cat}", gemeente=gemeente, subgroup=sub, subgroup_value=value,
                            outcome=outcome, horizon=h,
                            contrast="starters vs not-yet-starters" + (" (lock-in)" if h == LOCK_IN_HORIZON else ""))
            outcomes = {"employed": f"employed_h{h}", "self_sufficient": f"self_sufficient_h{h}"}
            rows += _att_rows(base, df, outcomes, covariates)
            if h == SUBGROUP_HORIZON:
                col = outcomes["employed"]
                for sub, value, part in _subsets(df[df[col].notna()], subgroups):
                    if sub != "all":
                        rows += _att_rows(lambda o, sub=sub, value=value: base(o, sub, value), part,
                                          {"employed": col}, covariates)
    return rows


def _att_rows(base, part: pd.DataFrame, outcomes: dict[str, str], covariates: list[str]) -> list[dict]:
    """Doubly robust ATTs of ``treated`` on each outcome ({label: column}); withheld rows when an arm
    is too small. Outcomes observed on the same rows share one propensity model."""
    from wi_pipeline.estimation import estimate_treatment_effects

    present = part[list(outcomes.values())].notna()
    same_rows = bool(present.eq(present.iloc[:, 0], axis=0).all(axis=None))
    groups = [list(outcomes)] if same_rows else [[label] for label in outcomes]
    rows = []
    for labels in groups:
        sample = part[present[outcomes[labels[0]]].to_numpy()]
        n = persons_per_arm(sample, sample["treated"] == 1)
        if min(n) < MIN_ARM:
            rows += [_row(base(lb), reason="fewer than 10 persons in an arm", n=n) for lb in labels]
            continue
        try:
            results = estimate_treatment_effects(sample, [outcomes[lb] for lb in labels], "treated",
                                                 usable_covariates(sample, covariates, "treated"),
                                                 estimand="ATT", cluster="pseudo_id")
        except (ValueError, np.linalg.LinAlgError) as err:
            rows += [_row(base(lb), reason=f"not estimable: {err}"[:200], n=n) for lb in labels]
            continue
        rows += [_with_persons(_row(base(lb), r), n) for lb, r in zip(labels, results)]
    return rows


# (treated arm, control arm): both vs mediation is the added value of removing the debt obstacle.
COMBINED_CONTRASTS = (("both", "mediation"), ("mediation", "neither"), ("both", "neither"))


def combined_effects(panels: dict[str, pd.DataFrame], gemeente: str, subgroups: Iterable[str] = tuple(SUBGROUPS)) -> list[dict]:
    design = pooled_design({gm: add_history(p) for gm, p in panels.items()}, combined_sample)
    df = design.data
    covariates = [*design.covariates, *_municipality_effects(df)]
    outcomes = {c.rsplit("_h", 1)[0]: c for c in design.outcome_columns}
    horizon = int(design.outcome_columns[0].rsplit("_h", 1)[1])
    rows = []
    for treated_arm, control_arm in COMBINED_CONTRASTS:
        pair = df[df["arm"].isin([treated_arm, control_arm])].copy()
        pair["treated"] = (pair["arm"] == treated_arm).astype(float)
        for sub, value, part in _subsets(pair, subgroups):
            def base(outcome, sub=sub, value=value):
                return dict(measure="combined", gemeente=gemeente, subgroup=sub, subgroup_value=value,
                            outcome=outcome, horizon=horizon, contrast=f"{treated_arm} vs {control_arm}")
            rows += _att_rows(base, part, outcomes, covariates)
    return rows


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjustment; NaN p-values stay NaN and do not count as tests.

    (statsmodels' multipletests runs a full garbage collection per call: far too slow for
    hundreds of families.)
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m:
        order = np.argsort(p[ok], kind="stable")
        stepped = np.maximum.accumulate((m - np.arange(m)) * p[ok][order]).clip(max=1.0)
        adjusted = np.empty(m)
        adjusted[order] = stepped
        out[ok] = adjusted
    return out


def _holm(p: pd.Series) -> pd.Series:
    return pd.Series(holm(p.to_numpy()), index=p.index)


def adjust_pvalues(table: pd.DataFrame) -> pd.Series:
    """Holm adjustment within each family of subgroup estimates (the overall row is its own family)."""
    keys = ["measure", "gemeente", "outcome", "horizon", "contrast", "subgroup"]
    family = table[keys].astype(str).agg("|".join, axis=1)
    return table["p_value"].groupby(family, sort=False).transform(_holm)


def _complementary_rows(t: pd.DataFrame, withheld: pd.Series, count_col: str, rules: DisclosureRules) -> pd.Index:
    """Rows to withhold so that no withheld arm count can be recovered by subtraction from its parent.

    Only breakdowns whose counts nest in the parent are considered: where a person's subgroup
    changes over time (controls are person-months) the children overlap, and subtraction yields
    no group's count.
    """
    family = t["gemeente"] + "|" + t["measure"] + "|" + t["outcome"] + "|" + t["horizon"].astype(str) + "|" + t["contrast"]
    counts = pd.DataFrame({
        "n": t[count_col].astype(float).where(~withheld),  # a withheld row counts as withheld
        "_group": family + "|" + t["subgroup"] + "=" + t["subgroup_value"],
        "_parent": (family + "|all=all").where(t["subgroup"] != "all"),
        "_breakdown": family + "|" + t["subgroup"],
        "_family": family,
    })
    parent_n = t.loc[t["subgroup"] == "all"].assign(_f=family).set_index("_f")[count_col].astype(float)
    child_sum = t[count_col].astype(float).groupby(counts["_breakdown"]).transform("sum")
    nests = (t["subgroup"] == "all") | (child_sum <= counts["_family"].map(parent_n))
    use = nests & ~t["measure"].eq("exemption_9a")  # RD subgroups each have their own bandwidth
    comp = suppress_cells(counts.loc[use, ["n", "_group", "_parent", "_breakdown"]], "n", [], rules,
                          nested=Nested("_group", "_parent", "_breakdown"))
    return comp.index[comp["suppressed"].to_numpy() & ~withheld.loc[comp.index].to_numpy()]


def apply_disclosure(table: pd.DataFrame, rules: DisclosureRules = DisclosureRules()) -> pd.DataFrame:
    """Publishable effect table: small arms, small models and what they expose are withheld, not dropped.

    Primary suppression: an arm under ``min_units`` persons or a model under ``min_df``. Then
    complementary suppression on each arm, repeated until nothing changes.
    """
    t = table.copy()
    pre_suppressed, pre_reason = t.pop("suppressed"), t.pop("suppression_reason")
    out = suppress_effect_table(t, rules)
    out["suppressed"] = out["suppressed"] | pre_suppressed
    while True:
        newly = _complementary_rows(t, out["suppressed"], "n_treated", rules).union(
            _complementary_rows(t, out["suppressed"], "n_control", rules))
        if newly.empty:
            break
        out.loc[newly, ["estimate", "std_error", "ci_low", "ci_high", "p_value", "n_treated", "n_control"]] = np.nan
        out.loc[newly, "suppressed"] = True
        out.loc[newly, "suppression_reason"] = "complementary"
    out["suppression_reason"] = np.where(pre_suppressed, pre_reason, out["suppression_reason"].fillna(""))
    return out[EFFECT_COLUMNS]


def estimate_all(panels: dict[str, pd.DataFrame], gemeente: str, subgroups: Iterable[str] = tuple(SUBGROUPS)) -> pd.DataFrame:
    """All measures for one municipality ({gemeente: panel}) or pooled over several (``gemeente`` = 'G4')."""
    subgroups = tuple(subgroups)
    unknown = set(subgroups) - set(SUBGROUPS)
    if unknown:
        raise ValueError(f"unknown subgroup dimension(s) {sorted(unknown)}; choose from {list(SUBGROUPS)}")
    rows = [*exemption_effects(panels, gemeente, subgroups), *instrument_effects(panels, gemeente, subgroups),
            *combined_effects(panels, gemeente, subgroups)]
    table = pd.DataFrame(rows)
    table["p_adjusted"] = adjust_pvalues(table)
    return table[EFFECT_COLUMNS]


def what_works_for_whom(effects: pd.DataFrame) -> pd.DataFrame:
    """For each subgroup, the instruments ranked by their effect on employment 12 months after the start."""
    t = effects[(effects["measure"].str.startswith("instrument:")) & (effects["outcome"] == "employed")
                & (effects["horizon"] == SUBGROUP_HORIZON) & ~effects["suppressed"]].copy()
    t["instrument"] = t["measure"].str.removeprefix("instrument:")
    t["rank"] = t.groupby(["gemeente", "subgroup", "subgroup_value"])["estimate"].rank(ascending=False, method="min")
    t["clearly_positive"] = t["ci_low"] > 0
    cols = ["gemeente", "subgroup", "subgroup_value", "rank", "instrument", "estimate", "ci_low", "ci_high",
            "p_adjusted", "n_treated", "n_control", "clearly_positive"]
    return t.sort_values(["gemeente", "subgroup", "subgroup_value", "rank"])[cols].reset_index(drop=True)


def disclosure_violations(table: pd.DataFrame, rules: DisclosureRules = DisclosureRules()) -> list[str]:
    """What in a published effect table breaks the output rules (empty when it may be published)."""
    shown = table[~table["suppressed"].astype(bool)]
    problems = []
    for col in ("n_treated", "n_control"):
        bad = int((shown[col].astype(float) < rules.min_units).sum())
        if bad:
            problems.append(f"{bad} published rows with {col} under {rules.min_units}")
    bad_df = int(((shown["df_resid"].astype(float) < rules.min_df) | shown["df_resid"].isna()).sum())
    if bad_df:
        problems.append(f"{bad_df} published rows from a model with under {rules.min_df} degrees of freedom")
    hidden = table[table["suppressed"].astype(bool)]
    if hidden[["estimate", "std_error", "ci_low", "ci_high"]].notna().any().any():
        problems.append("withheld rows still show values")
    return problems


def exemption_event_study(panels: dict[str, pd.DataFrame]):
    from wi_pipeline.estimation import estimate_event_study

    data = pooled_design(panels, exemption_rd_sample).data
    return estimate_event_study(data, outcome="employed", unit="pseudo_id", event_time="event_time",
                                window=(-12, 12), reference=-1, cluster="pseudo_id", time="month")
