"""An append-only journal of finished evaluations: the commit point of a campaign.

HDF5 is not crash-consistent (a kill can leave a file that does not open, or rows silently
zero-filled; see the reliability notes in docs/). Every finished evaluation is therefore first
appended here, in a frame written with a single ``os.write`` on an ``O_APPEND`` descriptor; only
then does it count as done. Two kinds of frame, each checksummed:

- ``<crc32 hex> <json>\\n``: one JSON object (the campaign's meta record; results in journals
  written before results travelled in batches);
- ``B<length hex> <crc32 hex> <payload>\\n``: a ``sweep.batch.RecordBatch`` of many results
  in binary (its payload may contain newlines; the length says where it ends).

A kill at any instant leaves complete frames plus at most one torn last frame, which the reader
drops because its checksum does not match; a resumed journal cuts that torn tail off before it
appends (``Journal(..., valid_end=...)``). The HDF5 file is rebuilt from the journal whenever a
campaign resumes.
"""

from __future__ import annotations

import json
import os
import time
import zlib

from cellsweep.sweep.batch import RecordBatch

_BINARY_HEAD = 19                       # b"B" + 8 hex + b" " + 8 hex + b" "


def frame(record: dict) -> bytes:
    payload = json.dumps(record, separators=(",", ":"), allow_nan=True)
    return f"{zlib.crc32(payload.encode()):08x} {payload}\n".encode()


def batch_frame(batch: RecordBatch) -> bytes:
    payload = batch.encode()
    return b"B%08x %08x " % (len(payload), zlib.crc32(payload)) + payload + b"\n"


def parse_line(line: bytes):
    """The record of one JSON journal line, or None if the line is torn or corrupt."""
    if len(line) < 10 or line[8:9] != b" " or not line.endswith(b"\n"):
        return None
    payload = line[9:-1]
    try:
        if int(line[:8], 16) != zlib.crc32(payload):
            return None
        return json.loads(payload)
    except ValueError:
        return None


def _parse_binary(data: bytes, pos: int):
    """(batch, end) of a binary frame starting at ``pos``, or (None, pos)."""
    head = data[pos:pos + _BINARY_HEAD]
    if len(head) < _BINARY_HEAD or head[9:10] != b" " or head[18:19] != b" ":
        return None, pos
    try:
        length, crc = int(head[1:9], 16), int(head[10:18], 16)
    except ValueError:
        return None, pos
    start = pos + _BINARY_HEAD
    end = start + length + 1
    if end > len(data) or data[end - 1:end] != b"\n":
        return None, pos
    payload = data[start:end - 1]
    if zlib.crc32(payload) != crc:
        return None, pos
    try:
        return RecordBatch.decode(payload), end
    except (ValueError, KeyError, TypeError, zlib.error):
        return None, pos


def parse(data: bytes) -> tuple[list, int, int]:
    """(items, dropped, valid_end) of a journal's bytes: items are dicts (JSON frames) and
    ``RecordBatch`` objects in file order; ``dropped`` counts torn or corrupt stretches (after
    one, the reader resumes at the next line that is a valid frame); ``valid_end`` is where the
    last intact frame ends."""
    items, dropped, valid_end, pos, bad = [], 0, 0, 0, False
    while pos < len(data):
        item, end = None, pos
        if data[pos:pos + 1] == b"B":
            item, end = _parse_binary(data, pos)
        else:
            nl = data.find(b"\n", pos)
            if nl >= 0:
                item, end = parse_line(data[pos:nl + 1]), nl + 1
        if item is not None:
            items.append(item)
            pos = valid_end = end
            bad = False
            continue
        if not bad:
            dropped += 1
            bad = True
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        pos = nl + 1
    return items, dropped, valid_end


def read(path) -> tuple[list, int, int]:
    """``parse`` of the journal at ``path`` (nothing if it does not exist)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        return [], 0, 0
    return parse(data)


class Journal:
    """Appends frames; fsyncs at most once per ``sync_interval_s`` (group commit).

    ``valid_end``: where the intact frames of an existing journal end (from ``read``); a torn
    tail behind it is cut off first, so that new frames do not follow a half-written one.
    """

    def __init__(self, path, sync_interval_s: float = 1.0, valid_end: int | None = None):
        self.path = os.fspath(path)
        self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if valid_end is not None and os.fstat(self.fd).st_size > valid_end:
            os.ftruncate(self.fd, valid_end)
            os.fsync(self.fd)
        self.sync_interval_s = sync_interval_s
        self._last_sync = time.monotonic()
        self._dirty = False

    def append(self, records) -> None:
        """JSON frames, one per record dict."""
        self._write(b"".join(frame(r) for r in records))

    def append_batch(self, batch: RecordBatch) -> None:
        """One binary frame holding the whole batch."""
        if len(batch):
            self._write(batch_frame(batch))

    def _write(self, data: bytes) -> None:
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
