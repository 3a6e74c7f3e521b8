"""Benchmark at national size: the real Dagster jobs on national CBS tables and the G4 at scale 1.0.

Usage: .venv/bin/python benchmarks/bench_national.py [--national-scales 0.25,1] [--data DIR]
(`make bench-national`; DIR defaults to $WI_BENCH_DIR, else data/bench-national).

Data are generated once and reused while their parameters are the same: the G4 landing at
--g4-scale (the default generator), then per national scale a landing with its registers and
national-size CBS tables in CBS's file names (wi_pipeline/synthetic/national.py). Generation is
timed and its peak memory kept with the data, so a reuse reports the figures of the run that made it.

Then, per national scale, the `cbs_tables` job; on the largest scale also the `municipality` job of
each --alone municipality, then the --side-by-side pair at once, as two engineers' runs would share
the machine. Every job runs in a fresh process; the resident memory of its process tree is sampled
every 0.25 s (/proc), so the peak counts DuckDB and any worker the job starts, and the peak within
each Dagster step says where the memory goes. A job whose tree grows past --memory-cap-gib is killed
and reported as such, so a benchmark never takes a shared machine down.

Targets (issue 15): CBS ingestion under 30 minutes and 6 GiB; each municipality run under 3 minutes and
6 GiB, two side by side; the ingestion's peak growing by under 100 MiB per extra million rows
(the slope between the two national scales). A markdown table goes to stdout, the figures to
benchmarks/results/bench_national_<UTC time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's package, whichever one the environment installed
GIB, MIB = 1024**3, 1024**2
TARGETS = {
    "cbs_tables": {"seconds": 30 * 60, "bytes": 6 * GIB},
    "cbs_tables_part": {"seconds": 30 * 60, "bytes": 6 * GIB},
    "municipality": {"seconds": 3 * 60, "bytes": 6 * GIB},
    "slope_mib_per_million_rows": 100,
}
NAMES = {"GM0363": "Amsterdam", "GM0599": "Rotterdam", "GM0518": "Den Haag", "GM0344": "Utrecht"}
_PAGE = os.sysconf("SC_PAGE_SIZE")


# ------------------------------------------------------------------------ memory of a process tree
def _tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants, now."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry.name))
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            continue
        stack.extend(children.get(pid, []))
    return total


def _run_monitored(
    commands: dict[str, list[str]], env: dict, logs: Path, cap: int, limit_s: float = float("inf")
) -> dict:
    """Run the commands at once, each in its own session, sampling each tree's memory; kill a tree
    (its own process group, nothing else) that passes `cap` bytes or runs past `limit_s`. Returns
    per command its wall time, peak, samples and exit code, and the peak of their sum."""
    logs.mkdir(parents=True, exist_ok=True)
    procs, out = {}, {}
    for label, cmd in commands.items():
        stdout = open(logs / f"{label}.out", "w")
        stderr = open(logs / f"{label}.err", "w")
        procs[label] = (
            subprocess.Popen(
                cmd, env=env, stdout=stdout, stderr=stderr, start_new_session=True, cwd=REPO
            ),
            time.time(),
            stdout,
            stderr,
        )
        out[label] = {
            "peak_bytes": 0,
            "samples": [],
            "killed_at_cap": False,
            "stopped_at_time_limit": False,
        }
    peak_sum = 0
    running = set(procs)
    while running:
        total = 0
        for label in list(running):
            p, started, stdout, stderr = procs[label]
            if p.poll() is not None:
                out[label].update(wall_s=round(time.time() - started, 1), returncode=p.returncode)
                stdout.close()
                stderr.close()
                running.discard(label)
                continue
            rss = _tree_rss(p.pid)
            total += rss
            out[label]["samples"].append((time.time(), rss))
            out[label]["peak_bytes"] = max(out[label]["peak_bytes"], rss)
            if rss > cap:
                os.killpg(p.pid, signal.SIGKILL)
                out[label]["killed_at_cap"] = True
            elif time.time() - started > limit_s:
                os.killpg(p.pid, signal.SIGKILL)
                out[label]["stopped_at_time_limit"] = True
        peak_sum = max(peak_sum, total)
        time.sleep(0.25)
    for label in out:
        text = (logs / f"{label}.out").read_text().strip().splitlines()
        out[label]["child"] = (
            json.loads(text[-1])
            if text and text[-1].startswith("{")
            else {"success": False, "steps": _steps_from_log(logs / f"{label}.err")}
        )
    return {"runs": out, "peak_sum_bytes": peak_sum}


_STEP_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}) - dagster - \w+ - .*? - (\w+) - "
    r"(STEP_START|STEP_SUCCESS|STEP_FAILURE) - "
)


def _steps_from_log(err: Path) -> list[dict]:
    """Steps' start and end from Dagster's log lines (to the second), for a job that was stopped
    before it could report them; a step still running ends at the last line."""
    steps: dict[str, dict] = {}
    last = None
    for line in err.read_text(errors="replace").splitlines():
        m = _STEP_LINE.match(line)
        if not m:
            continue
        when = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S %z").timestamp()
        last = when
        step = steps.setdefault(m.group(2), {"step": m.group(2), "ok": False})
        if m.group(3) == "STEP_START":
            step["start"] = when
        else:
            step["end"], step["ok"] = when + 1, m.group(3) == "STEP_SUCCESS"
    for step in steps.values():
        if "start" in step and "end" not in step:
            step["end"], step["running_when_stopped"] = time.time(), True
    return [s for s in steps.values() if "start" in s and last is not None]


def _step_peaks(samples: list[tuple[float, int]], steps: list[dict]) -> list[dict]:
    """Each Dagster step's wall time and the peak memory sampled while it ran."""
    out = []
    for s in steps:
        during = [rss for t, rss in samples if s["start"] <= t <= s["end"] + 0.25]
        out.append(
            {
                "step": s["step"],
                "seconds": round(s["end"] - s["start"], 1),
                "peak_mib": round(max(during) / MIB) if during else None,
                # what the step itself added on top of what the process held when it began
                "grew_mib": round((max(during) - during[0]) / MIB) if during else None,
                "ok": s["ok"],
                "running_when_stopped": s.get("running_when_stopped", False),
            }
        )
    return sorted(out, key=lambda r: -(r["grew_mib"] or 0))


