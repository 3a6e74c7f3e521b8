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

import numpy as np
import pandas as pd

from wi_pipeline.lib.designs import (HORIZONS, LOCK_IN_HORIZON, SUBGROUPS, add_history, combined_sample,
                                     exemption_rd_sample, instrument_sample, usable_covariates)
from wi_pipeline.lib.designs import RD_CUTOFF
from wi_pipeline.lib.disclosure import (DOMINANCE, DisclosureRules, Nested, check_dominance, diagnostics_violations,
                                        publishable_diagnostics, suppress_cells, suppress_effect_table)
from wi_pipeline.lib.layout import SRG_CATEGORIES

EFFECT_COLUMNS = [
    "measure", "gemeente", "subgroup", "subgroup_value", "outcome", "horizon", "contrast", "estimate", "std_error",
    "ci_low", "ci_high", "p_value", "p_adjusted", "n_treated", "n_control", "df_resid", "method", "diagnostics",
    "suppressed", "suppression_reason",
]
POOLED = "G4"
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


def _dominated(part: pd.DataFrame, outcome: str, arms: pd.Series, rules: DisclosureRules) -> bool:
    """An amount outcome (hours, care costs) whose arm total one person dominates may not be published:
    the arm's mean would reveal that person's amount. Shares (0/1 outcomes) have no such contributor."""
    y = part[outcome]
    if y.dropna().isin([0, 1]).all():
        return False
    # a person can be in both arms (a control who starts later, a parent on both sides of the cutoff)
    return any(not check_dominance(y[arm].abs().groupby(part.loc[arm, "pseudo_id"], observed=True).sum(), rules)
               for arm in (arms, ~arms))


def _dominance_reason(part, outcome, arms, rules) -> str | None:
    if _dominated(part, outcome, arms, rules):
        return f"{DOMINANCE}: one person holds over {rules.dominance_share:.0%} of an arm's total"
    return None


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


def _event_study_persons(part: pd.DataFrame, window: tuple[int, int]):
    inside = part[part["event_time"].between(*window)]
    return lambda result: persons_per_arm(inside, inside["event_time"] >= 0)


EVENT_WINDOW = (-12, 12)


def exemption_effects(panels: dict[str, pd.DataFrame], gemeente: str, subgroups: Iterable[str] = tuple(SUBGROUPS),
                      rules: DisclosureRules = DisclosureRules()) -> list[dict]:
    from wi_pipeline.estimation import estimate_discontinuity, estimate_event_study

    design = pooled_design(panels, exemption_rd_sample)
    df = design.data
    fe = _municipality_effects(df)
    small = f"fewer than {rules.min_units} persons on a side"
    rows = []
    for sub, value, part in _subsets(df, subgroups):
        past = part["running"] >= RD_CUTOFF
        n = persons_per_arm(part, past)
        covs = usable_covariates(part, fe) or None
        for i, outcome in enumerate(design.outcome_columns):
            base = dict(measure="exemption_9a", gemeente=gemeente, subgroup=sub, subgroup_value=value,
                        outcome=outcome, horizon=0, contrast="child aged 60+ months vs under 60 (reduced form)")
            reason = small if min(n) < rules.min_units else _dominance_reason(part, outcome, past, rules)
            if reason:
                rows.append(_row(base, reason=reason, n=n))
                continue
            # the manipulation test depends on the running variable only: once per subset
            rows.append(_try(estimate_discontinuity, base, n, _rd_persons(part), df=part, outcome=outcome,
                             running="running", cutoff=RD_CUTOFF, cluster="pseudo_id", covariates=covs,
                             density_test=i == 0))
        base = dict(measure="exemption_9a", gemeente=gemeente, subgroup=sub, subgroup_value=value,
                    outcome="employed", horizon=0, contrast="exemption (fuzzy RD, LATE)")
        if min(n) >= rules.min_units:
            rows.append(_try(estimate_discontinuity, base, n, _rd_persons(part), df=part, outcome="employed",
                             running="running", cutoff=RD_CUTOFF, fuzzy="exemption_9a", cluster="pseudo_id",
                             covariates=covs, density_test=False))
        else:
            rows.append(_row(base, reason=small, n=n))
        if sub == "all":
            base = dict(measure="exemption_9a", gemeente=gemeente, subgroup=sub, subgroup_value=value,
                        outcome="employed", horizon=0, contrast="event study: mean post - pre, person and month FE")
            rows.append(_try(estimate_event_study, base, n, _event_study_persons(part, EVENT_WINDOW), df=part,
                             outcome="employed", unit="pseudo_id", event_time="event_time", window=EVENT_WINDOW,
                             reference=-1, cluster="pseudo_id", time="month"))
    return rows


