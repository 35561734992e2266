"""The real podman, on a private store, for the tests that compare boxwright with it.

:class:`Podman` runs ``podman`` with its own ``--root`` and ``--runroot`` (vfs driver,
cgroupfs, no events; the runroot a short directory under ``/tmp``, as podman wants), and a
``CONTAINERS_CONF`` of its own with ``default_ulimits = []`` (a sandbox may refuse the
limits podman's default sets), so it never touches the machine's images.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import weakref
from pathlib import Path

import pytest

PODMAN = shutil.which("podman")


def store_argv(tool: str, root: Path, runroot: Path | str, driver: str) -> list[str]:
    """The command line of podman or buildah (``tool``, a path) on the private store at
    ``root``/``runroot`` with ``driver``; podman's also with cgroupfs and no events (what this
    machine's podman needs)."""
    argv = [tool, "--root", str(root), "--runroot", str(runroot), "--storage-driver", driver]
    if os.path.basename(tool) == "podman":
        argv += ["--cgroup-manager", "cgroupfs", "--events-backend", "none"]
    return argv


class Podman:
    """``podman`` on the store under ``work``."""

    def __init__(self, work: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        conf = work / "containers.conf"
        conf.write_text("[containers]\ndefault_ulimits = []\n")
        self.env = {**os.environ, "CONTAINERS_CONF": str(conf)}
        # podman refuses a runroot longer than 50 characters: a short one under /tmp,
        # removed with this object
        runroot = tempfile.mkdtemp(prefix="bw-pm-", dir="/tmp")
        weakref.finalize(self, shutil.rmtree, runroot, True)
        self.base = store_argv(str(PODMAN), work / "root", runroot, "vfs")

    def run(self, *args: str, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """``podman ARGS``; fails the test with podman's stderr when it fails."""
        done = subprocess.run(
            [*self.base, *args], input=input, capture_output=True, env=self.env, check=False
        )
        if done.returncode != 0:
            pytest.fail(f"podman {' '.join(args)} failed: {done.stderr.decode(errors='replace')}")
        return done

    def out(self, *args: str) -> str:
        """What ``podman ARGS`` printed on stdout."""
        return self.run(*args).stdout.decode()


def podman_or_skip(work: Path) -> Podman:
    """A :class:`Podman` on ``work``; skips when podman is not installed."""
    if PODMAN is None:
        pytest.skip("podman is not installed (scripts/install-test-deps installs it)")
    return Podman(work)
