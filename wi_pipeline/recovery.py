"""Do the estimators recover the effects planted in the synthetic data, with honest intervals?

Each replication simulates a fresh synthetic G4 population (its own seed), builds the designs'
samples from its person-month panel exactly as the pipeline does, and estimates:
- the scholing effect on employment 12 months after the start (doubly robust ATT, starters vs
  not-yet-starters), against the naive participant/non-participant difference;
- the art. 9a exemption's effect on employment (fuzzy RD at the youngest child's 5th birthday),
  against the naive exempt/non-exempt difference;
- mediation vs neither among people with problematic debt (doubly robust ATT).
The combined approach's full 2x2 ("combined", usually at a larger scale): the interaction of debt
assistance and mediation on employment and debt assistance's saving on care costs, whose planted
values hold for everyone whose debt assistance started, against the raw cell means.
Coverage is the share of 95% intervals holding the replication's own planted effect.

What "the planted effect" is depends on the design's estimand. The RD targets the exemption's
effect for parents who take it up (the truth file's LATE). Starters vs not-yet-starters targets
the effect of starting now rather than waiting, and people who wait often start another
instrument within the year, so it is not the truth file's structural effect of the instrument
alone. Its truth is computed on the replication's own sample: the same weighted
treated-minus-control contrast applied to the noiseless planted effect in each person-month,
``true_effect`` in the synthetic world. Both truths are reported.

The instruments compared on one population (every person-month on bijstand without an instrument
yet: start one of the instruments now, or wait) have a structural truth: the generator simulates
the world again with each choice set in one month per person (``synthetic.truth.potential_outcomes``),
so every arm's average potential outcome is known. Each replication records every arm's doubly
robust APO of regular work a year later and its contrast with waiting, overall and by sex and
health, whether the simultaneous rank sets hold every true rank, whether the best set holds the
truly best instrument, and which instrument today's ranking would pick: own-starter ATTs on any
job, placements included.

Who should get which instrument ("policy"): on the same sample, a depth-2 assignment rule over the
subgroup columns (``estimation.policy.learn_assignment_policy``) is learned on half of the persons
and valued on the others. Its truth comes from the same potential outcomes
(``synthetic.truth.true_rule_value``): the value estimate targets the true value of the learned rule,
the gains subtract the true value of today's assignment (every person-month's own choice) or of
everyone waiting. The rule (``assignment_probabilities``) is compared with the oracle rule (the
truly best arm in every cell of sex and health, ``synthetic.truth.assignment_rule_truth``): how much
of the population it gives the oracle's arm, and its regret (the oracle's true value minus its own). A
pure-noise check learns a rule on the outcome replaced by independent Bernoulli noise with the same
mean: its gain over the observed assignment is zero, so it should be significant in about 5% of
the replications.

Usage: python -m wi_pipeline.recovery [--reps 200] [--scale 0.02] [--workers 2] [--parts
designs,choice,policy]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

_ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
DESIGNS = ("instrument_scholing_h12", "exemption_fuzzy_rd", "combined_mediation_vs_neither")
CHOICE_OUTCOME = "regular_work_h12"
CHOICE_SUBGROUPS = ("sex", "health")


def _choice_design(seed: int, panel: pd.DataFrame) -> tuple[dict, pd.DataFrame, list[str]]:
    """The instrument-choice design as the pipeline builds it (regular work a year later): the
    municipalities' panels, the pooled sample and its covariates."""
    from wi_pipeline.lib.designs import add_history, instrument_choice_sample, usable_covariates
    from wi_pipeline.lib.effects import _municipality_effects, pooled_design

    panels = {
        gm: add_history(p.reset_index(drop=True))
        for gm, p in panel.groupby("gemeente", observed=True)
    }
    design = pooled_design(panels, instrument_choice_sample, horizons=(12,), seed=seed)
    df = design.data
    for dim in CHOICE_SUBGROUPS:
        df[dim] = df[dim].astype(str)
    covs = usable_covariates(df, [*design.covariates, *_municipality_effects(df)])
    return panels, df, covs