def instrument_effects(panels: dict[str, pd.DataFrame], gemeente: str, subgroups: Iterable[str] = tuple(SUBGROUPS),
                       categories: Iterable[str] = SRG_CATEGORIES,
                       rules: DisclosureRules = DisclosureRules()) -> list[dict]:
    """Per instrument and horizon, both outcomes overall; heterogeneity in both a year after the start
    (measured on the same rows, so one propensity model per subgroup serves both)."""
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
            rows += _att_rows(base, df, outcomes, covariates, rules)
            if h == SUBGROUP_HORIZON:
                col = outcomes["employed"]
                for sub, value, part in _subsets(df[df[col].notna()], subgroups):
                    if sub != "all":
                        rows += _att_rows(lambda o, sub=sub, value=value: base(o, sub, value), part,
                                          outcomes, covariates, rules)
    return rows


def _att_rows(base, part: pd.DataFrame, outcomes: dict[str, str], covariates: list[str],
              rules: DisclosureRules = DisclosureRules()) -> list[dict]:
    """Doubly robust ATTs of ``treated`` on each outcome ({label: column}); withheld rows when an arm
    is too small or one person dominates an amount. Outcomes observed on the same rows share one
    propensity model."""
    from wi_pipeline.estimation import estimate_treatment_effects

    present = part[list(outcomes.values())].notna()
    same_rows = bool(present.eq(present.iloc[:, 0], axis=0).all(axis=None))
    groups = [list(outcomes)] if same_rows else [[label] for label in outcomes]
    rows = []
    for labels in groups:
        sample = part[present[outcomes[labels[0]]].to_numpy()]
        arms = sample["treated"] == 1
        n = persons_per_arm(sample, arms)
        if min(n) < rules.min_units:
            rows += [_row(base(lb), reason=f"fewer than {rules.min_units} persons in an arm", n=n) for lb in labels]
            continue
        dominated = {lb: _dominance_reason(sample, outcomes[lb], arms, rules) for lb in labels}
        rows += [_row(base(lb), reason=dominated[lb], n=n) for lb in labels if dominated[lb]]
        labels = [lb for lb in labels if not dominated[lb]]
        if not labels:
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


def combined_effects(panels: dict[str, pd.DataFrame], gemeente: str, subgroups: Iterable[str] = tuple(SUBGROUPS),
                     rules: DisclosureRules = DisclosureRules()) -> list[dict]:
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
            rows += _att_rows(base, part, outcomes, covariates, rules)
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
    """Holm adjustment across all subgroup estimates of one measure, outcome, horizon and contrast
    (every dimension together: a reader scans them all for "who benefits"); the overall row is its
    own family."""
    keys = ["measure", "gemeente", "outcome", "horizon", "contrast"]
    family = table[keys].astype(str).agg("|".join, axis=1) + np.where(table["subgroup"] == "all", "|all", "|sub")
    return table["p_value"].groupby(family, sort=False).transform(_holm)


_CELL_KEYS = ["measure", "outcome", "horizon", "contrast", "subgroup", "subgroup_value"]
WITHHELD_BLANK = ["estimate", "std_error", "ci_low", "ci_high", "p_value", "p_adjusted", "n_treated", "n_control",
                  "df_resid"]


