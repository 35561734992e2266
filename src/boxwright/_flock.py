"""``flock(2)`` on a lock file for the length of a block: the one way boxwright holds one.

``flock`` locks belong to an open file description, so two opens in one process conflict
like two processes do (threads are covered too), and the kernel drops a lock when its holder
dies, even by ``kill -9``. The lock is released with ``LOCK_UN`` before the file is closed: a
child forked inside the block (a runtime's keeper process) shares the open file description,
and a mere close would leave it holding the lock. Errors are the :class:`OSError` the system
gave (:class:`BlockingIOError` for a busy lock not waited for); each caller raises its own
typed error.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def flocked(
    path: Path, *, shared: bool = False, blocking: bool = True, mode: int = 0o600
) -> Iterator[None]:
    """Hold a shared or exclusive ``flock`` on ``path`` (created with ``mode`` if missing)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, mode)
    try:
        operation = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        fcntl.flock(fd, operation if blocking else operation | fcntl.LOCK_NB)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


__all__ = ["flocked"]
