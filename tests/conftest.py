"""Shared fixtures: where the repository, the bundled example, BluePyOpt's own example files and
the shared data are.

The shared data folder (``../shared/data`` beside the checkout) is optional: only the tests that
need its real third-party files use it, and they skip without it. ``CELLSWEEP_SHARED_DATA``
names another folder (``CELLSWEEP_SHARED_DATA=/nonexistent`` runs the suite as a clean clone
without it would).
"""

import importlib.util
import os
import shutil
from pathlib import Path

import pytest

from tests.helpers import copy_tiny

os.environ.setdefault("NEURON_INIT_MPI", "0")   # plain per-process NEURON, never MPI

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CELLSWEEP_SHARED_DATA") or REPO.parent / "shared" / "data")
EXAMPLE_CONFIG = REPO / "configs" / "example" / "example.yaml"


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("the shared data folder (../shared/data beside the checkout) is not present")
    return SHARED_DATA


def bluepyopt_file(*parts: str) -> Path:
    """A file shipped inside the installed bluepyopt package; skips the test if it is absent."""
    spec = importlib.util.find_spec("bluepyopt")
    if spec is None or spec.origin is None:
        pytest.skip("bluepyopt is not installed")
    path = Path(spec.origin).parent.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"the installed bluepyopt does not ship {'/'.join(parts)}")
    return path


@pytest.fixture(scope="session")
def bluepyopt_simplecell() -> Path:
    """BluePyOpt's simplecell example folder as installed (simple.swc: a soma of 3 chained
    points)."""
    return bluepyopt_file("ephys", "examples", "simplecell", "simple.swc").parent


@pytest.fixture(scope="session")
def bluepyopt_l5pc_morphology() -> Path:
    """BluePyOpt's L5PC morphology (C060114A7.asc), shipped with the installed package's tests."""
    return bluepyopt_file("tests", "test_ephys", "testdata", "acc", "l5pc", "C060114A7.asc")


@pytest.fixture(scope="session")
def example_config() -> Path:
    return EXAMPLE_CONFIG


@pytest.fixture(scope="session")
def example_model():
    from cellsweep.cells.loader import load_model

    return load_model(EXAMPLE_CONFIG)[0]


@pytest.fixture()
def tiny(tmp_path):
    """A copy of the tiny ball-and-stick model in a fresh directory."""
    return copy_tiny(tmp_path)


@pytest.fixture()
def example_dir(tmp_path, repo):
    """A copy of the example's config (as a mapping) and morphology in a fresh directory,
    pointing at the repository's mechanisms: (directory, mapping)."""
    import yaml

    src = repo / "configs" / "example"
    shutil.copy(src / "example_pyramid.swc", tmp_path / "example_pyramid.swc")
    data = yaml.safe_load((src / "example.yaml").read_text())
    data["cell"]["mechanisms_dir"] = str(repo / "mechanisms" / "example")
    return tmp_path, data