def _complementary_rows(t: pd.DataFrame, withheld: pd.Series, count_col: str, rules: DisclosureRules) -> pd.Index:
    """Rows to withhold so that no withheld arm count can be recovered by subtraction from its parent.

    Only breakdowns whose counts can nest in the parent are considered: where a person's subgroup
    changes over time (controls are person-months) the children overlap, and subtraction yields
    no group's count. RD subgroups have their own bandwidths, so their counts nest only roughly;
    they are treated as nested, which can only withhold more.
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
    use = (t["subgroup"] == "all") | (child_sum <= counts["_family"].map(parent_n))
    comp = suppress_cells(counts.loc[use, ["n", "_group", "_parent", "_breakdown"]], "n", [], rules,
                          nested=Nested("_group", "_parent", "_breakdown"))
    return comp.index[comp["suppressed"].to_numpy() & ~withheld.loc[comp.index].to_numpy()]


def _exposed_by_municipal_tables(t: pd.DataFrame, withheld: pd.Series, municipal: pd.DataFrame,
                                 rules: DisclosureRules) -> pd.Index:
    """Pooled rows to withhold because, with the published municipal tables, they would give back a
    withheld municipal count: the G4 sample is the four municipal samples stacked, so its count
    minus the published cities' counts is what the withheld cities hold. RD counts are persons
    within each estimate's own bandwidth, which do not add up across cities: not compared."""
    m = municipal.assign(_withheld=municipal["suppressed"].astype(bool))
    m["_key"] = m[_CELL_KEYS].astype(str).agg("|".join, axis=1)
    key = t[_CELL_KEYS].astype(str).agg("|".join, axis=1)
    by_key = m.groupby("_key")
    n_withheld = by_key["_withheld"].sum()
    exposed = pd.Series(False, index=t.index)
    within_bandwidth = (t["measure"] == "exemption_9a") & ~t["contrast"].str.startswith("event study")
    for col in ("n_treated", "n_control"):
        published_sum = m[col].astype(float).where(~m["_withheld"]).groupby(m["_key"]).sum(min_count=0)
        derivable = t[col].astype(float) - key.map(published_sum).fillna(0.0)
        k = key.map(n_withheld).fillna(0)
        exposed |= (k == 1) | ((k > 1) & (derivable < rules.min_units))
    return t.index[exposed.to_numpy() & ~within_bandwidth.to_numpy() & ~withheld.to_numpy()]


def apply_disclosure(table: pd.DataFrame, rules: DisclosureRules = DisclosureRules(),
                     municipal: pd.DataFrame | None = None) -> pd.DataFrame:
    """Publishable effect table: small arms, small models and what they expose are withheld, not dropped.

    Primary suppression: an arm under ``min_units`` persons or a model under ``min_df``. Then
    complementary suppression on each arm, within the table and, for a pooled table, against the
    published ``municipal`` tables it adds up from, repeated until nothing changes. A withheld row
    keeps its labels and reason only; a published row keeps the diagnostics the rules allow.
    """
    t = table.copy()
    pre_suppressed, pre_reason = t.pop("suppressed"), t.pop("suppression_reason")
    out = suppress_effect_table(t, rules)
    out["suppressed"] = out["suppressed"] | pre_suppressed
    while True:
        newly = _complementary_rows(t, out["suppressed"], "n_treated", rules).union(
            _complementary_rows(t, out["suppressed"], "n_control", rules))
        if municipal is not None and len(municipal):
            newly = newly.union(_exposed_by_municipal_tables(t, out["suppressed"], municipal, rules))
        if newly.empty:
            break
        out.loc[newly, "suppressed"] = True
        out.loc[newly, "suppression_reason"] = "complementary"
    out["suppression_reason"] = np.where(pre_suppressed, pre_reason, out["suppression_reason"].fillna(""))
    hidden = out["suppressed"].astype(bool)
    out.loc[hidden, WITHHELD_BLANK] = np.nan
    out.loc[hidden, ["method"]] = ""
    out.loc[hidden, ["diagnostics"]] = "{}"
    shown = out.index[~hidden]
    out.loc[shown, "diagnostics"] = [
        json.dumps(publishable_diagnostics(json.loads(d), rules), sort_keys=True, default=str)
        for d in out.loc[shown, "diagnostics"]]
    return out[EFFECT_COLUMNS]


