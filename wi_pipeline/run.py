"""The main job: synthetic data when the project's landing folder is empty, then every asset for
all G4 partitions.

Runs go into the warehouse's own instance (<warehouse>/dagster_home), so they show in the Dagster UI
afterwards. The console shows one line per step; Dagster's full log goes to a file in that instance.
`--rebuild` (`make rebuild`) builds linkage, panel, effects and reports from the stored assets only.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from wi_pipeline.instance import use_warehouse_instance
from wi_pipeline.lib.layout import CBS_FOLDER
from wi_pipeline.paths import default_landing_dir, synthetic_landing_dir, truth_file, warehouse_dir


class LandingError(Exception):
    """The landing folder cannot be used as it is; the message says why and what to do."""


def landing_has_extracts(landing: Path) -> bool:
    """A register extract anywhere but in the CBS folder, whose deliveries may hold .csv copies."""
    return landing.is_dir() and any(
        p.relative_to(landing).parts[0] != CBS_FOLDER for p in landing.rglob("*.csv")
    )


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
            f"no register extracts (*.csv) in {landing}, but assets are already stored in "
            f"{warehouse}, as after "
            "`make purge` removed the ingested raw extracts; no synthetic data is generated over "
            "them. To rebuild "
            "from the stored, pseudonymised registers and CBS tables, run `make rebuild` (linkage, panel, "
            "effects and reports of every G4 municipality, then the pooled outputs; in the UI: the job "
            "rebuild_from_warehouse). To ingest new extracts, place them in the landing folder and run "
            "`make run`. "
            "To start over, `make clean` removes the stored assets."
        )
    others = _files(landing)
    if landing.resolve() != synthetic_landing_dir().resolve() or others:
        found = (
            f"it holds {len(others)} other file(s), e.g. {others[0]}"
            if others
            else "it holds no files"
        )
        raise LandingError(
            f"no register extracts (*.csv) in {landing}; {found}. Expected <landing>/<GM code>/<register>/"
            "<YYYYMMDD>.csv and the CBS tables as delivered in <landing>/CBS/<TABLE>/ "
            "(e.g. SPOLISBUS2019V2.sav) or as <landing>/CBS/<TABLE>.parquet (see 'The "
            "landing-folder contract' in the README). "
            f"Synthetic data is generated only into {synthetic_landing_dir()} (WI_LANDING_DIR "
            "unset) when it is "
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
                f"  {mat.asset_key.to_user_string():40s} {mat.partition or '':7s} in "
                f"{md['rows_in'].value:>9,}"
                f"  accepted {md['rows_accepted'].value:>9,}  quarantined {md['rows_quarantined'].value:>6,}"
            )
        elif "dagster/row_count" in md and not mat.asset_key.path[-1].endswith("quarantine"):
            lines.append(
                f"  {mat.asset_key.to_user_string():40s} {mat.partition or '':7s} rows "
                f"{md['dagster/row_count'].value:>9,}"
            )
    return lines


# Dagster's console logger prints every event at DEBUG (about 900 lines a run); the file gets them instead
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def run_plan(rebuild: bool, job_names: set[str]) -> list[tuple[str, str | None, list | None]]:
    """The jobs `make run` (or `make rebuild`) runs, in order, as (job, partition, asset selection or None for
    the whole job). Each municipality's data-quality report runs after it, failed or not (in the UI, a sensor
    does this)."""
    from wi_pipeline.defs.jobs import REBUILD_JOB
    from wi_pipeline.lib.layout import G4

    first = REBUILD_JOB if rebuild else "municipality"
    plan = [] if rebuild else [("cbs_tables", None, None)]
    plan += [(job, gm, None) for gm in G4 for job in (first, "data_quality_report")]
    if "g4_pooled" in job_names:
        plan.append(("g4_pooled", None, None))
    return plan


def step_label(job_name: str, partition: str | None) -> str:
    from wi_pipeline.lib.layout import G4, spoken_name

    return f"{job_name} {partition} {spoken_name(partition)}" if partition in G4 else job_name


def failures(result) -> list[tuple[str, str, bool]]:
    """(step, what went wrong in one line, whether the key was refused) per failed step, no stack traces."""
    from wi_pipeline.defs.registers.assets import REFUSED

    out = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE":
            continue
        data = event.event_specific_data
        user = data.user_failure_data
        if user is not None and user.description:
            out.append((event.step_key, user.description, REFUSED in (user.metadata or {})))
        else:
            message = (data.error.message if data.error else "failed").strip().splitlines()[0]
            out.append((event.step_key, message, False))
    return out


def write_run_log(log, instance, run_id: str, label: str) -> None:
    """Every event of the run, as Dagster's console logger would have shown it, with stack traces."""
    log.write(f"===== {label}  run {run_id}\n")
    for entry in instance.all_logs(run_id):
        when = datetime.fromtimestamp(entry.timestamp).strftime("%Y-%m-%d %H:%M:%S")
        kind = entry.dagster_event.event_type_value if entry.dagster_event else ""
        level = logging.getLevelName(entry.level)
        log.write(f"{when} {level:7s} {entry.step_key or '-'} {kind} {entry.user_message}\n")
        data = entry.dagster_event.event_specific_data if entry.dagster_event else None
        error = getattr(data, "error", None)
        if error is not None and hasattr(error, "to_string"):
            log.write(error.to_string() + "\n")
    log.flush()


