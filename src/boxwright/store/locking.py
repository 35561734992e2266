"""File locks of the local store: ``flock(2)`` on a lock file, shared or exclusive
(:mod:`boxwright._flock`), with the store's errors.

A crashed process never leaves the store locked: the kernel drops a ``flock`` when its holder
dies, even by ``kill -9``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from boxwright._flock import flocked
from boxwright.errors import StoreError


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool = False, blocking: bool = True) -> Iterator[None]:
    """Hold a shared or exclusive ``flock`` on ``path`` (created if missing) for the block.

    Non-blocking, a lock that is busy raises :class:`StoreError` at once.
    """
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(flocked(path, shared=shared, blocking=blocking))
        except BlockingIOError:
            what = "shared" if shared else "exclusive"
            raise StoreError(
                f"the store lock {path} is busy ({what} lock wanted): another boxwright "
                "process is using the store; try again when it is done"
            ) from None
        except OSError as e:
            raise StoreError(f"cannot open the lock file {path}: {e.strerror}") from None
        yield


__all__ = ["file_lock"]
