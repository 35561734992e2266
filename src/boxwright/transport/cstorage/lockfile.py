"""containers/storage's lock files, taken as its ``pkg/lockfile`` takes them.

Each part of a store has a lock file: ``storage.lock`` (the graph root),
``DRIVER-layers/layers.lock``, ``DRIVER-images/images.lock``,
``DRIVER-containers/containers.lock``. A holder takes a POSIX record
lock on the whole file (``fcntl(F_SETLKW)``: shared to read, exclusive to write), the lock
podman and buildah take; ``flock`` would not exclude them. The file's content is the
*last write*: 64 bytes (nanosecond time, a counter and the pid, little-endian, then random
bytes) that every writer replaces, with ``pwrite`` at offset 0, before releasing its
exclusive lock. Another process compares it with the value it saw last and reloads the
store's JSON when it differs, so :meth:`Held.record_write` is what makes a change visible to
a podman that is already running.

POSIX record locks belong to the process, not to the file descriptor: closing any
descriptor of the file drops every lock the process holds on it, and threads of one process
do not exclude each other. So each path has one in-process gate (:class:`_Gate`): shared
holders share one descriptor and one lock, an exclusive holder waits for them and takes
its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from boxwright.errors import TransportError

LAST_WRITE_SIZE: Final = 64
_counter = 0
_counter_lock = threading.Lock()


def new_last_write() -> bytes:
    """A fresh last-write value, laid out as containers/storage's ``newLastWrite``."""
    global _counter
    with _counter_lock:
        _counter += 1
        counter = _counter
    head = struct.pack("<QQI", time.time_ns() & 0xFFFFFFFFFFFFFFFF, counter, os.getpid())
    return head + secrets.token_bytes(LAST_WRITE_SIZE - len(head))


class _Gate:
    """The in-process side of one lock file: readers share a descriptor, a writer is alone."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.cond = threading.Condition()
        self.readers = 0
        self.writer = False
        self.fd = -1

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except PermissionError:
            return os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            raise TransportError(f"cannot open the lock file {self.path}: {exc.strerror}") from None

    def acquire(self, exclusive: bool) -> int:
        with self.cond:
            if exclusive:
                while self.writer or self.readers:
                    self.cond.wait()
                self.writer = True
            else:
                while self.writer:
                    self.cond.wait()
                self.readers += 1
                if self.readers > 1:
                    return self.fd
            try:
                fd = self._open()
                try:
                    fcntl.lockf(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                except OSError as exc:
                    os.close(fd)
                    raise TransportError(f"cannot lock {self.path}: {exc.strerror}") from None
            except BaseException:
                if exclusive:
                    self.writer = False
                else:
                    self.readers -= 1
                self.cond.notify_all()
                raise
            self.fd = fd
            return fd

    def release(self, exclusive: bool) -> None:
        with self.cond:
            if exclusive:
                self.writer = False
            else:
                self.readers -= 1
                if self.readers:
                    return
            fd, self.fd = self.fd, -1
            with contextlib.suppress(OSError):
                fcntl.lockf(fd, fcntl.LOCK_UN)
            os.close(fd)
            self.cond.notify_all()


_gates: dict[Path, _Gate] = {}
_gates_lock = threading.Lock()


def _gate(path: Path) -> _Gate:
    key = Path(os.path.abspath(path))
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = _Gate(key)
        return gate


class Held:
    """A lock file while it is held (see :func:`locked`)."""

    def __init__(self, path: Path, fd: int, exclusive: bool) -> None:
        self.path = path
        self._fd = fd
        self.exclusive = exclusive

    def last_write(self) -> bytes:
        """The last-write value the file holds now."""
        return os.pread(self._fd, LAST_WRITE_SIZE, 0)

    def record_write(self) -> None:
        """Say that this holder changed what the lock guards (exclusive holders only)."""
        if not self.exclusive:
            raise TransportError(f"{self.path}: a change recorded without the write lock")
        data = new_last_write()
        try:
            written = os.pwrite(self._fd, data, 0)
        except OSError as exc:
            raise TransportError(f"cannot write {self.path}: {exc.strerror}") from None
        if written != len(data):
            raise TransportError(f"cannot write {self.path}: short write")


def touch_graph_lock(path: Path) -> None:
    """Take and release ``storage.lock`` exclusively, as containers/storage does before it
    uses the graph driver's layer store (``startUsingGraphDriver``): a podman reloading or
    shutting down its driver holds it, and no layer store is opened meanwhile. A reader who
    may not write the file (another user's store) takes it shared, as a read-only lock."""
    writable = os.access(path, os.W_OK) or not path.exists()
    with locked(path, exclusive=writable):
        pass


@contextlib.contextmanager
def locked(path: Path, *, exclusive: bool) -> Iterator[Held]:
    """Hold the lock file ``path`` (created when missing) for the ``with`` block."""
    gate = _gate(path)
    fd = gate.acquire(exclusive)
    try:
        yield Held(gate.path, fd, exclusive)
    finally:
        gate.release(exclusive)


__all__ = ["LAST_WRITE_SIZE", "Held", "locked", "new_last_write", "touch_graph_lock"]
