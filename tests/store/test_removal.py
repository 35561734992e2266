"""podman's rmi -f / rmi -a / image prune on the store, and what the records keep for them."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pytest

from boxwright.errors import StoreError
from boxwright.store import Store
from boxwright.store.filters import ImageFilter, select_images
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


def test_records_keep_unpacked_layer_sizes(
    store: Store, make_image: Callable[..., MadeImage]
) -> None:
    image = make_image("a", layers=3)
    record = pull_into(store, image.ref, name="a:1")
    blobs = Path(image.layout, "blobs", "sha256")
    unpacked = tuple(
        len(gzip.decompress((blobs / d[7:]).read_bytes())) for d in image.layer_digests
    )
    assert record.layer_sizes == unpacked
    manifest = (blobs / image.manifest_digest[7:]).stat().st_size
    config = (blobs / image.config_digest[7:]).stat().st_size
    assert store.images.podman_size(record) == sum(unpacked) + config + 2 * manifest
    old = record.to_json()
    del old["layer_sizes"]  # a record written before the store kept them: measured on demand
    assert store.images.layer_sizes(type(record).from_json(old)) == unpacked


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