@contextmanager
def run_log(home: Path):
    """The file that gets Dagster's full log and Python's warnings, in the warehouse's instance."""
    path = home / "run_logs" / f"run-{datetime.now():%Y%m%d-%H%M%S}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    warnings_logger = logging.getLogger("py.warnings")
    with open(path, "a", encoding="utf-8") as log, warnings.catch_warnings():
        handler = logging.StreamHandler(log)
        propagate = warnings_logger.propagate
        warnings.simplefilter("default")
        logging.captureWarnings(True)
        warnings_logger.addHandler(handler)
        warnings_logger.propagate = False
        try:
            yield path, log
        finally:
            warnings_logger.removeHandler(handler)
            warnings_logger.propagate = propagate
            logging.captureWarnings(False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument(
        "--scale", type=float, default=0.05, help="synthetic size; 1.0 = real G4 sizes"
    )
    parser.add_argument(
        "--rebuild",
        action="store_true",
        help="linkage, panel, effects and reports from the stored assets only (make rebuild)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from wi_pipeline.lib.pseudonymise import (
        PseudonymisationError,
        check_warehouse_key,
        key_from_environment,
    )

    warehouse = warehouse_dir()
    try:  # before anything is generated or written: a key other than the warehouse's is refused
        check_warehouse_key(warehouse, key_from_environment().fingerprint)
    except PseudonymisationError as err:
        print(f"wi_pipeline: refused: {err}", file=sys.stderr)
        return 2
    started = time.perf_counter()

    def progress(label: str) -> float:
        print(f"[{time.perf_counter() - started:6.1f}s] {label:44s} ", end="", flush=True)
        return time.perf_counter()

    landing = default_landing_dir()
    if args.rebuild:
        if not any((warehouse / "registers").rglob("*.parquet")):
            print(
                f"wi_pipeline: nothing to rebuild from: no stored registers in {warehouse}; run `make run`",
                file=sys.stderr,
            )
            return 2
    else:
        t0 = progress("landing folder")
        try:
            message = ensure_data(landing, args.seed, args.scale)
        except LandingError as err:
            print("refused")
            print(f"wi_pipeline: {err}", file=sys.stderr)
            return 2
        print(f"{time.perf_counter() - t0:6.1f}s  {message}")

    with run_log(use_warehouse_instance(warehouse)) as (log_path, log):
        print(f"warehouse {warehouse}; Dagster's full log: {log_path}", flush=True)
        summary, failed, problems, refusal = run_jobs(args.rebuild, log, progress)
    print("\nwi_pipeline run summary")
    print("\n".join(summary))
    print(
        f"total {time.perf_counter() - started:.1f}s; runs are in the Dagster UI (make ui); "
        f"full log: {log_path}"
    )
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        print("\n".join(problems), file=sys.stderr)
        if refusal:
            print(
                "the pseudonymisation key was refused, so the later jobs, which would ingest with it or "
                "read what it would have made, were not run (see the summary); fix the key and run again",
                file=sys.stderr,
            )
        return 1
    return 0


# The national CBS tables are read one table per process, two at a time on two cores, as a run
# launched from the UI or a sensor does (Dagster's multiprocess executor): at national size that
# halves the ingestion's wall time. Small tables (the demo's) are read in this process, where
# starting a process per table would cost more than it saves.
PARALLEL_JOBS = {"cbs_tables"}
# CBS files in the landing folder from which the tables are read side by side
PARALLEL_FROM_BYTES = 256 * 2**20
STEP_PROCESSES_ENV_VAR = "WI_STEP_PROCESSES"  # steps at once; 1: in this process; unset: by size


def step_processes(job_name: str, landing: Path) -> int:
    """How many of the job's steps run at once, each in its own process (1: all in this one)."""
    if job_name not in PARALLEL_JOBS:
        return 1
    if value := os.environ.get(STEP_PROCESSES_ENV_VAR):
        if not value.strip().isdigit():
            raise ValueError(
                f"{STEP_PROCESSES_ENV_VAR}={value!r}: give a whole number of steps to run at once "
                "(1: all in the run's own process), or leave it unset to decide by the CBS tables' size"
            )
        return max(int(value), 1)
    cbs = Path(landing) / CBS_FOLDER
    size = sum(p.stat().st_size for p in cbs.rglob("*") if p.is_file()) if cbs.is_dir() else 0
    return (os.cpu_count() or 1) if size >= PARALLEL_FROM_BYTES else 1


def execute_planned_job(defs, instance, job_name: str, partition=None, selection=None, processes=1):
    """One job of the plan: in this process, or its steps in ``processes`` processes at once,
    which rebuild the job from ``wi_pipeline.definitions:defs`` and so use the default resources."""
    if processes > 1 and partition is None and selection is None:
        from dagster import execute_job
        from dagster._core.definitions.reconstruct import ReconstructableRepository

        repository = ReconstructableRepository.for_module(
            "wi_pipeline.definitions", "defs", working_directory=os.getcwd()
        )
        return execute_job(
            repository.get_reconstructable_job(job_name),
            instance=instance,
            run_config={
                **QUIET,
                "execution": {
                    "config": {
                        "multiprocess": {
                            "max_concurrent": processes,
                            # each step forks from a process that has imported the project once
                            "start_method": {
                                "forkserver": {"preload_modules": ["wi_pipeline.definitions"]}
                            },
                        }
                    }
                },
            },
            raise_on_error=False,
        )
    return defs.resolve_job_def(job_name).execute_in_process(
        instance=instance,
        partition_key=partition,
        asset_selection=selection,
        raise_on_error=False,
        run_config=QUIET,
    )


def run_jobs(rebuild: bool, log, progress) -> tuple[list[str], list[str], list[str], str | None]:
    """Run the plan into the instance at DAGSTER_HOME: summary lines, failed steps, their problems in one line
    each, and the refusal that stopped the later jobs (if one did)."""
    t0 = progress("loading Dagster and the definitions")
    from dagster import DagsterInstance

    from wi_pipeline.definitions import make_definitions

    defs, instance = make_definitions(), DagsterInstance.get()
    print(f"{time.perf_counter() - t0:6.1f}s  {os.environ['DAGSTER_HOME']}", flush=True)
    plan = run_plan(rebuild, {j.name for j in defs.jobs})
    summary, failed, problems, refusal = [], [], [], None
    for job_name, partition, selection in plan:
        label = step_label(job_name, partition)
        if refusal:
            summary.append(f"{label:44s} not run: the key was refused")
            continue
        t0 = progress(label)
        processes = step_processes(job_name, default_landing_dir())
        result = execute_planned_job(defs, instance, job_name, partition, selection, processes)
        write_run_log(log, instance, result.run_id, label)
        status = "ok" if result.success else "FAILED"
        print(f"{status:6s} {time.perf_counter() - t0:6.1f}s  run {result.run_id[:8]}", flush=True)
        summary.append(f"{label:44s} {status:6s} run {result.run_id[:8]}")
        summary.extend(_summary_line(result))
        if not result.success:
            failed.append(label)
            for step, what, refused in failures(result):
                problems.append(f"  {label}, {step}: {what}")
                refusal = refusal or (what if refused else None)
    instance.dispose()
    return summary, failed, problems, refusal


if __name__ == "__main__":
    sys.exit(main())
