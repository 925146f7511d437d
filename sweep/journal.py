"""An append-only journal of finished evaluations: the commit point of a campaign.

HDF5 is not crash-consistent (a kill can leave a file that does not open, or rows silently
zero-filled; see the reliability notes in docs/). Every finished evaluation is therefore first
appended here as one line ``<crc32 hex> <json>\\n`` with a single ``os.write`` on an ``O_APPEND``
descriptor; only then does it count as done. A kill at any instant leaves complete lines plus at
most one torn last line, which the reader drops because its checksum does not match. The HDF5
file is rebuilt from the journal whenever a campaign resumes.
"""

from __future__ import annotations

import json
import os
import time
import zlib


def frame(record: dict) -> bytes:
    payload = json.dumps(record, separators=(",", ":"), allow_nan=True)
    return f"{zlib.crc32(payload.encode()):08x} {payload}\n".encode()


def parse_line(line: bytes):
    """The record of one journal line, or None if the line is torn or corrupt."""
    if len(line) < 10 or line[8:9] != b" " or not line.endswith(b"\n"):
        return None
    payload = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(payload):
            return None
        return json.loads(payload)
    except ValueError:
        return None


class Journal:
    """Appends records; fsyncs at most once per ``sync_interval_s`` (group commit)."""

    def __init__(self, path, sync_interval_s: float = 1.0):
        self.path = os.fspath(path)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.sync_interval_s = sync_interval_s
        self._last_sync = time.monotonic()
        self._dirty = False

    def append(self, records) -> None:
        data = b"".join(frame(r) for r in records)
        if not data:
            return
        view = memoryview(data)
        while view:                      # one write in practice; a partial write continues
            written = os.write(self.fd, view)
            view = view[written:]
        self._dirty = True
        if time.monotonic() - self._last_sync >= self.sync_interval_s:
            self.sync()

    def sync(self) -> None:
        if self._dirty:
            os.fsync(self.fd)
            self._dirty = False
        self._last_sync = time.monotonic()

    def close(self) -> None:
        if self.fd >= 0:
            self.sync()
            os.close(self.fd)
            self.fd = -1


def read(path) -> tuple[list, int]:
    """All intact records of a journal, and how many lines were dropped as torn or corrupt."""
    try:
        with open(path, "rb") as fh:
            lines = fh.read().splitlines(keepends=True)
    except FileNotFoundError:
        return [], 0
    records, dropped = [], 0
    for line in lines:
        record = parse_line(line)
        if record is None:
            dropped += 1
        else:
            records.append(record)
    return records, dropped
