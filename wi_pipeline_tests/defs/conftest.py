"""Fixtures shared by the tests of the Dagster wiring."""

import shutil

import pytest

from wi_pipeline_tests.defs.helpers import GM


@pytest.fixture
def landing(synthetic_landing, tmp_path):
    """The synthetic Rotterdam bijstand extract and the CBS folder, in a landing folder of the test's
    own (copied, so a test may add or damage files)."""
    source, _ = synthetic_landing
    own = tmp_path / "landing"
    shutil.copytree(source / GM / "bijstand", own / GM / "bijstand")
    shutil.copytree(source / "CBS", own / "CBS")
    return own
