"""Servers for remote build contexts, all on 127.0.0.1, no internet: ``git daemon`` over bare
repositories, and a static HTTP server (:mod:`http.server`) over a directory.

``git_server`` (session) starts ``git daemon --export-all`` over a directory of bare
repositories; :meth:`GitServer.repo` makes one from a dict of files (each commit a dict;
tags and branches by name), so each test has its own repository. ``http_dir`` (function)
serves a fresh directory; a test writes tarballs into it and builds from its URL.
"""

from __future__ import annotations

import contextlib
import http.server
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from boxwright_testing.registry_servers import free_port

GIT = shutil.which("git")
_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.invalid",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.invalid",
    "GIT_AUTHOR_DATE": "2020-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2020-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "HOME": "/nonexistent",
    "PATH": "/usr/bin:/bin",
}


def git(cwd: Path, *args: str) -> str:
    """Run ``git ARGS`` in ``cwd`` (fixed identity and dates); its standard output."""
    done = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always", *args],
        cwd=cwd,
        env=_ENV,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@dataclass
class GitServer:
    """A running ``git daemon``: ``url`` is ``git://127.0.0.1:PORT``; repositories under
    ``base`` (``NAME.git``)."""

    base: Path
    url: str

    def repo(self, *commits: dict[str, str], tags: dict[str, int] | None = None) -> str:
        """A new bare repository whose ``main`` has ``commits`` (each: path → content, the
        whole tree of that commit); ``tags`` name commits by index. Returns its URL."""
        name = f"r{uuid.uuid4().hex[:8]}"
        work = self.base / f"{name}-work"
        work.mkdir()
        git(work, "init", "-q")
        for number, files in enumerate(commits):
            for old in list(work.iterdir()):
                if old.name != ".git":
                    shutil.rmtree(old) if old.is_dir() else old.unlink()
            for rel, text in files.items():
                path = work / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            git(work, "add", "-A")
            git(work, "commit", "-q", "--allow-empty", "-m", f"commit {number}")
        for tag, number in (tags or {}).items():
            back = len(commits) - 1 - number
            git(work, "tag", tag, f"HEAD~{back}" if back else "HEAD")
        git(self.base, "clone", "-q", "--bare", str(work), f"{name}.git")
        return f"{self.url}/{name}.git"

    def bare(self, url: str) -> Path:
        """The bare repository directory of ``url``."""
        return self.base / url.rsplit("/", 1)[-1]


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("git daemon exited at start")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise RuntimeError("git daemon did not start listening")


@pytest.fixture(scope="session")
def git_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    """``git daemon`` serving bare repositories on 127.0.0.1 (skips without git)."""
    if GIT is None:
        pytest.skip("git is not installed")
    base = tmp_path_factory.mktemp("git-daemon")
    port = free_port()
    process = subprocess.Popen(
        [
            "git",
            "daemon",
            "--reuseaddr",
            "--export-all",
            f"--base-path={base}",
            "--listen=127.0.0.1",
            f"--port={port}",
            str(base),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process)
        yield GitServer(base, f"git://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(10)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def http_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A directory and the ``http://127.0.0.1:PORT`` URL serving it (a thread of this test)."""
    root = tmp_path / "www"
    root.mkdir()

    def handler(*args: object) -> _Quiet:
        return _Quiet(*args, directory=str(root))  # type: ignore[arg-type]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
