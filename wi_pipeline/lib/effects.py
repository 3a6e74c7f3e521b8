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
from statsmodels.stats.multitest import multipletests

from wi_pipeline.lib.designs import (HORIZONS, LOCK_IN_HORIZON, SUBGROUPS, combined_sample, exemption_rd_sample,
                                     instrument_sample, usable_covariates)
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


def _subsets(df: pd.DataFrame, subgroups: bool) -> Iterable[tuple[str, str, pd.DataFrame]]:
    yield "all", "all", df
    if subgroups:
        for col in SUBGROUPS:
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


def _try(fn, base, n, persons=None, **kw):
    """One estimate as a row; ``persons(result)`` gives the persons per arm behind it."""
    try:
        result = fn(**kw)
    except (ValueError, np.linalg.LinAlgError) as err:
        return _row(base, reason=f"not estimable: {err}"[:200], n=n)
    row = _row(base, result)
    if persons is not None:
        diag = json.loads(row["diagnostics"])
        diag.update(n_obs_treated=row["n_treated"], n_obs_control=row["n_control"])
        row["n_treated"], row["n_control"] = persons(result)
        row["diagnostics"] = json.dumps(diag, sort_keys=True, default=str)
    return row


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


def exemption_effects(panels: dict[str, pd.DataFrame], gemeente: str, subgroups: bool = True) -> list[dict]:
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


def instrument_effects(panels: dict[str, pd.DataFrame], gemeente: str, subgroups: bool = True,
                       categories: Iterable[str] = SRG_CATEGORIES) -> list[dict]:
    from wi_pipeline.estimation import estimate_treatment_effect

    rows = []
    for cat in categories:
        design = pooled_design(panels, instrument_sample, category=cat)
        df = design.data
        fe = _municipality_effects(df)
        for h in (LOCK_IN_HORIZON, *HORIZONS):
            for outcome in ("employed", "self_sufficient"):
                col = f"{outcome}_h{h}"
                data = df[df[col].notna()]
                with_subgroups = subgroups and h == SUBGROUP_HORIZON
                for sub, value, part in _subsets(data, with_subgroups):
                    n = persons_per_arm(part, part["treated"] == 1)
                    base = dict(measure=f"instrument:{cat}", gemeente=gemeente, subgroup=sub, subgroup_value=value,
                                outcome=outcome, horizon=h,
                                contrast="starters vs not-yet-starters" + (" (lock-in)" if h == LOCK_IN_HORIZON else ""))
                    if min(n) < MIN_ARM:
                        rows.append(_row(base, reason="fewer than 10 persons in an arm", n=n))
                        continue
                    covs = usable_covariates(part, [*design.covariates, *fe], "treated")
                    rows.append(_try(estimate_treatment_effect, base, n, lambda _r, n=n: n, df=part, outcome=col,
                                     treatment="treated", covariates=covs, estimand="ATT", cluster="pseudo_id"))
    return rows


# (treated arm, control arm): both vs mediation is the added value of removing the debt obstacle.
COMBINED_CONTRASTS = (("both", "mediation"), ("mediation", "neither"), ("both", "neither"))


def combined_effects(panels: dict[str, pd.DataFrame], gemeente: str, subgroups: bool = True) -> list[dict]:
    from wi_pipeline.estimation import estimate_treatment_effect

    design = pooled_design(panels, combined_sample)
    df = design.data
    fe = _municipality_effects(df)
    rows = []
    for treated_arm, control_arm in COMBINED_CONTRASTS:
        pair = df[df["arm"].isin([treated_arm, control_arm])].copy()
        pair["treated"] = (pair["arm"] == treated_arm).astype(float)
        for outcome in design.outcome_columns:
            data = pair[pair[outcome].notna()]
            for sub, value, part in _subsets(data, subgroups):
                n = persons_per_arm(part, part["treated"] == 1)
                base = dict(measure="combined", gemeente=gemeente, subgroup=sub, subgroup_value=value,
                            outcome=outcome.rsplit("_h", 1)[0], horizon=int(outcome.rsplit("_h", 1)[1]),
                            contrast=f"{treated_arm} vs {control_arm}")
                if min(n) < MIN_ARM:
                    rows.append(_row(base, reason="fewer than 10 persons in an arm", n=n))
                    continue
                covs = usable_covariates(part, [*design.covariates, *fe], "treated")
                rows.append(_try(estimate_treatment_effect, base, n, lambda _r, n=n: n, df=part, outcome=outcome,
                                 treatment="treated", covariates=covs, estimand="ATT", cluster="pseudo_id"))
    return rows


def adjust_pvalues(table: pd.DataFrame) -> pd.Series:
    """Holm adjustment within each family of subgroup estimates (the overall row is its own family)."""
    out = pd.Series(np.nan, index=table.index)
    keys = ["measure", "gemeente", "outcome", "horizon", "contrast", "subgroup"]
    for _, fam in table.groupby(keys, dropna=False, sort=False):
        ok = fam["p_value"].notna()
        if ok.any():
            out[fam.index[ok]] = multipletests(fam.loc[ok, "p_value"], method="holm")[1]
    return out


def apply_disclosure(table: pd.DataFrame, rules: DisclosureRules = DisclosureRules()) -> pd.DataFrame:
    """Publishable effect table: small arms, small models and what they expose are withheld, not dropped.

    Primary suppression: an arm under ``min_units`` persons or a model under ``min_df``. Complementary
    suppression runs on the treated arm of the treatment-effect designs, whose subgroups partition
    the 'all' row (each starter is one person with the subgroup of the start month); controls are
    person-months whose subgroup can change over time, so their counts are not nested, and RD
    subgroups each use their own bandwidth.
    """
    t = table.copy()
    pre_suppressed, pre_reason = t.pop("suppressed"), t.pop("suppression_reason")
    out = suppress_effect_table(t, rules)
    family = t["gemeente"] + "|" + t["measure"] + "|" + t["outcome"] + "|" + t["horizon"].astype(str) + "|" + t["contrast"]
    nested = ~t["measure"].eq("exemption_9a")
    counts = pd.DataFrame({
        "n": t["n_treated"].where(~out["suppressed"]),  # already withheld rows count as withheld
        "_group": family + "|" + t["subgroup"] + "=" + t["subgroup_value"],
        "_parent": (family + "|all=all").where(t["subgroup"] != "all"),
        "_breakdown": t["subgroup"],
    })[nested]
    comp = suppress_cells(counts, "n", [], rules, nested=Nested("_group", "_parent", "_breakdown"))
    newly = comp.index[comp["suppressed"] & ~out.loc[comp.index, "suppressed"]]
    out.loc[newly, ["estimate", "std_error", "ci_low", "ci_high", "p_value", "n_treated", "n_control"]] = np.nan
    out.loc[newly, "suppressed"] = True
    out.loc[newly, "suppression_reason"] = "complementary"
    out["suppression_reason"] = np.where(pre_suppressed, pre_reason, out["suppression_reason"].fillna(""))
    out["suppressed"] = out["suppressed"] | pre_suppressed
    return out[EFFECT_COLUMNS]


def estimate_all(panels: dict[str, pd.DataFrame], gemeente: str, subgroups: bool = True) -> pd.DataFrame:
    """All measures for one municipality ({gemeente: panel}) or pooled over several (``gemeente`` = 'G4')."""
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
