"""Executors: where evaluations run. ``sweep`` and ``optimise`` only see ``imap_unordered``.

- ``serial``: in this process, one at a time, no isolation (for debugging: a crash ends the run)
- ``processes``: N supervised evaluation processes on this machine (the default, N = cores);
  the coordinating process only sleeps on their pipes, so N evaluations run at once
- ``mpi`` (``launch.mpi``): one supervised evaluation process per rank, rank 0 coordinating

Every executor yields ``RecordBatch``es of *final* records (crashes and timeouts were already
retried): columns, so that the coordinator's cost is per batch, not per result.
"""

from __future__ import annotations

import os
import signal
import time

from cellsweep.launch.supervisor import Limits, Supervisor, wait_any
from cellsweep.sweep.batch import RecordBatch, stamp


class StopFlag:
    """Set by SIGTERM/SIGINT/SIGUSR1 (SLURM's wall-time warning): stop handing out work."""

    def __init__(self):
        self.reason = ""
        self.when = 0.0

    def __bool__(self):
        return bool(self.reason)

    def set(self, reason: str) -> None:
        if not self.reason:
            self.reason, self.when = reason, time.monotonic()

    def install(self, early: bool = False) -> None:
        """``early``: before the start-up checks, only SIGUSR1 and SIGTERM (a warning or a
        cancellation during a long compile must not kill the process, which would leave a job
        chain without its summary); Ctrl-C still interrupts the checks at once."""
        def handler(signum, _frame):
            self.set(signal.Signals(signum).name)
        for sig in (signal.SIGTERM, signal.SIGUSR1) if early else (
                signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
            signal.signal(sig, handler)


def default_workers() -> int:
    """One per CPU this process may use; inside a SLURM job at most the CPUs SLURM gave it
    (without SLURM's affinity plugin the process may see every core of a shared node)."""
    from cellsweep.launch.world import slurm_cpus

    try:
        n = max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        n = max(1, os.cpu_count() or 1)
    given = slurm_cpus()
    return min(n, given) if given else n


class SerialExecutor:
    name = "serial"
    workers = 1

    def __init__(self, evaluator, limits: Limits, stop: StopFlag):
        self.evaluator, self.stop = evaluator, stop

    def imap_unordered(self, tasks):
        for task in tasks:
            if self.stop:
                return
            task = {**task, "attempt": task.get("attempt", 1)}
            start = time.time()
            yield RecordBatch.from_records([stamp(self.evaluator(task), 0, start)])

    def close(self):
        pass


class ProcessExecutor:
    name = "processes"

    def __init__(self, evaluator, limits: Limits, stop: StopFlag, workers: int | None = None):
        import pickle

        self.workers = workers or default_workers()
        payload = pickle.dumps(evaluator)
        self.supervisors = [Supervisor(evaluator, i, limits, payload) for i in range(self.workers)]
        self.stop = stop

    def imap_unordered(self, tasks):
        tasks = iter(tasks)
        exhausted = False
        while not self.stop:
            received = [r for r in (sup.poll() for sup in self.supervisors) if r is not None]
            # refill idle workers before the records go to the writer (a commit takes ms)
            for sup in self.supervisors:
                if sup.idle and not exhausted:
                    task = next(tasks, None)
                    if task is None:
                        exhausted = True
                    else:
                        sup.assign(task)
            if received:                      # all of them: they are finished work
                yield RecordBatch.from_records(received)
            if self.stop:
                return
            if exhausted and all(sup.idle for sup in self.supervisors):
                return
            if not received:                  # sleep only when nothing happened
                wait_any(self.supervisors, 0.05)

    def close(self):
        for sup in self.supervisors:
            sup.close()
