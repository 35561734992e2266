"""Atomic file writes and the blob writer that hashes while it copies.

Every file a transport makes visible appears whole or not at all: content goes to a temporary
name in the same directory (same filesystem), is flushed and fsynced, then renamed over the
final name with :func:`os.replace`, and the directory is fsynced so the rename survives a
crash. A process killed half-way leaves at most a ``.tmp-*`` file behind, never a partial file
under a real name. One small file is written by :func:`atomic_write`
(:mod:`boxwright.transport.smallfile`, named here too).

:class:`BlobWriter` applies the same rule to content-addressed blobs: the stream is copied in
1 MiB chunks while it is hashed, checked against the expected descriptor (digest and size) when
one is given, and only then renamed to the name derived from its (validated) digest. Two
shortcuts keep a copy as fast as the disk allows without weakening that rule:

* a stream that verifies itself (a :class:`~boxwright.oci.readers.VerifyingStream` of the
  expected digest: a :class:`~boxwright.oci.digest.VerifyingReader`, or a
  :class:`~boxwright.oci.readers.PassThroughReader` over one) is not hashed a second time;
  the blob is still renamed into place only after that reader reached EOF with everything
  matching;
* a large blob is written by a helper thread while the caller's thread reads and hashes the
  next chunk (hashlib and ``write`` release the GIL), so hashing and writing use two cores.

A writer may also defer the directory fsyncs of its renames (``defer_dir_sync``) and do them
once, in :meth:`BlobWriter.sync`, before anything that refers to the blobs (an OCI layout's
``index.json``) is written.
"""

from __future__ import annotations

import contextlib
import io
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Final

from boxwright._atomic import TEMP_PREFIX, fsync_dir, new_temp_file
from boxwright.errors import DigestMismatchError, TransportError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import CHUNK, Digest, new_hasher
from boxwright.oci.mediatype import OCTET_STREAM
from boxwright.oci.readers import Reader, VerifyingStream, as_verifying
from boxwright.transport.smallfile import atomic_write

WRITE_BEHIND_MIN: Final = 4 * CHUNK
"""Blobs at least this large are written by a helper thread (smaller ones are not worth one)."""

_WRITE_BEHIND_DEPTH: Final = 4
"""Chunks queued for the helper thread at most: bounds the memory of one blob to ~5 MiB."""

_TEMP_ATTEMPTS: Final = 100


def vouching_for(stream: Reader, digest: Digest) -> VerifyingStream | None:
    """``stream`` when it checks its own content against ``digest``, else None."""
    verifying = as_verifying(stream)
    return verifying if verifying is not None and verifying.verifies == digest else None


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
        fd, self.temp_path = _create_temp(self.path.parent)
        self._file = os.fdopen(fd, "wb")
        return self._file

    def __enter__(self) -> IO[bytes]:
        return self.open()

    def commit(self, *, sync_dir: bool = True) -> None:
        """Make the written content visible under the target name, durably.

        With ``sync_dir`` false the caller takes over the fsync of the directory, which makes
        the rename durable (:meth:`BlobWriter.sync` does it once for many blobs).
        """
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
        if sync_dir:
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

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def _create_temp(directory: Path) -> tuple[int, Path]:
    """A new ``.tmp-*`` file (mode 0600) in ``directory``: its fd and path."""
    try:
        return new_temp_file(directory)
    except OSError as e:
        raise TransportError(f"cannot create a file in {directory}: {e.strerror or e}") from None


def staging_directory(path: Path, name: str) -> Path:
    """A new ``.tmp-*`` directory (mode 0700) beside the archive file ``path`` that ``name``
    writes: its parts are staged there, on the file's filesystem, until the archive is written.
    """
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        for _ in range(_TEMP_ATTEMPTS):
            directory = parent / f"{TEMP_PREFIX}{os.urandom(8).hex()}"
            with contextlib.suppress(FileExistsError):
                directory.mkdir(mode=0o700)
                return directory
    except OSError as e:
        raise TransportError(f"cannot stage {name} in {parent}: {e.strerror}") from None
    raise TransportError(f"cannot stage {name} in {parent}: no free temporary name")


