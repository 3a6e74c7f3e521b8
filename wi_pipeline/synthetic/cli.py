"""Command line: generate a synthetic landing folder and its truth file."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from wi_pipeline.synthetic.config import SyntheticConfig


def _non_empty(folder: Path) -> bool:
    return folder.exists() and any(folder.iterdir())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wi_pipeline.synthetic", description=__doc__)
    parser.add_argument(
        "--landing", type=Path, required=True, help="landing folder to write (must be empty)"
    )
    parser.add_argument(
        "--truth",
        type=Path,
        help="truth.json, outside the landing folder (not with --from-landing)",
    )
    parser.add_argument("--seed", type=int, default=SyntheticConfig.seed)
    parser.add_argument(
        "--scale", type=float, default=SyntheticConfig.scale, help="1.0 = real G4 sizes"
    )
    parser.add_argument("--fault-rate", type=float, default=SyntheticConfig.fault_rate)
    parser.add_argument(
        "--force", action="store_true", help="write into a non-empty landing folder"
    )
    national = parser.add_argument_group(
        "national size",
        "CBS tables at the size of the Netherlands around the G4 persons, in CBS's file names "
        "(<landing>/CBS/<TABLE>/SPOLISBUS2019V1.parquet or .sav, ...), written in chunks",
    )
    national.add_argument(
        "--national-scale",
        type=float,
        help="1.0 = 24 million persons, 17 million job rows and 17 million care-cost persons a year",
    )
    national.add_argument(
        "--from-landing",
        type=Path,
        help="a G4 landing generated before: its registers are copied and its CBS tables kept, "
        "instead of generating the G4 again",
    )
    national.add_argument("--persons-per-chunk", type=int, default=1_000_000)
    national.add_argument(
        "--national-form",
        choices=["parquet", "sav"],
        default="parquet",
        help="the files' form: parquet, or SPSS .sav as CBS usually delivers (written in chunks)",
    )
    args = parser.parse_args(argv)
    if args.from_landing is not None and args.national_scale is None:
        parser.error("--from-landing needs --national-scale")
    if args.from_landing is None and args.truth is None:
        parser.error("--truth is required (unless --from-landing)")
    if args.from_landing is not None:
        if _non_empty(args.landing) and not args.force:
            print(f"error: {args.landing.resolve()} is not empty (use --force)", file=sys.stderr)
            return 2
        return _national(args.from_landing, args.landing, args)

    landing, truth = args.landing.resolve(), args.truth.resolve()
    if landing == truth or landing in truth.parents:
        print(
            f"error: the truth file must lie outside the landing folder ({landing})",
            file=sys.stderr,
        )
        return 2
    if _non_empty(landing) and not args.force:
        print(
            f"error: {landing} is not empty; refusing to write synthetic data next to existing extracts "
            "(use --force to write anyway)",
            file=sys.stderr,
        )
        return 2
    if landing.exists() and not landing.is_dir():
        print(f"error: {landing} is not a folder", file=sys.stderr)
        return 2

    from wi_pipeline.synthetic.extracts import write_landing
    from wi_pipeline.synthetic.truth import write_truth
    from wi_pipeline.synthetic.world import simulate_world

    t0 = time.perf_counter()
    cfg = SyntheticConfig(seed=args.seed, scale=args.scale, fault_rate=args.fault_rate)
    world = simulate_world(cfg)
    summary = write_landing(world, landing)
    write_truth(world, truth, summary)
    persons = world.panel.groupby("gemeente", observed=True)["person_id"].nunique()
    print(
        f"synthetic G4 data, seed {cfg.seed}, scale {cfg.scale:g}, in {time.perf_counter() - t0:.1f}s"
    )
    print(f"  landing: {landing}")
    print(f"  truth:   {truth}")
    print("  persons ever on bijstand: " + ", ".join(f"{gm} {n:,}" for gm, n in persons.items()))
    print(
        f"  register rows: {sum(v['rows'] for v in summary['register_files'].values()):,}; "
        f"CBS rows: {sum(summary['cbs_tables'].values()):,}; BSN range {summary['bsn_prefix']}xxxxx"
    )
    print("  faults planted: " + json.dumps(summary["faults"]))
    print("  edge cases planted: " + json.dumps(summary["edge_cases"]))
    if args.national_scale is not None:
        return _national(landing, landing, args)
    return 0


def _national(g4_landing: Path, landing: Path, args: argparse.Namespace) -> int:
    from wi_pipeline.synthetic.national import NationalConfig, write_national_cbs

    cfg = NationalConfig(
        national_scale=args.national_scale,
        seed=args.seed,
        persons_per_chunk=args.persons_per_chunk,
        form=args.national_form,
    )
    summary = write_national_cbs(g4_landing, landing, cfg)
    print(
        f"national CBS tables, scale {cfg.national_scale:g}: {summary['persons']:,} persons "
        f"({summary['g4_persons']:,} from the G4 tables), {summary['rows']:,} rows in "
        f"{len(summary['files'])} files, {summary['seconds']:.0f}s"
    )
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
