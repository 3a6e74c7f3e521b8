"""Fixtures shared by the asset tests."""

import shutil

import pytest

PILOT = "GM0599"  # Rotterdam, the pilot municipality


@pytest.fixture
def landing(synthetic_landing, tmp_path):
    """The synthetic extract of one register and the CBS folder, in a landing folder of the test's own."""
    source, _ = synthetic_landing
    own = tmp_path / "landing"
    shutil.copytree(source / PILOT / "bijstand", own / PILOT / "bijstand")
    shutil.copytree(source / "CBS", own / "CBS")
    return own
