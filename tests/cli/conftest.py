"""Fixtures for the container commands: who runs them (root, or an unprivileged user with no
subordinate IDs), with a store and a copy of the peers' image that person owns."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from boxwright_testing.cliproc import warm_up
from boxwright_testing.users import User, chown_tree


@dataclass(frozen=True)
class Caller:
    """Who runs the command line: ``user`` (``None`` for root), the store's root, the image
    reference (an OCI layout the caller can read) and the environment."""

    user: User | None
    root: Path
    image: str
    env: dict[str, str]

    @property
    def name(self) -> str:
        return "root" if self.user is None else "user"


@pytest.fixture(params=["root", "user"])
def caller(request: pytest.FixtureRequest, peer_images: Any) -> Iterator[Caller]:
    """Root, then the session's unprivileged user (a single-ID user namespace)."""
    user: User | None = None
    if request.param == "user":
        user = request.getfixturevalue("unprivileged_user")
    base = Path(tempfile.mkdtemp(prefix="bx-live-", dir="/tmp"))
    try:
        base.chmod(0o755)
        layout = base / "layout"
        shutil.copytree(peer_images.oci, layout, symlinks=True)
        (base / "home").mkdir()
        if user is not None:
            chown_tree(base, user)
        warm_up(f"oci:{layout}:{peer_images.tag}")
        env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "HOME": str(base / "home")}
        yield Caller(user, base / "store", f"oci:{layout}:{peer_images.tag}", env)
    finally:
        _kill_containers(base / "store")
        shutil.rmtree(base, ignore_errors=True)


def _kill_containers(root: Path) -> None:
    """Kill what a failed test left running in the store at ``root``, and let the monitors
    end (they unmount the containers' files)."""
    import os
    import signal
    import time

    from boxwright.runtime.state import StateFiles, process_start

    dirs = list((root / "containers").glob("*")) if (root / "containers").is_dir() else []
    for cdir in dirs:
        state = StateFiles(cdir).read()
        if state.pid and process_start(state.pid) == state.pid_start:
            os.kill(state.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(StateFiles(d).monitor_alive() for d in dirs) and time.monotonic() < deadline:
        time.sleep(0.05)
