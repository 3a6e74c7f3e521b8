"""Purge raw extracts from the landing folder after ingestion.

Usage: python -m wi_pipeline.retention [--days 30] [--dry-run]
(the Makefile target `make purge` runs it with the instance in dagster_home).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone

from wi_pipeline.lib.retention import plan_purge, purge
from wi_pipeline.paths import REPO_ROOT, default_landing_dir

DEFAULT_RETENTION_DAYS = int(os.environ.get("WI_RETENTION_DAYS", "30"))


def ingested_content(instance) -> dict[str, datetime]:
    """sha256 of every raw file ingested, with the earliest time it was, from the instance's event log."""
    from dagster import AssetKey

    from wi_pipeline.lib.layout import CBS_TABLES, REGISTERS

    keys = [AssetKey(["registers", r]) for r in REGISTERS] + [AssetKey(["cbs", t.lower()]) for t in CBS_TABLES]
    out: dict[str, datetime] = {}
    for key in keys:
        cursor = None
        while True:
            result = instance.fetch_materializations(key, limit=1000, cursor=cursor, ascending=True)
            for rec in result.records:
                md = rec.asset_materialization.metadata
                if "extract_sha256" in md:
                    when = datetime.fromtimestamp(rec.timestamp, tz=timezone.utc)
                    out.setdefault(md["extract_sha256"].value, when)
            if not result.has_more:
                break
            cursor = result.cursor
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=DEFAULT_RETENTION_DAYS,
                        help="keep raw files this many days after ingestion (default: WI_RETENTION_DAYS or 30)")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("DAGSTER_HOME", str(REPO_ROOT / "dagster_home"))
    from dagster import DagsterInstance

    decisions = plan_purge(default_landing_dir(), ingested_content(DagsterInstance.get()),
                           datetime.now(timezone.utc), args.days)
    for d in decisions:
        print(f"{'purge' if d.purge else 'keep '}  {d.path}  ({d.reason})")
    n = 0 if args.dry_run else purge(decisions)
    print(f"{'would purge' if args.dry_run else 'purged'} {sum(d.purge for d in decisions) if args.dry_run else n} of {len(decisions)} raw files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
