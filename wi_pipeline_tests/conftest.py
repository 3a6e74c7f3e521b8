import pytest

from wi_pipeline.synthetic.config import SyntheticConfig
from wi_pipeline.synthetic.extracts import write_landing
from wi_pipeline.synthetic.world import simulate_world


@pytest.fixture(scope="session")
def synthetic_landing(tmp_path_factory):
    """One small synthetic G4 (scale 0.01, seed 7) written to a landing folder, shared by the
    pipeline tests."""
    base = tmp_path_factory.mktemp("synthetic")
    world = simulate_world(SyntheticConfig(scale=0.01, seed=7))
    write_landing(world, base / "landing")
    return base / "landing", world
