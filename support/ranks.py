"""The running ``cellsweep run`` processes of one MPI job, by rank: what the rank-death tests
and the rank-loss benchmark kill."""

import os
from pathlib import Path


def mpi_ranks(marker: str) -> dict[int, int]:
    """PMI rank -> pid of every ``cellsweep run`` process whose command line holds ``marker``
    (say, its output file's name)."""
    found = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"cellsweep\0run" not in cmdline or marker.encode() not in cmdline:
            continue
        for item in environ:
            if item.startswith(b"PMI_RANK="):
                found[int(item.split(b"=")[1])] = int(pid)
    return found
