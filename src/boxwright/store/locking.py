"""File locks of the local store: ``flock(2)`` on a lock file, shared or exclusive.

``flock`` locks belong to an open file description, so two opens in one process conflict
like two processes do (threads are covered too), and the kernel drops a lock when its holder
dies, even by ``kill -9``: a crashed process never leaves the store locked. A lock is released
with ``LOCK_UN`` when its block ends, so a process forked meanwhile does not keep it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from boxwright.errors import StoreError


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool = False, blocking: bool = True) -> Iterator[None]:
    """Hold a shared or exclusive ``flock`` on ``path`` (created if missing) for the block.

    Non-blocking, a lock that is busy raises :class:`StoreError` at once.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as e:
        raise StoreError(f"cannot open the lock file {path}: {e.strerror}") from None
    try:
        operation = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        if not blocking:
            operation |= fcntl.LOCK_NB
        try:
            fcntl.flock(fd, operation)
        except BlockingIOError:
            what = "shared" if shared else "exclusive"
            raise StoreError(
                f"the store lock {path} is busy ({what} lock wanted): another boxwright "
                "process is using the store; try again when it is done"
            ) from None
        yield
    finally:
        # Unlock before closing: a child forked inside the block (a runtime's keeper process)
        # shares this open file description, and a mere close would leave it holding the lock.
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


__all__ = ["file_lock"]