def _instrument_choice(
    seed: int, po: pd.DataFrame, panels: dict, df: pd.DataFrame, covs: list[str], record
) -> dict:
    """Every arm's APO and contrast with waiting against the simulated truth; ranks and picks."""
    from wi_pipeline.estimation import estimate_multivalued_treatments, estimate_treatment_effect
    from wi_pipeline.lib.designs import WAIT, instrument_sample, usable_covariates
    from wi_pipeline.lib.effects import CHOICE_TRIM, _municipality_effects, pooled_design
    from wi_pipeline.lib.layout import SRG_CATEGORIES
    from wi_pipeline.synthetic.truth import true_potential_outcomes

    result = estimate_multivalued_treatments(
        df,
        [CHOICE_OUTCOME],
        "arm",
        covs,
        cluster="pseudo_id",
        weights="sampling_weight",
        groups=list(CHOICE_SUBGROUPS),
        trim=CHOICE_TRIM,
    )[CHOICE_OUTCOME]
    cells = [("all", "all", result, true_potential_outcomes(po, CHOICE_OUTCOME).iloc[0])]
    for dim in CHOICE_SUBGROUPS:
        truth = true_potential_outcomes(po, CHOICE_OUTCOME, dim)
        cells += [(dim, v, result.within(dim, v), truth.loc[v]) for v in truth.index]
    for dim, value, r, truth in cells:
        apo = r.potential_outcomes
        label = "" if dim == "all" else f"[{dim}={value}]"
        for arm in apo.index:
            if (
                dim == "all" and apo.loc[arm, "std_error"] > 0
            ):  # a placement that is never regular work: 0
                record(f"apo{label}:{arm}", truth[arm], _as_result(apo.loc[arm]))
            if arm != WAIT:
                record(f"contrast{label}:{arm}", truth[arm] - truth[WAIT], r.contrast(arm, WAIT))
    truth = cells[0][3]
    instruments = list(SRG_CATEGORIES)
    true_rank = truth[instruments].rank(ascending=False, method="min")
    sets = result.rank_sets(level=0.95, arms=instruments)
    best = result.best_set(level=0.95, arms=instruments)
    true_best = truth[instruments].idxmax()
    today = {}
    for (
        cat
    ) in instruments:  # today's table: own starters against not-yet-starters, any job a year later
        d = pooled_design(
            panels,
            instrument_sample,
            category=cat,
            horizons=(12,),
            seed=seed,
            outcome_cols=("employed",),
        )
        part = d.data.dropna(subset=["employed_h12"])
        c = usable_covariates(part, [*d.covariates, *_municipality_effects(part)], "treated")
        today[cat] = estimate_treatment_effect(
            part, "employed_h12", "treated", c, estimand="ATT"
        ).estimate
    return {
        "seed": seed,
        "true_best": true_best,
        "today_pick": max(today, key=today.get),
        "point_pick": result.potential_outcomes.loc[instruments, "estimate"].idxmax(),
        "best_set_size": len(best),
        "best_set_covers": true_best in best,
        "rank_sets_cover": bool(
            (
                (sets["rank_low"] <= true_rank[sets.index])
                & (true_rank[sets.index] <= sets["rank_high"])
            ).all()
        ),
    }


POLICY_DEPTH = 2
POLICY_GAINS = ("observed", "wait")  # gain_over baselines recorded against their truth


