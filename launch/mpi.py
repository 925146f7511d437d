"""MPI: every rank supervises one evaluation process; rank 0 also coordinates.

Measured facts this follows (tests/launch/test_mpi_abort.py shows the first): an uncaught
exception in one rank hangs an MPI job forever unless something calls ``MPI_Abort``
(``install_abort_hook``); a rank blocked in ``recv`` burns a core and never runs Python signal
handlers, so every loop here polls (``Iprobe``) and sleeps on its own child's pipe instead
(``_Backoff`` sizes the sleep); NEURON stays out of MPI (``NEURON_INIT_MPI=0`` in the children;
a hoc error must never abort the job).

Protocol: a worker rank sends ``(results, want, starving)`` to rank 0 (tag RESULTS) whenever it
has results or its local queue is empty. ``results`` are its finished records as the bytes of
one ``RecordBatch``, encoded by the worker: rank 0 decodes them with ``numpy.frombuffer`` and
appends the same bytes to the journal, so its cost is per message more than per result. Rank 0
answers with a list of up to ``want`` tasks (tag TASKS). ``want`` is sized so that one message
carries about half a second of work: trivial evaluations travel in batches, slow ones one at a
time. A rank asks while its child is still busy,
so its next task is already there when the child finishes (no round trip between evaluations);
``starving`` says its child is idle with nothing queued, and only starving ranks get the
campaign's last tasks, so the tail stays balanced.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections import deque

from cellsweep.launch.supervisor import Limits, Supervisor, wait_any
from cellsweep.sweep.batch import RecordBatch

TASKS, RESULTS = 11, 12
STOP = "stop"


def under_mpi() -> bool:
    """Were we started by mpiexec/srun with more than a trivial world? (env only, no import)"""
    for key in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MPI_LOCALNRANKS", "PMIX_RANK",
                "SLURM_STEP_NUM_TASKS"):
        if key in os.environ:
            return True
    return False


def world():
    from mpi4py import MPI

    return MPI.COMM_WORLD


def install_abort_hook(comm) -> None:
    """An uncaught exception on any rank aborts the whole job (mpi4py's default is to hang)."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        sys.stderr.flush()
        comm.Abort(1)

    sys.excepthook = hook


def mpi_library_version() -> str:
    from mpi4py import MPI

    return MPI.Get_library_version().splitlines()[0].strip()


class _MeanTime:
    """Running mean of evaluation times (exponential, recent ones weigh more)."""

    def __init__(self):
        self.mean_s: float | None = None

    def observe(self, seconds: float) -> None:
        self.mean_s = seconds if self.mean_s is None else 0.8 * self.mean_s + 0.2 * seconds

    def observe_batch(self, batch: RecordBatch) -> None:
        if len(batch):                   # sum/len: numpy's mean costs ~8 us on one row
            self.observe(max(0.0, float((batch.rows["t_end"] - batch.rows["t_start"]).sum()))
                         / len(batch))


MAX_BATCH = 128


def _want(mean: _MeanTime, target_s: float = 0.5) -> int:
    """How many tasks to ask for at once: about ``target_s`` of work, 1..``MAX_BATCH``.

    Rank 0 pays ~0.15 ms per message and ~8 µs per result (BENCHMARKS.md §6), so results of
    short evaluations must travel many to a message; half a second of work per message keeps
    the campaign's tail short (the last tasks go only to idle ranks) and bounds what a kill
    loses (results are sent at least every half second)."""
    if mean.mean_s is None:
        return 1
    return int(min(MAX_BATCH, max(1, math.floor(target_s / max(mean.mean_s, 1e-6)))))


class _Backoff:
    """How long an idle rank sleeps between polls: 1 ms after activity, doubling up to a cap.

    Measured here: polling every 1 ms costs a rank ~8 % of a core (~0.1 ms of CPU per wake-up),
    taken from the evaluation process beside it (BENCHMARKS.md §5).
    Sleeping longer delays the answer to a rank that waits for tasks. With wake-up cost ``w`` and
    evaluations of ``t`` seconds the sum of both losses, ``w/cap + cap/(2t)``, is smallest at
    ``cap = sqrt(2·w·t)``: 1 ms for trivial tasks, ~14 ms for 1 s evaluations, at most 50 ms
    (a rank's own child always wakes it at once: only messages from other ranks wait).
    """

    WAKE_S, SHORTEST, LONGEST = 1e-4, 0.001, 0.05

    def __init__(self, mean: _MeanTime):
        self.mean = mean
        self.delay = self.SHORTEST

    def cap(self) -> float:
        if self.mean.mean_s is None:
            return self.SHORTEST
        best = math.sqrt(2 * self.WAKE_S * self.mean.mean_s)
        return min(self.LONGEST, max(self.SHORTEST, best))

    def active(self) -> None:
        self.delay = self.SHORTEST

    def idle(self, supervisors) -> None:
        wait_any(supervisors, self.delay)
        self.delay = min(2 * self.delay, self.cap())


def _duration(record: dict) -> float:
    return max(0.0, record.get("t_end", 0.0) - record.get("t_start", 0.0))


def _pack(records: list) -> bytes:
    return RecordBatch.from_records(records).encode() if records else b""


class _Queue:
    """Tasks not handed out yet, drawn lazily from the caller's iterable: a million-point sweep
    must not become a million task dicts at rank 0. The hand-out needs the number left, so an
    iterable without a length is listed first."""

    def __init__(self, tasks):
        if not hasattr(tasks, "__len__"):
            tasks = list(tasks)
        self.left = len(tasks)
        self.iterator = iter(tasks)

    def __len__(self) -> int:
        return self.left

    def popleft(self) -> dict:
        self.left -= 1
        return next(self.iterator)


class MPIExecutor:
    """Rank 0's side: its own supervised child plus every other rank's."""

    name = "mpi"

    def __init__(self, comm, evaluator, limits: Limits, stop, evaluate_here: bool = True):
        """``evaluate_here=False``: rank 0 only coordinates (the benchmark of its own cost per
        result uses that; on a big job it also keeps rank 0's core for coordinating)."""
        if not evaluate_here and comm.Get_size() < 2:
            raise ValueError("rank 0 must evaluate when it is the only rank")
        self.comm = comm
        self.workers = comm.Get_size()
        self.stop = stop
        self.local = Supervisor(evaluator, 0, limits) if evaluate_here else None
        self.hungry: dict[int, int] = {}     # rank -> tasks it asked for and did not get yet
        self.starving: dict[int, bool] = {}  # rank -> its child is idle with nothing queued
        self.outstanding = [0] * self.workers

    def imap_unordered(self, tasks):
        from mpi4py import MPI

        comm, status = self.comm, MPI.Status()
        queue = _Queue(tasks)
        mean = _MeanTime()
        backoff = _Backoff(mean)
        while not self.stop:
            received = []
            while comm.Iprobe(source=MPI.ANY_SOURCE, tag=RESULTS, status=status):
                source = status.Get_source()
                payload, want, starving = comm.recv(source=source, tag=RESULTS)
                if payload:
                    batch = RecordBatch.decode(payload)
                    self.outstanding[source] -= len(batch)
                    received.append(batch)
                self.starving[source] = starving
                if want:
                    self.hungry[source] = want
            # hand out work before the records go to the writer (a commit can take tens of ms)
            progressed = self._serve(queue) or bool(received)
            if self.local is not None:
                record = self.local.poll()
                if record is not None:
                    received.append(RecordBatch.from_records([record]))
                if self.local.idle and queue:
                    self.local.assign(queue.popleft())
                    progressed = True
            for batch in received:           # all of them: they are finished work
                mean.observe_batch(batch)
                yield batch
            if self.stop:
                return
            local_idle = self.local is None or self.local.idle
            if not queue and local_idle and not any(self.outstanding[1:]):
                return
            if progressed:
                backoff.active()
            else:
                backoff.idle([self.local] if self.local is not None else [])

    def _serve(self, queue) -> bool:
        """Send tasks to ranks that asked. A rank still busy asks ahead (so that its next task
        is there when its child finishes); the campaign's last tasks go to idle ranks only."""
        sent = False
        for rank, want in list(self.hungry.items()):
            if not queue:
                break
            if not self.starving.get(rank, True) and len(queue) <= self.workers:
                continue
            share = max(1, math.ceil(len(queue) / self.workers))
            batch = [queue.popleft() for _ in range(min(want, share, len(queue)))]
            self.comm.send(batch, dest=rank, tag=TASKS)
            self.outstanding[rank] += len(batch)
            del self.hungry[rank]
            sent = True
        return sent

    def close(self):
        """Tell every worker rank to stop (their children are killed), then close ours."""
        for rank in range(1, self.workers):
            self.comm.send(STOP, dest=rank, tag=TASKS)
        if self.local is not None:
            self.local.close()


def serve_worker(comm, evaluator, limits: Limits) -> None:
    """A worker rank's loop: ask for tasks, run them in its child, send records back.

    Worker ranks ignore the stop signals (mpiexec forwards them to every rank): rank 0 decides
    when the campaign stops and tells them so.
    """
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_IGN)
    sup = Supervisor(evaluator, comm.Get_rank(), limits)
    queue: deque = deque()
    results: list = []
    mean = _MeanTime()
    backoff = _Backoff(mean)
    asked = False
    last_send = time.monotonic()
    try:
        while True:
            progressed = False
            if comm.Iprobe(source=0, tag=TASKS):
                message = comm.recv(source=0, tag=TASKS)
                if message == STOP:
                    return
                queue.extend(message)
                asked = False
                progressed = True
            record = sup.poll()
            if record is not None:
                mean.observe(_duration(record))
                results.append(record)
                progressed = True
            if sup.idle and queue:
                sup.assign(queue.popleft())
                progressed = True
            starving = sup.idle and not queue
            need = not asked and not queue      # also while busy: ask one task ahead
            due = results and (time.monotonic() - last_send > 0.5 or len(results) >= MAX_BATCH
                               or starving)
            if need or due:
                want = _want(mean) if need else 0
                comm.send((_pack(results), want, starving), dest=0, tag=RESULTS)
                results, last_send = [], time.monotonic()
                asked = asked or bool(want)
                progressed = True
            if progressed:
                backoff.active()
            else:
                backoff.idle([sup])
    finally:
        sup.close()

