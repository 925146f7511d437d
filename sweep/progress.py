"""Progress of a campaign: a one-line bar on a terminal, plain periodic lines in a batch job."""

from __future__ import annotations

import math
import sys
import time


def format_seconds(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else (f"{minutes}m{secs:02d}s" if minutes
                                                    else f"{secs}s")


class Progress:
    """Counts done/failed, measures the rate over this run, prints bar or log lines."""

    def __init__(self, mode: str = "auto", log_interval_s: float = 30.0, stream=None):
        self.stream = stream or sys.stderr
        if mode == "auto":
            mode = "bar" if getattr(self.stream, "isatty", lambda: False)() else "log"
        self.mode = mode
        self.log_interval_s = log_interval_s
        self.total = self.done = self.failed = self.ran = 0
        self.started = self.last_print = 0.0

    def start(self, total: int, done: int, failed: int) -> None:
        self.total, self.done, self.failed = total, done, failed
        self.started = self.last_print = time.monotonic()
        if self.mode != "none":
            self._print(force=True)

    def update(self, batch) -> None:
        """Count a ``RecordBatch`` of finished evaluations."""
        self.done += len(batch)
        self.ran += len(batch)
        self.failed += int((batch.arrays["status"] != 0).sum())
        now = time.monotonic()
        interval = 0.2 if self.mode == "bar" else self.log_interval_s
        if self.mode != "none" and now - self.last_print >= interval:
            self._print()

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        rate = self.ran / elapsed if elapsed > 0 and self.ran else math.nan
        eta = (self.total - self.done) / rate if rate == rate and rate > 0 else math.nan
        return (f"{self.done}/{self.total} done, {self.failed} failed, "
                f"{rate:.2f} eval/s, ETA {format_seconds(eta)}")

    def _print(self, force: bool = False) -> None:
        self.last_print = time.monotonic()
        if self.mode == "bar":
            width = 30
            filled = int(width * self.done / self.total) if self.total else width
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {self.line()}   ")
        else:
            self.stream.write(time.strftime("%Y-%m-%d %H:%M:%S ") + self.line() + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.mode == "none":
            return
        self._print(force=True)
        if self.mode == "bar":
            self.stream.write("\n")
        self.stream.flush()
