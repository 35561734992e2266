""":func:`atomic_write`, the transports' and the store's writer of one small file, in a module
of its own: a process that only writes a record (``stop``, ``ps``, ``exec``, through the
store's record files) loads none of :mod:`boxwright.transport.atomic`'s blob writers and
the digest, descriptor and thread machinery they need."""

from __future__ import annotations

import os

from boxwright._atomic import replace_file
from boxwright.errors import TransportError


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically: the file is either the old one or the new one.

    :func:`boxwright._atomic.replace_file` writes it (the one small-file writer of every
    layer); its :class:`OSError` becomes a :class:`TransportError` here.
    """
    try:
        replace_file(path, data, mode)
    except OSError as e:
        raise TransportError(f"cannot write {path}: {e.strerror or e}") from None


__all__ = ["atomic_write"]
