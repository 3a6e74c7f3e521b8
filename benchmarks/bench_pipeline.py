"""Benchmark: CBS ingestion; ingestion, linkage and the panel per G4 partition; all effect estimates.

Usage: .venv/bin/python benchmarks/bench_pipeline.py [--scale 1.0] [--data /tmp/wi_bench] [--jobs]
Synthetic data is generated once into --data and reused. Every stage runs in its own process, so
the peak memory reported (VmHWM) is that stage's alone. Panel stages run one after another; the
five effect stages, then the five assignment-rule stages, run two at a time, longest first, as the
pipeline's runs share two cores.

With --jobs the stages are the pipeline's own Dagster jobs (cbs_tables, municipality and its
data-quality report per partition, g4_pooled), run one after another as `make run` does, with every blocking check, Great Expectations
suite, identifier scan, report and the parquet IO manager: what a real run costs end to end.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import secrets
import time
from pathlib import Path

PANEL_TABLES = [
    "GBAPERSOONTAB",
    "KINDOUDERTAB",
    "GBABURGERLIJKESTAATBUS",
    "GBAHUISHOUDENSBUS",
    "SPOLISBUS",
    "SECMBUS",
    "ZVWZORGKOSTENTAB",
    "PROBSCHULDTAB",
]


def _peak_mib() -> int:
    """This process's own peak resident memory (VmHWM; ru_maxrss would survive exec from the parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024)
    return -1


def _cbs_stage(landing: Path, warehouse: Path) -> dict:
    import shutil

    from wi_pipeline.lib.cbs import ingest_cbs_table
    from wi_pipeline.lib.pseudonymise import key_from_environment

    t0 = time.perf_counter()
    key = key_from_environment()
    rows = 0
    for table in ["KOPPELTABEL", *PANEL_TABLES]:
        shutil.rmtree(warehouse / table, ignore_errors=True)  # written in chunks, as the asset does
        rows += ingest_cbs_table(landing, table, warehouse / table, key).rows_in
    return {
        "stage": "cbs tables (national)",
        "rows_in": rows,
        "total_s": round(time.perf_counter() - t0, 1),
        "peak_rss_mib": _peak_mib(),
    }


def _partition_stage(landing: Path, warehouse: Path, gemeente: str) -> dict:
    from wi_pipeline.lib.datasets import open_table
    from wi_pipeline.lib.ingest import current_extract, ingest_register
    from wi_pipeline.lib.layout import REGISTERS
    from wi_pipeline.lib.linkage import key_file_rows, link_registers
    from wi_pipeline.lib.panel import PanelWindow, build_panel
    from wi_pipeline.lib.pseudonymise import key_from_environment

    key = key_from_environment()
    t0 = time.perf_counter()
    regs, quars = {}, {}
    for name, layout in REGISTERS.items():
        r = ingest_register(current_extract(landing, gemeente, name), layout, gemeente, key)
        regs[name], quars[name] = r.accepted, r.quarantine
    t1 = time.perf_counter()
    keys = key_file_rows(open_table(warehouse / "KOPPELTABEL"), regs)
    linkage = link_registers(regs, quars, keys, keys.attrs.get("ambiguous_pseudonyms"))
    t2 = time.perf_counter()
    cbs = {t: open_table(warehouse / t) for t in PANEL_TABLES}
    panel, report = build_panel(gemeente, linkage.linked, cbs, PanelWindow())
    t3 = time.perf_counter()
    panel.to_parquet(warehouse / f"panel_{gemeente}.parquet")  # read by the effects stage
    return {
        "stage": f"partition {gemeente}",
        "persons": report.persons,
        "panel_rows": len(panel),
        "ingest_s": round(t1 - t0, 1),
        "link_s": round(t2 - t1, 1),
        "panel_s": round(t3 - t2, 1),
        "total_s": round(t3 - t0, 1),
        "peak_rss_mib": _peak_mib(),
    }


def _effects_stage(warehouse: Path, gemeenten: list[str]) -> dict:
    import warnings

    import pandas as pd

    from wi_pipeline.lib.disclosure import apply_disclosure
    from wi_pipeline.lib.effects import POOLED, estimate_all

    warnings.simplefilter("ignore")
    panels = {gm: pd.read_parquet(warehouse / f"panel_{gm}.parquet") for gm in gemeenten}
    t0 = time.perf_counter()
    label = gemeenten[0] if len(gemeenten) == 1 else POOLED
    table = apply_disclosure(estimate_all(panels, label))
    return {
        "stage": f"effects {label}",
        "estimates": len(table),
        "withheld": int(table["suppressed"].sum()),
        "total_s": round(time.perf_counter() - t0, 1),
        "peak_rss_mib": _peak_mib(),
    }


def _assignment_stage(warehouse: Path, gemeenten: list[str]) -> dict:
    import warnings

    import pandas as pd

    from wi_pipeline.lib.assignment import learn_assignment_rule
    from wi_pipeline.lib.designs import add_history
    from wi_pipeline.lib.effects import POOLED

    warnings.simplefilter("ignore")
    panels = {gm: pd.read_parquet(warehouse / f"panel_{gm}.parquet") for gm in gemeenten}
    t0 = time.perf_counter()
    label = gemeenten[0] if len(gemeenten) == 1 else POOLED
    out = learn_assignment_rule({gm: add_history(p) for gm, p in panels.items()}, label)
    gain = out.table[
        (out.table["section"] == "gain") & (out.table["item"] == "over today's assignment")
    ]
    return {
        "stage": f"assignment rule {label}",
        "rows": len(out.table),
        "gain_over_today": round(float(gain["estimate"].iloc[0]), 4) if len(gain) else None,
        "total_s": round(time.perf_counter() - t0, 1),
        "peak_rss_mib": _peak_mib(),
    }


