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

Lost ranks. Hydra's ``mpiexec`` ends the whole job when one rank dies, but ``srun`` (and the
node a rank was on) need not: the others would wait for it until the wall time. So every rank
shows it is alive at least every ``PULSE_S``: a worker by a message to rank 0 (an empty
RESULTS), rank 0 by an ALIVE message to each worker, sent from a thread so that a long commit
or the start-up checks do not silence it. A worker rank silent for ``rank_timeout_s`` is lost:
its tasks go back to the queue, whatever it sends later is dropped, and the campaign goes on
with the others. A worker that has not heard from rank 0 for as long stops its child and exits
(``EXIT_COORDINATOR_LOST``).
"""

from __future__ import annotations

import atexit
import math
import os
import sys
import threading
import time
from collections import deque
from itertools import repeat
from operator import itemgetter

from cellsweep.launch.supervisor import Limits, Supervisor, wait_any
from cellsweep.sweep.batch import RecordBatch

TASKS, RESULTS, ALIVE = 11, 12, 13
_consume = deque(maxlen=0).extend       # runs an iterator to its end, in C
STOP = "stop"
GOODBYE = "goodbye"           # a worker's last message, after its last results
PULSE_S = 1.0                 # each side shows it is alive at least this often
RANK_TIMEOUT_S = 30.0         # silent this long: lost (run.rank_timeout_s)
EXIT_COORDINATOR_LOST = 5


def world():
    """``COMM_WORLD``, refusing a world that does not match what the launcher announced."""
    from cellsweep.launch.world import initialise

    return initialise()


def install_abort_hook(comm) -> None:
    """An uncaught exception on any rank aborts the whole job (mpi4py's default is to hang)."""
    previous = sys.excepthook

    def hook(kind, value, tb):
        previous(kind, value, tb)
        sys.stderr.flush()
        comm.Abort(1)

    sys.excepthook = hook


class Sends:
    """Messages on their way, never waited for: a blocking send to a dead peer (a message
    above MPI's eager size waits for a receive that never comes) would hang its sender, so
    every send here is an ``isend`` kept until it completes, and dropped with a lost rank."""

    def __init__(self, comm):
        self.comm = comm
        self.pending: list = []           # (rank, request)
        self.lock = threading.Lock()

    def send(self, obj, rank: int, tag: int) -> None:
        request = self.comm.isend(obj, dest=rank, tag=tag)
        with self.lock:
            self.pending.append((rank, request))
            if len(self.pending) > 64:
                self._progress()

    def _progress(self) -> None:
        self.pending = [(r, q) for r, q in self.pending if not q.Test()]

    def progress(self) -> None:
        if self.pending:                  # most polls have nothing on its way
            with self.lock:
                self._progress()

    def forget(self, rank: int) -> None:
        with self.lock:
            self.pending = [(r, q) for r, q in self.pending if r != rank]

    def drain(self, timeout_s: float) -> bool:
        """Wait (polling) up to ``timeout_s`` for everything sent to arrive; True if it did."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.progress()
            if not self.pending or time.monotonic() > deadline:
                return not self.pending
            time.sleep(0.001)


class Pulse:
    """Rank 0's side of liveness: an ALIVE message to every live worker each ``PULSE_S``,
    from a thread (mpi4py asks for ``MPI_THREAD_MULTIPLE``; without it the caller's loop
    calls ``beat`` instead)."""

    def __init__(self, comm, sends: Sends | None = None):
        from mpi4py import MPI

        self.comm = comm
        self.sends = sends if sends is not None else Sends(comm)
        self.live = set(range(1, comm.Get_size()))
        self.lock = threading.Lock()
        self.last = 0.0
        self._halt = threading.Event()
        self.threaded = MPI.Query_thread() == MPI.THREAD_MULTIPLE
        self.thread = None
        if self.threaded and self.live:
            self.thread = threading.Thread(target=self._run, name="cellsweep-pulse", daemon=True)
            self.thread.start()
            atexit.register(self.stop)   # before mpi4py's MPI_Finalize (atexit runs LIFO)

    def _run(self) -> None:
        while not self._halt.wait(PULSE_S):
            self._send()

    def _send(self) -> None:
        with self.lock:
            for rank in sorted(self.live):
                self.sends.send(None, rank, ALIVE)
            self.last = time.monotonic()
        self.sends.progress()

    def beat(self) -> None:
        """For a loop on rank 0 when there is no pulse thread."""
        if not self.threaded and time.monotonic() - self.last >= PULSE_S:
            self._send()

    def forget(self, rank: int) -> None:
        """No more messages to a lost rank (a send to a dead peer can block or fail)."""
        with self.lock:
            self.live.discard(rank)
        self.sends.forget(rank)

    def stop(self) -> None:
        self._halt.set()
        if self.thread is not None:
            self.thread.join()


def wait_for_coordinator(comm, timeout_s: float = RANK_TIMEOUT_S):
    """A worker rank's wait for rank 0's start-up outcome (config checks, the results file).
    It polls, so that a rank 0 that dies during a long start (compiling mechanisms) does not
    leave this rank waiting forever: silent for ``timeout_s`` means gone."""
    barrier = comm.Ibarrier()
    heard = time.monotonic()
    while not barrier.Test():
        while comm.Iprobe(source=0, tag=ALIVE):
            comm.recv(source=0, tag=ALIVE)
            heard = time.monotonic()
        if time.monotonic() - heard > timeout_s:
            coordinator_lost(comm, timeout_s)
        time.sleep(0.05)
    return comm.bcast(None, root=0)


def announce_outcome(comm, outcome, start_timeout_s: float = 600.0) -> None:
    """Rank 0's side of ``wait_for_coordinator``: every rank reached the barrier (or the job
    is aborted after ``start_timeout_s``: a rank that never started), then the outcome."""
    barrier = comm.Ibarrier()
    deadline = time.monotonic() + start_timeout_s
    while not barrier.Test():
        if time.monotonic() > deadline:
            print(f"error: cellsweep run: not every MPI rank started within {start_timeout_s:.0f}"
                  " s; aborting the job", file=sys.stderr, flush=True)
            comm.Abort(1)
        time.sleep(0.01)
    comm.bcast(outcome, root=0)


def coordinator_lost(comm, silent_s: float, supervisor=None):
    """Rank 0 is gone (killed, or its node lost): stop our child and leave at once, without
    ``MPI_Finalize`` (which would wait for the dead rank)."""
    if supervisor is not None:
        supervisor.close()
    print(f"cellsweep: rank {comm.Get_rank()}: no word from rank 0 for {silent_s:.0f} s: the "
          "coordinator is gone; this rank stops", file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(EXIT_COORDINATOR_LOST)


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
    iterable without a length is listed first. Tasks of a lost rank come back first."""

    def __init__(self, tasks):
        if not hasattr(tasks, "__len__"):
            tasks = list(tasks)
        self.left = len(tasks)
        self.iterator = iter(tasks)
        self.returned: deque = deque()

    def __len__(self) -> int:
        return self.left + len(self.returned)

    def popleft(self) -> dict:
        if self.returned:
            return self.returned.popleft()
        self.left -= 1
        return next(self.iterator)

    def give_back(self, tasks) -> None:
        self.returned.extend(tasks)