def estimate_all(panels: dict[str, pd.DataFrame], gemeente: str, subgroups: Iterable[str] = tuple(SUBGROUPS),
                 rules: DisclosureRules = DisclosureRules()) -> pd.DataFrame:
    """All measures for one municipality ({gemeente: panel}) or pooled over several (``gemeente`` = 'G4').

    Diagnostics are complete here (for researchers in the secure environment); ``apply_disclosure``
    makes the table publishable.
    """
    subgroups = tuple(subgroups)
    unknown = set(subgroups) - set(SUBGROUPS)
    if unknown:
        raise ValueError(f"unknown subgroup dimension(s) {sorted(unknown)}; choose from {list(SUBGROUPS)}")
    rows = [*exemption_effects(panels, gemeente, subgroups, rules),
            *instrument_effects(panels, gemeente, subgroups, rules=rules),
            *combined_effects(panels, gemeente, subgroups, rules)]
    table = pd.DataFrame(rows)
    table["p_adjusted"] = adjust_pvalues(table)
    return table[EFFECT_COLUMNS]


def what_works_for_whom(effects: pd.DataFrame) -> pd.DataFrame:
    """For each subgroup, the instruments ranked by their effect on employment 12 months after the start.

    Withheld estimates stay in the list, unranked and marked, so a reader sees that an instrument
    was evaluated but cannot be shown rather than thinking it was never looked at.
    """
    t = effects[(effects["measure"].str.startswith("instrument:")) & (effects["outcome"] == "employed")
                & (effects["horizon"] == SUBGROUP_HORIZON)].copy()
    t["instrument"] = t["measure"].str.removeprefix("instrument:")
    t["rank"] = t["estimate"].where(~t["suppressed"]).groupby(
        [t["gemeente"], t["subgroup"], t["subgroup_value"]]).rank(ascending=False, method="min")
    t["clearly_positive"] = t["ci_low"] > 0
    cols = ["gemeente", "subgroup", "subgroup_value", "rank", "instrument", "estimate", "ci_low", "ci_high",
            "p_adjusted", "n_treated", "n_control", "clearly_positive", "suppressed", "suppression_reason"]
    return t.sort_values(["gemeente", "subgroup", "subgroup_value", "rank"], na_position="last")[cols].reset_index(drop=True)


def disclosure_violations(table: pd.DataFrame, rules: DisclosureRules = DisclosureRules(),
                          municipal: pd.DataFrame | None = None) -> list[str]:
    """What in a published effect table breaks the output rules (empty when it may be published).

    A pooled table is checked against the published ``municipal`` tables it adds up from: no published
    G4 row may give back a withheld municipal count. Within one table, which breakdowns nest needs
    the withheld counts themselves, so that part of complementary suppression (like the dominance
    rule, which needs the persons' amounts) is applied by ``apply_disclosure`` and tested there.
    """
    hidden_mask = table["suppressed"].astype(bool)
    shown, hidden = table[~hidden_mask], table[hidden_mask]
    problems = []
    for col in ("n_treated", "n_control"):
        bad = int((shown[col].astype(float) < rules.min_units).sum())
        if bad:
            problems.append(f"{bad} published rows with {col} under {rules.min_units}")
    bad_df = int(((shown["df_resid"].astype(float) < rules.min_df) | shown["df_resid"].isna()).sum())
    if bad_df:
        problems.append(f"{bad_df} published rows from a model with under {rules.min_df} degrees of freedom")
    if hidden[WITHHELD_BLANK].notna().any().any() or (hidden["diagnostics"] != "{}").any() or (hidden["method"] != "").any():
        problems.append("withheld rows still show values")
    diag_problems = sorted({p for d in shown["diagnostics"] for p in diagnostics_violations(json.loads(d), rules)})
    problems += [f"published rows: {p}" for p in diag_problems]
    if municipal is not None and len(municipal):
        exposing = len(_exposed_by_municipal_tables(table, hidden_mask, municipal, rules))
        if exposing:
            problems.append(f"{exposing} published rows would give back a withheld municipal count by subtraction")
    return problems


def exemption_event_study(panels: dict[str, pd.DataFrame]):
    from wi_pipeline.estimation import estimate_event_study

    data = pooled_design(panels, exemption_rd_sample).data
    return estimate_event_study(data, outcome="employed", unit="pseudo_id", event_time="event_time",
                                window=EVENT_WINDOW, reference=-1, cluster="pseudo_id", time="month")
