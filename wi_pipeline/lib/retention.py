"""Retention of raw extracts: the landing folder is the only place a BSN lives, so it is emptied
as soon as the pseudonymised assets hold what is needed.

A raw file is purged only when its exact content was ingested (its sha256 is recorded on an asset
materialisation) at least ``retention_days`` ago. Anything not yet ingested, or ingested recently,
stays: purging never loses data the pipeline has not stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from wi_pipeline.lib.arrivals import DONE_SUFFIX, file_sha256

# register extracts (.csv) and CBS deliveries (.sav as CBS delivers, .csv or .parquet copies)
RAW_SUFFIXES = (".csv", ".parquet", ".sav", ".zsav")


@dataclass(frozen=True)
class PurgeDecision:
    path: Path
    purge: bool
    reason: str


def raw_files(landing: Path) -> list[Path]:
    landing = Path(landing)
    return sorted(p for p in landing.rglob("*") if p.is_file() and p.suffix.lower() in RAW_SUFFIXES)


def plan_purge(
    landing: Path, ingested_at: dict[str, datetime], now: datetime, retention_days: int
) -> list[PurgeDecision]:
    """``ingested_at`` maps a content sha256 to when it was first ingested."""
    cutoff = now - timedelta(days=retention_days)
    out = []
    for path in raw_files(landing):
        when = ingested_at.get(file_sha256(path))
        if when is None:
            out.append(PurgeDecision(path, False, "not ingested yet"))
        elif when > cutoff:
            out.append(
                PurgeDecision(
                    path,
                    False,
                    f"ingested {when:%Y-%m-%d}, kept until {when + timedelta(days=retention_days):%Y-%m-%d}",
                )
            )
        else:
            out.append(
                PurgeDecision(
                    path,
                    True,
                    f"ingested {when:%Y-%m-%d}, retention of {retention_days} days passed",
                )
            )
    return out


def purge(decisions: list[PurgeDecision]) -> int:
    n = 0
    for d in decisions:
        if d.purge:
            d.path.unlink(missing_ok=True)
            Path(str(d.path) + DONE_SUFFIX).unlink(missing_ok=True)
            n += 1
    return n