class MPIExecutor:
    """Rank 0's side: its own supervised child plus every other rank's."""

    name = "mpi"

    def __init__(self, comm, evaluator, limits: Limits, stop, evaluate_here: bool = True,
                 rank_timeout_s: float = RANK_TIMEOUT_S, pulse: Pulse | None = None):
        """``evaluate_here=False``: rank 0 only coordinates (the benchmark of its own cost per
        result uses that; on a big job it also keeps rank 0's core for coordinating).
        ``pulse``: rank 0's liveness messages, started before the start-up checks."""
        if not evaluate_here and comm.Get_size() < 2:
            raise ValueError("rank 0 must evaluate when it is the only rank")
        self.comm = comm
        self.workers = comm.Get_size()
        self.stop = stop
        self.local = Supervisor(evaluator, 0, limits) if evaluate_here else None
        self.hungry: dict[int, int] = {}     # rank -> tasks it asked for and did not get yet
        self.starving: dict[int, bool] = {}  # rank -> its child is idle with nothing queued
        self.outstanding: list[dict] = [{} for _ in range(self.workers)]  # rank -> id -> task
        self.rank_timeout_s = rank_timeout_s
        self.pulse = pulse if pulse is not None else Pulse(comm)
        self.sends = self.pulse.sends
        self.heard: list[float] = []         # rank -> when it was last heard (per round)
        self.lost: set[int] = set()
        self._checked = 0.0

    @property
    def live(self) -> list[int]:
        return [r for r in range(1, self.workers) if r not in self.lost]

    @property
    def evaluating(self) -> int:
        """Ranks that evaluate: the live workers, and rank 0 when it does."""
        return self.workers - 1 - len(self.lost) + (self.local is not None)

    def imap_unordered(self, tasks):
        from mpi4py import MPI

        comm, status = self.comm, MPI.Status()
        queue = _Queue(tasks)
        mean = _MeanTime()
        backoff = _Backoff(mean)
        now = time.monotonic()
        self.heard = [now] * self.workers    # silence counts from the start of this round
        while not self.stop:
            received = []
            while comm.Iprobe(source=MPI.ANY_SOURCE, tag=RESULTS, status=status):
                source = status.Get_source()
                payload, want, starving = comm.recv(source=source, tag=RESULTS)
                self.heard[source] = time.monotonic()
                if source in self.lost:
                    continue                 # its tasks were given to others
                if payload:
                    batch = RecordBatch.decode(payload)
                    # no longer outstanding (a loop in C: rank 0 pays this per result)
                    _consume(map(self.outstanding[source].pop, batch.ids.tolist(),
                                 repeat(None)))
                    received.append(batch)
                self.starving[source] = starving
                if want:
                    self.hungry[source] = want
            self._find_lost(queue)
            self.pulse.beat()
            self.sends.progress()
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
            if not queue and local_idle and not any(self.outstanding[1:]):   # lost: emptied
                return
            if self.local is None and not self.live:
                self.stop.set("every worker rank was lost")
                return
            if progressed:
                backoff.active()
            else:
                backoff.idle([self.local] if self.local is not None else [])

    def _find_lost(self, queue) -> None:
        """Ranks silent for ``rank_timeout_s`` (judged right after every waiting message was
        read, so a slow rank 0 never mistakes its own delay for theirs): their tasks go back."""
        now = time.monotonic()
        if now - self._checked < PULSE_S:
            return
        self._checked = now
        for rank in self.live:
            silent = now - self.heard[rank]
            if silent <= self.rank_timeout_s:
                continue
            self.lost.add(rank)
            self.pulse.forget(rank)
            tasks = list(self.outstanding[rank].values())
            self.outstanding[rank] = {}
            queue.give_back(tasks)
            self.hungry.pop(rank, None)
            self.starving.pop(rank, None)
            print(f"cellsweep: rank {rank} silent for {silent:.0f} s (killed, or its node "
                  f"lost): {len(tasks)} task(s) go back to the queue; going on with "
                  f"{self.evaluating} rank(s)", file=sys.stderr,
                  flush=True)

    def _serve(self, queue) -> bool:
        """Send tasks to ranks that asked. A rank still busy asks ahead (so that its next task
        is there when its child finishes); the campaign's last tasks go to idle ranks only."""
        sent = False
        ranks = max(1, self.evaluating)
        for rank, want in list(self.hungry.items()):
            if not queue:
                break
            if not self.starving.get(rank, True) and len(queue) <= ranks:
                continue
            share = max(1, math.ceil(len(queue) / ranks))
            batch = [queue.popleft() for _ in range(min(want, share, len(queue)))]
            self.sends.send(batch, rank, TASKS)
            self.outstanding[rank].update(zip(map(itemgetter("id"), batch), batch))
            del self.hungry[rank]
            sent = True
        return sent

    def _await_goodbyes(self) -> None:
        """Read what the live workers still send until each says goodbye (after its last
        results: messages of one tag from one rank arrive in order), so that none is left in a
        send that nobody receives, which would hang its ``MPI_Finalize``. Results that arrive
        now came after the stop: not recorded, so a resume redoes them. A rank silent for
        ``rank_timeout_s`` is not waited for."""
        from mpi4py import MPI

        status = MPI.Status()
        waiting = set(self.live)
        heard = time.monotonic()
        while waiting and time.monotonic() - heard < self.rank_timeout_s:
            self.sends.progress()
            if not self.comm.Iprobe(source=MPI.ANY_SOURCE, tag=RESULTS, status=status):
                time.sleep(0.001)
                continue
            source = status.Get_source()
            payload, _, _ = self.comm.recv(source=source, tag=RESULTS)
            heard = time.monotonic()
            if isinstance(payload, str) and payload == GOODBYE:
                waiting.discard(source)
        self.sends.drain(timeout_s=1.0)

    def close(self):
        """Tell every live worker to stop (their children are killed), then close ours."""
        self.pulse.stop()
        for rank in self.live:
            self.sends.send(STOP, rank, TASKS)
        self._await_goodbyes()
        if self.local is not None:
            self.local.close()


