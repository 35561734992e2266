"""FileHashes: a COPY source's sha256 for the cache key, whatever its size, and to its real end
when it grew after it was looked at."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from boxwright.build.context import FileHashes
from boxwright.oci.digest import CHUNK


@pytest.mark.parametrize("size", [0, 1, 4095, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
def test_sha256_of_every_size(tmp_path: Path, size: int) -> None:
    data = hashlib.sha256(b"seed").digest() * (size // 32 + 1)
    path = tmp_path / "f"
    path.write_bytes(data[:size])
    got = FileHashes().sha256(str(path), os.lstat(path))
    assert got == hashlib.sha256(data[:size]).hexdigest()


def test_a_file_grown_since_its_lstat_is_hashed_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a" * 100)
    st = os.lstat(path)
    path.write_bytes(b"b" * (CHUNK + 100))
    assert FileHashes().sha256(str(path), st) == hashlib.sha256(b"b" * (CHUNK + 100)).hexdigest()


def test_a_file_shrunk_since_its_lstat_is_hashed_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"a" * (CHUNK + 100))
    st = os.lstat(path)
    path.write_bytes(b"b" * 10)
    assert FileHashes().sha256(str(path), st) == hashlib.sha256(b"b" * 10).hexdigest()
