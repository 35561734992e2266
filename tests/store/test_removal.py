"""podman's rmi -f / rmi -a / image prune on the store, and what the records keep for them."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from boxwright.errors import StoreError
from boxwright.oci.digest import Digest
from boxwright.store import Store
from boxwright.store.filters import ImageFilter, select_images
from boxwright.store.images import ImageStore
from boxwright.store.pulling import pull_into
from boxwright.store.removal import prune_images, remove_all_images, remove_image
from boxwright_testing.store_images import MadeImage


def test_rmi_force_removes_the_containers_made_from_the_image(
    store: Store, make_image: Callable[..., MadeImage]
) -> None:
    base = pull_into(store, make_image("a").ref, name="base:1")
    container = store.containers.create("base:1", driver="copy")
    with pytest.raises(StoreError, match="in use by container"):
        remove_image(store, "base:1")
    assert remove_image(store, "base:1", force=True) == [
        "Untagged: localhost/base:1",
        f"Deleted: {base.id}",
    ]
    assert store.containers.list() == []
    assert not store.layout.container_dir(container.id).exists()


def test_rmi_all(store: Store, make_image: Callable[..., MadeImage]) -> None:
    a = pull_into(store, make_image("a").ref, name="a:1")
    b = pull_into(store, make_image("b").ref, name="")
    store.images.tag("a:1", "a:2")
    assert remove_all_images(store, force=True) == [
        "Untagged: localhost/a:1",
        "Untagged: localhost/a:2",
        f"Deleted: {a.id}",
        f"Deleted: {b.id}",
    ]
    assert store.images.list() == []


def test_prune_images_dangling_then_all(store: Store, make_image: Callable[..., MadeImage]) -> None:
    named = pull_into(store, make_image("a").ref, name="a:1")
    loose = pull_into(store, make_image("b").ref, name="")
    used = pull_into(store, make_image("c").ref, name="c:1")
    store.containers.create("c:1", driver="copy")
    dangling = select_images(store.images, [ImageFilter.parse("dangling=true")])
    assert [r.id for r in dangling] == [loose.id]
    assert prune_images(store) == [loose.id]
    assert prune_images(store) == []
    assert prune_images(store, all=True) == [named.id]
    assert [r.id for r in store.images.list()] == [used.id]


def _unpacked(image: MadeImage) -> tuple[int, ...]:
    blobs = Path(image.layout, "blobs", "sha256")
    return tuple(len(gzip.decompress((blobs / d[7:]).read_bytes())) for d in image.layer_digests)


def _no_measuring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make reading a layer to measure it fail: what follows must know every size."""

    def refuse(self: ImageStore, digest: Digest) -> int:
        raise AssertionError(f"layer {digest} was read to measure it")

    monkeypatch.setattr(ImageStore, "_unpacked_size", refuse)


def test_layer_sizes_are_measured_once_when_first_asked(
    store: Store, make_image: Callable[..., MadeImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    image = make_image("a", layers=3)
    record = pull_into(store, image.ref, name="a:1")
    assert record.layer_sizes is None  # copying an image in reads no layer
    unpacked = _unpacked(image)
    blobs = Path(image.layout, "blobs", "sha256")
    manifest = (blobs / image.manifest_digest[7:]).stat().st_size
    config = (blobs / image.config_digest[7:]).stat().st_size
    assert store.images.podman_size(record) == sum(unpacked) + config + 2 * manifest
    assert store.images.get("a:1").layer_sizes == unpacked  # kept in the record
    _no_measuring(monkeypatch)
    assert store.images.layer_sizes(store.images.get("a:1")) == unpacked
    again = make_image("a", tag="other", layers=3, labels={"v": "2"})  # same layers, new config
    assert pull_into(store, again.ref, name="a:2").layer_sizes == unpacked


def test_layer_sizes_come_from_snapshots_and_commits(
    store: Store, make_image: Callable[..., MadeImage], monkeypatch: pytest.MonkeyPatch
) -> None:
    image = make_image("b", layers=2)
    record = pull_into(store, image.ref, name="b:1")
    unpacked = _unpacked(image)
    container = store.containers.create("b:1")
    assert [s.tar_size for s in store.snapshots.ensure(record)] == list(unpacked)
    _no_measuring(monkeypatch)
    assert store.images.layer_sizes(record) == unpacked
    store.containers.with_rootfs(
        container.name, lambda root, _o: (root / "new.txt").write_bytes(b"x" * 3000)
    )
    committed = store.containers.commit(container.name, "b:2", timestamp=1_700_000_000)
    top = committed.layers[-1]
    with store.blobs.open(top) as raw:
        top_size = len(gzip.decompress(raw.read()))
    assert committed.layer_sizes == (*unpacked, top_size)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour=red", "invalid image filter 'colour=red'"),
        ("dangling=maybe", "dangling takes true or false"),
        ("label", "use KEY=VALUE"),
    ],
)
def test_bad_filters(text: str, message: str) -> None:
    from boxwright.errors import UsageError

    with pytest.raises(UsageError, match=message):
        ImageFilter.parse(text)
