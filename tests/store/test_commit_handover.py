"""A build's commit hands the overlay container's upper directory over as the new layer's
snapshot (renamed, never applied again from the blob), and the container then shows its base:
the files seen through the handed-over snapshots are exactly those seen through snapshots
applied from the same blobs, with mtimes clamped or not; a commit that cannot hand over (a
socket the layer leaves out, the step-by-step commit) leaves the container as it was."""

from __future__ import annotations

import hashlib
import os
import socket
import stat
from pathlib import Path
from typing import Any

import pytest

from boxwright.layer.ownership import OwnershipRecord
from boxwright.oci.config import chain_ids
from boxwright.store.images import ImageRecord
from boxwright.store.rootfs import overlay_works
from boxwright.store.store import Store

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="handing over needs root's owners")

STAMP = 1_700_000_000


def _first(root: Path, _record: OwnershipRecord) -> None:
    """The base: directories, files of several modes and owners, links, a FIFO."""
    for d in ("etc", "srv/app/lib", "usr/share/doc/pkg", "var/empty"):
        (root / d).mkdir(parents=True, mode=0o755)
    (root / "etc" / "motd").write_text("hello\n")
    (root / "etc" / "shadow").write_text("secret\n")
    os.chmod(root / "etc" / "shadow", 0o640)
    os.chown(root / "etc" / "shadow", 0, 42)
    for n in range(5):
        (root / "usr" / "share" / "doc" / "pkg" / f"f{n}").write_text(f"doc {n}\n")
    (root / "srv" / "app" / "lib" / "a.py").write_text("print('a')\n")
    os.link(root / "srv" / "app" / "lib" / "a.py", root / "srv" / "app" / "lib" / "b.py")
    os.symlink("lib/a.py", root / "srv" / "app" / "main")
    os.mkfifo(root / "var" / "empty" / "fifo", 0o600)
    os.setxattr(root / "etc" / "motd", "user.note", b"kept")
    os.utime(root / "etc" / "motd", (STAMP, STAMP))


def _second(root: Path, _record: OwnershipRecord) -> None:
    """A step over the base: append, chmod, chown, delete, replace a directory (opaque),
    new files with a hard link, a file made and removed again."""
    with (root / "etc" / "motd").open("a") as f:
        f.write("more\n")
    os.chmod(root / "etc" / "shadow", 0o600)
    os.chown(root / "srv" / "app" / "lib" / "a.py", 1000, 1000)
    os.unlink(root / "srv" / "app" / "main")
    for child in (root / "usr" / "share" / "doc" / "pkg").iterdir():
        child.unlink()
    (root / "usr" / "share" / "doc" / "pkg").rmdir()
    (root / "usr" / "share" / "doc" / "pkg").mkdir(mode=0o700)
    (root / "usr" / "share" / "doc" / "pkg" / "new").write_text("new\n")
    (root / "srv" / "app" / "gen").mkdir()
    for n in range(20):
        (root / "srv" / "app" / "gen" / f"g{n}").write_text(f"{n}\n")
    os.link(root / "srv" / "app" / "gen" / "g0", root / "srv" / "app" / "gen" / "same")
    (root / "tmpfile").write_text("gone\n")
    (root / "tmpfile").unlink()


def _view(root: Path, _record: OwnershipRecord) -> dict[str, Any]:
    """Every path of a rootfs: type, mode, owner, size, mtime (seconds, as layers keep it),
    link target or content hash, xattrs, and which paths share an inode."""
    out: dict[str, Any] = {}
    inodes: dict[int, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in sorted(dirnames + filenames):
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            st = os.lstat(path)
            extra: Any = None
            if stat.S_ISLNK(st.st_mode):
                extra = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                extra = hashlib.sha256(Path(path).read_bytes()).hexdigest()
                extra = (extra, inodes.setdefault(st.st_ino, rel))
            xattrs = {
                a: os.getxattr(path, a, follow_symlinks=False)
                for a in os.listxattr(path, follow_symlinks=False)
            }
            mtime = int(st.st_mtime)
            out[rel] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, mtime, extra, xattrs)
    return out


def _commit(store: Store, image: str | None, step: Any, **kw: Any) -> tuple[str, ImageRecord]:
    record = store.containers.create(image, driver="overlay")
    store.containers.with_rootfs(record.id, step)
    return record.id, store.containers.commit(record.id, None, **kw)


def _upper(store: Store, cid: str) -> list[str]:
    return sorted(os.listdir(store.layout.container_dir(cid) / "upper"))


@pytest.fixture
def overlay_store(store: Store) -> Store:
    if not overlay_works(store):
        pytest.skip("overlay cannot be mounted here")
    return store


@pytest.mark.parametrize("timestamp", [None, STAMP + 10])
def test_handed_over_snapshots_show_what_the_blobs_do(
    overlay_store: Store, timestamp: int | None
) -> None:
    store = overlay_store
    cid1, first = _commit(store, None, _first, hand_over=True, timestamp=timestamp)
    cid2, second = _commit(store, first.id, _second, hand_over=True, timestamp=timestamp)
    chains = chain_ids(second.diff_ids)
    assert [s.chain_id for s in store.snapshots.list()] == sorted(chains, key=str)
    assert _upper(store, cid1) == [] and _upper(store, cid2) == []
    assert store.snapshots.get(chains[1]).parent == chains[0]

    handed = store.containers.create(second.id, driver="overlay")
    seen = store.containers.with_rootfs(handed.id, _view)
    store.containers.remove(handed.id)
    for chain in chains:
        store.snapshots.remove(chain)
    applied = store.containers.create(second.id, driver="overlay")
    assert store.containers.with_rootfs(applied.id, _view) == seen
    assert seen["usr/share/doc/pkg/new"][0] == stat.S_IFREG | 0o644
    assert "usr/share/doc/pkg/f0" not in seen and "srv/app/main" not in seen
    assert seen["srv/app/gen/same"][5][1] == "srv/app/gen/g0"
    assert seen["etc/motd"][6] == {"user.note": b"kept"}
    if timestamp is not None:
        assert seen["etc/motd"][4] == timestamp and seen["srv/app/gen/g0"][4] == timestamp
        assert seen["etc/shadow"][4] == timestamp  # a chmod's copy-up: its mtime is the lower's


def test_a_commit_that_cannot_hand_over_leaves_the_container(overlay_store: Store) -> None:
    store = overlay_store
    _, first = _commit(store, None, _first, hand_over=True)
    before = {s.chain_id for s in store.snapshots.list()}

    stepwise, _ = _commit(store, first.id, _second)

    def with_socket(root: Path, record: OwnershipRecord) -> None:
        _second(root, record)
        here = os.getcwd()
        os.chdir(root / "srv")  # a short name: the store's path is too long for AF_UNIX
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.bind("sock")
        finally:
            os.chdir(here)

    socketed, _ = _commit(store, first.id, with_socket, hand_over=True)
    assert {s.chain_id for s in store.snapshots.list()} == before
    for cid in (stepwise, socketed):
        assert _upper(store, cid) == ["etc", "srv", "usr"]