def _job_stage(
    landing: Path, warehouse: Path, home: Path, job_name: str, partition: str | None
) -> dict:
    """One Dagster job as `make run` runs it, in its own process and instance."""
    import warnings

    os.environ.update(
        WI_LANDING_DIR=str(landing),
        WI_WAREHOUSE_DIR=str(warehouse / "dagster"),
        DAGSTER_HOME=str(home),
        GX_ANALYTICS_ENABLED="false",
    )
    warnings.simplefilter("ignore")
    from dagster import DagsterInstance

    from wi_pipeline.definitions import defs

    t0 = time.perf_counter()
    result = defs.resolve_job_def(job_name).execute_in_process(
        instance=DagsterInstance.get(), partition_key=partition, raise_on_error=False
    )
    return {
        "stage": f"job {job_name}" + (f" [{partition}]" if partition else ""),
        "success": result.success,
        "total_s": round(time.perf_counter() - t0, 1),
        "peak_rss_mib": _peak_mib(),
    }


def _in_child(queue, target, *args) -> None:
    queue.put(target(*args))


def _run_all(stages: list[tuple], at_once: int):
    """Each stage in a fresh process (so VmHWM is its own), at most `at_once` at a time; yields results."""
    ctx = mp.get_context("spawn")
    queue, pending, running = ctx.Queue(), list(stages), 0
    while pending or running:
        while pending and running < at_once:
            ctx.Process(target=_in_child, args=(queue, *pending.pop(0))).start()
            running += 1
        yield queue.get()
        running -= 1


def main() -> None:
    # Above scale ~0.07 the synthetic 9999 BSN range runs out and the public demo key is refused:
    # benchmark with a throw-away random key instead.
    os.environ.setdefault("WI_PSEUDONYM_KEY", secrets.token_hex(32))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument("--data", type=Path, default=Path("/tmp/wi_bench"))
    parser.add_argument(
        "--no-effects", dest="effects", action="store_false", help="panel stages only"
    )
    parser.add_argument(
        "--assignment-only",
        action="store_true",
        help="only the assignment-rule stages, on the panels a previous run stored",
    )
    parser.add_argument(
        "--jobs",
        action="store_true",
        help="run the pipeline's Dagster jobs, checks and IO included",
    )
    args = parser.parse_args()
    from wi_pipeline.lib.layout import G4

    data = args.data / f"scale_{args.scale:g}"
    landing, warehouse = data / "landing", data / "warehouse"
    if (
        not landing.exists()
    ):  # generated under another name and renamed: an interrupted run is not reused
        import shutil

        from wi_pipeline.synthetic.config import SyntheticConfig
        from wi_pipeline.synthetic.extracts import write_landing
        from wi_pipeline.synthetic.world import simulate_world

        t0 = time.perf_counter()
        partial = data / "landing.partial"
        shutil.rmtree(partial, ignore_errors=True)
        write_landing(simulate_world(SyntheticConfig(seed=args.seed, scale=args.scale)), partial)
        partial.rename(landing)
        print(
            f"generated synthetic data at scale {args.scale:g} in {time.perf_counter() - t0:.0f}s"
        )
    results = []

    def show(result: dict) -> None:
        results.append(result)
        print(json.dumps(result), flush=True)

    if args.jobs:
        home = data / "dagster_home"
        home.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        plan = [
            ("cbs_tables", None),
            *[(job, gm) for gm in G4 for job in ("municipality", "data_quality_report")],
            ("g4_pooled", None),
        ]
        for result in _run_all(
            [(_job_stage, landing, warehouse, home, job, part) for job, part in plan], at_once=1
        ):
            show(result)
        print(
            f"scale {args.scale:g}: all jobs {time.perf_counter() - t0:.0f}s one after another, "
            f"peak {max(r['peak_rss_mib'] for r in results)} MiB in one job; "
            f"{'all succeeded' if all(r['success'] for r in results) else 'FAILED: see above'}"
        )
        return
    if not args.assignment_only:
        for result in _run_all(
            [(_cbs_stage, landing, warehouse)]
            + [(_partition_stage, landing, warehouse, gm) for gm in G4],
            at_once=1,
        ):
            show(result)
    walls = {}
    if args.effects:
        # two processes on two cores: one BLAS thread each, or they fight over the cores
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, "1")
        for name, stage in (("effects", _effects_stage), ("assignment rule", _assignment_stage)):
            if args.assignment_only and name == "effects":
                continue
            t0 = time.perf_counter()
            stages = [(stage, warehouse, list(G4))] + [(stage, warehouse, [gm]) for gm in G4]
            for result in _run_all(stages, at_once=2):  # the pooled stage, the longest, first
                show(result)
            walls[name] = time.perf_counter() - t0
    panel = [r for r in results if r["stage"].startswith(("cbs", "partition"))]
    summary = [f"scale {args.scale:g}"]
    if panel:
        summary.append(
            f"panel stages {sum(r['total_s'] for r in panel):.0f}s "
            f"(peak {max(r['peak_rss_mib'] for r in panel)} MiB)"
        )
    for name, wall in walls.items():
        part = [r for r in results if r["stage"].startswith(name)]
        summary.append(
            f"{name} {wall:.0f}s wall, two at a time ({sum(r['total_s'] for r in part):.0f}s summed "
            f"over stages, peak {max(r['peak_rss_mib'] for r in part)} MiB per stage)"
        )
    print("; ".join(summary))


if __name__ == "__main__":
    main()