def serve_worker(comm, evaluator, limits: Limits, rank_timeout_s: float = RANK_TIMEOUT_S) -> None:
    """A worker rank's loop: ask for tasks, run them in its child, send records back.

    Worker ranks ignore the stop signals (mpiexec forwards them to every rank): rank 0 decides
    when the campaign stops and tells them so. Rank 0 silent for ``rank_timeout_s``: it is
    gone, and so is this rank.
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
    last_send = heard = time.monotonic()
    from mpi4py import MPI

    status = MPI.Status()
    sends = Sends(comm)
    try:
        while True:
            progressed = False
            # one probe for both tags: a probe costs the evaluation process beside us CPU
            while comm.Iprobe(source=0, tag=MPI.ANY_TAG, status=status):
                tag = status.Get_tag()
                message = comm.recv(source=0, tag=tag)
                heard = time.monotonic()
                if tag != TASKS:
                    continue
                if message == STOP:
                    sends.send((GOODBYE, 0, True), 0, RESULTS)
                    sends.drain(timeout_s=rank_timeout_s)   # then MPI_Finalize has no send left
                    return
                queue.extend(message)
                asked = False
                progressed = True
            if time.monotonic() - heard > rank_timeout_s:
                coordinator_lost(comm, time.monotonic() - heard, sup)
            sends.progress()
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
            since = time.monotonic() - last_send
            due = results and (since > 0.5 or len(results) >= MAX_BATCH or starving)
            if need or due or since >= PULSE_S:   # nothing to say for a second: still alive
                want = _want(mean) if need else 0
                sends.send((_pack(results), want, starving), 0, RESULTS)
                results, last_send = [], time.monotonic()
                asked = asked or bool(want)
                progressed = True
            if progressed:
                backoff.active()
            else:
                backoff.idle([sup])
    finally:
        sup.close()
