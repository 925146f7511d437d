"""Which MPI world we are in, honestly: what the launcher announced against what MPI sees.

Measured on a real SLURM with ``MpiDefault=none`` (tests/slurm): plain ``srun -n 2`` starts two
tasks that each initialise a separate MPI world of size 1, because the pip MPICH finds no PMI it
speaks; both believe they are rank 0. ``srun --mpi=pmi2`` and ``mpiexec`` (Hydra, also inside an
allocation) give one world. ``srun --mpi=pmix`` with an MPICH built without PMIx aborts inside
``MPI_Init`` (exit 16), before Python could say anything, so that case is refused before MPI starts.

Nothing here imports mpi4py at module level: local runs never load MPI.
"""

from __future__ import annotations

import os
import re

# (variable holding the task count, variable holding this task's index), most specific first:
# an MPI launcher's own announcement wins over SLURM's step variables (Hydra started by
# ``mpiexec`` inside an allocation runs its proxies as a SLURM step of one task per node).
LAUNCHERS = (
    ("PMI_SIZE", "PMI_RANK"),                          # Hydra (MPICH, Intel MPI), srun --mpi=pmi2
    ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),  # Open MPI's mpirun
    ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"),    # MVAPICH
    ("SLURM_STEP_NUM_TASKS", "SLURM_PROCID"),          # any srun step, whatever its --mpi
)

HINT = ("launch with `srun --mpi=pmi2 ...` (the pip MPICH speaks PMI-2), or `mpiexec -n "
        "$SLURM_NTASKS ...` inside the allocation, or use the cluster's MPI through "
        "MPI4PY_LIBMPI and the PMI it was built for (README, On a cluster)")


def announced(environ=None) -> tuple[int, str, int]:
    """``(tasks, variable, index)``: how many tasks the launcher says it started, which variable
    said so, and this task's index among them; ``(1, "", 0)`` outside any launcher."""
    environ = os.environ if environ is None else environ
    for size_key, rank_key in LAUNCHERS:
        try:
            size = int(environ[size_key])
        except (KeyError, ValueError):
            continue
        try:
            index = int(environ.get(rank_key, "0"))
        except ValueError:
            index = 0
        return size, size_key, index
    return 1, "", 0


def under_launcher(environ=None) -> bool:
    """Started as one of several tasks (mpiexec, mpirun, srun -n N>1): run under MPI. A
    one-task step (``srun -n 1 -c 8``) runs local processes on its CPUs instead."""
    return announced(environ)[0] > 1


def slurm_cpus(environ=None) -> int | None:
    """CPUs SLURM gave this task, when it says so (``-c``, else the job's CPUs on this node)."""
    environ = os.environ if environ is None else environ
    for key in ("SLURM_CPUS_PER_TASK", "SLURM_CPUS_ON_NODE"):
        value = environ.get(key, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return None


def clean_library_string(text: str) -> str:
    """The MPI library's self-description as one printable line (Open MPI's ends in a NUL)."""
    lines = text.replace("\x00", "").strip().splitlines()
    return re.sub(r"[\x00-\x1f\x7f]+", " ", lines[0]).strip() if lines else ""


class WorldMismatch(Exception):
    """The launcher started several tasks but they do not form one MPI world."""

    def __init__(self, message: str, speaks: bool):
        super().__init__(message)
        self.speaks = speaks          # only the launcher's task 0 prints it


def _pmix_without_support(library: str, environ) -> bool:
    """srun --mpi=pmix (PMIX_RANK set, no PMI-1/2 socket) with an MPI whose build shows no
    PMIx: MPICH prints its configure line, so its lack of PMIx is visible before MPI_Init."""
    if "PMIX_RANK" not in environ or "PMI_FD" in environ or "PMI_PORT" in environ:
        return False
    return library.startswith("MPICH") and "pmix" not in library.lower()


def initialise(environ=None):
    """Start MPI and return ``COMM_WORLD``, or raise ``WorldMismatch`` before any work: under a
    launcher that announced N > 1 tasks, a world of one means the tasks are not one job."""
    environ = os.environ if environ is None else environ
    tasks, variable, index = announced(environ)
    import mpi4py

    mpi4py.rc.initialize = False         # look at the library before MPI_Init can abort
    mpi4py.rc.finalize = True
    from mpi4py import MPI

    if _pmix_without_support(MPI.Get_library_version(), environ):
        raise WorldMismatch(
            f"srun started {environ.get('SLURM_STEP_NUM_TASKS', 'several')} task(s) with PMIx "
            "(--mpi=pmix), which this MPICH was not built for (MPI_Init would abort): " + HINT,
            speaks=int(environ.get("PMIX_RANK", "0") or 0) == 0)
    if not MPI.Is_initialized():
        MPI.Init_thread(MPI.THREAD_MULTIPLE)
    comm = MPI.COMM_WORLD
    if tasks > 1 and comm.Get_size() == 1:
        raise WorldMismatch(
            f"the launcher started {tasks} tasks ({variable}={tasks}) but MPI sees a world of "
            "1 in each: they are not one MPI job, and each would run the whole campaign "
            "alone; nothing was started: " + HINT, speaks=index == 0)
    return comm


def running_mpi() -> dict:
    """What MPI really ran, for the results file's ``versions`` (not the pip package's number,
    which says nothing when ``MPI4PY_LIBMPI`` loads the cluster's library)."""
    from mpi4py import MPI

    vendor, version = MPI.get_vendor()
    major, minor = MPI.Get_version()
    return {"mpi_vendor": vendor, "mpi_vendor_version": ".".join(map(str, version)),
            "mpi_standard": f"{major}.{minor}",
            "mpi_library": clean_library_string(MPI.Get_library_version())}
