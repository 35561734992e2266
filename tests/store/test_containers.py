"""Working containers: records, buildah's naming, lookup, updates without lost writes, files.

Every container is made from the buildah-built test image (``peer_images``), imported into a
fresh store, or from scratch; the files are reached through ``with_rootfs`` and ``mount``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from container_helpers import PEER_NAME

from boxwright.errors import ContainerNotFoundError, ImageNotFoundError, StoreError, UsageError
from boxwright.layer.ownership import OwnershipRecord
from boxwright.store.containers import ContainerRecord, driver_of, short_image_name
from boxwright.store.images import ImageRecord
from boxwright.store.store import Store
from boxwright_testing.store_images import run_in_processes

pytestmark = pytest.mark.peers


def test_short_image_name_follows_buildah() -> None:
    assert short_image_name("docker.io/library/busybox:1") == "busybox"
    assert short_image_name("localhost:5000/team/app@sha256:" + "a" * 64) == "app"
    assert short_image_name("localhost/boxwright-test:latest") == "boxwright-test"
    assert short_image_name("app") == "app"
    assert short_image_name("dir:/tmp/img") == "dir"  # an unnamed image of a reference
    assert short_image_name("docker-archive:/x.tar") == "docker-archive"
    assert short_image_name("sha256:" + "ab" * 32) == "ab" * 6


def test_names_are_buildahs_and_unique(store: Store, base: ImageRecord) -> None:
    first = store.containers.create(PEER_NAME)
    second = store.containers.create("boxwright-test")
    third = store.containers.create(base.id[:12])
    scratch = store.containers.create(None)
    scratch2 = store.containers.create("scratch")
    assert [first.name, second.name, third.name] == [
        "boxwright-test-working-container",
        "boxwright-test-working-container-1",
        "boxwright-test-working-container-2",
    ]
    assert (scratch.name, scratch2.name) == ("working-container", "working-container-1")
    assert first.image_id == base.id and first.image_name == PEER_NAME
    assert third.image_name == PEER_NAME  # asked by ID, remembered by name
    assert scratch.image_id is None and scratch.layer_chain == ()
    assert len(first.id) == 64 and all(c in "0123456789abcdef" for c in first.id)
    assert first.layer_chain == tuple(str(s.chain_id) for s in store.snapshots.ensure(base))
    assert first.manifest_format == "oci" and first.history == () and not first.mounted
    assert first.config["config"]["Env"] == list(base_env(store, base))
    assert scratch.config["rootfs"] == {"type": "layers", "diff_ids": []}
    assert [c.name for c in store.containers.list()] == [
        first.name,
        second.name,
        third.name,
        scratch.name,
        scratch2.name,
    ]


def base_env(store: Store, base: ImageRecord) -> tuple[str, ...]:
    return store.images.config(base).config.env


def test_explicit_name_clash_and_bad_names(store: Store, base: ImageRecord) -> None:
    store.containers.create(PEER_NAME, name="builder")
    with pytest.raises(StoreError, match='"builder" is already in use'):
        store.containers.create(PEER_NAME, name="builder")
    for bad in ("a/b", "", ".", "..", "-x", "_x", "a b", "a\x1b[2J", "a\nb", "caf\u00e9", "a:b"):
        with pytest.raises(UsageError, match="invalid container name"):
            store.containers.create(PEER_NAME, name=bad)
    assert [c.name for c in store.containers.list()] == ["builder"]
    assert sorted(os.listdir(store.layout.containers_dir)) == [store.containers.get("builder").id]


def test_lookup_by_name_id_and_prefix(store: Store, base: ImageRecord) -> None:
    record = store.containers.create(PEER_NAME)
    assert store.containers.get(record.name) == record
    assert store.containers.get(record.id) == record
    assert store.containers.get(record.id[:6]) == record
    with pytest.raises(ContainerNotFoundError, match="no working container named 'nope'"):
        store.containers.get("nope")


def test_container_record_finds_what_get_finds(store: Store, base: ImageRecord) -> None:
    record = store.containers.create(PEER_NAME)
    other = store.containers.create(PEER_NAME, name="other")
    fresh = Store(store.root)  # a new process's store: no container store made yet
    found = [fresh.container_record(key) for key in (record.name, record.id, record.id[:6])]
    assert found == [record, record, record]
    assert fresh.container_record("other") == other
    with pytest.raises(ContainerNotFoundError) as caught:
        fresh.container_record("nope")
    assert str(caught.value) == (
        "no working container named 'nope' (nor with that ID): see `boxwright container ls`"
    )


def test_missing_image_is_a_clear_error(store: Store) -> None:
    with pytest.raises(ImageNotFoundError, match="pull it first"):
        store.containers.create("localhost/absent:1")
    assert store.containers.list() == []


def test_update_and_unknown_fields(store: Store, base: ImageRecord) -> None:
    record = store.containers.create(PEER_NAME)
    config = dict(record.config, author="me")
    notes = ({"created_by": "COPY a /a", "empty_layer": True},)
    new = store.containers.update(record.name, config=config, history=notes, name="renamed")
    assert new == store.containers.get("renamed")
    assert (new.name, new.config["author"], new.history) == ("renamed", "me", notes)
    with pytest.raises(UsageError, match="cannot update container field"):
        store.containers.update("renamed", driver="copy")
    with pytest.raises(UsageError, match="unknown image format 'v2s1': expected one of oci, "):
        store.containers.update("renamed", manifest_format="v2s1")
    assert store.containers.update("renamed", manifest_format="v2s2").manifest_format == "docker"


def test_create_with_a_config_writes_it_with_the_record(store: Store, base: ImageRecord) -> None:
    plain = store.containers.create(PEER_NAME)
    config = dict(plain.config, author="stage")
    made = store.containers.create(PEER_NAME, config=config)
    assert made.config == config and made.config != plain.config
    assert store.containers.get(made.id).config == config
    assert store.containers.get(plain.id).config == plain.config


def _label_many(root: str, name: str, count: int) -> None:
    store = Store(root)
    for i in range(count):
        current = store.containers.get(name)
        labels = dict(current.config.get("config", {}).get("Labels") or {}, step=str(i))
        config = dict(current.config, config=dict(current.config["config"], Labels=labels))
        store.containers.update(name, config=config)


def test_parallel_updates_of_different_containers_lose_nothing(
    store: Store, base: ImageRecord
) -> None:
    names = [store.containers.create(PEER_NAME).name for _ in range(4)]
    run_in_processes(_label_many, [(str(store.root), n, 15) for n in names])
    for name in names:
        assert store.containers.get(name).config["config"]["Labels"]["step"] == "14"


def test_parallel_creates_lose_no_record(store: Store, base: ImageRecord) -> None:
    run_in_processes(_create_some, [(str(store.root), 3)] * 4)
    records = store.containers.list()
    names = sorted(r.name for r in records)
    expected = ["boxwright-test-working-container"] + [
        f"boxwright-test-working-container-{i}" for i in range(1, 12)
    ]
    assert names == sorted(expected)
    assert sorted(os.listdir(store.layout.containers_dir)) == sorted(r.id for r in records)


def _create_some(root: str, count: int) -> None:
    store = Store(root)
    for _ in range(count):
        store.containers.create(PEER_NAME)


def test_with_rootfs_reads_and_writes_the_files(store: Store, base: ImageRecord) -> None:
    record = store.containers.create(PEER_NAME)

    def edit(root: Path, ownership: OwnershipRecord) -> list[str]:
        (root / "data" / "new.txt").write_text("new\n")
        (root / "data" / "c.txt").unlink()
        return sorted(os.listdir(root / "data"))

    assert store.containers.with_rootfs(record.name, edit) == [
        "a.txt",
        "dir",
        "hard",
        "new.txt",
    ]
    seen = store.containers.with_rootfs(
        record.name, lambda root, _o: (root / "data" / "new.txt").read_text()
    )
    assert seen == "new\n"
    other = store.containers.create(PEER_NAME)
    assert not store.containers.with_rootfs(
        other.name, lambda root, _o: (root / "data" / "new.txt").exists()
    )


def test_remove_deletes_files_and_record(store: Store, base: ImageRecord) -> None:
    keep = store.containers.create(PEER_NAME)
    gone = store.containers.create(PEER_NAME)
    store.containers.remove(gone.name)
    assert [c.id for c in store.containers.list()] == [keep.id]
    assert not store.layout.container_dir(gone.id).exists()
    with pytest.raises(ContainerNotFoundError):
        store.containers.remove(gone.name)
    doc = json.loads(store.layout.containers_file.read_text())
    assert (doc["format"], doc["version"]) == ("boxwright-containers", 1)
    assert ContainerRecord.from_json(doc["containers"][0]) == keep


@pytest.mark.skipif(os.geteuid() != 0, reason="a mount the caller sees needs root")
def test_mount_and_umount(store: Store, base: ImageRecord) -> None:
    record = store.containers.create(PEER_NAME)
    path = store.containers.mount(record.name)
    assert (path / "etc" / "motd").read_text() == "welcome\n"
    (path / "etc" / "mounted").write_text("yes\n")
    assert store.containers.get(record.name).mounted
    store.containers.umount(record.name)
    assert not store.containers.get(record.name).mounted
    seen = store.containers.with_rootfs(
        record.name, lambda root, _o: (root / "etc" / "mounted").read_text()
    )
    assert seen == "yes\n"
    store.containers.remove(record.name)
    assert store.containers.list() == []


def test_a_transport_reference_is_pulled_first(store: Store, peer_images: Any) -> None:
    record = store.containers.create(f"oci:{peer_images.oci}:{peer_images.tag}")
    (image,) = store.images.list()
    assert record.image_id == image.id
    assert record.image_name == image.names[0]
    assert record.name == f"{short_image_name(image.names[0])}-working-container"
    assert record.layer_chain == tuple(str(s.chain_id) for s in store.snapshots.ensure(image))
    seen = store.containers.with_rootfs(
        record.name, lambda root, _o: (root / "etc" / "motd").read_text()
    )
    assert seen == "welcome\n"


def test_docker_base_keeps_the_docker_format(store: Store, peer_images: Any) -> None:
    archive = f"docker-archive:{peer_images.docker_archive}:{peer_images.docker_name}"
    record = store.containers.create(archive)
    assert record.manifest_format == "docker"
    assert record.image_name == "localhost/boxwright-test:latest"
    assert record.name == "boxwright-test-working-container"
    image = store.containers.commit(record.name, "localhost/from-docker:1")
    assert image.manifest_media_type == "application/vnd.docker.distribution.manifest.v2+json"


def _fsynced(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths fsynced from now on (os.fsync still runs)."""
    paths: list[str] = []
    real = os.fsync

    def spy(fd: int) -> None:
        paths.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    return paths


