"""Commit: a step-by-step build from a buildah-made base, read back by skopeo and umoci;
history like buildah's; formats; squash; reproducible layers across root, rootless and both
drivers; parallel commits; a commit killed with SIGKILL."""

from __future__ import annotations

import functools
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from container_helpers import PEER_NAME, config_of, import_oci, layer_members, manifest_of

from boxwright.errors import UsageError
from boxwright.layer.ownership import OwnershipEntry, OwnershipRecord
from boxwright.oci import mediatype as mt
from boxwright.store.images import ImageRecord
from boxwright.store.store import Store
from boxwright_testing.store_images import run_in_processes
from boxwright_testing.users import User, as_user, chown_tree, owned_dir

pytestmark = pytest.mark.peers

STAMP = 1_700_000_000
CREATED = "2023-11-14T22:13:20Z"
SKOPEO = shutil.which("skopeo")
UMOCI = shutil.which("umoci")


def _step(root: Path, ownership: OwnershipRecord, *, rootless: bool = False) -> None:
    """What a build step does: add files (one owned by 1000:1000), change one, delete one.

    ``rootless``: the owner the user cannot give goes into the side record instead.
    """
    (root / "app").mkdir(mode=0o755)
    (root / "app" / "hello.txt").write_text("hello\n")
    (root / "app" / "owned").write_text("alice's\n")
    if rootless:
        ownership.set("app/owned", OwnershipEntry(1000, 1000))
    else:
        os.chown(root / "app" / "owned", 1000, 1000)
    (root / "etc" / "motd").write_text("built step by step\n")
    (root / "data" / "c.txt").unlink()
    for path in (root / "app", root / "app" / "hello.txt", root / "app" / "owned"):
        os.utime(path, (STAMP + 50, STAMP + 50))


def _build(store: Store, name: str, driver: str | None = None, **commit: Any) -> ImageRecord:
    record = store.containers.create(PEER_NAME, driver=driver)
    rootless = os.geteuid() != 0
    store.containers.with_rootfs(record.name, functools.partial(_step, rootless=rootless))
    config = json.loads(json.dumps(record.config))
    config["config"]["Cmd"] = ["cat", "/app/hello.txt"]
    config["config"]["Env"].append("STEP=1")
    store.containers.update(
        record.name,
        config=config,
        history=({"created_by": "/bin/sh -c #(nop) COPY file:x in /app", "empty_layer": True},),
    )
    return store.containers.commit(record.name, name, timestamp=STAMP, **commit)