# --------------------------------------------------------------------------- one job, in a child
def _job_child(job: str, partition: str | None, assets: str | None = None) -> None:
    """Run one Dagster job in this process (the environment names landing, warehouse and home) and
    print its success and each step's start and end as one JSON line."""
    import warnings

    warnings.simplefilter("ignore")
    from dagster import DagsterEventType, DagsterInstance

    from wi_pipeline.definitions import defs
    from wi_pipeline.paths import default_landing_dir
    from wi_pipeline.run import execute_planned_job, step_processes

    instance = DagsterInstance.get()
    from dagster import AssetKey

    selection = [AssetKey(a.split("/")) for a in assets.split(",")] if assets else None
    # as `make run` runs it: the national tables side by side, one process per table
    processes = step_processes(job, default_landing_dir())
    result = execute_planned_job(defs, instance, job, partition, selection, processes)
    kinds = {
        DagsterEventType.STEP_START,
        DagsterEventType.STEP_SUCCESS,
        DagsterEventType.STEP_FAILURE,
    }
    steps: dict[str, dict] = {}
    for entry in instance.all_logs(result.run_id, of_type=kinds):
        step = steps.setdefault(entry.step_key, {"step": entry.step_key, "ok": False})
        if entry.dagster_event.event_type == DagsterEventType.STEP_START:
            step["start"] = entry.timestamp
        else:
            step["end"] = entry.timestamp
            step["ok"] = entry.dagster_event.event_type == DagsterEventType.STEP_SUCCESS
    failures = [
        f"{e.step_key}: {e.event_specific_data.error.message.strip()[:300]}"
        for e in result.all_events
        if e.event_type == DagsterEventType.STEP_FAILURE
    ]
    print(
        json.dumps(
            {
                "success": result.success,
                "steps": [s for s in steps.values() if "start" in s and "end" in s],
                "failures": failures,
            }
        ),
        flush=True,
    )


