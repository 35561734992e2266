"""Starting a container's monitor (:mod:`boxwright.runtime.monitor`): the forks that detach it
and the handshake that tells the caller its container runs.

:class:`MonitorLaunch` forks the monitor first and names its container afterwards. The middle
process of the two forks ends at once, so the monitor belongs to no caller and leaves no zombie
behind; it is a session leader of its own, with every descriptor the caller had closed but its
two pipes. It then waits on the first pipe for the container's ID and, once told, keeps that
container and answers on the second one: ``R PID`` when its command runs, ``E CODE MESSAGE``
when it cannot start (``L`` first, when it waits for a client to attach). The pipe closed
without an ID ends it.

So a caller that still has to make the container (``run -d``) forks the monitor before it
does: the monitor imports the runners, the network, spec and ID-map modules on one core while
the caller writes the container's records, and the caller never loads them. A monitor forked
from a process with threads of its own finds those modules already imported (the caller loads
them before the fork): a child of such a process could find an import lock held by a thread
it does not have.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from boxwright.errors import RunError

MonitorMain = Callable[[Path, str, int, bool], NoReturn]
"""The monitor's life: ``(store root, container ID, answer pipe, attach first)``."""


def _monitor_main() -> MonitorMain:
    """The monitor's entry point; importing it loads the monitor and every runner."""
    from boxwright.runtime.monitor import monitor_main

    return monitor_main


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


class MonitorLaunch:
    """A monitor forked for a container it is told of later (see the module docstring):
    :meth:`start` names the container and waits until it runs, :meth:`cancel` ends the
    monitor unused. One of the two must be called."""

    def __init__(self, root: Path) -> None:
        """Fork the monitor of a container of the store at ``root``."""
        if threading.active_count() != 1:
            _monitor_main()  # imported here, before the fork (module docstring)
        self._answer, answer_w = os.pipe2(os.O_CLOEXEC)
        name_r, self._name = os.pipe2(os.O_CLOEXEC)
        sys.stdout.flush()
        sys.stderr.flush()
        self._middle = os.fork()
        if self._middle == 0:
            try:
                os.close(self._answer)
                os.close(self._name)
                os.setsid()
                if os.fork() == 0:
                    _await_container(root, name_r, answer_w)
            finally:
                os._exit(0)
        os.close(answer_w)
        os.close(name_r)

    def start(self, container_id: str, *, on_listening: Callable[[], None] | None = None) -> int:
        """Give the monitor ``container_id`` and return the container process's pid once its
        command runs; raise :class:`RunError` (with podman's exit code) when it cannot start.

        With ``on_listening``, the monitor calls for it once its attach socket listens and
        starts the container only when a client has attached (``on_listening`` attaches one).
        """
        try:
            os.write(self._name, f"{container_id} {int(on_listening is not None)}".encode())
        finally:
            os.close(self._name)
        try:
            data = b""
            while chunk := os.read(self._answer, 65536):
                data += chunk
                if on_listening is not None and data.startswith(b"L\n"):
                    data = data[2:]
                    on_listening()
                    on_listening = None
            text = data.decode(errors="replace")
        finally:
            self._end()
        kind, _, rest = text.partition(" ")
        if kind == "R":
            return int(rest)
        if kind == "E":
            code, _, message = rest.partition(" ")
            raise RunError(message.strip(), int(code))
        raise RunError("the container's monitor ended before the container started", 125)

    def cancel(self) -> None:
        """End the monitor without a container (the container could not be made)."""
        with contextlib.suppress(OSError):
            os.close(self._name)
        self._end()

    def _end(self) -> None:
        os.close(self._answer)
        os.waitpid(self._middle, 0)


def _await_container(root: Path, name: int, answer: int) -> NoReturn:
    """In the monitor: load its modules, wait for its container's ID on ``name``, and keep
    that container (never returns)."""
    try:
        for entry in os.listdir("/proc/self/fd"):
            fd = int(entry)
            if fd > 2 and fd not in (name, answer):
                with contextlib.suppress(OSError):
                    os.close(fd)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        monitor_main = _monitor_main()
        container_id, _, attach_first = _read_all(name).decode().partition(" ")
        os.close(name)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.write(answer, f"E 125 cannot start the container's monitor: {error}".encode())
        os._exit(1)
    if not container_id:
        os._exit(0)
    monitor_main(root, container_id, answer, attach_first == "1")


__all__ = ["MonitorLaunch"]
