"""One evaluation process and the task it runs: crash, timeout, retry and recycling.

A segfault in a user's ``.mod`` file, an endless loop, or a memory leak must cost one row, not
the campaign. Each worker (a local process slot, or an MPI rank) therefore evaluates in a child
process it supervises: a child that dies makes the task ``crashed`` (with the signal or exit
code), a task that overruns ``timeout_s`` is killed and made ``timeout``; both are retried once in
a fresh child (``max_attempts``). Children are replaced after ``recycle_after`` evaluations or
when their memory passes ``max_rss_mb``, before the next task starts.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait

from cellsweep.sweep.batch import stamp


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 600.0
    max_attempts: int = 2
    recycle_after: int = 500
    max_rss_mb: float = 4000.0


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "the evaluation process disappeared"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"the evaluation process was killed by {name}"
    return f"the evaluation process exited with status {code}"


class Supervisor:
    """Runs tasks one at a time in a child process; ``poll`` returns finished records."""

    def __init__(self, evaluator, index: int, limits: Limits, payload: bytes | None = None):
        self.evaluator = evaluator
        self.payload = payload if payload is not None else pickle.dumps(evaluator)
        self.index = index
        self.limits = limits
        self.proc: subprocess.Popen | None = None
        self.conn: Connection | None = None
        self.task: dict | None = None
        self.started_at = 0.0
        self.wall_start = 0.0
        self.done_in_child = 0
        self.starts = 0
        self._statm = -1                  # the child's /proc/<pid>/statm, kept open

    # -- child lifecycle ------------------------------------------------------------------------
    def _start(self) -> None:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "NEURON_INIT_MPI": "0"}
        quiet = os.environ.get("CELLSWEEP_CHILD_OUTPUT") != "1"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cellsweep.launch.child", str(theirs.fileno()), str(self.index)],
            pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL if quiet else None,
            stderr=subprocess.DEVNULL if quiet else None)
        theirs.close()
        self.conn = Connection(ours.detach())
        self.conn.send_bytes(self.payload)          # the child unpickles it with recv()
        self.starts += 1
        self.done_in_child = 0

    def _stop(self, kill: bool = True) -> None:
        if self.proc is None:
            return
        try:
            if not kill:
                self.conn.send(None)
                self.proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired, ValueError):
            pass
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        self.conn.close()
        self.proc, self.conn = None, None
        if self._statm >= 0:
            os.close(self._statm)
            self._statm = -1

    def close(self) -> None:
        self._stop(kill=True)

    def _rss_mb(self) -> float:
        """The child's resident memory. The file stays open: opening it cost ~40 µs per task,
        a quarter of the engine's whole cost per trivial task (BENCHMARKS.md §6)."""
        try:
            if self._statm < 0:
                self._statm = os.open(f"/proc/{self.proc.pid}/statm", os.O_RDONLY)
            pages = int(os.pread(self._statm, 128, 0).split()[1])
            return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
        except (OSError, ValueError, IndexError):
            return 0.0

    # -- tasks ------------------------------------------------------------------------------------
    @property
    def idle(self) -> bool:
        return self.task is None

    def assign(self, task: dict) -> None:
        if self.proc is not None and (self.done_in_child >= self.limits.recycle_after
                                      or self._rss_mb() > self.limits.max_rss_mb):
            self._stop(kill=False)
        if self.proc is None or self.proc.poll() is not None:
            self._stop()
            self._start()
        task = dict(task)
        task.setdefault("attempt", 1)
        self.task = task
        self.started_at = time.monotonic()
        self.wall_start = time.time()
        self.conn.send(task)

    def waitable(self):
        return self.conn if self.task is not None else None

    def poll(self) -> dict | None:
        """A finished record, or None; handles death and timeout (with one retry)."""
        if self.task is None:
            return None
        try:
            while self.conn.poll():
                message = self.conn.recv()
                if isinstance(message, tuple) and message and message[0] == "ready":
                    continue
                task, self.task = self.task, None
                self.done_in_child += 1
                message.setdefault("attempt", task["attempt"])
                return message
        except (EOFError, OSError):
            self.proc.wait()
            return self._failed("crashed", _describe_exit(self.proc.returncode))
        if self.proc.poll() is not None:
            return self._failed("crashed", _describe_exit(self.proc.returncode))
        if time.monotonic() - self.started_at > self.limits.timeout_s:
            return self._failed("timeout", f"no result after {self.limits.timeout_s:g} s; "
                                           "the evaluation process was killed")
        return None

    def _failed(self, status: str, message: str) -> dict | None:
        task = self.task
        self._stop(kill=True)
        self.task = None
        if task["attempt"] < self.limits.max_attempts:
            self.assign({**task, "attempt": task["attempt"] + 1})
            return None
        return stamp(self.evaluator.failure_record(task, status, message), self.index,
                     self.wall_start)


def wait_any(supervisors, timeout: float) -> None:
    """Sleep until a busy supervisor's child has something to say, or ``timeout`` passes."""
    conns = [c for c in (s.waitable() for s in supervisors) if c is not None]
    if conns:
        wait(conns, timeout)
    else:
        time.sleep(timeout)
