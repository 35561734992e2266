"""Atomic file writes and the blob writer that hashes while it copies.

Every file a transport makes visible appears whole or not at all: content goes to a temporary
name in the same directory (same filesystem), is flushed and fsynced, then renamed over the
final name with :func:`os.replace`, and the directory is fsynced so the rename survives a
crash. A process killed half-way leaves at most a ``.tmp-*`` file behind, never a partial file
under a real name.

:class:`BlobWriter` applies the same rule to content-addressed blobs: the stream is copied in
1 MiB chunks while it is hashed, checked against the expected descriptor (digest and size) when
one is given, and only then renamed to the name derived from its (validated) digest.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from boxwright.errors import DigestMismatchError, TransportError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import CHUNK, Digest, new_hasher

TEMP_PREFIX = ".tmp-"
"""Prefix of every temporary file boxwright writes; such files are never content."""

OCTET_STREAM = "application/octet-stream"


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """fsync a directory so that renames and new entries in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicFile:
    """A context manager writing a file that appears under its name only when complete.

    ::

        with AtomicFile(path) as f:
            f.write(data)

    On a clean exit the temporary file is flushed, fsynced and renamed over ``path`` (then the
    directory is fsynced); on an exception it is removed and ``path`` is left as it was.
    :meth:`commit` and :meth:`discard` do the same by hand for writers that outlive a block.
    """

    def __init__(self, path: str | os.PathLike[str], mode: int = 0o644) -> None:
        self.path = Path(path)
        self._mode = mode
        self._file: IO[bytes] | None = None
        self.temp_path: Path | None = None

    def open(self) -> IO[bytes]:
        """Create the temporary file next to the target and return it for writing."""
        directory = self.path.parent
        try:
            fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, dir=directory)
        except OSError as e:
            raise TransportError(f"cannot create a file in {directory}: {e.strerror}") from None
        self.temp_path = Path(name)
        self._file = os.fdopen(fd, "wb")
        return self._file

    def __enter__(self) -> IO[bytes]:
        return self.open()

    def commit(self) -> None:
        """Make the written content visible under the target name, durably."""
        if self._file is None or self.temp_path is None:
            raise TransportError(f"{self.path}: atomic file was not opened or already closed")
        f, self._file = self._file, None
        try:
            f.flush()
            os.fchmod(f.fileno(), self._mode)
            os.fsync(f.fileno())
            f.close()
            os.replace(self.temp_path, self.path)
        except OSError as e:
            f.close()
            self._remove_temp()
            raise TransportError(f"cannot write {self.path}: {e.strerror}") from None
        self.temp_path = None
        fsync_dir(self.path.parent)

    def discard(self) -> None:
        """Remove the temporary file; the target keeps whatever it had before."""
        if self._file is not None:
            f, self._file = self._file, None
            with contextlib.suppress(OSError):
                f.close()
        self._remove_temp()

    def _remove_temp(self) -> None:
        if self.temp_path is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.temp_path)
            self.temp_path = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def atomic_write(path: str | os.PathLike[str], data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically: the file is either the old one or the new one."""
    with AtomicFile(path, mode) as f:
        f.write(data)


def copy_stream(source: IO[bytes], out: IO[bytes], hasher: Any | None = None) -> int:
    """Copy ``source`` to ``out`` in 1 MiB chunks, feeding ``hasher``; return the byte count."""
    total = 0
    while chunk := source.read(CHUNK):
        if hasher is not None:
            hasher.update(chunk)
        out.write(chunk)
        total += len(chunk)
    return total


class BlobWriter:
    """Writes blobs into a content-addressed directory, visible only once verified.

    ``path_for`` maps a validated :class:`Digest` to the blob's final path (for an OCI layout
    ``blobs/ALG/HEX``, for ``dir:`` just ``HEX``); temporary files go to ``temp_dir``, which
    must be on the same filesystem. The default layout is ``root/ALG/HEX``.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        path_for: Callable[[Digest], Path] | None = None,
        *,
        temp_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.root = Path(root)
        self._path_for = path_for or (lambda d: self.root / d.algorithm / d.hex)
        self._temp_dir = Path(temp_dir) if temp_dir is not None else self.root

    def path_for(self, digest: Digest | str) -> Path:
        """The final path of a blob; a digest given as text is validated first."""
        if not isinstance(digest, Digest):
            digest = Digest.parse(digest)
        return self._path_for(digest)

    def write(
        self,
        stream: IO[bytes],
        expected: Descriptor | None = None,
        *,
        algorithm: str = "sha256",
    ) -> Descriptor:
        """Copy ``stream`` into the blob store and return the descriptor of what was stored.

        With ``expected``, the content must have its digest and size (a longer stream is
        refused without reading it all); the returned descriptor is ``expected`` itself. Without
        one, the digest (``algorithm``) and size are measured and the media type is
        ``application/octet-stream``. On any failure nothing is left under a blob name.
        """
        if expected is not None:
            algorithm = expected.digest.algorithm
        hasher = new_hasher(algorithm)
        limit = expected.size if expected is not None else None
        self._temp_dir.mkdir(parents=True, exist_ok=True)
        atomic: AtomicFile | None = None
        try:
            atomic = AtomicFile(self._temp_dir / "blob")
            out = atomic.open()
            size = 0
            while True:
                want = CHUNK if limit is None else min(CHUNK, limit - size + 1)
                chunk = stream.read(want)
                if not chunk:
                    break
                size += len(chunk)
                if limit is not None and size > limit:
                    assert expected is not None
                    raise DigestMismatchError(
                        f"blob {expected.digest} is longer than its expected size {limit}"
                    )
                hasher.update(chunk)
                out.write(chunk)
            digest = Digest(algorithm, hasher.hexdigest())
            if expected is not None:
                if size != expected.size:
                    raise DigestMismatchError(
                        f"blob {expected.digest} is truncated: got {size} of {expected.size} bytes"
                    )
                if digest != expected.digest:
                    raise DigestMismatchError(
                        f"blob content does not match its digest: expected {expected.digest}, "
                        f"got {digest}"
                    )
            final = self._path_for(digest)
            final.parent.mkdir(parents=True, exist_ok=True)
            atomic.path = final
            atomic.commit()
        except BaseException:
            if atomic is not None:
                atomic.discard()
            raise
        if expected is not None:
            return expected
        return Descriptor(OCTET_STREAM, digest, size)

    def write_bytes(self, data: bytes, expected: Descriptor | None = None) -> Descriptor:
        """Store a small in-memory document (a manifest or config) as a blob."""
        import io

        return self.write(io.BytesIO(data), expected)


__all__ = [
    "TEMP_PREFIX",
    "AtomicFile",
    "BlobWriter",
    "atomic_write",
    "copy_stream",
    "fsync_dir",
]
