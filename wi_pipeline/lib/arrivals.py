"""Deciding when a new register extract has fully arrived and which municipality to rerun.

A file counts as complete when a companion marker ``<name>.done`` exists, or when its size and
modification time are unchanged since the previous look (a file still being copied keeps growing).
A municipality is rerun when the content of one of its current extracts differs from what was last
ingested. Its set of current extracts is requested once: the same set on the next look starts nothing.
The run key counts the requests of the municipality, because Dagster drops a run key it has seen
before, and going back to an earlier extract (A, then B, then A again) must still start a run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from wi_pipeline.lib.ingest import list_extracts
from wi_pipeline.lib.layout import CSV_ENCODING, CSV_SEPARATOR, G4, REGISTERS

DONE_SUFFIX = ".done"


@dataclass
class ArrivalPlan:
    runs: dict[str, str] = field(default_factory=dict)  # gemeente -> digest of its current extracts, when new
    in_sync: list[str] = field(default_factory=list)  # municipalities whose current extracts are all ingested
    changed: dict[str, list[str]] = field(default_factory=dict)  # gemeente -> registers with new content
    waiting: list[str] = field(default_factory=list)  # files not yet complete
    problems: list[str] = field(default_factory=list)  # files that will fail ingestion, for the tick log
    # path -> [size, mtime_ns, sha256 or None]: the next cursor, so an unchanged file is not hashed again
    seen: dict[str, list] = field(default_factory=dict)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def header_problem(path: Path, register: str) -> str | None:
    """A cheap look at the header, so a malformed file is named in the tick log before the run."""
    try:
        with open(path, encoding=CSV_ENCODING) as f:
            header = f.readline().lstrip("\ufeff").strip()
    except UnicodeDecodeError:
        return f"{path}: not valid UTF-8"
    if not header:
        return f"{path}: empty file"
    missing = [c for c in REGISTERS[register].required_columns if c not in header.split(CSV_SEPARATOR)]
    return f"{path}: missing column(s) {', '.join(missing)}" if missing else None


def is_complete(path: Path, previous: dict[str, list]) -> bool:
    if Path(str(path) + DONE_SUFFIX).exists():
        return True
    st = path.stat()
    return st.st_size > 0 and (previous.get(str(path)) or [])[:2] == [st.st_size, st.st_mtime_ns]


def _sha256_cached(path: Path, size: int, mtime_ns: int, previous: dict[str, list]) -> str:
    """The hash from the previous look when size and modification time are unchanged; hashing every extract
    on every tick would read the whole landing folder twice a minute."""
    before = previous.get(str(path)) or []
    if len(before) == 3 and before[:2] == [size, mtime_ns] and before[2]:
        return before[2]
    return file_sha256(path)


def _digest(parts: list[str]) -> str:
    return hashlib.sha256("|".join(sorted(parts)).encode()).hexdigest()[:16]


def plan_arrivals(landing: Path, previous: dict[str, list], ingested: dict[tuple[str, str], str]) -> ArrivalPlan:
    """Which municipalities need a run, given the last cursor and the content hashes already ingested.

    ``ingested`` maps (gemeente, register) to the sha256 of the extract last ingested.
    """
    plan = ArrivalPlan()
    for gemeente in G4:
        hashes, changed, incomplete = [], [], False
        for register in REGISTERS:
            extracts = list_extracts(Path(landing) / gemeente / register)
            if not extracts:
                continue
            path = extracts[-1]
            st = path.stat()
            if not is_complete(path, previous):
                plan.seen[str(path)] = [st.st_size, st.st_mtime_ns, None]
                plan.waiting.append(str(path))
                incomplete = True
                continue
            digest = _sha256_cached(path, st.st_size, st.st_mtime_ns, previous)
            plan.seen[str(path)] = [st.st_size, st.st_mtime_ns, digest]
            hashes.append(f"{register}:{digest}")
            if ingested.get((gemeente, register)) != digest:
                changed.append(register)
                problem = header_problem(path, register)
                if problem:
                    plan.problems.append(problem)
        if changed and not incomplete:
            plan.changed[gemeente] = changed
            plan.runs[gemeente] = _digest(hashes)
        elif hashes and not changed and not incomplete:
            plan.in_sync.append(gemeente)
    return plan


def request_runs(plan: ArrivalPlan, requested: dict[str, dict], ingested: dict[tuple[str, str], str]
                 ) -> tuple[dict[str, str], dict[str, dict]]:
    """Run keys for the municipalities whose current extracts are not the set last requested, and the new
    ``requested`` for the cursor: gemeente -> {"extracts": digest or None, "n": requests so far}.

    Once a municipality's extracts are all ingested its request is settled, so a later difference (say a
    run started by hand ingested another file) is requested again. The key holds the request count, so a set
    requested before (after A, B, A) gets a key never used; it also holds what is ingested now, so a lost
    cursor, whose count starts again, rarely repeats an old key.
    """
    out = {}
    for gemeente, last in requested.items():
        if isinstance(last, str):  # a cursor from before the count was kept holds the run key itself
            last = {"extracts": last.removeprefix(f"{gemeente}-"), "n": 1}
        out[gemeente] = {**last, "extracts": None} if gemeente in plan.in_sync else last
    runs = {}
    for gemeente, extracts in plan.runs.items():
        last = out.get(gemeente, {})
        if last.get("extracts") == extracts:
            continue
        n = int(last.get("n", 0)) + 1
        now = [f"{register}:{digest}" for (gm, register), digest in ingested.items() if gm == gemeente]
        runs[gemeente] = f"{gemeente}-{n}-{_digest([extracts, *now])}"
        out[gemeente] = {"extracts": extracts, "n": n}
    return runs, out