# ------------------------------------------------------------------------------------------ data
def _python() -> str:
    return sys.executable


def _generate(label: str, target: Path, params: dict, cmd: list[str], env: dict, cap: int) -> dict:
    """Generate into target.partial with `cmd` (monitored) unless target holds the same params."""
    stamp = target / "params.json"
    if stamp.exists():
        stored = json.loads(stamp.read_text())
        if stored.get("params") == params:
            print(f"{label}: reusing {target} (same parameters)", flush=True)
            return stored
    shutil.rmtree(target, ignore_errors=True)
    (target / "landing.partial").parent.mkdir(parents=True, exist_ok=True)
    print(f"{label}: generating into {target} ...", flush=True)
    run = _run_monitored({label: cmd}, env, target / "logs", cap)["runs"][label]
    if run["returncode"] != 0:
        raise SystemExit(f"{label}: generation failed, see {target / 'logs'}")
    (target / "landing.partial").rename(target / "landing")
    record = {
        "params": params,
        "generation": {"wall_s": run["wall_s"], "peak_mib": round(run["peak_bytes"] / MIB)},
    }
    out_lines = (target / "logs" / f"{label}.out").read_text().strip().splitlines()
    if out_lines and out_lines[-1].startswith("{"):
        record["summary"] = json.loads(out_lines[-1])
    stamp.write_text(json.dumps(record, indent=1))
    return record


# ------------------------------------------------------------------------------------ reporting
# municipality steps after the target's "ingest, link, panel, checks"
EFFECTS_AND_REPORTS = ("effects__", "reports__")


def _fmt_s(s: float) -> str:
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.1f} min"


