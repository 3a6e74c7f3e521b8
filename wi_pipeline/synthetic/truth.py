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
from wi_pipeline.synthetic.simulation import Simulation
from wi_pipeline.synthetic.world import World, simulate_world

FORMAT_VERSION = 1
SUBGROUPS = ("sex", "n_children", "marital_status", "health")

DEFINITIONS = {
    "employment_probability": (
        "Each month employed ~ Bernoulli(p), p = clip(index, 0.01, 0.95). The index is a function of "
        "observables, calendar time, time since first bijstand entry, a constant person effect and an AR(1) "
        "term, plus the active treatment effects; it never depends on past employment, so a planted effect "
        "is exactly the change in that month's employment probability."
    ),
    "effect_pp": (
        "Percentage points of the monthly employment probability: mean over the units of "
        "clip(index) - clip(index - effect), i.e. the planted shift after clipping (equal to the nominal "
        "value unless the clip binds)."
    ),
    "horizon": (
        "h = months since the start month of the instrument spell (months_since_start_<category> == h); "
        "the instrument is active (during effect) for h < duration_months, the post effect applies from "
        "h = duration_months on."
    ),
    "att": (
        "Average over the persons who actually started the instrument inside the window and are observed at "
        "start + h (start + h <= window end): the average treatment effect on the treated at horizon h."
    ),
    "subgroups": (
        "Values in the start month: sex ('man'/'vrouw'), n_children band of children at home "
        "('0','1','2','3+'), "
        "marital_status (never_married/married/divorced/widowed) and health ('poor' = poor_health)."
    ),
    "structural": (
        "Effects hold other treatments fixed. Starting one instrument changes later eligibility for others "
        "(one instrument at a time) and bijstand exits, which have no effect on the employment index."
    ),
    "month_conventions": (
        "A flag is active in a month when its spell overlaps any day of it (end dates inclusive); ages are "
        "completed ages on the first day of the month."
    ),
}


def _mean_effect(df: pd.DataFrame, col: str) -> dict:
    x = df[col].dropna()
    return {"effect_pp": round(float(x.mean()) * 100, 4) if len(x) else None, "n": int(len(x))}


def _att_table(st: pd.DataFrame) -> dict:
    out = {}
    for h in P.HORIZONS:
        col = f"effect_h{h}"
        entry = {
            "overall": _mean_effect(st, col),
            "nominal_pp": round(float(st[f"nominal_h{h}"].dropna().mean()) * 100, 4)
            if st[f"nominal_h{h}"].notna().any()
            else None,
            "by_subgroup": {},
        }
        for sg in SUBGROUPS:
            entry["by_subgroup"][sg] = {
                str(k): _mean_effect(g, col) for k, g in st.groupby(sg, sort=True)
            }
        out[str(h)] = entry
    return out


def _exemption_late(world: World) -> float:
    """The exemption's LATE: the mean planted effect over exempt months with a child aged 48-59
    months (the nominal effect when there are none)."""
    exm = world.exemption_months
    near = exm[(exm["youngest_child_age_months"] >= 48) & (exm["youngest_child_age_months"] <= 59)]
    return float(near["effect"].mean()) if len(near) else float(P.EXEMPTION_9A["effect"])


def _mediation_starts_with_debt(starts: pd.DataFrame) -> pd.DataFrame:
    return starts[(starts["category"] == "bemiddeling") & starts["problematic_debt"]]


def design_truths(world: World, horizon: int = 12) -> dict[str, float]:
    """The three numbers of the truth file the recovery study's designs are held against (shares,
    as ``planted_effects`` rounds them): scholing's ATT, the exemption's LATE and mediation alone
    among people with debt. Without the rest of the file, which costs more than the estimates."""
    starts = world.starts
    bem = _mediation_starts_with_debt(starts)
    col = f"effect_h{horizon}"
    return {
        "scholing_att": _mean_effect(starts[starts["category"] == "scholing"], col)["effect_pp"]
        / 100,
        "exemption_late": round(_exemption_late(world) * 100, 4) / 100,
        "mediation_alone_att": _mean_effect(bem[~bem["debt_assistance_before"]], col)["effect_pp"]
        / 100,
    }