def test_a_new_containers_record_is_durable_and_its_driver_file_needs_no_fsync(
    store: Store, base: ImageRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.containers.create(PEER_NAME)  # the snapshots and the driver probe made first
    synced = _fsynced(monkeypatch)
    record = store.containers.create(PEER_NAME)
    cdir = store.layout.container_dir(record.id)
    root = str(store.root)
    assert (cdir / "driver").read_text() == f"{record.driver}\n"
    # containers.json's temporary file, then the store's directory holding the rename
    assert [p if p == root else os.path.dirname(p) for p in synced] == [root, root]
    assert all(not p.startswith(str(cdir)) for p in synced)


@pytest.mark.parametrize("content", ["", "\0\0\0\0", "overlay-but-garbled\n"])
def test_a_driver_file_a_power_failure_emptied_gives_the_records_driver(
    store: Store, base: ImageRecord, content: str
) -> None:
    record = store.containers.create(PEER_NAME)
    cdir = store.layout.container_dir(record.id)
    (cdir / "driver").write_text(content)
    assert driver_of(cdir, record.driver) == record.driver
    assert driver_of(cdir, "copy") == "copy"
    (cdir / "driver").write_text("copy\n")  # a driver the file names wins
    assert driver_of(cdir, "overlay") == "copy"


def test_a_container_made_in_place_of_another_replaces_its_record_in_one_write(
    store: Store, base: ImageRecord, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = store.containers.create(PEER_NAME)
    kept = store.containers.create(None, name="kept")
    old_dir = store.layout.container_dir(old.id)
    writes: list[list[str]] = []
    real = os.replace

    def spy(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if os.fspath(dst) == os.fspath(store.layout.containers_file):
            doc = json.loads(Path(src).read_bytes())
            writes.append([c["id"] for c in doc["containers"]])
        real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    new = store.containers.create(PEER_NAME, replacing=old.name)
    assert writes == [[kept.id, new.id]]
    assert not old_dir.exists()
    assert new.name == old.name  # the name was free again
    assert [c.id for c in store.containers.list()] == [kept.id, new.id]
    with pytest.raises(ContainerNotFoundError):
        store.containers.create(PEER_NAME, replacing=old.id)
