"""Do the estimators recover the effects planted in the synthetic data, with honest intervals?

Each replication simulates a fresh synthetic G4 population (its own seed), builds the designs'
samples from its person-month panel exactly as the pipeline does, and estimates:
- the scholing effect on employment 12 months after the start (doubly robust ATT, starters vs
  not-yet-starters), against the naive participant/non-participant difference;
- the art. 9a exemption's effect on employment (fuzzy RD at the youngest child's 5th birthday),
  against the naive exempt/non-exempt difference;
- mediation vs neither among people with problematic debt (doubly robust ATT).
Coverage is the share of 95% intervals holding the replication's own planted effect.

What "the planted effect" is depends on the design's estimand. The RD targets the exemption's
effect for parents who take it up (the truth file's LATE). Starters vs not-yet-starters targets
the effect of starting now rather than waiting, and people who wait often start another
instrument within the year, so it is not the truth file's structural effect of the instrument
alone. Its truth is computed on the replication's own sample: the same weighted
treated-minus-control contrast applied to the noiseless planted effect in each person-month,
``true_effect`` in the synthetic world. Both truths are reported.

Usage: python -m wi_pipeline.recovery [--reps 200] [--scale 0.02] [--workers 2]
"""

from __future__ import annotations

import argparse
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd

DESIGNS = ("instrument_scholing_h12", "exemption_fuzzy_rd", "combined_mediation_vs_neither")


def replicate(seed: int, scale: float) -> list[dict]:
    from wi_pipeline.estimation import estimate_discontinuity, estimate_treatment_effect, naive_difference
    from wi_pipeline.lib.designs import combined_sample, exemption_rd_sample, instrument_sample, usable_covariates
    from wi_pipeline.synthetic.config import SyntheticConfig
    from wi_pipeline.synthetic.truth import planted_effects
    from wi_pipeline.synthetic.world import simulate_world

    warnings.filterwarnings("ignore")
    world = simulate_world(SyntheticConfig(seed=seed, scale=scale))
    truth = planted_effects(world)
    panel = world.panel.rename(columns={"person_id": "pseudo_id"})
    rows = []

    def record(design, truth_value, result, naive=None, structural=np.nan):
        rows.append({"seed": seed, "design": design, "truth": truth_value, "structural_truth": structural,
                     "estimate": result.estimate,
                     "std_error": result.std_error, "ci_low": result.ci_low, "ci_high": result.ci_high,
                     "naive": naive.estimate if naive is not None else np.nan,
                     "naive_ci_low": naive.ci_low if naive is not None else np.nan,
                     "naive_ci_high": naive.ci_high if naive is not None else np.nan})

    def aligned_truth(df, covs):
        return estimate_treatment_effect(df, "true_effect_h12", "treated", covs, estimand="ATT").estimate

    d = instrument_sample(panel, "scholing", horizons=(12,), seed=seed, outcome_cols=("employed", "true_effect"))
    df = d.data.dropna(subset=["employed_h12"])
    covs = usable_covariates(df, d.covariates, "treated")
    record(DESIGNS[0], aligned_truth(df, covs),
           estimate_treatment_effect(df, "employed_h12", "treated", covs, estimand="ATT", cluster="pseudo_id"),
           naive_difference(df, "employed_h12", "treated", cluster="pseudo_id"),
           structural=truth["instruments"]["scholing"]["att"]["12"]["overall"]["effect_pp"] / 100)

    rd = exemption_rd_sample(panel).data
    below = rd[rd["running"] < 60]  # naive: exempt vs not exempt among the same parents before the cutoff
    record(DESIGNS[1], truth["exemption_9a"]["late_pp"] / 100,
           estimate_discontinuity(rd, "employed", "running", 60, fuzzy="exemption_9a", cluster="pseudo_id",
                                  density_test=False),
           naive_difference(below, "employed", "exemption_9a", cluster="pseudo_id"))

    c = combined_sample(panel, seed=seed, outcome_cols=("employed", "care_costs_total", "true_effect")).data
    pair = c[c["arm"].isin(["mediation", "neither"])].dropna(subset=["employed_h12"])
    covs = usable_covariates(pair, d.covariates, "treated")
    record(DESIGNS[2], aligned_truth(pair, covs),
           estimate_treatment_effect(pair, "employed_h12", "treated", covs, estimand="ATT", cluster="pseudo_id"),
           naive_difference(pair, "employed_h12", "treated", cluster="pseudo_id"),
           structural=truth["combined_approach"]["att"]["12"]["mediation_alone"]["effect_pp"] / 100)
    return rows


def run(reps: int, scale: float, workers: int = 2, first_seed: int = 1000) -> pd.DataFrame:
    seeds = range(first_seed, first_seed + reps)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(replicate, seeds, [scale] * reps))
    return pd.DataFrame([row for rows in results for row in rows])


def summarise(draws: pd.DataFrame) -> pd.DataFrame:
    d = draws.assign(covered=(draws["ci_low"] <= draws["truth"]) & (draws["truth"] <= draws["ci_high"]),
                     error=draws["estimate"] - draws["truth"], naive_error=draws["naive"] - draws["truth"],
                     naive_covered=(draws["naive_ci_low"] <= draws["truth"]) & (draws["truth"] <= draws["naive_ci_high"]))
    g = d.groupby("design")
    out = pd.DataFrame({
        "reps": g.size(),
        "mean_truth": g["truth"].mean(),
        "mean_structural_truth": g["structural_truth"].mean(),
        "bias": g["error"].mean(),
        "mean_se": g["std_error"].mean(),
        "sd_estimate": g["estimate"].std(),
        "coverage": g["covered"].mean(),
        "naive_bias": g["naive_error"].mean(),
        "naive_coverage": g["naive_covered"].mean().where(g["naive"].count() > 0),
    })
    out["bias_over_se"] = out["bias"] / out["mean_se"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--scale", type=float, default=0.02)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    summary = summarise(run(args.reps, args.scale, args.workers))
    print(summary.round(4).to_markdown())
    print(f"\n{args.reps} replications at scale {args.scale} in {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