def _assignment_policy(
    seed: int, po: pd.DataFrame, df: pd.DataFrame, covs: list[str], record
) -> None:
    """A depth-2 rule over the subgroup columns, learned on the choice sample; its value and gains
    against their truths, the rule (``assignment_probabilities``) against the oracle, and a rule
    learned on pure noise."""
    from wi_pipeline.estimation import learn_assignment_policy
    from wi_pipeline.lib.assignment import SUBGROUP_FEATURES, rule_features
    from wi_pipeline.synthetic.truth import (
        WAIT,
        assignment_rule_truth,
        oracle_agreement,
        true_observed_value,
        true_potential_outcomes,
        true_rule_value,
    )

    d = df[df[CHOICE_OUTCOME].notna()].reset_index(drop=True)
    features = rule_features(d)[
        list(SUBGROUP_FEATURES)
    ]  # readable labels replace the raw subgroup columns
    d = d[[c for c in d.columns if c not in features.columns]].join(features)
    po_features = rule_features(po)[
        list(SUBGROUP_FEATURES)
    ]  # the same rule on the potential outcomes' rows
    policy = learn_assignment_policy(
        d,
        CHOICE_OUTCOME,
        "arm",
        covs,
        list(SUBGROUP_FEATURES),
        depth=POLICY_DEPTH,
        cluster="pseudo_id",
        weights="sampling_weight",
    )
    # the value's estimand: the true value of the rule, learned on the persons not held out
    full = policy.assignment_probabilities(po_features)
    target_value = rule_value = true_rule_value(po, full, CHOICE_OUTCOME)
    observed = true_observed_value(po, CHOICE_OUTCOME)
    waiting = float(true_potential_outcomes(po, CHOICE_OUTCOME).iloc[0][WAIT])
    oracle = assignment_rule_truth(po, CHOICE_OUTCOME, CHOICE_SUBGROUPS)
    value = policy.value
    record(
        "policy:value",
        target_value,
        value,
        p_value=value.p_value,
        rule_true_value=rule_value,
        oracle_value=oracle["value"],
        oracle_agreement=oracle_agreement(po, full, oracle),
        true_observed_value=observed,
        oracle_gain_over_observed=oracle["value"] - observed,
        best_single_arm_value=max(oracle["arm_values"].values()),
        leaves=len(policy.allocation),
        **{
            k: policy.diagnostics.get(k, np.nan)
            for k in ("propensity_min", "propensity_floor_rows", "largest_weight_share")
        },
    )
    for baseline, base_value in zip(POLICY_GAINS, (observed, waiting)):
        gain = policy.gain_over(baseline)
        record(
            f"policy:gain_over_{baseline}", target_value - base_value, gain, p_value=gain.p_value
        )

    # pure noise: no arm changes the outcome, so the gain over the observed assignment is zero
    y = d[CHOICE_OUTCOME].to_numpy(float)
    mean = float(np.average(y, weights=d["sampling_weight"]))
    noise = np.random.default_rng([seed, 7]).binomial(1, mean, len(d)).astype(float)
    d = d.assign(**{CHOICE_OUTCOME: noise})
    gain = policy.for_outcome(d, CHOICE_OUTCOME).gain_over("observed")  # same propensity scores
    record("policy:noise_gain_over_observed", 0.0, gain, p_value=gain.p_value)


def _combined_2x2(seed: int, panel: pd.DataFrame, record) -> None:
    """The debt assistance x mediation 2x2 as the pipeline pools it: the planted interaction on
    employment a year later, and debt assistance's planted saving on care costs, against the raw
    cell means. Both truths hold whenever debt assistance started, so they are the APO contrasts'."""
    from types import SimpleNamespace

    from wi_pipeline.estimation import estimate_multivalued_treatments
    from wi_pipeline.lib.designs import add_history, combined_sample, usable_covariates
    from wi_pipeline.lib.effects import (
        COMBINED_CONTRASTS,
        INTERACTION,
        _municipality_effects,
        pooled_design,
    )
    from wi_pipeline.synthetic import params as P

    panels = {
        gm: add_history(p.reset_index(drop=True))
        for gm, p in panel.groupby("gemeente", observed=True)
    }
    design = pooled_design(
        panels,
        combined_sample,
        horizons=(12,),
        seed=seed,
        outcome_cols=("employed", "care_costs_total"),
    )
    df = design.data
    covs = usable_covariates(df, [*design.covariates, *_municipality_effects(df)])
    res = estimate_multivalued_treatments(
        df,
        ["employed_h12", "care_costs_total_h12"],
        "arm",
        covs,
        cluster="pseudo_id",
        weights="sampling_weight",
        trim=None,
    )
    nan = float("nan")

    def raw(outcome, coefficients):
        d = df.dropna(subset=[outcome])
        means = d.groupby("arm").apply(
            lambda g: np.average(g[outcome], weights=g["sampling_weight"])
        )
        return SimpleNamespace(
            estimate=sum(c * means[k] for k, c in coefficients.items()), ci_low=nan, ci_high=nan
        )

    interaction = COMBINED_CONTRASTS[INTERACTION]
    record(
        "combined_interaction_employed_h12",
        P.DEBT_ASSISTANCE["mediation_interaction"],
        res["employed_h12"].linear_contrast(interaction),
        raw("employed_h12", interaction),
    )
    saving = COMBINED_CONTRASTS["debt_only vs neither"]
    record(
        "combined_debt_assistance_care_costs_h12",
        P.DEBT_ASSISTANCE["care_cost_effect_eur_per_year"],
        res["care_costs_total_h12"].linear_contrast(saving),
        raw("care_costs_total_h12", saving),
    )


