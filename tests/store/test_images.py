"""Image records: names as podman normalizes them, lookup order, tag/untag/rmi, the file."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from boxwright.errors import (
    AmbiguousImageError,
    BlobNotFoundError,
    ImageNotFoundError,
    InvalidReferenceError,
    ManifestError,
    StoreError,
)
from boxwright.oci import mediatype as mt
from boxwright.oci.digest import Digest
from boxwright.store import ImageRecord, Store, normalize_name, pull
from boxwright_testing.store_images import MadeImage


@pytest.mark.parametrize(
    ("name", "normal"),
    [
        ("app", "localhost/app:latest"),
        ("app:1", "localhost/app:1"),
        ("myns/app:1", "localhost/myns/app:1"),
        ("localhost/app", "localhost/app:latest"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("quay.io/team/app:2", "quay.io/team/app:2"),
        ("docker.io/busybox", "docker.io/library/busybox:latest"),
        ("index.docker.io/busybox:1", "docker.io/library/busybox:1"),
        ("docker.io/me/app", "docker.io/me/app:latest"),
        ("app@sha256:" + "a" * 64, "localhost/app@sha256:" + "a" * 64),
        ("app:1@sha256:" + "a" * 64, "localhost/app:1@sha256:" + "a" * 64),
    ],
)
def test_normalize_name_as_podman(name: str, normal: str) -> None:
    assert normalize_name(name) == normal


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "must not be empty"),
        ("App", "must be lowercase"),
        ("a" * 64, "64 hexadecimal digits are an image ID"),
        ("app:", "invalid reference format"),
    ],
)
def test_bad_names(name: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError, match=message):
        normalize_name(name)


@pytest.fixture
def image(store: Store, make_image: Callable[..., MadeImage]) -> tuple[ImageRecord, MadeImage]:
    made = make_image("one")
    return pull(made.ref, store=store, name="app:1"), made


def test_add_records_what_the_manifest_says(
    store: Store, image: tuple[ImageRecord, MadeImage]
) -> None:
    record, made = image
    assert record.id == made.id
    assert str(record.manifest) == made.manifest_digest
    assert str(record.config) == made.config_digest
    assert record.manifest_media_type == mt.OCI_MANIFEST
    assert record.names == ("localhost/app:1",)
    assert record.created == "2024-01-02T03:04:05Z"
    assert record.size == made.size
    assert tuple(map(str, record.layers)) == made.layer_digests
    assert tuple(map(str, record.diff_ids)) == made.diff_ids
    assert store.images.list() == [record]
    assert Digest.from_bytes(store.images.manifest(record)) == record.manifest
    assert store.images.config(record).diff_ids == record.diff_ids
    doc = json.loads(store.layout.images_file.read_text())
    assert doc["format"] == "boxwright-images" and doc["version"] == 1
    assert ImageRecord.from_json(doc["images"][0]) == record


def test_lookup_order(store: Store, make_image: Callable[..., MadeImage]) -> None:
    a = pull(make_image("a").ref, store=store, name="docker.io/library/busybox:latest")
    b = pull(make_image("b").ref, store=store, name="quay.io/team/app:1")
    assert store.images.get("docker.io/library/busybox") == a  # exact normalized name
    assert store.images.get("busybox") == a  # short name: library/ + path, any host
    assert store.images.resolve("busybox") == (a, "docker.io/library/busybox:latest")
    assert store.images.get("team/app:1") == b
    assert store.images.get(b.id) == b  # full ID
    assert store.images.get("sha256:" + b.id) == b
    assert store.images.resolve(b.id[:5]) == (b, None)  # unique prefix
    assert store.images.get(f"quay.io/team/app@{b.manifest}") == b  # repo@digest
    assert store.images.get(f"team/app@{b.manifest}") == b
    with pytest.raises(ImageNotFoundError, match=r"no image 'team/app:2' .*tried the name"):
        store.images.get("team/app:2")
    with pytest.raises(ImageNotFoundError):
        store.images.get(b.id[:2])  # too short to be an ID prefix
    with pytest.raises(ImageNotFoundError):
        store.images.get("quay.io/busybox")  # a qualified name never short-name matches


def test_exact_name_beats_id_prefix_and_ambiguity_is_reported(
    store: Store, make_image: Callable[..., MadeImage]
) -> None:
    a = pull(make_image("a").ref, store=store, name="quay.io/x/app:1")
    b = pull(make_image("b").ref, store=store, name="ghcr.io/x/app:1")
    with pytest.raises(AmbiguousImageError, match="x/app:1 matches several images"):
        store.images.get("x/app:1")
    store.images.tag(a.id, "localhost/x/app:1")
    assert store.images.get("x/app:1").id == a.id  # the exact localhost/ name wins
    assert b.id != a.id
    named = pull(make_image("c").ref, store=store, name=a.id[:3])
    assert store.images.get(a.id[:3]) == named  # localhost/<prefix>:latest is an exact name


def test_ambiguous_id_prefix_lists_the_candidates() -> None:
    from boxwright.store.images import _resolve

    def record(ident: str, name: str) -> ImageRecord:
        d = Digest("sha256", ident)
        return ImageRecord(ident, d, mt.OCI_MANIFEST, d, (name,), None, 0, (), (), "now")

    one, two = record("abc1" + "0" * 60, "localhost/one:1"), record("abc2" + "0" * 60, "x/y:1")
    with pytest.raises(
        AmbiguousImageError,
        match=r"^the ID prefix abc matches several images: abc100000000 \(localhost/one:1\), "
        r"abc200000000 \(x/y:1\); name one exactly$",
    ):
        _resolve([one, two], "abc", "R")
    assert _resolve([one, two], "abc2", "R") == (two, None)


def test_tag_moves_names_and_untag_keeps_the_image(
    store: Store, make_image: Callable[..., MadeImage]
) -> None:
    a = pull(make_image("a").ref, store=store, name="app:1")
    b = pull(make_image("b").ref, store=store, name="app:2")
    store.images.tag("app:1", "app:latest", "quay.io/x/app:1")
    assert store.images.get(a.id).names == (
        "localhost/app:1",
        "localhost/app:latest",
        "quay.io/x/app:1",
    )
    store.images.tag(b.id, "app:1")  # the name moves to b
    assert store.images.get(a.id).names == ("localhost/app:latest", "quay.io/x/app:1")
    assert store.images.get(b.id).names == ("localhost/app:2", "localhost/app:1")
    store.images.untag(a.id, "app:latest")
    store.images.untag(a.id, "quay.io/x/app:1")
    left = store.images.get(a.id)
    assert left.names == ()  # an image without names stays, as <none>
    with pytest.raises(ImageNotFoundError, match="is not tagged localhost/app:9"):
        store.images.untag(b.id, "app:9")
    with pytest.raises(InvalidReferenceError, match="cannot tag with a digest"):
        store.images.tag(b.id, f"app@{b.manifest}")
    with pytest.raises(InvalidReferenceError, match="at least one new name"):
        store.images.tag(b.id)


def test_a_tag_already_in_place_rewrites_nothing(
    store: Store, make_image: Callable[..., MadeImage]
) -> None:
    """A rebuild tags its unchanged image with the name it has: images.json stays the very
    same file (no write, no fsync); a name that moves is written as before."""
    a = pull(make_image("a").ref, store=store, name="app:1")
    b = pull(make_image("b").ref, store=store, name="app:2")
    before = store.layout.images_file.stat()
    assert store.images.tag(a.id, "app:1").names == ("localhost/app:1",)
    after = store.layout.images_file.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    store.images.tag(b.id, "app:1")
    assert store.layout.images_file.stat().st_ino != before.st_ino
    assert store.images.get(a.id).names == ()
    assert store.images.get(b.id).names == ("localhost/app:2", "localhost/app:1")


def test_records_are_parsed_again_when_another_writer_replaced_the_file(
    store: Store, make_image: Callable[..., MadeImage]
) -> None:
    """The parsed records are kept with the bytes they came from: a change made through
    another Store of the same root (another process) is seen at the next lookup."""
    a = pull(make_image("a").ref, store=store, name="app:1")
    assert store.images.get("app:1").id == a.id
    Store(store.root).images.tag(a.id, "app:other")
    assert store.images.get(a.id).names == ("localhost/app:1", "localhost/app:other")
    store.layout.images_file.write_text("{not json")
    with pytest.raises(StoreError, match=r"images.json is damaged"):
        store.images.list()


def test_adding_the_same_image_again_merges_names(
    store: Store, make_image: Callable[..., MadeImage]
) -> None:
    made = make_image("a")
    first = pull(made.ref, store=store, name="app:1")
    again = pull(made.ref, store=store, name="app:2")
    assert again.id == first.id
    assert again.names == ("localhost/app:1", "localhost/app:2")
    assert len(store.images.list()) == 1


def test_remove_as_podman_rmi(store: Store, make_image: Callable[..., MadeImage]) -> None:
    a = pull(make_image("a").ref, store=store, name="app:1")
    store.images.tag(a.id, "app:2")
    assert store.images.remove("app:1") == ["Untagged: localhost/app:1"]
    store.images.tag(a.id, "app:3")
    with pytest.raises(StoreError, match=r"has several names .*use --force"):
        store.images.remove(a.id)
    assert store.images.remove(a.id, force=True) == [
        "Untagged: localhost/app:2",
        "Untagged: localhost/app:3",
        f"Deleted: {a.id}",
    ]
    assert store.images.list() == []
    assert store.blobs.has(a.manifest)  # blobs stay until prune
    b = pull(make_image("b").ref, store=store, name="solo:1")
    assert store.images.remove("solo:1") == ["Untagged: localhost/solo:1", f"Deleted: {b.id}"]
    with pytest.raises(ImageNotFoundError):
        store.images.remove("solo:1")


def test_add_refuses_missing_blobs_and_indexes(store: Store) -> None:
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": mt.OCI_CONFIG,
                "digest": str(Digest.from_bytes(config)),
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    with pytest.raises(BlobNotFoundError, match=r"is not in the store .*store every blob"):
        store.images.add(manifest, mt.OCI_MANIFEST, ["x"])
    with pytest.raises(ManifestError, match="single-platform images"):
        store.images.add(b"{}", mt.OCI_INDEX, ["x"])
    store.blobs.put_bytes(config)
    record = store.images.add(manifest, mt.OCI_MANIFEST, ["x"])
    assert (record.size, record.layers, record.names) == (len(config), (), ("localhost/x:latest",))


def test_a_damaged_images_file_is_a_clear_error(store: Store) -> None:
    store.layout.images_file.write_text("{not json")
    with pytest.raises(StoreError, match=r"images.json is damaged"):
        store.images.list()
