"""Helpers shared by the tests: run the real command (optionally under mpiexec), compare
results files. Fixtures live in ``tests/conftest.py``."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np

DATA = Path(__file__).resolve().parent / "data"
# columns that legitimately differ between runs (who ran what, when, how fast)
RUN_SPECIFIC = {"timings", "worker", "host", "t_start", "t_end"}


def cellsweep_command(*args, mpi: int | None = None) -> list[str]:
    base = [sys.executable, "-m", "cellsweep", *map(str, args)]
    if mpi is None:
        return base
    mpiexec = Path(sys.executable).parent / "mpiexec"
    return [str(mpiexec if mpiexec.exists() else "mpiexec"), "-n", str(mpi), *base]


def env() -> dict:
    return {**os.environ, "NEURON_INIT_MPI": "0", "CELLSWEEP_NO_PLOTS": "1"}


def run_cellsweep(*args, mpi=None, timeout=300, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cellsweep_command(*args, mpi=mpi), capture_output=True, text=True,
                          env=env(), timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\nstdout:\n{proc.stdout}\n"
                             f"stderr:\n{proc.stderr}")
    return proc


def plain(path, mode: str = "r"):
    """The file opened with plain h5py, not cellsweep's reader: the promise that any HDF5 tool
    reads a results file (after a kill too). The only place tests import h5py."""
    return h5py.File(path, mode)


def optimisation_group(path) -> dict:
    """Every dataset of a file's ``optimisation`` group, by its path in the group."""
    with plain(path) as f:
        out = {}
        f["optimisation"].visititems(
            lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset)
            else None)
        return out


def results_content(path) -> dict:
    """Every dataset of a results file except the run-specific columns."""
    out = {}
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset) and name.split("/")[0] not in RUN_SPECIFIC:
                out[name] = obj[()]
        f.visititems(visit)
        out["@complete"] = bool(f.attrs["complete"])
        out["@n_committed"] = int(f.attrs["n_committed"])
    return out


def assert_same_results(a, b) -> None:
    x, y = results_content(a), results_content(b)
    assert x.keys() == y.keys()
    for key in x:
        u, v = np.asarray(x[key]), np.asarray(y[key])
        same = np.array_equal(u, v, equal_nan=True) if u.dtype.kind == "f" else np.array_equal(u, v)
        assert same, f"{key} differs between {a} and {b}"


def copy_tiny(folder) -> Path:
    """The tiny ball-and-stick model copied into ``folder``; returns its config."""
    for name in ("tiny.yaml", "ball_stick.swc"):
        shutil.copy(DATA / "tiny" / name, Path(folder) / name)
    return Path(folder) / "tiny.yaml"


def write_config(path, text: str) -> Path:
    Path(path).write_text(text)
    return Path(path)
