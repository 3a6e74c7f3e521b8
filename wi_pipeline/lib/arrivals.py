"""Deciding when a new register extract has fully arrived and which municipality to rerun.

A file counts as complete when a companion marker ``<name>.done`` exists, or when its size and
modification time are unchanged since the previous look (a file still being copied keeps growing).
A municipality is rerun when the content of one of its current extracts differs from what was last
ingested. Its set of current extracts is requested once: the same set on the next look starts nothing.
The run key counts the requests of the municipality, because Dagster drops a run key it has seen
before, and going back to an earlier extract (A, then B, then A again) must still start a run.
A file that does not follow the naming contract is never ingested; it is listed with the name it should
have, so a delivery is not ignored without a word.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from wi_pipeline.lib.ingest import ExtractError, extract_date_of, list_extracts, not_text_kind
from wi_pipeline.lib.layout import CSV_ENCODING, CSV_SEPARATOR, EXTRACT_NAME_FORMAT, G4, REGISTERS

DONE_SUFFIX = ".done"
# Files that are not deliveries: a transfer still running, hidden temporary files, completion markers.
NOT_DELIVERIES = (DONE_SUFFIX, ".part")
_DATES_IN_NAME = (
    (
        re.compile(r"(?<!\d)(\d{4})[-_.]?(\d{2})[-_.]?(\d{2})(?!\d)"),
        (1, 2, 3),
    ),  # 2025-02-15, 20250215
    (re.compile(r"(?<!\d)(\d{2})[-_.](\d{2})[-_.](\d{4})(?!\d)"), (3, 2, 1)),  # 15-02-2025
)


@dataclass
class ArrivalPlan:
    runs: dict[str, str] = field(
        default_factory=dict
    )  # gemeente -> digest of its current extracts, when new
    in_sync: list[str] = field(
        default_factory=list
    )  # municipalities whose current extracts are all ingested
    changed: dict[str, list[str]] = field(
        default_factory=dict
    )  # gemeente -> registers with new content
    waiting: list[str] = field(
        default_factory=list
    )  # files whose size or time changed since the last look
    first_seen: list[str] = field(
        default_factory=list
    )  # new since the last look: complete if unchanged next
    problems: list[str] = field(
        default_factory=list
    )  # files that will fail ingestion, for the tick log
    unrecognised: list[str] = field(
        default_factory=list
    )  # files never ingested: named outside the contract
    # path -> [size, mtime_ns, sha256 or None]: the next cursor, so an unchanged file is not hashed again
    seen: dict[str, list] = field(default_factory=dict)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def header_problem(path: Path, register: str) -> str | None:
    """A cheap look at the start and end of the file, so a malformed file is named in the tick log before
    the run (ingestion gives the full message)."""
    with open(path, "rb") as f:
        head = f.read(1 << 16)
        f.seek(max(path.stat().st_size - 4096, 0))
        tail = f.read()
    kind = not_text_kind(head)
    if kind:
        return f"{path}: not a UTF-8 text file, it looks like {kind}"
    first = head.split(b"\n", 1)[0]
    if b"\r" in first.removesuffix(b"\r"):
        return f"{path}: bare carriage returns (CR) as line breaks"
    if tail.rsplit(b"\n", 1)[-1].strip():
        return f"{path}: the last line does not end with a line break (cut off?)"
    try:
        with open(path, encoding=CSV_ENCODING) as f:
            header = f.readline().lstrip("\ufeff").strip()
    except UnicodeDecodeError:
        return f"{path}: not valid UTF-8"
    if not header:
        return f"{path}: empty file"
    missing = [
        c for c in REGISTERS[register].required_columns if c not in header.split(CSV_SEPARATOR)
    ]
    return f"{path}: missing column(s) {', '.join(missing)}" if missing else None


def _date_in_name(name: str) -> str | None:
    """The extraction date a misnamed file seems to carry, as YYYYMMDD."""
    for pattern, (y, m, d) in _DATES_IN_NAME:
        for match in pattern.finditer(name):
            try:
                date = datetime(int(match.group(y)), int(match.group(m)), int(match.group(d)))
            except ValueError:
                continue
            return date.strftime(EXTRACT_NAME_FORMAT)
    return None


def _expected_name(path: Path) -> str:
    date = _date_in_name(path.name)
    if date is None:
        return "YYYYMMDD.csv, named after the extraction date"
    taken = (
        f" ({date}.csv is there already: to deliver a new version of it, replace it)"
        if (path.parent / f"{date}.csv").exists() and path.parent.name in REGISTERS
        else ""
    )
    return f"{date}.csv{taken}"


def unrecognised_files(landing: Path, gemeente: str) -> list[str]:
    """Files in a municipality's landing folder that are never ingested because of their name or place,
    each with the name or place the contract expects. Transfers still running (``.part``), hidden files
    and ``.done`` markers are not deliveries and are left out."""
    root = Path(landing) / gemeente
    if not root.is_dir():
        return []
    registers = ", ".join(REGISTERS)
    out = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        if path.name.startswith(".") or path.name.endswith(NOT_DELIVERIES):
            continue
        parts = path.relative_to(root).parts
        if len(parts) == 2 and parts[0] in REGISTERS:
            if path in list_extracts(path.parent):
                try:
                    extract_date_of(path)
                except ExtractError:  # taken for an extract, then refused by ingestion
                    out.append(
                        f"{path}: the name is not a real date YYYYMMDD, so it cannot be ingested; "
                        "expected YYYYMMDD.csv named after the extraction date"
                    )
            else:
                out.append(
                    f"{path}: not named YYYYMMDD.csv, so not ingested; "
                    f"expected {_expected_name(path)}"
                )
            continue
        if len(parts) == 2:  # in a folder that is not a register's: perhaps a misspelt one
            close = difflib.get_close_matches(parts[0], list(REGISTERS), n=1, cutoff=0.6)
        else:  # beside the register folders, or deeper down: the register may be in the name
            close = [r for r in REGISTERS if r in path.name.lower()][:1]
        folder, hint = (
            (close[0], "") if close else ("<register>", f" (<register> one of {registers})")
        )
        out.append(
            f"{path}: not in a register folder, so not ingested; expected "
            f"{root / folder}/{_expected_name(path)}{hint}"
        )
    return out


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


def plan_arrivals(
    landing: Path, previous: dict[str, list], ingested: dict[tuple[str, str], str]
) -> ArrivalPlan:
    """Which municipalities need a run, given the last cursor and the content hashes already ingested.

    ``ingested`` maps (gemeente, register) to the sha256 of the extract last ingested.
    """
    plan = ArrivalPlan()
    for gemeente in G4:
        plan.unrecognised += unrecognised_files(landing, gemeente)
        hashes, changed, incomplete = [], [], False
        for register in REGISTERS:
            extracts = list_extracts(Path(landing) / gemeente / register)
            if not extracts:
                continue
            path = extracts[-1]
            st = path.stat()
            if not is_complete(path, previous):
                plan.seen[str(path)] = [st.st_size, st.st_mtime_ns, None]
                (plan.waiting if str(path) in previous else plan.first_seen).append(str(path))
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


def request_runs(
    plan: ArrivalPlan, requested: dict[str, dict], ingested: dict[tuple[str, str], str]
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
        if isinstance(
            last, str
        ):  # a cursor from before the count was kept holds the run key itself
            last = {"extracts": last.removeprefix(f"{gemeente}-"), "n": 1}
        out[gemeente] = {**last, "extracts": None} if gemeente in plan.in_sync else last
    runs = {}
    for gemeente, extracts in plan.runs.items():
        last = out.get(gemeente, {})
        if last.get("extracts") == extracts:
            continue
        n = int(last.get("n", 0)) + 1
        now = [
            f"{register}:{digest}" for (gm, register), digest in ingested.items() if gm == gemeente
        ]
        runs[gemeente] = f"{gemeente}-{n}-{_digest([extracts, *now])}"
        out[gemeente] = {"extracts": extracts, "n": n}
    return runs, out
