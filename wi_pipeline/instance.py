"""Each warehouse keeps its own Dagster instance, in <warehouse>/dagster_home.

The instance holds the history the pipeline compares with (the previous extract's row count, the
extracts already ingested, what `make purge` may delete) and the runs the UI shows. Shared between
warehouses, a real first run would be judged against the demo's extracts. The instance's settings
stay in the repository's dagster_home/dagster.yaml, which every warehouse's instance links to.

`python -m wi_pipeline.instance` (what `make ui` runs first) prints the instance folder on stdout and,
on stderr, whether the key in the environment can write into the warehouse.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from wi_pipeline.paths import REPO_ROOT, warehouse_dir

INSTANCE_SETTINGS = REPO_ROOT / "dagster_home" / "dagster.yaml"


def instance_home(warehouse: Path | None = None) -> Path:
    """The warehouse's instance folder, made on first use, with the project's dagster.yaml in it."""
    home = (Path(warehouse) if warehouse else warehouse_dir()).resolve() / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if settings.is_symlink() and settings.resolve() != INSTANCE_SETTINGS.resolve():
        settings.unlink()  # the repository moved
    if not settings.exists():
        try:
            settings.symlink_to(INSTANCE_SETTINGS)
        except OSError:  # a file system without symbolic links gets a copy
            shutil.copyfile(INSTANCE_SETTINGS, settings)
    return home


def use_warehouse_instance(warehouse: Path | None = None) -> Path:
    """Point DAGSTER_HOME at the warehouse's instance (also over a DAGSTER_HOME set before)."""
    home = instance_home(warehouse)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def key_warning(warehouse: Path | None = None) -> str | None:
    """What the key in the environment means for the warehouse, when it cannot write into it."""
    from wi_pipeline.lib.pseudonymise import (
        KEY_ENV_VAR,
        PseudonymisationError,
        describe_fingerprint,
        key_from_environment,
        warehouse_fingerprint,
        warehouse_is_demo,
    )

    warehouse = Path(warehouse) if warehouse else warehouse_dir()
    recorded = warehouse_fingerprint(warehouse)
    try:
        now = key_from_environment().fingerprint
    except PseudonymisationError as err:
        return f"{err}; the landing sensor and every ingestion will fail until the key is fixed."
    if recorded is None or now == recorded:
        return None
    built = (
        f"the demo key {recorded}"
        if warehouse_is_demo(warehouse)
        else f"a real (non-demo) key, fingerprint {recorded}"
    )
    has = (
        f"{KEY_ENV_VAR} gives key {describe_fingerprint(now)}"
        if os.environ.get(KEY_ENV_VAR)
        else f"{KEY_ENV_VAR} is not set, so this UI has the built-in demo key {now}"
    )
    return (
        f"{has}, but the warehouse {warehouse} was built with {built}. The UI shows the warehouse's "
        f"runs, but the landing sensor and every ingestion refuse to write until you restart it with the "
        f"warehouse's key ({KEY_ENV_VAR} set to the key whose fingerprint is {recorded}), or point "
        "WI_WAREHOUSE_DIR at the warehouse of this key."
    )


def main() -> int:
    warning = key_warning()
    if warning:
        print(f"wi_pipeline: {warning}", file=sys.stderr)
    print(use_warehouse_instance())
    return 0


if __name__ == "__main__":
    sys.exit(main())
