"""Shared fixtures: where the repository, the bundled example and the shared data are."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("NEURON_INIT_MPI", "0")   # plain per-process NEURON, never MPI

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
EXAMPLE_CONFIG = REPO / "configs" / "example" / "example.yaml"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("the shared data folder (../shared/data beside the checkout) is not present")
    return SHARED_DATA


@pytest.fixture(scope="session")
def example_config() -> Path:
    return EXAMPLE_CONFIG


@pytest.fixture(scope="session")
def example_model():
    from cellsweep.cells.loader import load_model

    return load_model(EXAMPLE_CONFIG)[0]