# the three designs above; the instruments compared on one population; who should get which
# instrument; the combined approach's 2x2 (at a larger scale: its cells are small)
PARTS = ("designs", "choice", "policy", "combined")
COMBINED_DESIGNS = ("combined_interaction_employed_h12", "combined_debt_assistance_care_costs_h12")


def replicate(seed: int, scale: float, parts: tuple[str, ...] = PARTS) -> tuple[list[dict], dict]:
    from wi_pipeline.estimation import (
        estimate_discontinuity,
        estimate_treatment_effect,
        naive_difference,
    )
    from wi_pipeline.lib.designs import (
        combined_sample,
        exemption_rd_sample,
        instrument_sample,
        usable_covariates,
    )
    from wi_pipeline.synthetic.config import SyntheticConfig
    from wi_pipeline.synthetic.truth import design_truths, potential_outcomes
    from wi_pipeline.synthetic.world import _simulate, assemble

    warnings.filterwarnings("ignore")
    config = SyntheticConfig(seed=seed, scale=scale)
    natural = _simulate(config)
    # the potential outcomes start from the world's own simulation, before assemble frees its arrays
    po = (
        potential_outcomes(config, horizons=(12,), natural=natural)
        if "choice" in parts or "policy" in parts
        else None
    )
    world = assemble(natural)
    del natural
    panel = world.panel.rename(columns={"person_id": "pseudo_id"})
    rows = []

    def record(design, truth_value, result, naive=None, structural=np.nan, **extra):
        rows.append(
            {
                "seed": seed,
                "design": design,
                "truth": truth_value,
                "structural_truth": structural,
                "estimate": result.estimate,
                "std_error": result.std_error,
                "ci_low": result.ci_low,
                "ci_high": result.ci_high,
                "naive": naive.estimate if naive is not None else np.nan,
                "naive_ci_low": naive.ci_low if naive is not None else np.nan,
                "naive_ci_high": naive.ci_high if naive is not None else np.nan,
                **extra,
            }
        )

    def aligned_truth(df, covs):
        return estimate_treatment_effect(
            df, "true_effect_h12", "treated", covs, estimand="ATT"
        ).estimate

    ranks = {"seed": seed}
    if po is not None:  # one world, one set of potential outcomes, one design for both
        panels, df, covs = _choice_design(seed, panel)
        if "choice" in parts:
            ranks = _instrument_choice(seed, po, panels, df, covs, record)
        if "policy" in parts:
            _assignment_policy(seed, po, df, covs, record)
        del po, panels, df
    if "combined" in parts:
        _combined_2x2(seed, panel, record)
    if "designs" not in parts:
        return rows, ranks
    truth = design_truths(world)
    d = instrument_sample(
        panel, "scholing", horizons=(12,), seed=seed, outcome_cols=("employed", "true_effect")
    )
    df = d.data.dropna(subset=["employed_h12"])
    covs = usable_covariates(df, d.covariates, "treated")
    record(
        DESIGNS[0],
        aligned_truth(df, covs),
        estimate_treatment_effect(
            df, "employed_h12", "treated", covs, estimand="ATT", cluster="pseudo_id"
        ),
        naive_difference(df, "employed_h12", "treated", cluster="pseudo_id"),
        structural=truth["scholing_att"],
    )

    rd = exemption_rd_sample(panel).data
    below = rd[
        rd["running"] < 60
    ]  # naive: exempt vs not exempt among the same parents before the cutoff
    record(
        DESIGNS[1],
        truth["exemption_late"],
        estimate_discontinuity(
            rd,
            "employed",
            "running",
            60,
            fuzzy="exemption_9a",
            cluster="pseudo_id",
            density_test=False,
        ),
        naive_difference(below, "employed", "exemption_9a", cluster="pseudo_id"),
    )

    c = combined_sample(
        panel, seed=seed, outcome_cols=("employed", "care_costs_total", "true_effect")
    ).data
    pair = c[c["arm"].isin(["mediation", "neither"])].dropna(subset=["employed_h12"])
    covs = usable_covariates(pair, d.covariates, "treated")
    record(
        DESIGNS[2],
        aligned_truth(pair, covs),
        estimate_treatment_effect(
            pair, "employed_h12", "treated", covs, estimand="ATT", cluster="pseudo_id"
        ),
        naive_difference(pair, "employed_h12", "treated", cluster="pseudo_id"),
        structural=truth["mediation_alone_att"],
    )
    return rows, ranks


