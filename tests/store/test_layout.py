"""The store's skeleton on disk, its marker, and its locks."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from container_helpers import PEER_NAME

from boxwright.errors import ImageNotFoundError, StoreError
from boxwright.oci.digest import Digest
from boxwright.store import Store, StoreLayout, file_lock, open_store
from boxwright.store.images import ImageRecord
from boxwright.store.layout import spread_subtrees

D = Digest("sha256", "ab" * 32)


def test_open_creates_the_layout_private_to_its_owner(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    layout = store.layout
    assert json.loads(layout.marker.read_text()) == {"format": "boxwright-store", "version": 1}
    for directory in (
        layout.root,
        layout.blobs_dir,
        layout.snapshots_dir,
        layout.containers_dir,
        layout.tmp_dir,
    ):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700, directory
    assert layout.lock_file.is_file() and layout.gc_lock_file.is_file()
    assert not layout.images_file.exists()  # written on the first add, not before
    assert store.images.list() == []


def test_paths_follow_the_contract(tmp_path: Path) -> None:
    layout = StoreLayout(tmp_path)
    assert layout.blob_path(D) == tmp_path / "blobs" / "sha256" / D.hex
    assert layout.snapshot_dir(D) == tmp_path / "snapshots" / D.hex
    assert layout.container_dir("c" * 64) == tmp_path / "containers" / ("c" * 64)
    assert layout.images_file == tmp_path / "images.json"
    assert layout.containers_file == tmp_path / "containers.json"
    with pytest.raises(TypeError):
        layout.blob_path("sha256:" + "ab" * 32)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match=r"invalid container ID '\.\./x'"):
        layout.container_dir("../x")


def test_default_root_comes_from_the_environment(store_root: Path) -> None:
    assert Store().root == store_root
    assert store_root.joinpath("boxwright-store").is_file()


def test_a_foreign_or_newer_marker_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "s"
    Store(root)
    (root / "boxwright-store").write_text('{"format": "boxwright-store", "version": 9}')
    with pytest.raises(StoreError, match="version 9; this boxwright reads version 1"):
        Store(root)
    (root / "boxwright-store").write_text('{"format": "other"}')
    with pytest.raises(StoreError, match="is not a boxwright store"):
        Store(root)


def test_a_store_is_not_created_over_foreign_files(tmp_path: Path) -> None:
    (tmp_path / "home" / "notes").mkdir(parents=True)
    with pytest.raises(
        StoreError, match=r"home is not empty and is not a boxwright store \(it holds notes\)"
    ):
        Store(tmp_path / "home")
    assert not (tmp_path / "home" / "boxwright-store").exists()
    half = tmp_path / "half"  # a first open killed before it wrote the marker
    (half / "blobs").mkdir(parents=True)
    (half / "tmp").mkdir()
    assert Store(half).layout.exists()


def test_readers_do_not_create_a_store(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError, match="there is no local store at"):
        Store(tmp_path / "absent", create=False)
    assert not (tmp_path / "absent").exists()


def test_an_unwritable_root_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match=r"cannot create the store at .*choose another root"):
        Store(tmp_path / "file" / "s")


def test_exclusive_lock_excludes_and_nonblocking_says_busy(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    with file_lock(path):
        with pytest.raises(StoreError, match=r"busy \(exclusive"), file_lock(path, blocking=False):
            pass
        with (
            pytest.raises(StoreError, match=r"busy \(shared"),
            file_lock(path, shared=True, blocking=False),
        ):
            pass
    with (
        file_lock(path, shared=True),
        file_lock(path, shared=True, blocking=False),
        pytest.raises(StoreError, match="busy"),
        file_lock(path, blocking=False),
    ):
        pass


def test_a_blocking_lock_waits_for_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    order: list[str] = []
    with file_lock(path):

        def other() -> None:
            with file_lock(path):
                order.append("other")

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.2)
        order.append("holder")
    thread.join(5)
    assert order == ["holder", "other"]


def test_a_lock_dies_with_its_process(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    pid = os.fork()
    if pid == 0:
        with file_lock(path):
            os.kill(os.getpid(), 9)
    os.waitpid(pid, 0)
    with file_lock(path, blocking=False):
        pass


def test_a_lock_is_released_even_when_a_forked_child_still_holds_its_descriptor(
    tmp_path: Path,
) -> None:
    """A process forked inside a lock block (a runtime's keeper) must not keep the lock."""
    import signal

    lock = tmp_path / "lock"
    with file_lock(lock):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child only sleeps until it is killed
            time.sleep(30)
            os._exit(0)
    try:
        with file_lock(lock, blocking=False):
            pass
    finally:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)


def _fs_type(path: Path) -> str:
    found = subprocess.run(
        ["findmnt", "-n", "-f", "-o", "FSTYPE", "--target", str(path)],
        capture_output=True,
        text=True,
    )
    return found.stdout.strip()


def _flags(path: Path) -> int:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        buf = bytearray(4)
        fcntl.ioctl(fd, 0x80086601, buf, True)  # FS_IOC_GETFLAGS
        return int.from_bytes(buf, sys.byteorder)
    finally:
        os.close(fd)


TOPDIR = 0x00020000


def test_containers_and_snapshots_are_made_in_spread_directories(
    store: Store, base: ImageRecord
) -> None:
    layout = store.layout
    if _fs_type(layout.root) not in ("ext2", "ext3", "ext4"):
        pytest.skip("FS_TOPDIR_FL is ext2/3/4's")
    assert not _flags(layout.tmp_dir) & TOPDIR  # a new store sets nothing yet
    store.containers.create(PEER_NAME)  # applies the snapshots, makes the container
    assert _flags(layout.tmp_dir) & TOPDIR == TOPDIR
    assert _flags(layout.containers_dir) & TOPDIR == TOPDIR
    assert not _flags(layout.snapshots_dir) & TOPDIR
    snapshot = store.snapshots.list()[0]
    assert not _flags(snapshot.diff) & TOPDIR  # not inherited by what is made inside


def test_spreading_elsewhere_changes_nothing(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if _fs_type(shm) != "tmpfs":
        pytest.skip("needs /dev/shm on tmpfs")
    with tempfile.TemporaryDirectory(dir=shm) as name:
        directory = Path(name)
        before = directory.stat().st_ctime_ns
        spread_subtrees(directory)
        assert directory.stat().st_ctime_ns == before
        assert _flags(directory) & TOPDIR == 0
    missing = tmp_path / "missing"
    spread_subtrees(missing)  # a directory that is not there: nothing to steer
    assert not missing.exists()