def planted_effects(
    world_or_config: World | SyntheticConfig,
    potential: pd.DataFrame | None = None,
    instrument_choice: bool = True,
) -> dict:
    """Every planted number and the realised effects of the world (simulated first when given a config);
    ``potential`` (from ``potential_outcomes``) is computed when not given and ``instrument_choice``."""
    world = (
        world_or_config if isinstance(world_or_config, World) else simulate_world(world_or_config)
    )
    if potential is None and instrument_choice:
        potential = potential_outcomes(world.config)
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
            "post_modifiers": dict(ins.post_modifiers),
            "post_effect": "post_base_pp x sex x n_children x marital_status x health "
            "multipliers x post_modifiers (start month)"
            + (
                " + debt_assistance_mediation_interaction_pp if debt assistance started by the start month"
                if cat == "bemiddeling"
                else ""
            ),
            "start_hazard_per_month": ins.hazard,
            "start_hazard_multipliers": dict(ins.hazard_multipliers),
            "n_starts": int(len(st)),
            "att": _att_table(st),
        }

    sp = panel.loc[
        panel["single_parent"].to_numpy() & panel["on_bijstand"].to_numpy(),
        ["youngest_child_age_months", "exemption_9a"],
    ]
    yc = sp["youngest_child_age_months"]
    below = sp.loc[(yc >= 54) & (yc <= 59), "exemption_9a"]
    above = sp.loc[(yc >= 60) & (yc <= 65), "exemption_9a"]
    ex = P.EXEMPTION_9A
    fs = float(below.mean()) if len(below) else float("nan")
    late = _exemption_late(world)
    exemption = {
        "design": "fuzzy regression discontinuity in youngest_child_age_months at the cutoff",
        "cutoff_months": ex["cutoff_months"],
        "effect_nominal_pp": ex["effect"] * 100,
        "effect_by_subgroup": "homogeneous: the same nominal effect for every exempt person-month",
        "late_pp": round(late * 100, 4),
        "late_definition": "mean planted effect over exempt person-months with youngest child "
        "aged 48-59 months",
        "take_up_on_request": {k: v for k, v in ex.items() if k.startswith("take_up")},
        "first_stage_share_exempt_54_59": None if np.isnan(fs) else round(fs, 4),
        "first_stage_share_exempt_60_65": round(float(above.mean()), 4) if len(above) else None,
        "first_stage_population": "person-months with single_parent and on_bijstand",
        "expected_reduced_form_jump_pp": None if np.isnan(fs) else round(-fs * late * 100, 4),
        "reduced_form_note": (
            "jump in employment at 60 months = -(first stage) x LATE for a sample chosen on "
            "pre-determined variables; conditioning on the current on_bijstand selects on an outcome"
        ),
        "child_age_trend": {
            "intercept": P.EMPLOYMENT_INDEX["youngest_child_age_trend_intercept"],
            "per_month": P.EMPLOYMENT_INDEX["youngest_child_age_trend_per_month"],
            "note": "smooth in the child's age below 216 months, no jump at the cutoff",
        },
        "exemption_end": "EINDDATUM = the day before the youngest child's 5th birthday, or the "
        "bijstand end if earlier",
        "art9_dringend": {
            "effect_pp": 0.0,
            "note": "urgent-reason exemptions, mostly poor health, unrelated to the cutoff",
        },
    }

    bem = _mediation_starts_with_debt(starts)
    da = P.DEBT_ASSISTANCE
    combined = {
        "population": "bemiddeling starts of persons with problematic debt in the start month",
        "mediation_alone_post_pp": P.INSTRUMENTS["bemiddeling"].post * 100,
        "debt_assistance_plus_mediation_post_pp": (
            P.INSTRUMENTS["bemiddeling"].post + da["mediation_interaction"]
        )
        * 100,
        "interaction_pp": da["mediation_interaction"] * 100,
        "note": "nominal values before the bemiddeling post multipliers; the interaction is added unscaled",
        "debt_assistance_alone_employment_pp": da["employment_effect"] * 100,
        "debt_assistance_care_cost_effect_eur_per_year": da["care_cost_effect_eur_per_year"],
        "care_cost_effect_definition": "in every calendar year after the year debt assistance started",
        "debt_assistance_start_hazard": {
            "per_month": da["hazard"],
            "multipliers": dict(da["hazard_multipliers"]),
            "eligible": "on bijstand with problematic debt, once per person",
        },
        "att": {
            str(h): {
                "mediation_alone": _mean_effect(
                    bem[~bem["debt_assistance_before"]], f"effect_h{h}"
                ),
                "debt_assistance_plus_mediation": _mean_effect(
                    bem[bem["debt_assistance_before"]], f"effect_h{h}"
                ),
            }
            for h in P.HORIZONS
        },
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
            "single_parent_share_of_bijstand_months": round(
                float(panel["single_parent"].to_numpy()[on].mean()), 4
            ),
            "employment_share_all_months": round(float(panel["employed"].mean()), 4),
            "bijstand_share_all_months": round(float(panel["on_bijstand"].mean()), 4),
            "poor_health_share_persons": round(float(world.persons["poor_health"].mean()), 4),
        },
        "outcome_model": {
            "probability_clip": list(P.PROB_CLIP),
            "index": P.EMPLOYMENT_INDEX,
            "trend_per_year": P.TREND_PER_YEAR,
            "covid_dip": P.COVID_DIP,
            "index_clipped_share_on_bijstand": round(
                world.stats["index_clipped_share_on_bijstand"], 4
            ),
            "bijstand_dynamics": P.BIJSTAND,
            "poor_health": {
                "threshold_eur": P.POOR_HEALTH_THRESHOLD,
                "min_costs_poor_eur": P.POOR_HEALTH_MIN_COSTS,
                "good_health_costs_eur": list(P.GOOD_HEALTH_COSTS),
            },
        },
        "exemption_9a": exemption,
        "instruments": instruments,
        "post_multipliers": P.POST_MULTIPLIERS,
        "horizons": list(P.HORIZONS),
        "combined_approach": combined,
        **(
            {
                "instrument_choice": instrument_choice_truth(potential),
                "assignment_rule": assignment_rule_truth(potential),
            }
            if instrument_choice
            else {}
        ),
        "wmo": {"effect_pp": 0.0, **{k: v for k, v in P.WMO.items() if k != "effect"}},
        "self_sufficiency": (
            "no planted effect of its own: self_sufficient = not on bijstand in any municipality, "
            "and bijstand ends mostly through employment, so employment effects carry over"
        ),
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
        # in the files only: the true panel has every value these leave missing or split
        truth["edge_cases_planted"] = landing_summary["edge_cases"]
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(truth, indent=2, sort_keys=False, default=_jsonable, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------ instruments on one population
WAIT = "wait"
ARMS = (*SRG_CATEGORIES, WAIT)
POTENTIAL_HORIZONS = (3, 6, 12, 24, 36)
CUMULATIVE_MONTHS = 24
TRUTH_SUBGROUPS = ("sex", "children", "marital_status", "health", "age_band", "origin")
POTENTIAL_OUTCOMES_DEFINITION = (
    "Population: every person-month on bijstand of a person who has not started any instrument yet. "
    "Arms: start one of the instruments this month, or start nothing this month (wait; a later start "
    "follows the world's own course). A person-month whose own choice was arm a contributes its own "
    "path to arm a. For every other person-month the world is simulated again with arm a set in that "
    "month: for waiting, in the start month of every starter (the only month that needs it, so waiting "
    "is exact); for an instrument, in one month per person drawn at random among their months that chose "
    "otherwise, weighted by their number (own_choice: the row is the person-month's own path, its natural "
    "outcome). regular_work_h<h>: probability of a job in month start + h that "
    "is not a running wage-cost subsidy or sheltered-work placement; employed_h<h>: probability of any "
    "job; self_sufficient_h<h>: not on bijstand; regular_work_months_24: expected months of regular work "
    "in months 1-24 after the start. A horizon past the window end leaves that person-month out of that "
    "outcome's population."
)


def _outcomes_at(
    s: Simulation, persons: np.ndarray, months: np.ndarray, horizons: tuple[int, ...]
) -> dict:
    """Every outcome of the given person-months along the simulated paths in ``s``."""
    from wi_pipeline.lib.layout import SUBSIDISED_JOB_INSTRUMENTS

    T = s.T
    subsidised = [SRG_CATEGORIES.index(c) for c in SUBSIDISED_JOB_INSTRUMENTS]
    start = s.instr_start[persons][:, subsidised].astype(np.int64)
    dur = s.dur[subsidised]
    p_job = np.clip(s.IDX[persons], *P.PROB_CLIP)
    since = np.arange(T)[None, :, None] - start[:, None, :]
    running = ((start[:, None, :] >= 0) & (since >= 0) & (since < dur[None, None, :])).any(axis=2)
    p_regular = p_job * ~running
    on = s.A[persons]
    rows = np.arange(len(persons))
    out = {}

    def at(x, h):
        m = months + h
        return np.where(m < T, x[rows, np.minimum(m, T - 1)].astype(float), np.nan)

    for h in horizons:
        out[f"regular_work_h{h}"] = at(p_regular, h)
        out[f"employed_h{h}"] = at(p_job, h)
        out[f"self_sufficient_h{h}"] = at(~on, h)
    cum = np.cumsum(p_regular, axis=1)
    end = months + CUMULATIVE_MONTHS
    out[f"regular_work_months_{CUMULATIVE_MONTHS}"] = np.where(
        end < T, cum[rows, np.minimum(end, T - 1)] - cum[rows, months], np.nan
    )
    return out


def potential_outcomes(
    config: SyntheticConfig,
    horizons: tuple[int, ...] = POTENTIAL_HORIZONS,
    natural: Simulation | None = None,
) -> pd.DataFrame:
    """The common population's potential outcomes, one row per (arm, person-month or drawn person):
    ``arm``, ``weight`` (person-months it stands for), ``own_choice`` (the person-month chose this arm:
    its natural path), the subgroups in that month and every outcome.

    ``natural``: the world's own simulation of ``config`` (``world._simulate``), when the caller has
    it, before ``assemble`` (which frees arrays and draws on), so it is not simulated again."""
    from wi_pipeline.lib.designs import age_band, children_band
    from wi_pipeline.lib.layout import MARITAL_STATUS, ORIGIN_GROUPS, ORIGIN_OTHER
    from wi_pipeline.synthetic.world import MARITAL_CODES, Intervention, _simulate

    if natural is None:
        natural = _simulate(config)
    elif natural.config != config or natural.forced.any():
        raise ValueError("natural must be the simulation of this config, without an intervention")
    N, T, K = natural.N, natural.T, len(SRG_CATEGORIES)
    start = natural.instr_start
    first_start = np.where(start >= 0, start, T).min(axis=1)
    population = natural.A & (np.arange(T)[None, :] <= first_start[:, None])
    # the arm each population month chose: an instrument in the first start month, else waiting
    chose = np.full((N, T), K, dtype=np.int64)
    starter = np.flatnonzero(first_start < T)
    chose[starter, first_start[starter]] = np.argmin(
        np.where(start[starter] >= 0, start[starter], T), axis=1
    )
    origin = pd.Series(natural.origin_code).map(ORIGIN_GROUPS).fillna(ORIGIN_OTHER).to_numpy()
    marital = np.array([MARITAL_STATUS[c] for c in MARITAL_CODES])
    rng = np.random.default_rng(config.seed + 1)
    parts = []

    def part(
        arm: str,
        s: Simulation,
        persons: np.ndarray,
        months: np.ndarray,
        weight: np.ndarray,
        own: bool,
    ) -> None:
        frame = {
            "arm": arm,
            "person_id": persons,
            "month_index": months,
            "weight": weight.astype(float),
            "own_choice": np.full(len(persons), own),
            "sex": np.where(natural.female[persons], "vrouw", "man"),
            "children": children_band(pd.Series(natural.n_children[persons, months])).to_numpy(),
            "marital_status": marital[natural.ms[persons, months]],
            "health": np.where(natural.poor[persons], "poor", "good"),
            "age_band": age_band(pd.Series(natural.age[persons, months])).to_numpy(),
            "origin": origin[persons],
        }
        parts.append(pd.DataFrame({**frame, **_outcomes_at(s, persons, months, horizons)}))

    for a, arm in enumerate(ARMS):
        own = population & (chose == a)
        persons, months = np.nonzero(own)
        part(arm, natural, persons, months, np.ones(len(persons)), True)
        other = population & (chose != a)
        count = other.sum(axis=1)
        persons = np.flatnonzero(count > 0)
        if a == K:  # waiting: the starters' start months are the only ones that chose otherwise
            month = first_start[persons]
        else:  # one month per person, drawn among those that chose otherwise
            pick = (rng.random(len(persons)) * count[persons]).astype(np.int64)
            month = np.argmax(
                other[persons] & (np.cumsum(other[persons], axis=1) - 1 == pick[:, None]), axis=1
            )
        months_all = np.full(N, -1, dtype=np.int64)
        months_all[persons] = month
        s = _simulate(config, Intervention(month=months_all, arm=np.full(N, a)))
        if not s.forced[persons].all():  # the paths before the month must be the natural ones
            raise RuntimeError("the intervention did not reach every person of the population")
        part(arm, s, persons, month, count[persons], False)
        del s
    return pd.concat(parts, ignore_index=True)


def true_potential_outcomes(po: pd.DataFrame, outcome: str, by: str | None = None) -> pd.DataFrame:
    """Average potential outcome of every arm (columns), over the population (by=None) or per value of
    a subgroup (rows); person-months whose horizon lies past the window are not in the population."""
    p = po[po[outcome].notna()]
    keys = ["arm"] if by is None else [by, "arm"]
    wy = (p[outcome] * p["weight"]).groupby([p[k] for k in keys]).sum()
    mean = wy / p["weight"].groupby([p[k] for k in keys]).sum()
    if by is None:
        return (
            mean.to_frame()
            .T.rename(index={mean.name: "all"})
            .reindex(columns=list(ARMS))
            .set_axis(["all"])
        )
    return mean.unstack("arm").reindex(columns=list(ARMS))


def instrument_choice_truth(po: pd.DataFrame) -> dict:
    """The truth file's section on comparing instruments on one population."""
    outcomes = [
        c for c in po.columns if c.startswith(("regular_work", "employed_h", "self_sufficient_h"))
    ]
    apo = {}
    for o in outcomes:
        entry = {"all": true_potential_outcomes(po, o).iloc[0].round(6).to_dict()}
        for dim in TRUTH_SUBGROUPS:
            entry[dim] = true_potential_outcomes(po, o, dim).round(6).to_dict(orient="index")
        apo[o] = entry
    best = {}
    for dim in ("all", *TRUTH_SUBGROUPS):
        tab = true_potential_outcomes(po, "regular_work_h12", None if dim == "all" else dim)
        best[dim] = tab[list(SRG_CATEGORIES)].idxmax(axis=1).to_dict()
    return {
        "definition": POTENTIAL_OUTCOMES_DEFINITION,
        "arms": list(ARMS),
        "person_months": int(po.loc[po["arm"] == WAIT, "weight"].sum()),
        "best_instrument_regular_work_h12": best,
        "average_potential_outcomes": apo,
    }


# ------------------------------------------------------------------ who should get which arm
ASSIGNMENT_RULE_DEFINITION = (
    "The oracle assignment rule: in every cell of the given subgroup columns (values in the month of the "
    "choice), the arm (an instrument or waiting) with the highest true average potential outcome. A rule's "
    "true value is the mean outcome if every person-month in the population got the rule's arm: for each "
    "arm, the weighted sum over its potential-outcome rows of outcome x share of the row the rule gives "
    "that arm, divided by the weight of that arm's rows with the outcome observed, summed over the arms. "
    "arm_values: everyone that arm; observed_value: the natural outcomes (each person-month's own choice); "
    "gains are the oracle's value minus those."
)


def _observed(po: pd.DataFrame, outcome: str) -> pd.DataFrame:
    return po[po[outcome].notna()]


def true_rule_value(po: pd.DataFrame, probabilities: pd.DataFrame, outcome: str) -> float:
    """True value of a (possibly randomised) rule: ``probabilities`` holds the share of every po row
    given each arm (index aligned with po, columns = arms; an arm not among the columns gets nobody).

    For every arm a: sum over its rows of weight x outcome x share given a, divided by the weight of
    its rows with the outcome observed (each arm's rows stand for the whole population); summed over a."""
    unknown = set(probabilities.columns) - set(po["arm"].unique())
    if unknown:
        raise ValueError(
            f"probabilities name arms that are not in the potential outcomes: {sorted(unknown)}"
        )
    if not probabilities.index.equals(po.index):
        if not po.index.isin(probabilities.index).all():
            raise ValueError(
                "probabilities must have a row for every row of the potential outcomes"
            )
        probabilities = probabilities.loc[po.index]
    p = _observed(po, outcome)
    share = probabilities.loc[p.index]
    total = 0.0
    for arm, rows in p.groupby("arm", sort=False, observed=True):
        if arm not in share.columns:
            continue
        w = rows["weight"].to_numpy(float)
        total += float(
            np.sum(w * rows[outcome].to_numpy(float) * share.loc[rows.index, arm].to_numpy(float))
            / np.sum(w)
        )
    return total


def true_observed_value(po: pd.DataFrame, outcome: str) -> float:
    """True mean outcome of today's assignment: every person-month's own choice (its natural path)."""
    own = _observed(po, outcome)
    own = own[own["own_choice"].to_numpy(bool)]
    return float(np.average(own[outcome], weights=own["weight"]))


def _oracle_arm(po: pd.DataFrame, oracle: dict) -> pd.Series:
    """The oracle's arm for every po row (NaN in a cell the oracle does not know)."""
    features = list(oracle["features"])
    rule = pd.DataFrame(oracle["rule"])
    lookup = pd.Series(
        rule["arm"].to_numpy(), index=pd.MultiIndex.from_frame(rule[features].astype(str))
    )
    keys = pd.MultiIndex.from_frame(po[features].astype(str))
    return pd.Series(lookup.reindex(keys).to_numpy(), index=po.index, name="oracle_arm")


def rule_probabilities(po: pd.DataFrame, arm: pd.Series | str) -> pd.DataFrame:
    """A deterministic rule as shares (1 for the arm given, 0 for the others) per po row."""
    arm = pd.Series(arm, index=po.index) if isinstance(arm, str) else arm.reindex(po.index)
    present = set(po["arm"].unique())
    arms = [a for a in ARMS if a in present] + sorted(present - set(ARMS))
    return pd.DataFrame({a: (arm == a).astype(float) for a in arms}, index=po.index)


def assignment_rule_truth(
    po: pd.DataFrame,
    outcome: str = "regular_work_h12",
    features: tuple[str, ...] = ("sex", "health"),
) -> dict:
    """The truth file's section on who should get which arm: the oracle rule over the cells of
    ``features`` (best arm per cell, instruments and waiting), its true value, every single arm's
    value, the value of today's observed assignment and the oracle's gains over them."""
    features = list(features)
    p = _observed(po, outcome)
    keys = [p[f].astype(str) for f in features]
    wy = (p[outcome] * p["weight"]).groupby([*keys, p["arm"]]).sum()
    apo = (wy / p["weight"].groupby([*keys, p["arm"]]).sum()).unstack("arm")
    apo = apo.reindex(columns=[a for a in ARMS if a in apo.columns])
    best = apo.idxmax(axis=1)
    size = (
        p.loc[p["arm"] == WAIT, "weight"]
        .groupby([p.loc[p["arm"] == WAIT, f].astype(str) for f in features])
        .sum()
    )
    size = (size / size.sum()).reindex(apo.index).fillna(0.0)
    rule = []
    for cell, arm in best.items():
        cell = cell if isinstance(cell, tuple) else (cell,)
        rule.append(
            {
                **dict(zip(features, cell)),
                "arm": arm,
                "population_share": round(float(size.loc[cell]), 6),
                "average_potential_outcomes": {
                    a: None if pd.isna(v) else round(float(v), 6) for a, v in apo.loc[cell].items()
                },
            }
        )
    truth = {
        "definition": ASSIGNMENT_RULE_DEFINITION,
        "outcome": outcome,
        "features": features,
        "rule": rule,
    }
    oracle_value = true_rule_value(po, rule_probabilities(po, _oracle_arm(po, truth)), outcome)
    arm_values = true_potential_outcomes(po, outcome).iloc[0].dropna()  # the arms in po
    observed = true_observed_value(po, outcome)
    best_single = str(arm_values.idxmax())
    truth.update(
        {
            "value": round(oracle_value, 6),
            "arm_values": arm_values.round(6).to_dict(),
            "best_single_arm": best_single,
            "observed_value": round(observed, 6),
            "gain_over_observed": round(oracle_value - observed, 6),
            "gain_over_best_single_arm": round(oracle_value - float(arm_values[best_single]), 6),
            "gain_over_wait": round(oracle_value - float(arm_values[WAIT]), 6),
        }
    )
    return truth


def oracle_agreement(po: pd.DataFrame, probabilities: pd.DataFrame, oracle: dict) -> float:
    """Weighted share of the population (waiting's rows, with the oracle's outcome observed) where
    the rule's most likely arm is the oracle's arm."""
    pop = po[(po["arm"] == WAIT).to_numpy() & po[oracle["outcome"]].notna().to_numpy()]
    chosen = probabilities.loc[pop.index].idxmax(axis=1)
    agree = (chosen == _oracle_arm(pop, oracle)).to_numpy(float)
    return float(np.average(agree, weights=pop["weight"]))
