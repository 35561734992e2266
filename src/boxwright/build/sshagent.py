"""The SSH agent socket one ``RUN --mount=type=ssh`` sees, as buildah and BuildKit give it.

Every mount gets a socket of its own, made for that RUN in a private directory (mode 0700)
and removed after it, so nothing else (no other RUN, no other stage) can reach the agent:

* an agent socket given with ``--ssh ID=SOCKET`` (or ``$SSH_AUTH_SOCK``) is forwarded:
  :class:`_Forwarder` listens on the new socket and relays each connection to the agent, as
  buildah's ``sshagent`` package does, so the agent's own socket and its directory are never
  exposed and the new socket can carry the mount's ``mode``/``uid``/``gid``;
* key files given with ``--ssh ID=KEY[,KEY]`` are loaded into a ``ssh-agent`` that boxwright
  starts for the RUN (Debian's openssh-client) with ``ssh-add``; it is stopped after the RUN.
  ``ssh-add`` runs without a terminal, so a key with a passphrase is refused (as BuildKit
  refuses it), never prompted for.

The socket's path (under ``$XDG_RUNTIME_DIR`` for an unprivileged user, else the system's
temporary directory) is short, since a Unix socket path holds at most 107 bytes.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from boxwright.build.runsettings import SshSource
from boxwright.errors import RunError, UsageError

_CHUNK = 65536


class _Forwarder:
    """Relays every connection to ``listener`` to the agent at ``upstream`` (one thread)."""

    def __init__(self, listener: socket.socket, upstream: Path) -> None:
        self.listener = listener
        self.upstream = upstream
        self.selector = selectors.DefaultSelector()
        self.peers: dict[socket.socket, socket.socket] = {}
        self.wake_r, self.wake_w = socket.socketpair()
        self.selector.register(listener, selectors.EVENT_READ)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        self.thread = threading.Thread(target=self._serve, name="ssh-forward", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            for key, _ in self.selector.select():
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                if sock is self.wake_r:
                    return
                if sock is self.listener:
                    self._accept()
                else:
                    self._relay(sock)

    def _accept(self) -> None:
        client, _ = self.listener.accept()
        agent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            agent.connect(str(self.upstream))
        except OSError:
            agent.close()
            client.close()
            return
        for one, other in ((client, agent), (agent, client)):
            self.peers[one] = other
            self.selector.register(one, selectors.EVENT_READ)

    def _relay(self, sock: socket.socket) -> None:
        other = self.peers[sock]
        try:
            data = sock.recv(_CHUNK)
            if data:
                other.sendall(data)
                return
        except OSError:
            pass
        for end in (sock, other):
            self.selector.unregister(end)
            del self.peers[end]
            end.close()

    def close(self) -> None:
        self.wake_w.send(b"x")
        self.thread.join()
        for sock in [*self.peers, self.listener, self.wake_r, self.wake_w]:
            sock.close()
        self.selector.close()


def _base_dir() -> str | None:
    base = os.environ.get("XDG_RUNTIME_DIR") if os.geteuid() != 0 else None
    return base if base and os.access(base, os.W_OK) else None


@contextlib.contextmanager
def agent_socket(
    ident: str, source: SshSource, *, mode: int = 0o600, owner: tuple[int, int] | None = None
) -> Iterator[Path]:
    """A socket of ``source``'s agent for one RUN, with ``mode`` and (when given) the host
    ``owner``; removed, with its agent or relay, when the block ends."""
    directory = Path(tempfile.mkdtemp(prefix="bw-ssh-", dir=_base_dir()))
    path = directory / "agent"
    try:
        if source.socket is not None:
            with _forwarded(source.socket, path):
                _set_access(path, mode, owner)
                yield path
        else:
            with _key_agent(ident, source.keys, path):
                _set_access(path, mode, owner)
                yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _set_access(path: Path, mode: int, owner: tuple[int, int] | None) -> None:
    os.chmod(path, mode)
    if owner is not None:
        os.chown(path, *owner)


@contextlib.contextmanager
def _forwarded(upstream: Path, path: Path) -> Iterator[None]:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        listener.listen(16)
        listener.setblocking(False)
    except OSError:
        listener.close()
        raise
    forwarder = _Forwarder(listener, upstream)
    try:
        yield
    finally:
        forwarder.close()


@contextlib.contextmanager
def _key_agent(ident: str, keys: tuple[Path, ...], path: Path) -> Iterator[None]:
    agent, add = shutil.which("ssh-agent"), shutil.which("ssh-add")
    if agent is None or add is None:
        raise UsageError(
            f"--ssh {ident}: key files need ssh-agent and ssh-add (install openssh-client)"
        )
    process = subprocess.Popen(
        [agent, "-D", "-a", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_for(path, process, ident)
        env = {"SSH_AUTH_SOCK": str(path), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        done = subprocess.run(
            [add, "-q", *map(str, keys)],
            env={**env, "SSH_ASKPASS_REQUIRE": "never", "DISPLAY": ""},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            start_new_session=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip().splitlines()
            raise UsageError(
                f"--ssh {ident}: ssh-add could not load the keys, and a key with a passphrase "
                f"cannot be used (ssh-add: {said[-1] if said else done.returncode})"
            )
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(path: Path, process: subprocess.Popen[bytes], ident: str) -> None:
    """Wait until ``ssh-agent`` accepts connections at ``path`` (its socket exists from its
    ``bind``, a moment before it listens)."""
    deadline = time.monotonic() + 10
    while True:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(str(path))
                return
            except OSError:
                pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RunError(f"--ssh {ident}: ssh-agent did not start", 125)
        time.sleep(0.01)


__all__ = ["agent_socket"]
