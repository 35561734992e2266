"""Atomic files and the verifying blob writer."""

from __future__ import annotations

import errno
import io
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from boxwright.errors import DigestError, DigestMismatchError, TransportError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest, VerifyingReader
from boxwright.transport import atomic
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
    with pytest.raises(TransportError, match=r"cannot write .*/missing/f: No such file"):
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


# -- fast paths: trusting a verifying reader, writing behind, deferred directory fsyncs ---------

BIG = b"".join(i.to_bytes(4, "big") * 8 for i in range(170_000))  # 5.4 MB, over WRITE_BEHIND_MIN
"""Content large enough for the helper-thread writer, with no repeating 1 MiB chunk."""


def _writer_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "boxwright-blob-write"]


def _no_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(algorithm: str = "sha256") -> Any:
        raise AssertionError(f"BlobWriter hashed ({algorithm}) a stream that verifies itself")

    monkeypatch.setattr(atomic, "new_hasher", refuse)


def test_big_content_is_big_enough() -> None:
    assert len(BIG) >= atomic.WRITE_BEHIND_MIN + 1


@pytest.mark.parametrize("data", [DATA, BIG], ids=["small", "write-behind"])
def test_blob_writer_trusts_a_verifying_reader_instead_of_hashing_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    desc = Descriptor("application/x", Digest.from_bytes(data), len(data))
    reader = VerifyingReader(io.BytesIO(data), desc.digest, len(data))
    _no_hashing(monkeypatch)
    assert BlobWriter(tmp_path).write(reader, desc) is desc
    assert reader.verified
    assert (tmp_path / "sha256" / desc.digest.hex).read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == ["sha256"]
    assert _writer_threads() == []


@pytest.mark.parametrize("data", [DATA, BIG], ids=["small", "write-behind"])
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d[:-1] + b"X", "does not match its digest"),
        (lambda d: d[:-1], "truncated"),
        (lambda d: d + b"more", "longer than its expected size"),
    ],
    ids=["corrupt", "truncated", "longer"],
)
def test_a_trusted_reader_still_fails_the_write_on_wrong_content(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    data: bytes,
    change: Callable[[bytes], bytes],
    message: str,
) -> None:
    desc = Descriptor("application/x", Digest.from_bytes(data), len(data))
    reader = VerifyingReader(io.BytesIO(change(data)), desc.digest, len(data))
    _no_hashing(monkeypatch)
    with pytest.raises(DigestMismatchError, match=message):
        BlobWriter(tmp_path).write(reader, desc)
    assert os.listdir(tmp_path) == []
    assert _writer_threads() == []


class _Claims:
    """A reader claiming to verify ``verifies``; ``verified`` says what it is told to."""

    def __init__(self, data: bytes, verifies: Digest, verified: bool) -> None:
        self._stream = io.BytesIO(data)
        self.verifies = verifies
        self.verified = verified

    def read(self, n: int = -1) -> bytes:
        return self._stream.read(n)

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> _Claims:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def test_a_reader_that_never_verified_is_refused(tmp_path: Path) -> None:
    desc = Descriptor("application/x", Digest.from_bytes(DATA), len(DATA))
    with pytest.raises(DigestMismatchError, match="was not verified by its reader"):
        BlobWriter(tmp_path).write(_Claims(DATA, desc.digest, False), desc)  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


def test_a_reader_verifying_another_digest_is_not_trusted(tmp_path: Path) -> None:
    desc = Descriptor("application/x", Digest.from_bytes(DATA), len(DATA))
    wrong = DATA[:-1] + b"X"
    claims = _Claims(wrong, Digest.from_bytes(wrong), True)
    with pytest.raises(DigestMismatchError, match="does not match its digest"):
        BlobWriter(tmp_path).write(claims, desc)  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


def test_an_untrusted_big_blob_is_hashed_and_written_behind(tmp_path: Path) -> None:
    writer = BlobWriter(tmp_path)
    desc = Descriptor("application/x", Digest.from_bytes(BIG), len(BIG))
    assert writer.write(io.BytesIO(BIG), desc) is desc
    assert (tmp_path / "sha256" / desc.digest.hex).read_bytes() == BIG
    wrong = Descriptor("application/x", Digest.from_bytes(b"x"), len(BIG))
    with pytest.raises(DigestMismatchError, match="does not match its digest"):
        writer.write(io.BytesIO(BIG), wrong)
    assert sorted(os.listdir(tmp_path / "sha256")) == [desc.digest.hex]
    assert _writer_threads() == []


class _FullDisk:
    """A file whose writes fail with ENOSPC once ``room`` bytes were written."""

    def __init__(self, real: IO[bytes], room: int) -> None:
        self._real = real
        self._room = room

    def write(self, data: bytes) -> int:
        if len(data) > self._room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._room -= len(data)
        return self._real.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.mark.parametrize("data", [DATA * 200, BIG], ids=["direct", "write-behind"])
def test_a_full_disk_is_a_transport_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, data: bytes
) -> None:
    real_open = AtomicFile.open

    def open_full(self: AtomicFile) -> IO[bytes]:
        return _FullDisk(real_open(self), 1 << 20)  # type: ignore[return-value]

    monkeypatch.setattr(AtomicFile, "open", open_full)
    desc = Descriptor("application/x", Digest.from_bytes(data), len(data))
    reader = VerifyingReader(io.BytesIO(data), desc.digest, len(data))
    with pytest.raises(TransportError, match=r"cannot write a blob in .*No space left on device"):
        BlobWriter(tmp_path).write(reader, desc)
    assert os.listdir(tmp_path) == []
    assert _writer_threads() == []


def test_deferred_directory_fsyncs_happen_once_in_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    monkeypatch.setattr(atomic, "fsync_dir", lambda path: synced.append(Path(path)))
    writer = BlobWriter(tmp_path, defer_dir_sync=True)
    for data in (b"one", b"two", DATA):
        writer.write(io.BytesIO(data))
    writer.write(io.BytesIO(DATA), Descriptor("x", Digest.from_bytes(DATA, "sha512"), len(DATA)))
    assert synced == []
    writer.sync()
    assert synced == [tmp_path / "sha256", tmp_path / "sha512"]
    writer.sync()
    assert len(synced) == 2
    eager = BlobWriter(tmp_path / "eager")
    eager.write(io.BytesIO(b"one"))
    eager.write(io.BytesIO(b"two"))
    assert synced[2:] == [tmp_path / "eager" / "sha256"] * 2
