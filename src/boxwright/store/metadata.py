"""The store's record files (``images.json``, ``containers.json``): one versioned JSON list each.

A record file is one object ``{"format": NAME, "version": N, KEY: [...]}``. It is replaced
whole (temporary file in the same directory, fsync, rename) by a writer holding the metadata
lock, so a reader needs no lock: it sees the old file or the new one, never a torn one. A
reader that asks often (a build looks images and cache entries up at every step) keeps what
it parsed with the bytes it parsed (:func:`read_record_bytes`) and parses again only when the
bytes differ: a file replaced by any process is read anew, never served stale.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from boxwright.transport.smallfile import atomic_write


def read_records(path: Path, fmt: str, version: int, key: str) -> list[Any]:
    """The list under ``key`` in the record file ``path`` (empty when there is no file yet).

    Raises :class:`ValueError` saying what is wrong when the file is not valid JSON, not a
    ``fmt`` file, of another version, or has no list under ``key``; the caller names the file
    and the way out in its own :class:`~boxwright.errors.StoreError`.
    """
    return parse_records(read_record_bytes(path), fmt, version, key)


def read_record_bytes(path: Path) -> bytes | None:
    """The bytes of the record file ``path`` (None when there is no file yet): what a reader
    compares with the bytes it parsed last, to parse a file only when a writer replaced it."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def parse_records(raw: bytes | None, fmt: str, version: int, key: str) -> list[Any]:
    """The list under ``key`` in the bytes of a record file, None for no file
    (:func:`read_records`)."""
    if raw is None:
        return []
    doc = json.loads(raw)
    if not isinstance(doc, dict) or doc.get("format") != fmt:
        raise ValueError(f"not a {fmt} file")
    if doc.get("version") != version:
        raise ValueError(f"version {doc.get('version')!r}, this boxwright reads {version}")
    records = doc.get(key)
    if not isinstance(records, list):
        raise ValueError(f"{key!r} is not a list")
    return records


def write_records(path: Path, fmt: str, version: int, key: str, records: list[Any]) -> None:
    """Replace the record file ``path`` atomically (the caller holds the metadata lock)."""
    doc = {"format": fmt, "version": version, key: records}
    atomic_write(path, json.dumps(doc, indent=1).encode() + b"\n", 0o600)


__all__ = ["parse_records", "read_record_bytes", "read_records", "write_records"]
