"""Opening a file of an image (a blob, ``index.json``, ``manifest.json``) only when it is a
regular file.

A layout, a ``dir:`` image or an archive can be made by anyone; a file in it that is a FIFO
blocks a plain ``open()`` (or the first read) forever, a symlink to ``/dev/zero`` never ends,
and a device may act on being opened. :func:`open_regular` is the one way every reader of such
files opens them: ``O_NONBLOCK`` (opening a FIFO does not wait for a writer), ``O_NOFOLLOW``
(a symlink in place of the file is refused, unless the caller named the path itself and asks to
follow it), then ``fstat`` of what was opened: anything that is not a regular file is refused
with :class:`~boxwright.errors.NotRegularFileError`; only then is ``O_NONBLOCK`` cleared.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import Callable
from typing import BinaryIO

from boxwright.errors import BlobNotFoundError, NotRegularFileError, TransportError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import VerifyingReader
from boxwright.oci.readers import Reader, VerifyingStream

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISLNK, "a symbolic link"),
)


#: What ``open`` with ``O_NOFOLLOW`` reports for a file that is not a regular one.
_OPEN_ERRORS = {errno.ELOOP: "a symbolic link", errno.ENXIO: "a socket"}


def _kind(mode: int) -> str:
    return next((name for test, name in _KINDS if test(mode)), "not a plain file")


def open_regular(
    path: str | os.PathLike[str], what: str | None = None, *, follow_symlinks: bool = False
) -> BinaryIO:
    """``path`` opened for reading, refused unless it is a regular file.

    ``what`` names the file in the error (default: the path). ``follow_symlinks`` is for a
    path the user gave (an archive file), never for a file inside an image. Raises
    FileNotFoundError when it is missing and :class:`NotRegularFileError` when it is a
    directory, FIFO, socket, device or (unless followed) a symbolic link.
    """
    name = what or os.fspath(path)
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY
    if not follow_symlinks:
        flags |= os.O_NOFOLLOW
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as error:
        kind = _OPEN_ERRORS.get(error.errno or 0)
        if follow_symlinks and error.errno == errno.ELOOP:
            kind = None  # a real loop of links: the error says so
        if kind is None:
            raise TransportError(f"cannot open {name}: {error.strerror}") from None
        raise NotRegularFileError(
            f"{name} is {kind}, not a regular file; refusing to read it"
        ) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(
                f"{name} is {_kind(mode)}, not a regular file; refusing to read it"
            )
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str | os.PathLike[str], limit: int, what: str | None = None) -> bytes:
    """A small regular file read whole (see :func:`open_regular`), at most ``limit`` bytes;
    a larger one is a :class:`~boxwright.errors.TransportError`."""
    with open_regular(path, what) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TransportError(f"{what or os.fspath(path)} is larger than the limit of {limit} bytes")
    return data


def open_blob(
    open_file: Callable[[], Reader], descriptor: Descriptor, where: str
) -> VerifyingStream:
    """A verifying reader of the blob ``descriptor`` names, from the file ``open_file`` opens
    (with :func:`open_regular`); :class:`BlobNotFoundError` naming ``where`` if it is missing."""
    try:
        f = open_file()
    except FileNotFoundError:
        raise BlobNotFoundError(f"blob {descriptor.digest} is missing from {where}") from None
    size = descriptor.size if descriptor.size >= 0 else None
    return VerifyingReader(f, descriptor.digest, size)


__all__ = ["open_blob", "open_regular", "read_regular"]