class _WriteBehind:
    """Writes chunks to a file on a helper thread, so the caller can read and hash meanwhile.

    At most ``_WRITE_BEHIND_DEPTH`` chunks wait in the queue (the caller blocks when it is
    full), so memory stays bounded. The first write error is kept and raised to the caller by
    its next :meth:`write` or by :meth:`close`; later chunks are dropped.
    """

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._queue: queue.Queue[bytes | None] = queue.Queue(_WRITE_BEHIND_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="boxwright-blob-write")
        self._thread.start()

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._out.write(chunk)
                except BaseException as e:  # handed to the caller's thread
                    self._error = e

    def write(self, chunk: bytes) -> None:
        """Queue ``chunk`` (bytes are immutable: the caller may go on at once)."""
        if self._error is not None:
            raise self._error
        self._queue.put(chunk)

    def close(self) -> None:
        """Wait until every queued chunk is written; raise the first write error."""
        self._queue.put(None)
        self._thread.join()
        if self._error is not None:
            raise self._error


class BlobWriter:
    """Writes blobs into a content-addressed directory, visible only once verified.

    ``path_for`` maps a validated :class:`Digest` to the blob's final path (for an OCI layout
    ``blobs/ALG/HEX``, for ``dir:`` just ``HEX``); temporary files go to ``temp_dir``, which
    must be on the same filesystem. The default layout is ``root/ALG/HEX``.

    With ``defer_dir_sync``, the directories that received blobs are fsynced by :meth:`sync`
    (once each) instead of after every rename; the owner must call it before writing anything
    that refers to the blobs.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        path_for: Callable[[Digest], Path] | None = None,
        *,
        temp_dir: str | os.PathLike[str] | None = None,
        defer_dir_sync: bool = False,
    ) -> None:
        self.root = Path(root)
        self._path_for = path_for or (lambda d: self.root / d.algorithm / d.hex)
        self._temp_dir = Path(temp_dir) if temp_dir is not None else self.root
        self._defer_dir_sync = defer_dir_sync
        self._lock = threading.Lock()
        self._made: set[Path] = set()
        self._unsynced: set[Path] = set()

    def path_for(self, digest: Digest | str) -> Path:
        """The final path of a blob; a digest given as text is validated first."""
        if not isinstance(digest, Digest):
            digest = Digest.parse(digest)
        return self._path_for(digest)

    def write(
        self,
        stream: Reader,
        expected: Descriptor | None = None,
        *,
        algorithm: str = "sha256",
    ) -> Descriptor:
        """Copy ``stream`` into the blob store and return the descriptor of what was stored.

        With ``expected``, the content must have its digest and size (a longer stream is
        refused without reading it all); the returned descriptor is ``expected`` itself. Without
        one, the digest (``algorithm``) and size are measured and the media type is
        ``application/octet-stream``. A stream that verifies itself against the expected
        digest (:func:`vouching_for`) is trusted instead of hashed again. On any failure
        nothing is left under a blob name.
        """
        vouching = None if expected is None else vouching_for(stream, expected.digest)
        if expected is not None:
            algorithm = expected.digest.algorithm
        hasher = None if vouching is not None else new_hasher(algorithm)
        limit = expected.size if expected is not None else None
        self._makedirs(self._temp_dir)
        atomic = AtomicFile(self._temp_dir / "blob")
        behind: _WriteBehind | None = None
        try:
            out = atomic.open()
            if limit is not None and limit >= WRITE_BEHIND_MIN:
                behind = _WriteBehind(out)
            put = out.write if behind is None else behind.write
            size = self._copy_in(stream, put, hasher, expected)
            if behind is not None:
                pending = behind
                behind = None  # closed here: nothing left for _abandon to stop
                try:
                    pending.close()
                except OSError as e:
                    raise self._write_failed(e) from None
            digest = self._check(vouching, expected, hasher, algorithm, size)
            final = self._path_for(digest)
            self._makedirs(final.parent)
            atomic.path = final
            atomic.commit(sync_dir=not self._defer_dir_sync)
        except BaseException:
            self._abandon(atomic, behind)
            raise
        if self._defer_dir_sync:
            with self._lock:
                self._unsynced.add(final.parent)
        if expected is not None:
            return expected
        return Descriptor(OCTET_STREAM, digest, size)

    def adopt(self, path: Path, expected: Descriptor) -> Descriptor:
        """Rename ``path``, a complete file on the temporary directory's filesystem, into
        place as the blob ``expected`` (the file is consumed either way).

        For a blob its writer hashed byte by byte as it wrote it and fsynced (a commit's layer:
        :func:`~boxwright.layer.streams.write_layer_file`), so copying it again through
        :meth:`write` would only read and write the same bytes twice. Its size is checked
        against ``expected``; a blob already present is kept and ``path`` deleted.
        """
        final = self._path_for(expected.digest)
        try:
            size = os.stat(path).st_size
            if size != expected.size:
                raise DigestMismatchError(
                    f"blob {expected.digest} is {size} bytes, not the expected {expected.size}"
                )
            self._makedirs(final.parent)
            os.rename(path, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            raise
        if self._defer_dir_sync:
            with self._lock:
                self._unsynced.add(final.parent)
        else:
            fsync_dir(final.parent)
        return expected

    def _copy_in(
        self,
        stream: Reader,
        put: Callable[[bytes], object],
        hasher: Any | None,
        expected: Descriptor | None,
    ) -> int:
        """Copy ``stream`` to ``put``, through ``hasher`` when there is one, and return the
        size; a stream longer than ``expected`` is refused as soon as it runs past that size."""
        limit = expected.size if expected is not None else None
        size = 0
        while True:
            want = CHUNK if limit is None else min(CHUNK, limit - size + 1)
            chunk = stream.read(want)
            if not chunk:
                return size
            size += len(chunk)
            if limit is not None and size > limit:
                assert expected is not None
                raise DigestMismatchError(
                    f"blob {expected.digest} is longer than its expected size {limit}"
                )
            if hasher is not None:
                hasher.update(chunk)
            try:
                put(chunk)
            except OSError as e:
                raise self._write_failed(e) from None

    @staticmethod
    def _check(
        vouching: VerifyingStream | None,
        expected: Descriptor | None,
        hasher: Any | None,
        algorithm: str,
        size: int,
    ) -> Digest:
        """The digest of what was written, checked against ``expected`` (when given): by
        ``hasher``, or by the stream ``vouching`` for it (when it was trusted)."""
        if expected is None:
            assert hasher is not None
            return Digest(algorithm, hasher.hexdigest())
        if size != expected.size:
            raise DigestMismatchError(
                f"blob {expected.digest} is truncated: got {size} of {expected.size} bytes"
            )
        if hasher is None:
            # The stream checked the bytes itself; it must have seen EOF and found them right.
            if vouching is None or not vouching.verified:
                raise DigestMismatchError(
                    f"blob {expected.digest} was not verified by its reader before EOF"
                )
            return expected.digest
        digest = Digest(algorithm, hasher.hexdigest())
        if digest != expected.digest:
            raise DigestMismatchError(
                f"blob content does not match its digest: expected {expected.digest}, got {digest}"
            )
        return digest

    def _write_failed(self, error: OSError) -> TransportError:
        return TransportError(f"cannot write a blob in {self._temp_dir}: {error.strerror or error}")

    @staticmethod
    def _abandon(atomic: AtomicFile, behind: _WriteBehind | None) -> None:
        """Stop the helper thread (its error, if any, is superseded) and drop the temp file."""
        if behind is not None:
            with contextlib.suppress(BaseException):
                behind.close()
        atomic.discard()

    def _makedirs(self, directory: Path) -> None:
        """Create ``directory`` (and parents) once per writer, not once per blob."""
        if directory in self._made:
            return
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise TransportError(f"cannot create the directory {directory}: {e.strerror}") from None
        with self._lock:
            self._made.add(directory)

    def sync(self) -> None:
        """fsync, once each, the directories whose renames were deferred (``defer_dir_sync``).

        After it returns, every blob written so far survives a crash.
        """
        with self._lock:
            pending, self._unsynced = self._unsynced, set()
        for directory in sorted(pending):
            try:
                fsync_dir(directory)
            except OSError as e:
                raise TransportError(
                    f"cannot sync the directory {directory}: {e.strerror}"
                ) from None

    def write_bytes(self, data: bytes, expected: Descriptor | None = None) -> Descriptor:
        """Store a small in-memory document (a manifest or config) as a blob."""
        return self.write(io.BytesIO(data), expected)


__all__ = [
    "TEMP_PREFIX",
    "AtomicFile",
    "BlobWriter",
    "atomic_write",
    "fsync_dir",
    "staging_directory",
    "vouching_for",
]
