"""The main job: synthetic data when the project's landing folder is empty, then every asset for all G4 partitions.

Runs go into the instance under DAGSTER_HOME, so they show in the Dagster UI afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from wi_pipeline.paths import REPO_ROOT, default_landing_dir, synthetic_landing_dir, truth_file, warehouse_dir


class LandingError(Exception):
    """The landing folder cannot be used as it is; the message says why and what to do."""


def landing_has_extracts(landing: Path) -> bool:
    return landing.is_dir() and any(landing.rglob("*.csv"))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def ensure_data(landing: Path, seed: int, scale: float) -> str:
    """Use the extracts in ``landing``; generate synthetic ones only into the project's own landing folder,
    and only when it holds no file at all, so synthetic data never mixes with (or replaces) real data."""
    landing = Path(landing)
    if landing_has_extracts(landing):
        return f"extracts found in {landing}"
    warehouse = warehouse_dir()
    if _files(warehouse / "registers"):
        raise LandingError(
            f"no register extracts (*.csv) in {landing}, but assets are already stored in {warehouse}, as after "
            "`make purge` removed the ingested raw extracts; no synthetic data is generated over them. To rebuild "
            "from the stored, pseudonymised registers and CBS tables, run `make ui` and materialise linkage, panel, "
            "effects and reports. To ingest new extracts, place them in the landing folder and run `make run`. "
            "To start over, `make clean` removes the stored assets."
        )
    others = _files(landing)
    if landing.resolve() != synthetic_landing_dir().resolve() or others:
        found = f"it holds {len(others)} other file(s), e.g. {others[0]}" if others else "it holds no files"
        raise LandingError(
            f"no register extracts (*.csv) in {landing}; {found}. Expected <landing>/<GM code>/<register>/"
            "<YYYYMMDD>.csv and <landing>/CBS/<TABLE>.parquet (see 'The landing-folder contract' in the README). "
            f"Synthetic data is generated only into {synthetic_landing_dir()} (WI_LANDING_DIR unset) when it is "
            "completely empty."
        )
    from wi_pipeline.synthetic.config import SyntheticConfig
    from wi_pipeline.synthetic.extracts import write_landing
    from wi_pipeline.synthetic.truth import write_truth
    from wi_pipeline.synthetic.world import simulate_world

    world = simulate_world(SyntheticConfig(seed=seed, scale=scale))
    write_landing(world, landing)
    write_truth(world, truth_file())
    return f"no extracts in {landing}: generated synthetic data (seed {seed}, scale {scale})"


def _summary_line(result) -> list[str]:
    lines = []
    for event in result.get_asset_materialization_events():
        mat = event.event_specific_data.materialization
        md = mat.metadata
        if "rows_in" in md:
            lines.append(
                f"  {mat.asset_key.to_user_string():40s} {mat.partition or '':7s} in {md['rows_in'].value:>9,}"
                f"  accepted {md['rows_accepted'].value:>9,}  quarantined {md['rows_quarantined'].value:>6,}"
            )
        elif "dagster/row_count" in md and not mat.asset_key.path[-1].endswith("quarantine"):
            lines.append(f"  {mat.asset_key.to_user_string():40s} {mat.partition or '':7s} rows {md['dagster/row_count'].value:>9,}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--scale", type=float, default=0.05, help="synthetic size; 1.0 = real G4 sizes")
    args = parser.parse_args(argv)

    os.environ.setdefault("DAGSTER_HOME", str(REPO_ROOT / "dagster_home"))
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    landing = default_landing_dir()
    try:
        print(ensure_data(landing, args.seed, args.scale))
    except LandingError as err:
        print(f"wi_pipeline: {err}", file=sys.stderr)
        return 2

    from dagster import DagsterInstance

    from wi_pipeline.definitions import defs
    from wi_pipeline.lib.layout import G4

    instance = DagsterInstance.get()
    # each municipality's data-quality report runs after it, failed or not (in the UI, a sensor does this)
    plan = [("cbs_tables", None)] + [(job, gm) for gm in G4 for job in ("municipality", "data_quality_report")]
    if any(j.name == "g4_pooled" for j in defs.jobs):
        plan.append(("g4_pooled", None))
    summary, failed = [], []
    started = time.perf_counter()
    for job_name, partition in plan:
        job = defs.resolve_job_def(job_name)
        t0 = time.perf_counter()
        result = job.execute_in_process(instance=instance, partition_key=partition, raise_on_error=False)
        label = f"{job_name}{'[' + partition + ']' if partition else ''}"
        status = "ok" if result.success else "FAILED"
        summary.append(f"{label:28s} {status:6s} {time.perf_counter() - t0:6.1f}s  run {result.run_id[:8]}")
        summary.extend(_summary_line(result))
        if not result.success:
            failed.append(label)
    print("\nwi_pipeline run summary")
    print("\n".join(summary))
    print(f"total {time.perf_counter() - started:.1f}s; runs are in the Dagster UI (make ui)")
    if failed:
        print(f"failed: {', '.join(failed)} (see the run logs in the UI)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
