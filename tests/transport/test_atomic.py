"""Atomic files and the verifying blob writer."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from boxwright.errors import DigestError, DigestMismatchError, TransportError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.transport.atomic import AtomicFile, BlobWriter, atomic_write

DATA = b"hello blob\n" * 1000


def test_atomic_write_replaces_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    atomic_write(target, b"new", mode=0o600)
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o600
    assert os.listdir(tmp_path) == ["f"]


def test_atomic_file_error_keeps_old_content(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), AtomicFile(target) as f:
        f.write(b"half")
        raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_atomic_file_in_missing_directory_is_a_transport_error(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="cannot create a file"):
        atomic_write(tmp_path / "missing" / "f", b"x")


def test_blob_writer_verifies_and_names_by_digest(tmp_path: Path) -> None:
    writer = BlobWriter(tmp_path / "blobs")
    desc = Descriptor("application/x", Digest.from_bytes(DATA), len(DATA))
    assert writer.write(io.BytesIO(DATA), desc) is desc
    assert (tmp_path / "blobs" / "sha256" / desc.digest.hex).read_bytes() == DATA
    measured = writer.write(io.BytesIO(b"other"))
    assert measured == Descriptor("application/octet-stream", Digest.from_bytes(b"other"), 5)
    sha512 = Digest.from_bytes(DATA, "sha512")
    writer.write(io.BytesIO(DATA), Descriptor("application/x", sha512, len(DATA)))
    assert (tmp_path / "blobs" / "sha512" / sha512.hex).read_bytes() == DATA


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (DATA[:-1] + b"X", "does not match its digest"),
        (DATA[:-1], "truncated"),
        (DATA + b"more", "longer than its expected size"),
    ],
)
def test_blob_writer_leaves_nothing_when_content_is_wrong(
    tmp_path: Path, content: bytes, message: str
) -> None:
    writer = BlobWriter(tmp_path)
    desc = Descriptor("application/x", Digest.from_bytes(DATA), len(DATA))
    with pytest.raises(DigestMismatchError, match=message):
        writer.write(io.BytesIO(content), desc)
    assert os.listdir(tmp_path) == []


def test_blob_writer_stream_failure_leaves_nothing(tmp_path: Path) -> None:
    class Broken:
        def __init__(self) -> None:
            self.calls = 0

        def read(self, n: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 2:
                raise OSError("network gone")
            return b"x" * 1000

    with pytest.raises(OSError, match="network gone"):
        BlobWriter(tmp_path).write(Broken())  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


def test_blob_paths_only_from_valid_digests(tmp_path: Path) -> None:
    writer = BlobWriter(tmp_path)
    with pytest.raises(DigestError):
        writer.path_for("sha256:../../etc/passwd")
    assert writer.path_for("sha256:" + "a" * 64) == tmp_path / "sha256" / ("a" * 64)
