"""An evaluation process: receives an evaluator once, then tasks; sends back records.

Started by ``launch.supervisor`` as ``python -m cellsweep.launch.child FD INDEX`` with one end
of a socket pair. It never touches MPI (``NEURON_INIT_MPI=0``), ignores the signals that stop a campaign
(its supervisor decides when it dies), and turns any Python exception into an ``error`` record.
"""

from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from multiprocessing.connection import Connection

from cellsweep.sweep.batch import stamp


def serve(conn: Connection, index: int) -> None:
    evaluator = conn.recv()
    conn.send(("ready", os.getpid()))
    while True:
        task = conn.recv()
        if task is None:
            return
        start = time.time()
        try:
            record = evaluator(task)
        except Exception as exc:  # noqa: BLE001 - a failing evaluation is data
            text = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            record = evaluator.failure_record(task, "error", text)
        conn.send(stamp(record, index, start))


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_IGN)
    os.environ["NEURON_INIT_MPI"] = "0"
    conn = Connection(int(argv[0]))
    try:
        serve(conn, int(argv[1]))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass                                  # the supervisor went away: nothing to report to


if __name__ == "__main__":
    main()
