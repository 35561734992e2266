"""The rootfs drivers on real snapshot stacks: the same operations give the same layer bytes on
the overlay and the copy driver, as root and as an unprivileged user; the overlay view equals
the copy; persistent mounts; the rootless mount turning a container into a copy one; the
driver choice and its cached probe."""

from __future__ import annotations

import io
import json
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxwright.errors import UsageError
from boxwright.layer.generate import GenerateOptions
from boxwright.store import Store
from boxwright.store.rootfs import (
    CopyDriver,
    OverlayDriver,
    RootfsDriver,
    choose_driver,
    driver_by_name,
)
from boxwright.store.snapshots import Snapshot
from boxwright_testing.rootfs import CLAMP, MTIME, build_snapshots, operations, tar_names
from boxwright_testing.users import User, as_user, owned_dir

EXPECTED = [
    "bin/tool",
    "etc",
    "etc/.wh.motd",
    "etc/hosts",
    "etc/link",
    "etc/owned",
    "etc/passwd",
    "new",
    "new/a-link",
    "new/a.txt",
    "new/hosts-link",
    "new/sub",
    "new/sub/b.txt",
    "new/sym",
    "opt",
    "opt/.wh.old",
    "srv",
    "var",
    "var/cache",
    "var/cache/.wh.one",
    "var/cache/.wh.two",
    "var/cache/three",
]

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting overlay as root needs root")


def _changes(driver: RootfsDriver, cdir: Path, snaps: list[Snapshot]) -> bytes:
    buffer = io.BytesIO()
    driver.write_changes(cdir, snaps, buffer, GenerateOptions(clamp_mtime=CLAMP))
    return buffer.getvalue()


def _build(work: Path, name: str) -> bytes:
    """Create a container of ``name``'s driver on fresh snapshots, run the script, diff."""
    snaps = build_snapshots(work / f"snaps-{name}")
    driver = driver_by_name(name)
    cdir = work / f"c-{name}"
    cdir.mkdir()
    driver.create(cdir, snaps, None)  # type: ignore[arg-type]  # the store is not needed
    driver.run(cdir, snaps, operations)
    first = _changes(driver, cdir, snaps)
    assert _changes(driver, cdir, snaps) == first  # deterministic, and commit does not reset
    return first


def _headers(data: bytes) -> dict[str, tuple[str, int, int, int]]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return {m.name: (m.type.decode(), m.mode, m.uid, m.gid) for m in tar}


@needs_root
def test_both_drivers_write_the_same_layer_bytes_as_root(tmp_path: Path) -> None:
    copy, overlay = _build(tmp_path, "copy"), _build(tmp_path, "overlay")
    assert tar_names(copy) == EXPECTED
    assert overlay == copy
    headers = _headers(copy)
    assert headers["new/a-link"][0] == "0"  # first in order: the file
    assert headers["new/a.txt"] == ("1", 0o644, 0, 0)  # its link
    assert headers["new/sub/b.txt"][2:] == (1000, 1000)  # owner from the side record
    assert headers["new/hosts-link"][0] == "1"  # linked to etc/hosts, copied up
    assert headers["etc/owned"][2:] == (1000, 1000)  # the lower file's recorded owner
    assert headers["bin/tool"][1] == 0o700
    assert headers["srv"][0] == "0"


@pytest.fixture
def user_dir(unprivileged_user: User) -> Iterator[Path]:
    with owned_dir(unprivileged_user, "bw-rootfs-") as path:
        yield path


@needs_root
def test_rootless_drivers_write_the_same_bytes_as_root(
    tmp_path: Path, unprivileged_user: User, user_dir: Path
) -> None:
    rootful = _build(tmp_path, "copy")
    copy = as_user(unprivileged_user, _build, user_dir, "copy")
    overlay = as_user(unprivileged_user, _build, user_dir, "overlay")
    assert tar_names(copy) == EXPECTED
    assert overlay == copy
    assert copy == rootful


