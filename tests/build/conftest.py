"""Fixtures for the build tests: an unprivileged user (see ``build_helpers.py``)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from build_helpers import User


@pytest.fixture(scope="session")
def build_user() -> Iterator[User]:
    """A throw-away unprivileged account (skips when not root: creating it needs root)."""
    if os.geteuid() != 0:
        pytest.skip("creating a user needs root")
    if shutil.which("useradd") is None:
        pytest.skip("useradd is not installed")
    name = f"bxbuild{os.getpid() % 100000}"
    subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
    )
    try:
        entry = pwd.getpwnam(name)
        yield User(name, entry.pw_uid, entry.pw_gid)
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)


@pytest.fixture
def user_dir(build_user: User) -> Iterator[Path]:
    """A fresh directory the unprivileged user owns, under a world-searchable parent."""
    path = Path(tempfile.mkdtemp(prefix="bx-build-", dir="/tmp"))
    os.chmod(path, 0o755)
    os.chown(path, build_user.uid, build_user.gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)
