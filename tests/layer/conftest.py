"""Fixtures for the layer read/apply tests: an in-memory tar builder, an outside sentinel,
and the session's unprivileged user (``boxwright_testing.users``) with a Python it can run, for the
rootless tests."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from boxwright_testing import users

SRC = Path(__file__).resolve().parents[2] / "src"
SENTINEL_TEXT = b"host file: must never change\n"


class TarBuilder:
    """Builds a tar in memory, one entry per call, with full control of every header field."""

    def __init__(self, fmt: int = tarfile.PAX_FORMAT) -> None:
        self._buffer = io.BytesIO()
        self._tar = tarfile.open(fileobj=self._buffer, mode="w", format=fmt)  # noqa: SIM115

    def _add(self, info: tarfile.TarInfo, data: bytes | None = None, **fields: Any) -> TarBuilder:
        info.mtime = fields.pop("mtime", 1_600_000_000)
        info.uid = fields.pop("uid", 0)
        info.gid = fields.pop("gid", 0)
        xattrs: dict[str, bytes] = fields.pop("xattrs", {})
        pax = dict(fields.pop("pax", {}))
        for key, value in xattrs.items():
            pax[f"SCHILY.xattr.{key}"] = value.decode("utf-8", "surrogateescape")
        info.pax_headers = pax
        for key, value in fields.items():
            setattr(info, key, value)
        if data is not None:
            info.size = len(data)
            self._tar.addfile(info, io.BytesIO(data))
        else:
            self._tar.addfile(info)
        return self

    def file(self, name: str, data: bytes = b"", mode: int = 0o644, **fields: Any) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.mode = mode
        return self._add(info, data, **fields)

    def dir(self, name: str, mode: int = 0o755, **fields: Any) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type = tarfile.DIRTYPE
        info.mode = mode
        return self._add(info, **fields)

    def symlink(self, name: str, target: str, **fields: Any) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type = tarfile.SYMTYPE
        info.linkname = target
        info.mode = 0o777
        return self._add(info, **fields)

    def hardlink(self, name: str, target: str, **fields: Any) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type = tarfile.LNKTYPE
        info.linkname = target
        info.mode = 0o644
        return self._add(info, **fields)

    def device(
        self,
        name: str,
        major: int,
        minor: int,
        *,
        block: bool = False,
        mode: int = 0o666,
        **kw: Any,
    ) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type = tarfile.BLKTYPE if block else tarfile.CHRTYPE
        info.devmajor, info.devminor, info.mode = major, minor, mode
        return self._add(info, **kw)

    def fifo(self, name: str, mode: int = 0o644, **fields: Any) -> TarBuilder:
        info = tarfile.TarInfo(name)
        info.type = tarfile.FIFOTYPE
        info.mode = mode
        return self._add(info, **fields)

    def whiteout(self, name: str) -> TarBuilder:
        return self.file(name)

    def bytes(self) -> bytes:
        self._tar.close()
        return self._buffer.getvalue()

    def stream(self) -> io.BytesIO:
        return io.BytesIO(self.bytes())


@pytest.fixture
def tar() -> Callable[..., TarBuilder]:
    """``tar()`` returns a fresh :class:`TarBuilder` (PAX format unless told otherwise)."""
    return TarBuilder


@dataclass
class Sentinel:
    """A host directory outside the root holding one file that hostile layers aim at."""

    outside: Path
    file: Path

    def assert_untouched(self) -> None:
        st = os.lstat(self.file)
        assert self.file.read_bytes() == SENTINEL_TEXT
        assert st.st_nlink == 1
        assert sorted(p.name for p in self.outside.iterdir()) == ["sentinel"]


@pytest.fixture
def sentinel(tmp_path: Path) -> Sentinel:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = outside / "sentinel"
    target.write_bytes(SENTINEL_TEXT)
    target.chmod(0o644)
    return Sentinel(outside, target)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "rootfs"
    path.mkdir()
    return path


@dataclass
class User:
    """An unprivileged account, and a way to run Python code as it."""

    name: str
    uid: int
    gid: int
    python: str

    def run_python(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(SRC), "HOME": "/nonexistent"}
        return subprocess.run(
            [
                "setpriv",
                f"--reuid={self.uid}",
                f"--regid={self.gid}",
                "--clear-groups",
                self.python,
                "-c",
                code,
                *args,
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    def workdir(self) -> Path:
        """A fresh directory the user owns, under a world-searchable parent."""
        path = Path(tempfile.mkdtemp(prefix="bw-layer-user-", dir="/tmp"))
        os.chmod(path, 0o755)
        os.chown(path, self.uid, self.gid)
        return path


@pytest.fixture(scope="session")
def unprivileged(unprivileged_user: users.User) -> User:
    """The session's throw-away user (``tests/conftest.py``) with a Python it can run through
    setpriv (requires root, useradd and setpriv, which the CI image has)."""
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv is not installed")
    uid, gid = unprivileged_user.uid, unprivileged_user.gid
    for candidate in (sys.executable, shutil.which("python3") or "", "/usr/bin/python3"):
        if not candidate:
            continue
        probe = subprocess.run(
            [
                "setpriv",
                f"--reuid={uid}",
                f"--regid={gid}",
                "--clear-groups",
                candidate,
                "-c",
                "import tarfile",
            ],
            capture_output=True,
        )
        if probe.returncode == 0:
            return User(unprivileged_user.name, uid, gid, candidate)
    raise AssertionError("no Python interpreter is usable by an unprivileged user")
