"""Fixtures for the rootless tests: a busybox-static base and a Debian bookworm base any user
can read, a user with subordinate ranges (ranges mode), one without (single mode), and a
world-readable work directory under ``/tmp``.

The base (``bbx_layout``, an OCI layout tagged ``1``) has ``chown``, ``id``, ``stat`` and an
``adduser`` that does what Alpine's busybox ``adduser -D`` does, with static programs only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxwright.build import Builder
from boxwright.rootless.namespace import stop_pause_process
from boxwright.store.pullpush import push
from boxwright.store.store import Store
from boxwright_testing.sbom_images import debian_rootfs_or_skip, write_layout
from boxwright_testing.users import (
    User,
    as_user,
    has_subordinate_range,
    ranged_user,
    throwaway_user,
)

LAYOUT_NAME = "localhost/bbx:1"
BUSYBOX = "/bin/busybox"
APPLETS = (
    "sh", "ls", "cat", "cp", "echo", "mkdir", "rm", "touch", "chmod", "chown", "id", "stat",
    "true",
)  # fmt: skip
# Debian's busybox-static has no adduser applet: this one does what Alpine's busybox adduser -D
# does, with the same static programs (a group and a user of the first free ID from 1000, the
# home made and given to them).
ADDUSER = """#!/bin/sh
[ "$1" = -D ] && shift
echo "$1:x:1000:" >> /etc/group
echo "$1:x:1000:1000:Linux User,,,:/home/$1:/bin/sh" >> /etc/passwd
mkdir -p "/home/$1" && chown 1000:1000 "/home/$1"
"""
PASSWD = "root:x:0:0:root:/root:/bin/sh\n"
GROUP = "root:x:0:\n"


@pytest.fixture(scope="module")
def bbx_layout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An OCI layout (world-readable) with a busybox-static base that has adduser and chown."""
    if not os.path.exists(BUSYBOX):
        pytest.skip(f"{BUSYBOX} is not installed (busybox-static)")
    work = tmp_path_factory.mktemp("bbx")
    rootfs = work / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, rootfs / "bin" / "busybox")
    for name in APPLETS:
        (rootfs / "bin" / name).symlink_to("busybox")
    (rootfs / "bin" / "adduser").write_text(ADDUSER)
    (rootfs / "bin" / "adduser").chmod(0o755)
    (rootfs / "etc").mkdir()
    (rootfs / "etc" / "passwd").write_text(PASSWD)
    (rootfs / "etc" / "group").write_text(GROUP)
    (rootfs / "tmp").mkdir()
    (rootfs / "tmp").chmod(0o1777)
    store = Store(work / "store")
    with Builder.from_image(None, store=store) as builder:
        builder.copy([rootfs], "/")
        builder.config(env=["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], created_by="base")
        builder.commit(LAYOUT_NAME, timestamp=0)
    layout = Path("/tmp") / f"bx-bbx-{os.getpid()}"
    shutil.rmtree(layout, ignore_errors=True)
    push(LAYOUT_NAME, f"oci:{layout}:1", store=store)
    for dirpath, dirnames, filenames in os.walk(layout):
        for name in [*dirnames, *filenames]:
            os.chmod(os.path.join(dirpath, name), 0o755)
    os.chmod(layout, 0o755)
    yield_layout = layout
    return yield_layout


@pytest.fixture(scope="session")
def debian_layout() -> Iterator[Path]:
    """An OCI layout (world-readable, tagged ``1``) whose one layer is the SBOM tests' cached
    Debian bookworm minbase rootfs (mmdebstrap, made once a day): glibc, dash, coreutils'
    ``seq`` and ``chown``, shadow's ``useradd`` and a setuid ``/usr/bin/passwd``."""
    layout = Path("/tmp") / f"bx-debian-{os.getpid()}"
    shutil.rmtree(layout, ignore_errors=True)
    write_layout(layout, [debian_rootfs_or_skip()], tag="1")
    subprocess.run(["chmod", "-R", "a+rX", str(layout)], check=True)
    yield layout
    shutil.rmtree(layout, ignore_errors=True)


@pytest.fixture(scope="module")
def ranges_user() -> Iterator[User]:
    """An unprivileged user with subordinate ranges (podman's usual setup)."""
    with ranged_user("bxrg") as user:
        try:
            yield user
        finally:
            as_user(user, stop_pause_process)


@pytest.fixture(scope="module")
def plain_user() -> Iterator[User]:
    """An unprivileged user with no subordinate IDs (single mode)."""
    with throwaway_user("bxpl", system=True) as user:
        assert not has_subordinate_range(user)
        yield user


@pytest.fixture
def work(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = Path(f"/tmp/bx-ranges-{os.getpid()}-{os.urandom(4).hex()}")
    path.mkdir(mode=0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)
