"""A hostile rootfs: symlinks at mount destinations never lead a mount or a stub onto the host.

The image's ``/mnt`` and ``/etc/hosts`` are absolute symlinks to a host directory holding a
sentinel, its ``/dev`` one to an empty host directory. Every mount destination is resolved
inside the rootfs, so the mounts and the stubs made for them land under
``rootfs/<that path>``, and the host directories are untouched.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from boxwright.runtime import Mount, RunOptions, run_in_rootfs
from boxwright.runtime.stubs import MountStubs
from boxwright_testing.runtime import image_config, in_child
from boxwright_testing.users import User, chown_tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")


def test_mount_destinations_behind_image_symlinks_stay_in_the_rootfs(
    rootfs: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host only\n")
    shared = tmp_path / "shared"
    shared.mkdir()
    host_dev = tmp_path / "host-dev"
    host_dev.mkdir()
    (rootfs / "dev").symlink_to(host_dev)
    (rootfs / "mnt").symlink_to(outside)
    (rootfs / "etc" / "hosts").symlink_to(outside / "secret")
    before = sorted(os.listdir(rootfs / "tmp"))
    script = "ls /dev > /tmp/dev; echo hi > /mnt/v/new; cat /etc/hosts > /tmp/hosts"
    options = RunOptions(
        args=("sh", "-c", script), volumes=(Mount(str(shared), "/mnt/v"),), hostname="h"
    )
    assert in_child(run_in_rootfs, rootfs, image_config(), options, "native") == 0
    # The host directories are as they were: no device, no volume stub, the sentinel unchanged.
    assert (os.listdir(host_dev), os.listdir(outside)) == ([], ["secret"])
    assert (outside / "secret").read_text() == "host only\n"
    # Inside, the links led to the mounts: /dev was a tmpfs with the devices, the volume was
    # the shared directory, /etc/hosts the generated file.
    devices = {"fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr"}
    devices |= {"stdin", "stdout", "tty", "urandom", "zero"}
    devices |= {"core"} if os.path.exists("/proc/kcore") else set()  # as runc
    assert sorted((rootfs / "tmp" / "dev").read_text().split()) == sorted(devices)
    assert (shared / "new").read_text() == "hi\n"
    assert (rootfs / "tmp" / "hosts").read_text().splitlines()[-1] == "127.0.1.1\th"
    # The stubs made under rootfs/<outside> for those mounts are removed again.
    assert sorted(os.listdir(rootfs / "tmp")) == sorted([*before, "dev", "hosts"])
    assert os.readlink(rootfs / "dev") == str(host_dev)


def _host_bait(where: Path) -> dict[str, tuple[int, int]]:
    """A host directory holding an empty directory ``v`` and empty files ``hosts`` and
    ``resolv.conf``: the names of the stubs a run makes for ``/mnt/v``, ``/etc/hosts`` and
    ``/etc/resolv.conf``. Returns each name's (device, inode)."""
    where.mkdir()
    (where / "v").mkdir()
    (where / "hosts").touch()
    (where / "resolv.conf").touch()
    return {name: _identity(where / name) for name in ("v", "hosts", "resolv.conf")}


def _identity(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_dev, st.st_ino


def _redirecting_script(bait: Path) -> str:
    """Rename the parents of the run's stubs and leave links to ``bait`` in their place."""
    mnt = f"busybox mv /mnt /mnt2 && ln -s {bait} /mnt"
    return f"{mnt} && busybox mv /etc /etc2 && ln -s {bait} /etc"


@pytest.mark.parametrize("isolation", ["native", "oci"])
def test_stub_cleanup_never_follows_a_link_the_container_planted(
    rootfs: Path, tmp_path: Path, isolation: str
) -> None:
    if isolation == "oci" and shutil.which("runc") is None and shutil.which("crun") is None:
        pytest.skip("no OCI runtime installed")
    bait = tmp_path / "bait"
    before = _host_bait(bait)
    shared = tmp_path / "shared"
    shared.mkdir()
    options = RunOptions(
        args=("sh", "-c", _redirecting_script(bait)), volumes=(Mount(str(shared), "/mnt/v"),)
    )
    assert in_child(run_in_rootfs, rootfs, image_config(), options, isolation) == 0
    # Every host entry the links pointed at is still there, the very same inode.
    assert {name: _identity(bait / name) for name in before} == before
    # The stubs were removed where they went (the renamed parents); the renamed stub parent
    # /mnt2 and the links are the container's own doing and stay.
    assert os.listdir(rootfs / "mnt2") == []
    assert sorted(os.listdir(rootfs / "etc2")) == ["group", "passwd"]
    assert (os.readlink(rootfs / "mnt"), os.readlink(rootfs / "etc")) == (str(bait), str(bait))


def test_stub_cleanup_never_follows_a_link_the_container_planted_rootless(
    rootfs_template: Path, user_dir: Path, mapped_user: User
) -> None:
    rootfs = user_dir / "rootfs"
    shutil.copytree(rootfs_template, rootfs, symlinks=True)
    bait = user_dir / "bait"
    before = _host_bait(bait)
    shared = user_dir / "shared"
    shared.mkdir()
    chown_tree(user_dir, mapped_user)  # the user could delete the bait: only a bug would
    options = RunOptions(
        args=("sh", "-c", _redirecting_script(bait)), volumes=(Mount(str(shared), "/mnt/v"),)
    )
    code = in_child(run_in_rootfs, rootfs, image_config(), options, "native", user=mapped_user)
    assert code == 0
    assert {name: _identity(bait / name) for name in before} == before
    assert os.listdir(rootfs / "mnt2") == []
    assert sorted(os.listdir(rootfs / "etc2")) == ["group", "passwd"]


def test_only_stubs_still_as_made_are_removed(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (root / "link").symlink_to("/elsewhere")  # absolute: resolved inside the root
    with MountStubs(root) as stubs:
        assert stubs.ensure("/a/b") == root / "a" / "b"
        assert stubs.ensure("/link/x", is_file=True) == root / "elsewhere" / "x"
        stubs.ensure("/c", is_file=True)
        stubs.ensure("/d/e")
        stubs.ensure("/f", is_file=True)
        # /a/b replaced by a new directory (made while the old one exists: a new inode)
        (root / "a" / "b").rename(root / "a" / "old")
        (root / "a" / "b").mkdir()
        (root / "a" / "old").rmdir()
        (root / "c").write_text("data")  # a file stub written to
        (root / "d" / "e" / "kept").touch()  # a directory stub filled
    left = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
    assert left == ["a", "a/b", "c", "d", "d/e", "d/e/kept", "link"]
    assert (root / "c").read_text() == "data"
