"""The planted effects of a synthetic world, as the truth file estimators are checked against.

Kept outside the landing folder: the pipeline must never see it.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd

from wi_pipeline.lib.layout import SRG_CATEGORIES
from wi_pipeline.synthetic import params as P
from wi_pipeline.synthetic.config import SyntheticConfig
from wi_pipeline.synthetic.world import World, simulate_world

FORMAT_VERSION = 1
SUBGROUPS = ("sex", "n_children", "marital_status", "health")

DEFINITIONS = {
    "employment_probability": (
        "Each month employed ~ Bernoulli(p), p = clip(index, 0.01, 0.95). The index is a function of "
        "observables, calendar time, time since first bijstand entry, a constant person effect and an AR(1) "
        "term, plus the active treatment effects; it never depends on past employment, so a planted effect "
        "is exactly the change in that month's employment probability."),
    "effect_pp": (
        "Percentage points of the monthly employment probability: mean over the units of "
        "clip(index) - clip(index - effect), i.e. the planted shift after clipping (equal to the nominal "
        "value unless the clip binds)."),
    "horizon": (
        "h = months since the start month of the instrument spell (months_since_start_<category> == h); "
        "the instrument is active (during effect) for h < duration_months, the post effect applies from "
        "h = duration_months on."),
    "att": (
        "Average over the persons who actually started the instrument inside the window and are observed at "
        "start + h (start + h <= window end): the average treatment effect on the treated at horizon h."),
    "subgroups": (
        "Values in the start month: sex ('man'/'vrouw'), n_children band of children at home ('0','1','2','3+'), "
        "marital_status (never_married/married/divorced/widowed) and health ('poor' = poor_health)."),
    "structural": (
        "Effects hold other treatments fixed. Starting one instrument changes later eligibility for others "
        "(one instrument at a time) and bijstand exits, which have no effect on the employment index."),
    "month_conventions": (
        "A flag is active in a month when its spell overlaps any day of it (end dates inclusive); ages are "
        "completed ages on the first day of the month."),
}


def _mean_effect(df: pd.DataFrame, col: str) -> dict:
    x = df[col].dropna()
    return {"effect_pp": round(float(x.mean()) * 100, 4) if len(x) else None, "n": int(len(x))}


def _att_table(st: pd.DataFrame) -> dict:
    out = {}
    for h in P.HORIZONS:
        col = f"effect_h{h}"
        entry = {"overall": _mean_effect(st, col),
                 "nominal_pp": round(float(st[f"nominal_h{h}"].dropna().mean()) * 100, 4) if st[f"nominal_h{h}"].notna().any() else None,
                 "by_subgroup": {}}
        for sg in SUBGROUPS:
            entry["by_subgroup"][sg] = {str(k): _mean_effect(g, col) for k, g in st.groupby(sg, sort=True)}
        out[str(h)] = entry
    return out


def planted_effects(world_or_config: World | SyntheticConfig) -> dict:
    """Every planted number and the realised effects of the world (simulated first when given a config)."""
    world = world_or_config if isinstance(world_or_config, World) else simulate_world(world_or_config)
    cfg = world.config
    panel = world.panel
    starts = world.starts

    instruments = {}
    for cat in SRG_CATEGORIES:
        ins = P.INSTRUMENTS[cat]
        st = starts[starts["category"] == cat]
        instruments[cat] = {
            "duration_months": ins.duration,
            "during_pp": ins.during * 100,
            "post_base_pp": ins.post * 100,
            "post_effect": "post_base_pp x sex x n_children x marital_status x health multipliers (start month)"
                           + (" + debt_assistance_mediation_interaction_pp if debt assistance started by the start month"
                              if cat == "bemiddeling" else ""),
            "start_hazard_per_month": ins.hazard,
            "start_hazard_multipliers": dict(ins.hazard_multipliers),
            "n_starts": int(len(st)),
            "att": _att_table(st),
        }

    sp = panel.loc[panel["single_parent"].to_numpy() & panel["on_bijstand"].to_numpy(),
                   ["youngest_child_age_months", "exemption_9a"]]
    yc = sp["youngest_child_age_months"]
    below = sp.loc[(yc >= 54) & (yc <= 59), "exemption_9a"]
    above = sp.loc[(yc >= 60) & (yc <= 65), "exemption_9a"]
    exm = world.exemption_months
    near = exm[(exm["youngest_child_age_months"] >= 48) & (exm["youngest_child_age_months"] <= 59)]
    ex = P.EXEMPTION_9A
    fs = float(below.mean()) if len(below) else float("nan")
    late = float(near["effect"].mean()) if len(near) else float(ex["effect"])
    exemption = {
        "design": "fuzzy regression discontinuity in youngest_child_age_months at the cutoff",
        "cutoff_months": ex["cutoff_months"],
        "effect_nominal_pp": ex["effect"] * 100,
        "effect_by_subgroup": "homogeneous: the same nominal effect for every exempt person-month",
        "late_pp": round(late * 100, 4),
        "late_definition": "mean planted effect over exempt person-months with youngest child aged 48-59 months",
        "take_up_on_request": {k: v for k, v in ex.items() if k.startswith("take_up")},
        "first_stage_share_exempt_54_59": None if np.isnan(fs) else round(fs, 4),
        "first_stage_share_exempt_60_65": round(float(above.mean()), 4) if len(above) else None,
        "first_stage_population": "person-months with single_parent and on_bijstand",
        "expected_reduced_form_jump_pp": None if np.isnan(fs) else round(-fs * late * 100, 4),
        "reduced_form_note": ("jump in employment at 60 months = -(first stage) x LATE for a sample chosen on "
                              "pre-determined variables; conditioning on the current on_bijstand selects on an outcome"),
        "child_age_trend": {"intercept": P.EMPLOYMENT_INDEX["youngest_child_age_trend_intercept"],
                            "per_month": P.EMPLOYMENT_INDEX["youngest_child_age_trend_per_month"],
                            "note": "smooth in the child's age below 216 months, no jump at the cutoff"},
        "exemption_end": "EINDDATUM = the day before the youngest child's 5th birthday, or the bijstand end if earlier",
        "art9_dringend": {"effect_pp": 0.0, "note": "urgent-reason exemptions, mostly poor health, unrelated to the cutoff"},
    }

    bem = starts[(starts["category"] == "bemiddeling") & starts["problematic_debt"]]
    da = P.DEBT_ASSISTANCE
    combined = {
        "population": "bemiddeling starts of persons with problematic debt in the start month",
        "mediation_alone_post_pp": P.INSTRUMENTS["bemiddeling"].post * 100,
        "debt_assistance_plus_mediation_post_pp": (P.INSTRUMENTS["bemiddeling"].post + da["mediation_interaction"]) * 100,
        "interaction_pp": da["mediation_interaction"] * 100,
        "note": "nominal values before the bemiddeling post multipliers; the interaction is added unscaled",
        "debt_assistance_alone_employment_pp": da["employment_effect"] * 100,
        "debt_assistance_care_cost_effect_eur_per_year": da["care_cost_effect_eur_per_year"],
        "care_cost_effect_definition": "in every calendar year after the year debt assistance started",
        "debt_assistance_start_hazard": {"per_month": da["hazard"], "multipliers": dict(da["hazard_multipliers"]),
                                         "eligible": "on bijstand with problematic debt, once per person"},
        "att": {str(h): {
            "mediation_alone": _mean_effect(bem[~bem["debt_assistance_before"]], f"effect_h{h}"),
            "debt_assistance_plus_mediation": _mean_effect(bem[bem["debt_assistance_before"]], f"effect_h{h}"),
        } for h in P.HORIZONS},
    }

    persons_per_gm = panel.groupby("gemeente", observed=True)["person_id"].nunique()
    on = panel["on_bijstand"].to_numpy()
    return {
        "format_version": FORMAT_VERSION,
        "generator": {**asdict(cfg), "bsn_prefix": world.bsn_prefix},
        "definitions": DEFINITIONS,
        "population": {
            "persons_per_municipality": {k: int(v) for k, v in persons_per_gm.items()},
            **{k: v for k, v in world.stats.items() if k != "index_clipped_share_on_bijstand"},
            "single_parent_share_of_bijstand_months": round(float(panel["single_parent"].to_numpy()[on].mean()), 4),
            "employment_share_all_months": round(float(panel["employed"].mean()), 4),
            "bijstand_share_all_months": round(float(panel["on_bijstand"].mean()), 4),
            "poor_health_share_persons": round(float(world.persons["poor_health"].mean()), 4),
        },
        "outcome_model": {
            "probability_clip": list(P.PROB_CLIP),
            "index": P.EMPLOYMENT_INDEX,
            "trend_per_year": P.TREND_PER_YEAR,
            "covid_dip": P.COVID_DIP,
            "index_clipped_share_on_bijstand": round(world.stats["index_clipped_share_on_bijstand"], 4),
            "bijstand_dynamics": P.BIJSTAND,
            "poor_health": {"threshold_eur": P.POOR_HEALTH_THRESHOLD, "min_costs_poor_eur": P.POOR_HEALTH_MIN_COSTS,
                            "good_health_costs_eur": list(P.GOOD_HEALTH_COSTS)},
        },
        "exemption_9a": exemption,
        "instruments": instruments,
        "post_multipliers": P.POST_MULTIPLIERS,
        "horizons": list(P.HORIZONS),
        "combined_approach": combined,
        "wmo": {"effect_pp": 0.0, **{k: v for k, v in P.WMO.items() if k != "effect"}},
        "self_sufficiency": ("no planted effect of its own: self_sufficient = not on bijstand in any municipality, "
                             "and bijstand ends mostly through employment, so employment effects carry over"),
    }


def _jsonable(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if np.isnan(o) else float(o)
    if isinstance(o, tuple):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o)}")


def write_truth(world: World, path: Path, landing_summary: dict | None = None) -> Path:
    """Write truth.json; refuses a path inside a landing folder it knows of."""
    path = Path(path)
    if landing_summary and Path(landing_summary["landing"]).resolve() in path.resolve().parents:
        raise ValueError(f"the truth file {path} must not be inside the landing folder")
    truth = planted_effects(world)
    if landing_summary:
        truth["faults_planted"] = landing_summary["faults"]
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(truth, indent=2, sort_keys=False, default=_jsonable, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path