def _tree(root: Path) -> dict[str, tuple[int, int, str]]:
    out: dict[str, tuple[int, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            st = os.lstat(full)
            if stat.S_ISREG(st.st_mode):
                payload = full.read_text()
            elif stat.S_ISLNK(st.st_mode):
                payload = os.readlink(full)
            else:
                payload = ""
            rel = full.relative_to(root).as_posix()
            out[rel] = (st.st_mode, st.st_mtime_ns if not stat.S_ISDIR(st.st_mode) else 0, payload)
    return out


@needs_root
def test_overlay_view_equals_the_copy_and_keeps_lower_metadata(tmp_path: Path) -> None:
    snaps = build_snapshots(tmp_path / "snaps")
    copy, overlay = CopyDriver(), OverlayDriver()
    (tmp_path / "c").mkdir()
    (tmp_path / "o").mkdir()
    copy.create(tmp_path / "c", snaps, None)  # type: ignore[arg-type]
    overlay.create(tmp_path / "o", snaps, None)  # type: ignore[arg-type]
    view = overlay.mount(tmp_path / "o", snaps)
    try:
        assert overlay.is_mounted(tmp_path / "o")
        assert _tree(view) == _tree(tmp_path / "c" / "rootfs")
        assert stat.S_IMODE(os.lstat(view / "tmp").st_mode) == 0o1777  # implicit parent
        assert os.lstat(view / "etc").st_mtime == MTIME
        assert sorted(os.listdir(view / "srv")) == ["fresh"]  # opaque in the second layer
        assert (view / "usr" / "again").read_text() == "shared\n"
        # the persistent mount is reused by run, and stays
        assert overlay.run(tmp_path / "o", snaps, lambda root, _: (root / "etc/issue").read_text())
        assert overlay.is_mounted(tmp_path / "o")
    finally:
        overlay.umount(tmp_path / "o")
    assert not overlay.is_mounted(tmp_path / "o")
    overlay.remove(tmp_path / "o")
    assert not (tmp_path / "o").exists()


def _mount_rootless(work: Path) -> tuple[str, str, bytes, bytes, bool]:
    snaps = build_snapshots(work / "snaps")
    cdir = work / "c"
    cdir.mkdir()
    overlay = OverlayDriver()
    overlay.create(cdir, snaps, None)  # type: ignore[arg-type]
    overlay.run(cdir, snaps, operations)
    before = _changes(overlay, cdir, snaps)
    path = overlay.mount(cdir, snaps)
    driver = (cdir / "driver").read_text().strip()
    after = _changes(driver_by_name(driver), cdir, snaps)
    return str(path.relative_to(cdir)), driver, before, after, (cdir / "upper").exists()


@needs_root
def test_rootless_mount_turns_the_container_into_a_copy_with_the_same_changes(
    unprivileged_user: User, user_dir: Path
) -> None:
    path, driver, before, after, upper = as_user(unprivileged_user, _mount_rootless, user_dir)
    assert (path, driver, upper) == ("rootfs", "copy", False)
    assert tar_names(before) == EXPECTED
    assert after == before


def test_scratch_containers_work_on_both_drivers(tmp_path: Path) -> None:
    names = ["copy"] + (["overlay"] if os.geteuid() == 0 else [])
    layers = []
    for name in names:
        driver = driver_by_name(name)
        cdir = tmp_path / name
        cdir.mkdir()
        driver.create(cdir, [], None)  # type: ignore[arg-type]
        driver.run(cdir, [], lambda root, _: (root / "hello").write_text("hi\n"))
        layers.append(_changes(driver, cdir, []))
    assert tar_names(layers[0]) == ["hello"]
    assert all(layer == layers[0] for layer in layers)


def test_driver_by_name_and_the_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert driver_by_name("copy").name == "copy"
    with pytest.raises(UsageError, match="unknown rootfs driver 'zfs'"):
        driver_by_name("zfs")
    store = Store(tmp_path / "store")
    monkeypatch.setenv("BOXWRIGHT_DRIVER", "copy")
    assert choose_driver(store).name == "copy"
    assert choose_driver(store, "overlay").name == "overlay"
    monkeypatch.delenv("BOXWRIGHT_DRIVER")
    chosen = choose_driver(store)
    probe = json.loads((store.root / "overlay-probe.json").read_text())
    assert probe["euid"] == os.geteuid()
    assert chosen.name == ("overlay" if probe["overlay"] else "copy")
    if os.geteuid() == 0:
        assert probe["overlay"] is True
    assert os.listdir(store.layout.tmp_dir) == []  # the probe cleaned up


def test_the_cached_probe_answer_is_used(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    doc = {"euid": os.geteuid(), "kernel": os.uname().release, "overlay": False}
    (store.root / "overlay-probe.json").write_text(json.dumps(doc))
    assert choose_driver(store).name == "copy"
