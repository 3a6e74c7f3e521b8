"""Default locations, all overridable by environment variables so real runs point elsewhere."""

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    return Path(os.environ.get("WI_DATA_DIR", REPO_ROOT / "data"))


def synthetic_landing_dir() -> Path:
    """The project's own landing folder (git-ignored): the only one synthetic data is ever written into."""
    return data_dir() / "landing"


def default_landing_dir() -> Path:
    return Path(os.environ.get("WI_LANDING_DIR", synthetic_landing_dir()))


def warehouse_dir() -> Path:
    return Path(os.environ.get("WI_WAREHOUSE_DIR", data_dir() / "warehouse"))


def truth_file() -> Path:
    return data_dir() / "synthetic_truth.json"
