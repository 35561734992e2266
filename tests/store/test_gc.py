"""prune and df: what nothing references goes, what something references stays."""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Callable

import pytest

from boxwright.oci.config import chain_ids
from boxwright.oci.digest import Digest
from boxwright.store import Store, disk_usage, prune, pull
from boxwright_testing.store_images import MadeImage


def _snapshot(store: Store, chain: Digest, content: bytes = b"x" * 100) -> None:
    path = store.layout.snapshot_dir(chain) / "diff" / "sub"
    path.mkdir(parents=True)
    (path / "file").write_bytes(content)
    os.chmod(path, 0o555)  # a read-only directory, as a layer may hold


def test_prune_removes_exactly_what_nothing_references(
    store: Store, make_image: Callable[..., MadeImage]
) -> None:
    keep = pull(make_image("keep").ref, store=store, name="keep:1")
    gone = pull(make_image("gone").ref, store=store, name="gone:1")
    store.images.remove("gone:1")
    used = chain_ids(keep.diff_ids)
    unused = chain_ids(gone.diff_ids)
    _snapshot(store, used[-1])
    _snapshot(store, unused[0], b"y" * 1000)
    (store.layout.tmp_dir / ".tmp-left-by-a-crash").write_bytes(b"z" * 10)
    (store.layout.tmp_dir / "snapshot-build").mkdir()
    orphan_bytes = sum(store.blobs.size(d) for d in gone.digests)
    usage = disk_usage(store)
    assert usage.reclaimable == orphan_bytes + 1000 + 10
    assert (usage.images, usage.blobs, usage.snapshots, usage.active_snapshots) == (1, 8, 2, 1)

    result = prune(store)

    assert (result.blobs, result.snapshots, result.tmp) == (4, 1, 2)
    assert result.bytes == orphan_bytes + 1000 + 10
    assert set(store.blobs.iter_digests()) == set(keep.digests)
    assert os.listdir(store.layout.snapshots_dir) == [used[-1].hex]
    assert os.listdir(store.layout.tmp_dir) == []
    assert store.images.list() == [keep]
    assert prune(store).bytes == 0  # nothing left to do
    after = disk_usage(store)
    assert (after.reclaimable, after.blobs_bytes) == (0, after.images_bytes)


def test_chain_ids_follow_the_image_spec() -> None:
    a, b = Digest("sha256", "a" * 64), Digest("sha256", "b" * 64)
    import hashlib

    expected = hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_ids([a, b]) == [a, Digest("sha256", expected)]


def test_prune_waits_for_writers(store: Store) -> None:
    """A blob stored but not yet recorded survives: prune waits for the writer's lock."""
    events: list[str] = []
    stored = threading.Event()

    def writer() -> None:
        with store.writing():
            store.blobs.put(io.BytesIO(b"not yet recorded"))
            stored.set()
            time.sleep(0.3)
            events.append("writer done")

    thread = threading.Thread(target=writer)
    thread.start()
    stored.wait(5)
    result = prune(store)
    events.append("prune done")
    thread.join(5)
    assert events == ["writer done", "prune done"]
    assert result.blobs == 1  # after the writer let go, the unrecorded blob is garbage


def test_containers_keep_their_image_and_snapshots(
    store: Store, make_image: Callable[..., MadeImage]
) -> None:
    """Cross-part: a working container (copy driver) pins its base image's blobs and its
    snapshots; rmi refuses it, rmi -f only untags it, prune keeps what the container needs."""
    from boxwright.errors import StoreError

    base = pull(make_image("base").ref, store=store, name="base:1")
    container = store.containers.create("base:1", driver="copy")
    assert container.image_id == base.id
    assert [c.removeprefix("sha256:") for c in container.layer_chain] == [
        c.hex for c in chain_ids(base.diff_ids)
    ]
    with pytest.raises(StoreError, match=f"in use by container\\(s\\) {container.name}"):
        store.images.remove("base:1")
    assert store.images.remove("base:1", force=True) == ["Untagged: localhost/base:1"]
    assert store.images.get(base.id).names == ()
    usage = disk_usage(store)
    assert (usage.containers, usage.active_images, usage.active_snapshots) == (1, 1, 2)
    result = prune(store)
    assert (result.blobs, result.snapshots) == (0, 0)
    assert set(store.blobs.iter_digests()) == set(base.digests)
    store.containers.remove(container.name)
    assert store.images.remove(base.id) == [f"Deleted: {base.id}"]
    result = prune(store)
    assert (result.blobs, result.snapshots) == (4, 2)
    assert os.listdir(store.layout.snapshots_dir) == []


def test_prune_removes_container_directories_without_a_record(
    store: Store, make_image: Callable[..., MadeImage]
) -> None:
    """A `container from` killed between making its directory and recording it leaves an
    orphan (here: a mounted one, as `container mount` leaves it): prune unmounts and removes
    it, and keeps the directory of the container that has a record."""
    import json

    pull(make_image("base").ref, store=store, name="base:1")
    kept = store.containers.create("base:1", name="kept")
    lost = store.containers.create("base:1", name="lost")
    store.containers.mount("lost")
    doc = json.loads(store.layout.containers_file.read_bytes())
    doc["containers"] = [c for c in doc["containers"] if c["id"] != lost.id]
    store.layout.containers_file.write_bytes(json.dumps(doc).encode())

    result = prune(store)

    assert result.containers == 1
    assert sorted(os.listdir(store.layout.containers_dir)) == [kept.id]
    with open("/proc/self/mountinfo") as mounts:
        assert str(store.layout.container_dir(lost.id)) not in mounts.read()
    assert [c.name for c in store.containers.list()] == ["kept"]
