"""A hostile rootfs: symlinks at mount destinations never lead a mount or a stub onto the host.

The image's ``/mnt`` and ``/etc/hosts`` are absolute symlinks to a host directory holding a
sentinel, its ``/dev`` one to an empty host directory. Every mount destination is resolved
inside the rootfs, so the mounts and the stubs made for them land under
``rootfs/<that path>``, and the host directories are untouched.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from runtime_helpers import image_config, in_child

from boxwright.runtime import Mount, RunOptions, run_in_rootfs

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
