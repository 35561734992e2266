"""A container's log in podman's ``k8s-file`` format, written by the monitor and read by ``logs``.

One record a line: ``TIMESTAMP STREAM TAG CONTENT``, the timestamp RFC 3339 with nanoseconds,
the stream ``stdout`` or ``stderr``, the tag ``F`` for a full line (its newline dropped) or
``P`` for a part of a line the process has not ended yet (the next record continues it).
Records are appended with one ``write`` each to a file opened ``O_APPEND``.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from boxwright.runtime.state import now, parse_time


@dataclass(frozen=True)
class LogRecord:
    """One record: when, which stream, the bytes (with the newline of a full line)."""

    time: str
    stream: str
    data: bytes


def format_records(stream: str, data: bytes, stamp: str | None = None) -> bytes:
    """``data`` of ``stream`` as records (a full line each, then a partial one if any)."""
    stamp = stamp or now()
    out = []
    for piece in data.splitlines(keepends=True):
        full = piece.endswith(b"\n")
        body = piece[:-1] if full else piece
        out.append(
            b"%s %s %s %s\n" % (stamp.encode(), stream.encode(), b"F" if full else b"P", body)
        )
    return b"".join(out)


def parse_record(line: bytes) -> LogRecord | None:
    """One line of the log file; ``None`` for a line that is no record."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        return None
    body = parts[3] if len(parts) == 4 else b""
    return LogRecord(
        parts[0].decode(), parts[1].decode(), body + (b"\n" if parts[2] == b"F" else b"")
    )


def _records(handle: BinaryIO, since: datetime | None) -> Iterator[LogRecord]:
    while True:
        line = handle.readline()
        if not line.endswith(b"\n"):  # nothing more, or a record still being written
            if line:
                handle.seek(-len(line), os.SEEK_CUR)
            return
        record = parse_record(line)
        if record is None:
            continue
        if since is not None and parse_time(record.time) < since:
            continue
        yield record


def read_log(
    path: Path,
    *,
    since: datetime | None = None,
    tail: int | None = None,
    follow: Callable[[], bool] | None = None,
) -> Iterator[LogRecord]:
    """The records of ``path``: those at or after ``since``, the last ``tail`` lines only,
    and with ``follow`` the records appended while ``follow()`` says the container may still
    write (checked after each quiet spell of 0.1 s)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - kept open while following
    except FileNotFoundError:
        return
    with handle:
        records: Iterator[LogRecord] = _records(handle, since)
        if tail is not None:
            records = iter(_last_lines(records, tail))
        yield from records
        while follow is not None:
            alive = follow()
            found = False
            for record in _records(handle, since):
                found = True
                yield record
            if not found:
                if not alive:
                    return
                time.sleep(0.1)


def _last_lines(records: Iterator[LogRecord], count: int) -> list[LogRecord]:
    """The records of the last ``count`` lines (a line's partial records kept together)."""
    lines: deque[list[LogRecord]] = deque(maxlen=count) if count > 0 else deque(maxlen=1)
    current: list[LogRecord] = []
    for record in records:
        current.append(record)
        if record.data.endswith(b"\n"):
            lines.append(current)
            current = []
    if current:
        lines.append(current)
    return [] if count <= 0 else [r for line in lines for r in line]


__all__ = ["LogRecord", "format_records", "parse_record", "read_log"]