def _as_result(row: pd.Series):
    """An APO row as the attributes ``record`` reads."""
    from types import SimpleNamespace

    return SimpleNamespace(
        estimate=row["estimate"],
        std_error=row["std_error"],
        ci_low=row["ci_low"],
        ci_high=row["ci_high"],
    )


def run(
    reps: int,
    scale: float,
    workers: int = 2,
    first_seed: int = 1000,
    parts: tuple[str, ...] = PARTS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Estimates against truths (one row per replication and design) and the instrument rankings
    (one row per replication)."""
    seeds = range(first_seed, first_seed + reps)
    # one BLAS thread per worker: workers that each start a thread per core slow each other down
    saved = {k: os.environ.get(k) for k in _ONE_THREAD}
    os.environ.update(_ONE_THREAD)
    try:
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn")
        ) as pool:
            results = list(pool.map(replicate, seeds, [scale] * reps, [parts] * reps))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return (
        pd.DataFrame([row for rows, _ in results for row in rows]),
        pd.DataFrame([ranks for _, ranks in results]),
    )


def summarise_ranks(ranks: pd.DataFrame) -> pd.Series:
    """How often the rank sets and the best set hold the truth, and how often each way of ranking
    picks the truly best instrument."""
    return pd.Series(
        {
            "reps": len(ranks),
            "rank_sets_hold_all_true_ranks": ranks["rank_sets_cover"].mean(),
            "best_set_holds_true_best": ranks["best_set_covers"].mean(),
            "mean_best_set_size": ranks["best_set_size"].mean(),
            "point_estimate_picks_true_best": (ranks["point_pick"] == ranks["true_best"]).mean(),
            "todays_ranking_picks_true_best": (ranks["today_pick"] == ranks["true_best"]).mean(),
            "todays_most_frequent_pick": ranks["today_pick"].mode().iloc[0],
            "true_best_most_often": ranks["true_best"].mode().iloc[0],
        }
    )


def summarise_choice(draws: pd.DataFrame) -> pd.DataFrame:
    """Coverage and error of the instrument comparison, pooled over the arms: every APO, every
    contrast with waiting overall, and every contrast within a subgroup (sex, health)."""
    d = draws[draws["design"].str.startswith(("apo", "contrast"))]
    family = np.select(
        [d["design"].str.startswith("apo"), d["design"].str.contains(r"\[")],
        ["APO of each arm", "contrast with waiting, per subgroup"],
        "contrast with waiting",
    )
    d = d.assign(
        family=family,
        covered=(d["ci_low"] <= d["truth"]) & (d["truth"] <= d["ci_high"]),
        z=(d["estimate"] - d["truth"]) / d["std_error"],
    )
    g = d.groupby("family")
    return pd.DataFrame(
        {
            "intervals": g.size(),
            "coverage": g["covered"].mean(),
            "worst_arm_coverage": d.groupby(["family", "design"])["covered"]
            .mean()
            .groupby("family")
            .min(),
            "mean_bias_over_se": g["z"].mean(),
            "sd_of_error_over_se": g["z"].std(),
        }
    )


def summarise_policy(draws: pd.DataFrame) -> pd.Series:
    """The assignment rule over the replications: coverage and error of its value and gains, how
    close the reported rule comes to the oracle, and how often a rule learned on pure
    noise shows a significant gain over the observed assignment."""
    d = draws[draws["design"].str.startswith("policy:")]
    d = d.assign(
        covered=(d["ci_low"] <= d["truth"]) & (d["truth"] <= d["ci_high"]),
        error=d["estimate"] - d["truth"],
    )
    out = {"reps": int((d["design"] == "policy:value").sum())}
    for name in ("value", *(f"gain_over_{b}" for b in POLICY_GAINS)):
        x = d[d["design"] == f"policy:{name}"]
        out.update(
            {
                f"{name}_coverage": x["covered"].mean(),
                f"{name}_mean_truth": x["truth"].mean(),
                f"{name}_bias": x["error"].mean(),
                f"{name}_mean_se": x["std_error"].mean(),
                f"{name}_sd_estimate": x["estimate"].std(),
                f"{name}_bias_over_se": x["error"].mean() / x["std_error"].mean(),
                f"{name}_sd_of_error_over_se": (x["error"] / x["std_error"]).std(),
            }
        )
    v = d[d["design"] == "policy:value"]
    regret = v["oracle_value"] - v["rule_true_value"]
    out.update(
        {
            "mean_rule_true_value": v["rule_true_value"].mean(),
            "mean_best_single_arm_value": v["best_single_arm_value"].mean(),
            "mean_oracle_value": v["oracle_value"].mean(),
            "mean_oracle_agreement": v["oracle_agreement"].mean(),
            "min_oracle_agreement": v["oracle_agreement"].min(),
            "mean_oracle_gain_over_observed": v["oracle_gain_over_observed"].mean(),
            "mean_regret": regret.mean(),
            "max_regret": regret.max(),
            "mean_regret_over_oracle_gain": regret.mean() / v["oracle_gain_over_observed"].mean(),
        }
    )
    noise = d[d["design"] == "policy:noise_gain_over_observed"]
    out.update(
        {
            "noise_false_positive_rate": (noise["p_value"] < 0.05).mean(),
            "noise_mean_gain": noise["estimate"].mean(),
        }
    )
    return pd.Series(out, name="assignment rule")


def summarise(draws: pd.DataFrame) -> pd.DataFrame:
    d = draws.assign(
        covered=(draws["ci_low"] <= draws["truth"]) & (draws["truth"] <= draws["ci_high"]),
        error=draws["estimate"] - draws["truth"],
        naive_error=draws["naive"] - draws["truth"],
        naive_covered=(draws["naive_ci_low"] <= draws["truth"])
        & (draws["truth"] <= draws["naive_ci_high"]),
    )
    g = d.groupby("design")
    out = pd.DataFrame(
        {
            "reps": g.size(),
            "mean_truth": g["truth"].mean(),
            "mean_structural_truth": g["structural_truth"].mean(),
            "bias": g["error"].mean(),
            "mean_se": g["std_error"].mean(),
            "sd_estimate": g["estimate"].std(),
            "coverage": g["covered"].mean(),
            "naive_bias": g["naive_error"].mean(),
            "naive_coverage": g["naive_covered"].mean().where(g["naive_ci_low"].count() > 0),
        }
    )
    out["bias_over_se"] = out["bias"] / out["mean_se"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--parts",
        default=",".join(PARTS),
        help=f"comma-separated parts to run, of {', '.join(PARTS)} (default: all)",
    )
    args = parser.parse_args(argv)
    parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
    unknown = set(parts) - set(PARTS)
    if unknown or not parts:
        parser.error(f"unknown part(s) {sorted(unknown)}; choose from {', '.join(PARTS)}")
    t0 = time.perf_counter()
    draws, ranks = run(args.reps, args.scale, args.workers, parts=parts)
    if "designs" in parts:
        print(summarise(draws[draws["design"].isin(DESIGNS)]).round(4).to_markdown(), end="\n\n")
    if "choice" in parts:
        print(summarise_choice(draws).round(4).to_markdown(), end="\n\n")
        print(summarise_ranks(ranks).to_markdown(), end="\n\n")
    if "policy" in parts:
        print(summarise_policy(draws).round(4).to_markdown(), end="\n\n")
    if "combined" in parts:
        print(summarise(draws[draws["design"].isin(COMBINED_DESIGNS)]).round(4).to_markdown())
    print(f"\n{args.reps} replications at scale {args.scale} in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
