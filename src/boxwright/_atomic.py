"""Small files written whole or not at all, for every layer of boxwright.

A file is written under a new temporary name beside its target (``O_EXCL``, so never over
another writer's), fsynced, renamed over the target with :func:`os.replace`, and the directory
is fsynced so the rename survives a crash: the target is always either the old file or the new
one. Errors are the :class:`OSError` the system gave; each caller raises its own typed error
(:mod:`boxwright.transport.atomic` builds its streaming writers on the same temporary files).
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Final

TEMP_PREFIX: Final = ".tmp-"
"""Prefix of every temporary file boxwright writes; such files are never content."""

_TEMP_ATTEMPTS: Final = 100


def new_temp_file(directory: Path) -> tuple[int, Path]:
    """Create a new ``.tmp-*`` file (mode 0600, ``O_EXCL``) in ``directory``; its fd and path.

    (``tempfile.mkstemp`` does the same, but importing :mod:`tempfile` costs start-up time.)
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
    for _ in range(_TEMP_ATTEMPTS):
        path = directory / f"{TEMP_PREFIX}{os.urandom(8).hex()}"
        try:
            return os.open(path, flags, 0o600), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name")


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so that renames and new entries in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_file(
    path: str | os.PathLike[str], data: bytes, mode: int = 0o600, *, durable: bool = True
) -> None:
    """Make ``path`` hold ``data`` (file mode ``mode``), atomically and durably; the temporary
    file is removed when anything fails.

    ``durable=False`` skips the two fsyncs: the rename is still atomic (a killed process
    leaves the old file or the new one), but after a power failure the file may be missing,
    empty or old. Only for a file whose reader falls back to what a durable record says.
    """
    target = Path(path)
    fd, temp = new_temp_file(target.parent)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(target.parent)


__all__ = ["TEMP_PREFIX", "fsync_dir", "new_temp_file", "replace_file"]
