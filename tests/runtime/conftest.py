"""Fixtures for the runtime tests: a busybox rootfs and unprivileged users.

The rootfs is busybox-static with its applets as links, an ``/etc/passwd`` and ``/etc/group``
naming ``alice`` (1000) and a ``staff`` group (50) she belongs to, and a sticky ``/tmp``. It
has no ``/proc``, ``/dev``, ``/sys`` or ``/etc/hosts``: runs must leave it that way. Commands
write what they see into files of the rootfs; the tests read those files afterwards.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxwright_testing.users import User, has_subordinate_range, ranged_user, throwaway_user

BUSYBOX = "/bin/busybox"
APPLETS = [
    "sh",
    "cat",
    "echo",
    "id",
    "ls",
    "ps",
    "mkdir",
    "touch",
    "chmod",
    "chown",
    "ln",
    "rm",
    "sleep",
    "kill",
    "hostname",
    "pwd",
    "env",
    "stat",
    "readlink",
    "test",
    "mount",
    "grep",
    "wc",
    "sort",
    "tr",
    "cut",
    "true",
    "false",
]
PASSWD = "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
GROUP = "root:x:0:\nalice:x:1000:\nstaff:x:50:alice\n"


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The read-only busybox rootfs every test copies."""
    if not os.path.exists(BUSYBOX):
        pytest.skip(f"{BUSYBOX} is not installed (busybox-static)")
    root = tmp_path_factory.mktemp("runtime-rootfs") / "rootfs"
    (root / "bin").mkdir(parents=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for name in APPLETS:
        (root / "bin" / name).symlink_to("busybox")
    (root / "etc").mkdir()
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    (root / "tmp").mkdir()
    (root / "tmp").chmod(0o1777)
    (root / "home" / "alice").mkdir(parents=True)
    os.chown(root / "home" / "alice", 1000, 1000)
    return root


@pytest.fixture
def rootfs(rootfs_template: Path, tmp_path: Path) -> Path:
    """A private copy of the busybox rootfs for one test (as root)."""
    dest = tmp_path / "rootfs"
    shutil.copytree(rootfs_template, dest, symlinks=True)
    return dest


def _need_root_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("creating a user needs root")
    for tool in ("useradd", "userdel", "usermod", "newuidmap", "newgidmap"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


@pytest.fixture(scope="session")
def mapped_user() -> Iterator[User]:
    """An unprivileged user with /etc/subuid and /etc/subgid ranges (podman's usual setup)."""
    _need_root_tools()
    with ranged_user("bxrtm", base=3_000_000) as user:
        yield user


@pytest.fixture(scope="session")
def single_user() -> Iterator[User]:
    """An unprivileged system user with no subordinate IDs (a single-ID user namespace)."""
    _need_root_tools()
    with throwaway_user("bxrts", system=True) as user:
        assert not has_subordinate_range(user)
        yield user


@pytest.fixture
def user_dir() -> Iterator[Path]:
    """A world-searchable scratch directory under /tmp (tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="bx-runtime-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)
