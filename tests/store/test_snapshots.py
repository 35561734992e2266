"""Snapshots: each layer applied once, alone, in overlay format, keyed by chain ID; race-safe."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import os
import stat
from pathlib import Path

import pytest

from boxwright.errors import DigestMismatchError, StoreError
from boxwright.oci.config import chain_ids
from boxwright.oci.digest import Digest
from boxwright.store.images import ImageRecord
from boxwright.store.store import Store
from boxwright_testing.store_images import run_in_processes

pytestmark = pytest.mark.peers


def test_chain_ids_are_the_oci_definition() -> None:
    a = Digest.from_bytes(b"a")
    b = Digest.from_bytes(b"b")
    c = Digest.from_bytes(b"c")
    ab = hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    abc = hashlib.sha256(f"sha256:{ab} {c}".encode()).hexdigest()
    assert [d.hex for d in chain_ids([a, b, c])] == [a.hex, ab, abc]
    assert chain_ids([]) == []


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_ensure_applies_each_layer_alone_in_overlay_format(store: Store, base: ImageRecord) -> None:
    snaps = store.snapshots.ensure(base)
    chains = chain_ids(base.diff_ids)
    assert [s.chain_id for s in snaps] == chains
    assert [s.diff_id for s in snaps] == list(base.diff_ids)
    assert [s.parent for s in snaps] == [None, chains[0], chains[1]]
    assert [s.path for s in snaps] == [store.layout.snapshot_dir(c) for c in chains]
    bottom, middle, top = (s.diff for s in snaps)
    assert (bottom / "data" / "b.txt").read_text() == "b\n"
    assert stat.S_IMODE(os.lstat(bottom / "usr" / "bin" / "suid").st_mode) == 0o4755
    assert os.readlink(bottom / "bin" / "sh") == "busybox"
    # layer 2: b.txt deleted (a whiteout node), c.txt added, a.txt changed; nothing of layer 1
    whiteout = os.lstat(middle / "data" / "b.txt")
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
    assert (middle / "data" / "c.txt").read_text() == "c\n"
    assert (middle / "data" / "a.txt").read_text() == "changed\n"
    assert not (middle / "bin").exists() and not (middle / "usr").exists()
    assert (middle / "etc" / "hosts").exists()  # buildah run leaves its mount points
    assert _files(top) == ["etc", "etc/motd"]
    info = json.loads((snaps[2].path / "info.json").read_text())
    assert info == {
        "chain_id": str(chains[2]),
        "diff_id": str(base.diff_ids[2]),
        "parent": str(chains[1]),
        "size": len("welcome\n"),
        "tar_size": len(gzip.decompress(store.blobs.read(base.layers[2]))),
    }
    assert snaps[2].tar_size == info["tar_size"] == 2560
    assert store.snapshots.list() == sorted(snaps, key=lambda s: s.chain_id.hex)
    assert [p.name for p in store.layout.tmp_dir.iterdir()] == []


def test_ensure_reuses_complete_snapshots(store: Store, base: ImageRecord) -> None:
    first = store.snapshots.ensure(base)
    inodes = [os.stat(s.path / "info.json").st_ino for s in first]
    again = store.snapshots.ensure(base)
    assert again == first
    assert [os.stat(s.path / "info.json").st_ino for s in again] == inodes


def test_a_layer_whose_diff_id_lies_leaves_no_snapshot(store: Store, base: ImageRecord) -> None:
    wrong = Digest.from_bytes(b"not this layer")
    liar = dataclasses.replace(base, diff_ids=(wrong, *base.diff_ids[1:]))
    with pytest.raises(DigestMismatchError):
        store.snapshots.ensure(liar)
    assert store.snapshots.list() == []
    assert [p.name for p in store.layout.tmp_dir.iterdir()] == []


def _ensure(root: str, record: ImageRecord) -> None:
    Store(root).snapshots.ensure(record)


def test_parallel_processes_build_the_same_snapshots(store: Store, base: ImageRecord) -> None:
    run_in_processes(_ensure, [(str(store.root), base)] * 4)
    snaps = store.snapshots.list()
    assert sorted(s.chain_id for s in snaps) == sorted(chain_ids(base.diff_ids))
    assert sorted(os.listdir(store.layout.snapshots_dir)) == sorted(s.chain_id.hex for s in snaps)
    assert [p.name for p in store.layout.tmp_dir.iterdir()] == []
    assert (snaps[0].diff / "etc").is_dir() or (snaps[0].diff / "bin").is_dir()


def test_remove_and_get(store: Store, base: ImageRecord) -> None:
    snaps = store.snapshots.ensure(base)
    store.snapshots.remove(snaps[2].chain_id)
    store.snapshots.remove(snaps[2].chain_id)  # already gone: nothing happens
    assert not snaps[2].path.exists()
    with pytest.raises(StoreError, match="is not in the store"):
        store.snapshots.get(snaps[2].chain_id)
    assert store.snapshots.get(str(snaps[0].chain_id)) == snaps[0]
    assert [p.name for p in store.layout.tmp_dir.iterdir()] == []
