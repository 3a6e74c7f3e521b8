"""Purge raw extracts from the landing folder after ingestion, now (the nightly schedule
``retention_nightly`` does the same while the Dagster daemon runs).

Usage: python -m wi_pipeline.retention [--days 30] [--dry-run]
(the Makefile target `make purge` runs it with the warehouse's own instance, <warehouse>/dagster_home).
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime, timezone

from wi_pipeline.instance import use_warehouse_instance
from wi_pipeline.lib.retention import plan_purge, purge
from wi_pipeline.paths import default_landing_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--days",
        type=int,
        default=int(os.environ.get("WI_RETENTION_DAYS", "30")),
        help="keep raw files this many days after ingestion (default: WI_RETENTION_DAYS or 30)",
    )
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    use_warehouse_instance()
    from dagster import DagsterInstance

    from wi_pipeline.defs.automation.retention import ingested_content

    decisions = plan_purge(
        default_landing_dir(),
        ingested_content(DagsterInstance.get()),
        datetime.now(timezone.utc),
        args.days,
    )
    for d in decisions:
        print(f"{'purge' if d.purge else 'keep '}  {d.path}  ({d.reason})")
    n = 0 if args.dry_run else purge(decisions)
    print(
        f"{'would purge' if args.dry_run else 'purged'} "
        f"{sum(d.purge for d in decisions) if args.dry_run else n} of {len(decisions)} raw files"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
