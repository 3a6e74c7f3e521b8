"""Deciding when a new register extract has fully arrived and which municipality to rerun.

A file counts as complete when a companion marker ``<name>.done`` exists, or when its size and
modification time are unchanged since the previous look (a file still being copied keeps growing).
A municipality is rerun when the content of one of its current extracts differs from what was last
ingested; the run key is a hash of the contents, so the same extracts never start two runs.
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
    runs: dict[str, str] = field(default_factory=dict)  # gemeente -> run key
    changed: dict[str, list[str]] = field(default_factory=dict)  # gemeente -> registers with new content
    waiting: list[str] = field(default_factory=list)  # files not yet complete
    problems: list[str] = field(default_factory=list)  # files that will fail ingestion, for the tick log
    seen: dict[str, list[int]] = field(default_factory=dict)  # path -> [size, mtime_ns], the next cursor


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


def is_complete(path: Path, previous: dict[str, list[int]]) -> bool:
    if Path(str(path) + DONE_SUFFIX).exists():
        return True
    st = path.stat()
    return st.st_size > 0 and previous.get(str(path)) == [st.st_size, st.st_mtime_ns]


def plan_arrivals(landing: Path, previous: dict[str, list[int]], ingested: dict[tuple[str, str], str]) -> ArrivalPlan:
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
            plan.seen[str(path)] = [st.st_size, st.st_mtime_ns]
            if not is_complete(path, previous):
                plan.waiting.append(str(path))
                incomplete = True
                continue
            digest = file_sha256(path)
            hashes.append(f"{register}:{digest}")
            if ingested.get((gemeente, register)) != digest:
                changed.append(register)
                problem = header_problem(path, register)
                if problem:
                    plan.problems.append(problem)
        if changed and not incomplete:
            plan.changed[gemeente] = changed
            plan.runs[gemeente] = f"{gemeente}-" + hashlib.sha256("|".join(sorted(hashes)).encode()).hexdigest()[:16]
    return plan
