"""The content-addressed blob store: atomic, verified, idempotent."""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from boxwright.errors import BlobNotFoundError, DigestMismatchError, NotRegularFileError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.store import Store

DATA = b"hello blob\n" * 1000
DIGEST = Digest("sha256", hashlib.sha256(DATA).hexdigest())
DESC = Descriptor("application/octet-stream", DIGEST, len(DATA))


class Exploding(io.RawIOBase):
    """A stream that fails after ``good`` bytes (a dropped network connection)."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self.left <= 0:
            raise OSError("connection reset")
        n = min(len(b), self.left)
        b[:n] = b"x" * n
        self.left -= n
        return n


def test_put_then_read_back_verified(store: Store) -> None:
    stored = store.blobs.put(io.BytesIO(DATA), DESC)
    assert stored == DESC
    assert store.blobs.has(DIGEST) and store.blobs.has(DIGEST, len(DATA))
    assert not store.blobs.has(DIGEST, len(DATA) + 1)
    assert store.blobs.size(DIGEST) == len(DATA)
    assert store.blobs.path(DIGEST) == store.root / "blobs" / "sha256" / DIGEST.hex
    with store.blobs.open(DESC) as f:
        assert f.read() == DATA
    assert store.blobs.read(DIGEST) == DATA
    assert list(store.blobs.iter_digests()) == [DIGEST]


def test_put_without_descriptor_measures(store: Store) -> None:
    stored = store.blobs.put(io.BytesIO(DATA))
    assert (stored.digest, stored.size, stored.media_type) == (
        DIGEST,
        len(DATA),
        "application/octet-stream",
    )


def test_put_is_idempotent_and_does_not_rewrite(store: Store) -> None:
    store.blobs.put(io.BytesIO(DATA), DESC)
    before = store.blobs.path(DIGEST).stat()
    unread = io.BytesIO(DATA)
    assert store.blobs.put(unread, DESC) == DESC
    assert unread.tell() == 0  # the stream was not even read
    after = store.blobs.path(DIGEST).stat()
    assert (before.st_ino, before.st_mtime_ns) == (after.st_ino, after.st_mtime_ns)


def test_wrong_content_leaves_nothing(store: Store) -> None:
    with pytest.raises(DigestMismatchError):
        store.blobs.put(io.BytesIO(DATA[:-1] + b"?"), DESC)
    with pytest.raises(DigestMismatchError, match="truncated"):
        store.blobs.put(io.BytesIO(DATA[:-1]), DESC)
    assert not store.blobs.has(DIGEST)
    assert os.listdir(store.layout.tmp_dir) == []
    assert list(store.blobs.iter_digests()) == []


def test_a_failing_stream_leaves_nothing(store: Store) -> None:
    big = Descriptor("x", Digest("sha256", "0" * 64), 10 << 20)
    with pytest.raises(OSError, match="connection reset"):
        store.blobs.put(io.BufferedReader(Exploding(5 << 20)), big)
    assert os.listdir(store.layout.tmp_dir) == []
    assert list(store.blobs.iter_digests()) == []


def test_reads_are_verified(store: Store) -> None:
    store.blobs.put(io.BytesIO(DATA), DESC)
    path = store.blobs.path(DIGEST)
    os.chmod(path, 0o644)
    path.write_bytes(DATA.replace(b"hello", b"HELLO"))  # corruption on disk
    with pytest.raises(DigestMismatchError), store.blobs.open(DESC) as f:
        f.read()
    with pytest.raises(DigestMismatchError):
        store.blobs.read(DIGEST)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("make", "what"),
    [
        (os.mkfifo, "a FIFO"),
        (lambda path: os.symlink("/dev/zero", path), "a symbolic link"),
        (os.mkdir, "a directory"),
    ],
)
def test_a_blob_that_is_not_a_regular_file_is_refused(
    store: Store, make: Callable[[Path], None], what: str
) -> None:
    """A FIFO would block the read forever, /dev/zero never ends: both refused at once."""
    store.blobs.put(io.BytesIO(DATA), DESC)
    path = store.blobs.path(DIGEST)
    path.unlink()
    make(path)
    message = f"{path} is {what}, not a regular file; refusing to read it"
    for read in (lambda: store.blobs.open(DESC), lambda: store.blobs.read(DIGEST)):
        with pytest.raises(NotRegularFileError) as refused:
            read()
        assert str(refused.value) == message


@pytest.mark.timeout(60)
def test_inspect_of_a_stored_image_with_a_fifo_config_is_one_line(
    peer_images: Any, tmp_path: Path
) -> None:
    from boxwright.store.pullpush import pull

    store = Store(tmp_path / "store")
    pull(peer_images.refs["oci"], store=store, name="img:1")
    config = store.blobs.path(store.images.get("img:1").config)
    config.unlink()
    os.mkfifo(config)
    env = {k: v for k, v in os.environ.items() if k != "BOXWRIGHT_ROOT"}
    done = subprocess.run(
        [sys.executable, "-m", "boxwright", "--root", str(store.root), "inspect", "img:1"],
        capture_output=True, text=True, timeout=30, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"Error: {config} is a FIFO, not a regular file; refusing to read it\n"


def test_missing_blob_and_delete(store: Store) -> None:
    with pytest.raises(BlobNotFoundError, match=f"blob {DIGEST} is missing from the store"):
        store.blobs.open(DIGEST)
    with pytest.raises(BlobNotFoundError):
        store.blobs.size(DIGEST)
    assert store.blobs.delete(DIGEST) == 0
    store.blobs.put(io.BytesIO(DATA), DESC)
    assert store.blobs.delete(DIGEST) == len(DATA)
    assert not store.blobs.has(DIGEST)


def test_iteration_skips_temporary_and_foreign_names(store: Store, tmp_path: Path) -> None:
    store.blobs.put(io.BytesIO(DATA), DESC)
    shelf = store.layout.blobs_dir / "sha256"
    (shelf / ".tmp-123").write_bytes(b"partial")
    (shelf / "not-a-digest").write_bytes(b"?")
    assert list(store.blobs.iter_digests()) == [DIGEST]


def test_adopt_renames_a_written_file_into_place(store: Store) -> None:
    data = b"layer bytes\n" * 100
    desc = Descriptor(
        "application/vnd.oci.image.layer.v1.tar+gzip",
        Digest("sha256", hashlib.sha256(data).hexdigest()),
        len(data),
    )
    store.layout.tmp_dir.mkdir(parents=True, exist_ok=True)
    written = store.layout.tmp_dir / "layer"
    written.write_bytes(data)
    inode = written.stat().st_ino
    assert store.blobs.adopt(written, desc) == desc
    assert not written.exists()
    assert store.blobs.path(desc.digest).stat().st_ino == inode  # renamed, not copied
    with store.blobs.open(desc) as f:
        assert f.read() == data

    again = store.layout.tmp_dir / "again"
    again.write_bytes(data)
    assert store.blobs.adopt(again, desc) == desc
    assert not again.exists() and store.blobs.path(desc.digest).stat().st_ino == inode

    short = store.layout.tmp_dir / "short"
    short.write_bytes(data[:-1])
    other = Descriptor(desc.media_type, Digest("sha256", "0" * 64), len(data))
    with pytest.raises(DigestMismatchError, match=f"is {len(data) - 1} bytes, not the expected"):
        store.blobs.adopt(short, other)
    assert not short.exists() and not store.blobs.has(other.digest)