def test_step_by_step_build_is_read_by_skopeo_and_umoci(
    store: Store, base: ImageRecord, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = _build(store, "localhost/built:1", created_by="COPY app /app")
    assert image.names == ("localhost/built:1",)
    assert image.layers[:3] == base.layers and len(image.layers) == 4
    config = config_of(store, image)
    assert config["created"] == CREATED
    assert config["config"]["Cmd"] == ["cat", "/app/hello.txt"]
    assert config["rootfs"]["diff_ids"][:3] == [str(d) for d in base.diff_ids]
    assert config["history"][-2:] == [
        {
            "created": CREATED,
            "created_by": "/bin/sh -c #(nop) COPY file:x in /app",
            "empty_layer": True,
        },
        {"created": CREATED, "created_by": "COPY app /app", "comment": f"FROM {PEER_NAME}"},
    ]
    members = layer_members(store, image.layers[3])
    assert members["app/hello.txt"] == ("0", 0o644, 0, 0, b"hello\n")
    assert members["app/owned"][2:4] == (1000, 1000)
    assert members["etc/motd"][4] == b"built step by step\n"
    assert "data/.wh.c.txt" in members
    assert "bin/busybox" not in members

    if SKOPEO is None or UMOCI is None:
        pytest.skip("skopeo or umoci is not installed")
    from boxwright.copy import copy_image

    monkeypatch.setenv("BOXWRIGHT_ROOT", str(store.root))
    layout = tmp_path / "out"
    copy_image("store:localhost/built:1", f"oci:{layout}:built")
    seen = json.loads(
        subprocess.run(
            [SKOPEO, "inspect", f"oci:{layout}:built"], capture_output=True, check=True, text=True
        ).stdout
    )
    assert seen["Layers"] == [str(d) for d in image.layers]
    assert "STEP=1" in seen["Env"] and seen["Created"] == CREATED
    bundle = tmp_path / "bundle"
    subprocess.run(
        [UMOCI, "--log", "error", "unpack", "--image", f"{layout}:built", str(bundle)],
        capture_output=True,
        check=True,
    )
    rootfs = bundle / "rootfs"
    assert (rootfs / "app" / "hello.txt").read_text() == "hello\n"
    assert (rootfs / "etc" / "motd").read_text() == "built step by step\n"
    assert os.stat(rootfs / "app" / "owned").st_uid == 1000
    assert not (rootfs / "data" / "c.txt").exists() and not (rootfs / "data" / "b.txt").exists()
    assert (rootfs / "data" / "a.txt").read_text() == "changed\n"
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["args"] == ["/bin/sh", "-c", "cat", "/app/hello.txt"]


def test_nothing_changed_gives_an_empty_layer_entry(store: Store, base: ImageRecord) -> None:
    record = store.containers.create(PEER_NAME)
    image = store.containers.commit(record.name, "localhost/same:1", timestamp=STAMP)
    assert image.layers == base.layers and image.diff_ids == base.diff_ids
    assert config_of(store, image)["history"][-1] == {
        "created": CREATED,
        "created_by": "/bin/sh",
        "comment": f"FROM {PEER_NAME}",
        "empty_layer": True,
    }


def test_a_second_commit_holds_every_change_again(store: Store, base: ImageRecord) -> None:
    record = store.containers.create(PEER_NAME)
    store.containers.with_rootfs(record.name, lambda r, _o: (r / "one").write_text("1\n"))
    first = store.containers.commit(record.name, "localhost/c:1", timestamp=STAMP)
    store.containers.with_rootfs(record.name, lambda r, _o: (r / "two").write_text("2\n"))
    second = store.containers.commit(record.name, "localhost/c:2", timestamp=STAMP)
    assert sorted(layer_members(store, first.layers[-1])) == ["one"]
    assert sorted(layer_members(store, second.layers[-1])) == ["one", "two"]
    assert len(second.layers) == len(base.layers) + 1


def test_docker_format_converts_media_types(store: Store, base: ImageRecord) -> None:
    record = store.containers.create(PEER_NAME)
    store.containers.with_rootfs(record.name, lambda r, _o: (r / "x").write_text("x\n"))
    image = store.containers.commit(record.name, "localhost/d:1", format="docker")
    manifest = manifest_of(store, image)
    assert image.manifest_media_type == mt.DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == mt.DOCKER_CONFIG
    assert {layer["mediaType"] for layer in manifest["layers"]} == {mt.DOCKER_LAYER_GZIP}
    with pytest.raises(UsageError, match="no zstd layers"):
        store.containers.commit(record.name, "localhost/d:2", format="docker", compression="zstd")
    oci = store.containers.commit(
        record.name, "localhost/d:3", compression="zstd", annotations={"k": "v"}
    )
    oci_manifest = manifest_of(store, oci)
    assert oci_manifest["annotations"] == {"k": "v"}
    assert oci_manifest["layers"][-1]["mediaType"] == mt.OCI_LAYER_ZSTD
    assert {layer["mediaType"] for layer in oci_manifest["layers"][:-1]} == {mt.OCI_LAYER_GZIP}


@pytest.mark.parametrize("fmt", ["docker", "v2s2"])
def test_both_docker_format_names_write_docker_schema_2(
    store: Store, base: ImageRecord, fmt: str
) -> None:
    record = store.containers.create(PEER_NAME)
    image = store.containers.commit(record.name, f"localhost/n:{fmt}", format=fmt)
    assert image.manifest_media_type == mt.DOCKER_MANIFEST
    assert manifest_of(store, image)["config"]["mediaType"] == mt.DOCKER_CONFIG


def test_an_unknown_format_names_every_known_one(store: Store, base: ImageRecord) -> None:
    record = store.containers.create(PEER_NAME)
    expected = "unknown image format 'v2s1': expected one of oci, docker, v2s2"
    with pytest.raises(UsageError) as raised:
        store.containers.commit(record.name, "localhost/n:x", format="v2s1")
    assert str(raised.value) == expected


def test_squash_writes_one_layer_of_the_whole_tree(store: Store, base: ImageRecord) -> None:
    image = _build(store, "localhost/squashed:1", squash=True)
    assert len(image.layers) == 1
    config = config_of(store, image)
    assert config["history"] == [
        {"created": CREATED, "created_by": "/bin/sh", "comment": f"FROM {PEER_NAME}"}
    ]
    members = layer_members(store, image.layers[0])
    assert members["bin/busybox"][0] == "0"
    assert members["data/a.txt"][4] == b"changed\n"
    assert members["app/owned"][2:4] == (1000, 1000)
    assert members["usr/bin/suid"][1] == 0o4755
    assert "data/c.txt" not in members and "data/b.txt" not in members
    assert not any(".wh." in name for name in members)


def test_scratch_commit(store: Store) -> None:
    record = store.containers.create(None)
    store.containers.with_rootfs(record.name, lambda r, _o: (r / "only").write_text("1\n"))
    image = store.containers.commit(record.name, "localhost/scratch:1", timestamp=STAMP)
    config = config_of(store, image)
    assert config["history"] == [{"created": CREATED, "created_by": "/bin/sh"}]
    assert sorted(layer_members(store, image.layers[0])) == ["only"]


def test_both_drivers_give_the_same_layer(store: Store, base: ImageRecord) -> None:
    overlay = _build(store, "localhost/o:1", driver="overlay")
    copy = _build(store, "localhost/c:1", driver="copy")
    assert overlay.layers == copy.layers
    assert overlay.id == copy.id


def test_root_and_rootless_builds_give_the_same_layers(
    store: Store, base: ImageRecord, peer_images: Any, unprivileged_user: User
) -> None:
    import boxwright.store.rootfs
    import boxwright.store.userns  # noqa: F401

    as_root = _build(store, "localhost/root:1")
    root_squash = store.containers.commit(
        store.containers.list()[0].name, "localhost/root-sq:1", squash=True, timestamp=STAMP
    )

    def rootless_builds(home: Path) -> dict[str, tuple[str, ...]]:
        user_store = Store(home / "store")
        import_oci(user_store, home / "layout", peer_images.tag, [PEER_NAME])
        auto = _build(user_store, "localhost/rootless:1")
        first = user_store.containers.list()[0]
        squashed = user_store.containers.commit(
            first.name, "localhost/rootless-sq:1", squash=True, timestamp=STAMP
        )
        copy = _build(user_store, "localhost/rootless-copy:1", driver="copy")
        return {
            first.driver: tuple(str(d) for d in auto.layers),
            "copy": tuple(str(d) for d in copy.layers),
            "squash": tuple(str(d) for d in squashed.layers),
        }

    with owned_dir(unprivileged_user, "bw-commit-") as home:
        shutil.copytree(peer_images.oci, home / "layout")
        chown_tree(home, unprivileged_user)
        layers = as_user(unprivileged_user, rootless_builds, home)
    expected = tuple(str(d) for d in as_root.layers)
    assert layers.pop("squash") == tuple(str(d) for d in root_squash.layers)
    assert set(layers) <= {"overlay", "copy"}
    assert set(layers.values()) == {expected}


def _commit_some(root: str, index: int) -> None:
    store = Store(root)
    for i in range(2):
        record = store.containers.create(PEER_NAME)
        text = f"{index}-{i}\n"
        store.containers.with_rootfs(record.name, lambda r, _o, t=text: (r / "who").write_text(t))
        store.containers.commit(record.name, f"localhost/par{index}:{i}", timestamp=STAMP)
        store.images.tag(f"localhost/par{index}:{i}", f"localhost/tagged{index}:{i}")


def test_parallel_commits_and_tags_lose_nothing(store: Store, base: ImageRecord) -> None:
    run_in_processes(_commit_some, [(str(store.root), n) for n in range(4)], timeout=120)
    names = {n for image in store.images.list() for n in image.names}
    for n in range(4):
        for i in range(2):
            assert {f"localhost/par{n}:{i}", f"localhost/tagged{n}:{i}"} <= names
            image = store.images.get(f"localhost/par{n}:{i}")
            assert layer_members(store, image.layers[-1])["who"][4] == f"{n}-{i}\n".encode()
    assert len(store.containers.list()) == 8


def _slow_commit(root: str) -> None:
    store = Store(root)
    record = store.containers.get("big")
    store.containers.commit(record.name, "localhost/never:1", compression="gzip")


def test_a_killed_commit_loses_no_earlier_image_and_prune_cleans_up(
    store: Store, base: ImageRecord
) -> None:
    from boxwright.store.gc import prune

    earlier = _build(store, "localhost/earlier:1")
    record = store.containers.create(PEER_NAME, name="big")

    def fill(root: Path, _o: OwnershipRecord) -> None:
        chunk = os.urandom(1 << 20)
        for i in range(160):
            (root / f"big{i}").write_bytes(chunk[i:] + chunk[:i])

    store.containers.with_rootfs(record.name, fill)
    before = set(store.blobs.iter_digests())
    ctx = multiprocessing.get_context("fork")
    child = ctx.Process(target=_slow_commit, args=(str(store.root),))
    child.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        staged = [p for p in store.layout.tmp_dir.glob("commit-*/layer") if p.stat().st_size]
        if staged:
            break
        time.sleep(0.005)
    assert staged, "the commit never started writing its layer"
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    assert child.exitcode == -signal.SIGKILL

    reopened = Store(store.root)
    assert {i.id for i in reopened.images.list()} == {base.id, earlier.id}
    assert reopened.images.get("localhost/earlier:1") == earlier
    assert any(reopened.layout.tmp_dir.iterdir())
    result = prune(reopened)
    assert result.tmp >= 1
    assert list(reopened.layout.tmp_dir.iterdir()) == []
    assert set(reopened.blobs.iter_digests()) <= before
    assert {i.id for i in reopened.images.list()} == {base.id, earlier.id}
    # the container survives and commits fine afterwards
    done = reopened.containers.commit("big", "localhost/after:1", compression="none")
    assert len(done.layers) == len(base.layers) + 1