def _verdict(
    seconds: float, peak: int, target: dict, killed: bool, success: bool, stopped: bool = False
) -> str:
    if killed:
        return "**killed** at the memory cap"
    if stopped:
        return "**stopped** at the time limit: " + (
            "memory missed" if peak >= target["bytes"] else "not finished"
        )
    misses = []
    if seconds >= target["seconds"]:
        misses.append("time")
    if peak >= target["bytes"]:
        misses.append("memory")
    if not success:
        misses.append("job failed")
    return "met" if not misses else "**missed: " + ", ".join(misses) + "**"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--job", help=argparse.SUPPRESS)  # internal: run one job in this process
    parser.add_argument("--partition", help=argparse.SUPPRESS)
    parser.add_argument("--assets", help=argparse.SUPPRESS)
    parser.add_argument(
        "--cbs-assets",
        help="only these CBS assets (e.g. cbs/gbapersoontab,cbs/gbapersoontab_quarantine) in the "
        "CBS stage, into the warehouse of the last run (--reuse-warehouse implied); 'none': "
        "no CBS stage, the municipalities run on the CBS tables stored",
    )
    parser.add_argument(
        "--reuse-warehouse",
        action="store_true",
        help="keep the warehouse and instance of the last run (the CBS tables stored there)",
    )
    default_dir = os.environ.get("WI_BENCH_DIR", str(REPO / "data" / "bench-national"))
    parser.add_argument("--data", type=Path, default=Path(default_dir))
    parser.add_argument("--g4-scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument(
        "--national-form",
        choices=["parquet", "sav"],
        default="parquet",
        help="the form of the national CBS files: parquet, or SPSS .sav as CBS usually delivers",
    )
    parser.add_argument(
        "--national-scales",
        default="0.25,1",
        help="comma-separated; 1 = 24 million persons. The slope is taken between the first and last",
    )
    parser.add_argument("--alone", default="GM0599", help="municipalities run one at a time")
    parser.add_argument(
        "--side-by-side", default="GM0363,GM0518", help="two municipalities run at once"
    )
    parser.add_argument(
        "--memory-cap-gib",
        type=float,
        default=float(os.environ.get("WI_BENCH_MEMORY_CAP_GIB", 12)),
        help="kill a job whose process tree passes this (protects a shared machine)",
    )
    parser.add_argument(
        "--time-limit-min",
        type=float,
        default=float("inf"),
        help="stop a job running longer (its figures so far are reported as stopped)",
    )
    parser.add_argument(
        "--generate-only", action="store_true", help="generate (or check) the data and stop"
    )
    parser.add_argument(
        "--previous",
        type=Path,
        help="a results file of an earlier run: its cbs_tables figures join the slope (one scale "
        "per run when the machine has time for one at a time)",
    )
    args = parser.parse_args()
    if args.job:
        _job_child(args.job, args.partition, args.assets)
        return

    env = dict(os.environ)
    # The synthetic BSNs at this size lie outside the 9999 range the demo key accepts: a throw-away
    # key of the benchmark's own, kept with its synthetic data, so a later run (--cbs-assets,
    # --reuse-warehouse) links with the key its stored key file was pseudonymised with.
    key_file = args.data.resolve() / "benchmark_pseudonym_key"
    if "WI_PSEUDONYM_KEY" not in env:
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_hex(32))
            key_file.chmod(0o600)
        env["WI_PSEUDONYM_KEY"] = key_file.read_text().strip()
    env.update(GX_ANALYTICS_ENABLED="false", PYTHONPATH=str(REPO))
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(var, "1")
    cap = int(args.memory_cap_gib * GIB)
    limit_s = args.time_limit_min * 60
    data = args.data.resolve()
    scales = [float(s) for s in args.national_scales.split(",")]
    report: dict = {
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "memory_gib": round(_mem_total() / GIB, 1),
            # other work on a shared machine slows every figure: the load when the run began
            "load_average_at_start": [round(x, 1) for x in os.getloadavg()],
        },
        "command": " ".join(sys.argv),
        "targets": TARGETS,
        "generation": {},
        "jobs": [],
    }

    g4_params = {"g4_scale": args.g4_scale, "seed": args.seed}
    g4_dir = data / f"g4_scale_{args.g4_scale:g}"
    synthetic = [_python(), "-m", "wi_pipeline.synthetic"]
    g4 = _generate(
        "G4",
        g4_dir,
        g4_params,
        synthetic
        + ["--landing", str(g4_dir / "landing.partial"), "--truth", str(g4_dir / "truth.json")]
        + ["--scale", f"{args.g4_scale:g}", "--seed", str(args.seed)],
        env,
        cap,
    )
    report["generation"]["G4"] = g4["generation"]
    from wi_pipeline.synthetic.national import FORMAT_VERSION

    def national_dir(scale: float) -> Path:
        """The data of a scale; a .sav landing has a folder of its own next to the parquet one."""
        return data / f"national_{scale:g}{'' if args.national_form == 'parquet' else '_sav'}"

    nationals = {}
    for scale in scales:
        target = national_dir(scale)
        params = {**g4_params, "national_scale": scale, "format_version": FORMAT_VERSION}
        if args.national_form != "parquet":
            params["form"] = args.national_form
            params["sav_rows"] = "bytecode-compressed"  # as SPSS saves by default
        nationals[scale] = _generate(
            f"national {scale:g}",
            target,
            params,
            synthetic
            + ["--landing", str(target / "landing.partial"), "--from-landing"]
            + [str(g4_dir / "landing"), "--national-scale", f"{scale:g}", "--seed", str(args.seed)]
            + ["--national-form", args.national_form],
            env,
            cap,
        )
        report["generation"][f"national {scale:g}"] = {
            **nationals[scale]["generation"],
            "rows": nationals[scale]["summary"]["rows"],
            "persons": nationals[scale]["summary"]["persons"],
        }
    if args.generate_only:
        print(json.dumps(report["generation"], indent=1))
        return

    def job_env(scale: float) -> dict:
        from wi_pipeline.instance import instance_home

        base = national_dir(scale)
        home = instance_home(base / "warehouse")  # with the project's dagster.yaml, as make run
        return {
            **env,
            "WI_LANDING_DIR": str(base / "landing"),
            "WI_WAREHOUSE_DIR": str(base / "warehouse"),
            "DAGSTER_HOME": str(home),
        }

    def job_cmd(job: str, partition: str | None = None, assets: str | None = None) -> list[str]:
        cmd = [_python(), str(Path(__file__).resolve()), "--job", job]
        cmd += ["--assets", assets] if assets else []
        return cmd + (["--partition", partition] if partition else [])

    def record(stage: str, kind: str, scale: float, run: dict, rows: int | None = None) -> dict:
        child = run.get("child", {})
        entry = {
            "stage": stage,
            "kind": kind,
            "national_scale": scale,
            "rows_in": rows,
            "wall_s": run["wall_s"],
            "peak_mib": round(run["peak_bytes"] / MIB),
            "success": bool(child.get("success")),
            "killed_at_cap": run["killed_at_cap"],
            "stopped_at_time_limit": run["stopped_at_time_limit"],
            "failures": child.get("failures", []),
            "steps": _step_peaks(run["samples"], child.get("steps", [])),
        }
        steps = child.get("steps", [])
        core = [s for s in steps if not s["step"].startswith(EFFECTS_AND_REPORTS)]
        if kind == "municipality" and core:
            # the target's scope: ingest, link, panel and their checks (the steps run in turn)
            entry["through_panel_s"] = round(
                max(s["end"] for s in core) - min(s["start"] for s in steps), 1
            )
        report["jobs"].append(entry)
        print(json.dumps({k: v for k, v in entry.items() if k != "steps"}), flush=True)
        return entry

    logs = data / "logs" / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    for scale in scales if args.cbs_assets != "none" else []:
        # a fresh warehouse per run: the CBS tables are ingested from the landing, not reused
        if not (args.reuse_warehouse or args.cbs_assets):
            shutil.rmtree(national_dir(scale) / "warehouse", ignore_errors=True)
        res = _run_monitored(
            {f"cbs_{scale:g}": job_cmd("cbs_tables", None, args.cbs_assets)},
            job_env(scale),
            logs,
            cap,
            limit_s,
        )["runs"][f"cbs_{scale:g}"]
        rows = nationals[scale]["summary"]["rows"]
        if args.cbs_assets:  # a part of the CBS tables: no rows figure, no slope
            label = f"cbs_tables [{args.cbs_assets}], national x{scale:g}"
            record(label, "cbs_tables_part", scale, res)
        else:
            record(f"cbs_tables, national x{scale:g}", "cbs_tables", scale, res, rows)

    largest = max(scales)
    cbs_ok = report["jobs"][-1]["success"] if report["jobs"] else args.cbs_assets == "none"
    if cbs_ok:
        for gm in [g for g in args.alone.split(",") if g]:
            res = _run_monitored(
                {gm: job_cmd("municipality", gm)}, job_env(largest), logs, cap, limit_s
            )
            record(
                f"municipality {gm} {NAMES.get(gm, '')}", "municipality", largest, res["runs"][gm]
            )
        pair = [g for g in args.side_by_side.split(",") if g]
        if pair:
            res = _run_monitored(
                {gm: job_cmd("municipality", gm) for gm in pair},
                job_env(largest),
                logs,
                cap,
                limit_s,
            )
            for gm in pair:
                record(
                    f"municipality {gm} {NAMES.get(gm, '')}, side by side with "
                    + ", ".join(g for g in pair if g != gm),
                    "municipality",
                    largest,
                    res["runs"][gm],
                )
            report["side_by_side_peak_sum_mib"] = round(res["peak_sum_bytes"] / MIB)
    else:
        print("cbs_tables did not succeed at the largest scale: no municipality runs", flush=True)

    report["machine"]["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]
    if args.previous:
        earlier = json.loads(args.previous.read_text())
        for j in earlier["jobs"]:
            if j["kind"] == "cbs_tables" and j["national_scale"] not in scales:
                report["jobs"].insert(0, {**j, "stage": j["stage"] + f" ({args.previous.name})"})
    cbs = sorted(
        (
            j
            for j in report["jobs"]
            if j["kind"] == "cbs_tables"
            and not j["killed_at_cap"]
            and not j.get("stopped_at_time_limit")
        ),
        key=lambda j: j["rows_in"],
    )
    if len(cbs) >= 2 and cbs[-1]["rows_in"] != cbs[0]["rows_in"]:
        report["slope_mib_per_million_rows"] = round(
            (cbs[-1]["peak_mib"] - cbs[0]["peak_mib"])
            / ((cbs[-1]["rows_in"] - cbs[0]["rows_in"]) / 1e6),
            1,
        )
    _print_table(report)
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"bench_national_{logs.name}.json"
    path.write_text(json.dumps(report, indent=1))
    print(f"\nfigures: {path}\nlogs: {logs}")


def _mem_total() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _print_table(report: dict) -> None:
    m = report["machine"]
    print(
        f"\n{m['cores']} cores, {m['memory_gib']} GiB; load average at start "
        f"{m['load_average_at_start']}, at end {m.get('load_average_at_end')}"
    )
    print("\n| stage | rows in | wall time | peak memory (process tree) | target | verdict |")
    print("|---|---:|---:|---:|---|---|")
    for name, g in report["generation"].items():
        rows = f"{g['rows']:,}" if "rows" in g else ""
        print(
            f"| generate {name} | {rows} | {_fmt_s(g['wall_s'])} | {g['peak_mib'] / 1024:.1f} GiB | | |"
        )
    for j in report["jobs"]:
        target = TARGETS[j["kind"]]
        stopped = j.get("stopped_at_time_limit", False)
        verdict = _verdict(
            j["wall_s"], j["peak_mib"] * MIB, target, j["killed_at_cap"], j["success"], stopped
        )
        rows = f"{j['rows_in']:,}" if j["rows_in"] else ""
        wall = _fmt_s(j["wall_s"])
        if "through_panel_s" in j:  # judged on ingest to panel; the whole job shown beside it
            verdict = _verdict(
                j["through_panel_s"], j["peak_mib"] * MIB, target, j["killed_at_cap"], j["success"]
            )
            wall = f"{_fmt_s(j['through_panel_s'])} to the panel ({wall} with effects and reports)"
        print(
            f"| {j['stage']} | {rows} | {wall} | {j['peak_mib'] / 1024:.1f} GiB | "
            f"< {target['seconds'] // 60} min, < {target['bytes'] // GIB} GiB | "
            f"{verdict} |"
        )
    if "side_by_side_peak_sum_mib" in report:
        together = report["side_by_side_peak_sum_mib"] / 1024
        print(f"| the pair side by side, together | | | {together:.1f} GiB | | |")
    if "slope_mib_per_million_rows" in report:
        slope = report["slope_mib_per_million_rows"]
        verdict = "met" if slope < TARGETS["slope_mib_per_million_rows"] else "**missed**"
        print(
            f"| CBS ingestion: peak growth per extra million rows | | | {slope} MiB | < 100 MiB | {verdict} |"
        )
    for j in report["jobs"]:
        if j["steps"]:
            top = ", ".join(
                f"{s['step']} +{s['grew_mib']} MiB to {s['peak_mib']} MiB in {s['seconds']} s"
                for s in j["steps"][:4]
            )
            print(f"\n{j['stage']}: steps that grew the memory most: {top}")
        for f in j["failures"][:3]:
            print(f"  failed: {f}")


if __name__ == "__main__":
    main()
