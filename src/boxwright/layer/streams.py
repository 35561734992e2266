"""One-pass layer streams: the compressed digest and the diff_id computed together.

A layer has two identities: its *digest* (sha256 of the compressed blob, named by the
manifest) and its *diff_id* (sha256 of the uncompressed tar, listed in the image config).
:class:`LayerWriter` produces both while compressing a tar as it is written (threaded, it
compresses and hashes in a worker thread behind its producer);
:class:`LayerReader` decompresses a blob, hashes both sides as they pass and checks the
diff_id (and optionally the digest) when the stream ends; threaded, it does that work in a
worker thread ahead of its consumer, which is how ``unpack`` uses both cores.
"""

from __future__ import annotations

import collections
import contextlib
import hashlib
import io
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final, Self, TypeVar, cast

from boxwright.errors import DigestMismatchError, LayerError
from boxwright.layer.compression import (
    NONE,
    CompressWriter,
    auto_decompress,
    check_compression,
    decompress,
)
from boxwright.oci.digest import CHUNK, Digest, read_to_end
from boxwright.oci.readers import Reader, WrappedReader, as_verifying

T = TypeVar("T")


# A layer's four facts, as the blob-info cache and copy record them; other value types'
# headers look alike by convention only.
@dataclass(frozen=True, slots=True)
class LayerDigests:
    """What a layer blob is known by: compressed digest and size, diff_id and tar size."""

    digest: Digest
    size: int
    diff_id: Digest
    uncompressed_size: int
    compression: str = NONE


class _HashingSink:
    """A write target that hashes and counts the bytes passing to ``out``."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self.hasher = hashlib.sha256()
        self.size = 0

    def write(self, data: Any) -> int:
        self.hasher.update(data)
        self._out.write(data)
        size = len(data)
        self.size += size
        return size

    def flush(self) -> None:
        self._out.flush()


class LayerWriter(io.RawIOBase):
    """A writable taking the uncompressed tar, writing the compressed blob to ``out``.

    The diff_id is the sha256 of what is written here; the digest and size are those of the
    bytes that reach ``out``. ``close()`` ends the compressed stream (``out`` stays open) and
    returns the :class:`LayerDigests`; ``result()`` returns them too (closing first if needed).

    ``threaded``: the hashing, compressing and writing to ``out`` happen in a worker thread,
    up to :data:`_DEPTH_BEHIND` writes behind the producer (both release the GIL, so they
    overlap with the producer reading files and encoding headers on the other core). The
    bytes are the same: the worker takes the writes in order. An error of the worker is
    raised by the next ``write`` or by ``close``; ``out`` is only touched by the worker
    until ``close`` returns.
    """

    def __init__(
        self,
        out: IO[bytes],
        compression: str,
        level: int | None = None,
        *,
        threaded: bool = False,
    ) -> None:
        super().__init__()
        self.compression = check_compression(compression)
        self._sink = _HashingSink(out)
        self._writer = CompressWriter(self._sink, compression, level)
        self._diff = hashlib.sha256()
        self._usize = 0
        self._result: LayerDigests | None = None
        self._behind: _WriteBehind | None = _WriteBehind(self._consume) if threaded else None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._result is not None:
            raise ValueError("write to a closed LayerWriter")
        if self._behind is not None:
            return self._behind.put(data)
        return self._consume(data)

    def _consume(self, data: Any) -> int:
        self._diff.update(data)
        size = self._writer.write(data)
        self._usize += size
        return size

    # Unlike io's close, this one returns the digests (commit and repack use them).
    def close(self) -> LayerDigests:  # type: ignore[override]
        """Finish the compressed stream and return the digests."""
        if self._result is None:
            if self._behind is not None:
                behind, self._behind = self._behind, None
                behind.finish()
            self._writer.close()
            diff_id = Digest("sha256", self._diff.hexdigest())
            if self.compression == NONE:
                digest = diff_id
            else:
                digest = Digest("sha256", self._sink.hasher.hexdigest())
            self._result = LayerDigests(
                digest, self._sink.size, diff_id, self._usize, self.compression
            )
            super().close()
        return self._result

    def result(self) -> LayerDigests:
        """The digests of the finished layer (closes the writer if still open)."""
        return self.close()

    def abandon(self) -> None:
        """Stop a threaded writer's worker without finishing the stream (the producer
        failed; what reached ``out`` is to be thrown away)."""
        if self._behind is not None:
            behind, self._behind = self._behind, None
            with contextlib.suppress(BaseException):
                behind.finish()

    def __enter__(self) -> Self:
        return self


#: Writes a threaded :class:`LayerWriter` may hold for its worker (each up to a
#: :class:`~boxwright.layer.tarwriter.TarWriter` chunk: memory stays flat).
_DEPTH_BEHIND: Final = 4


class _WriteBehind:
    """A worker thread calling ``consume`` on each chunk :meth:`put` hands it, in order."""

    def __init__(self, consume: Callable[[bytes], object]) -> None:
        self._consume = consume
        self._items: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(_DEPTH_BEHIND):
            self._slots.put(None)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="boxwright-layer-out", daemon=True)
        self._thread.start()

    def put(self, data: Any) -> int:
        """Queue ``data`` (copied unless immutable: the caller may reuse its buffer)."""
        if self._error is not None:
            raise self._error
        chunk = data if isinstance(data, bytes) else bytes(data)
        self._slots.get()
        self._items.put(chunk)
        return len(chunk)

    def finish(self) -> None:
        """Wait for every queued chunk to be consumed; raise the worker's error, if any."""
        self._items.put(_EOF)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        while (item := self._items.get()) is not _EOF:
            if self._error is None:
                try:
                    self._consume(cast("bytes", item))
                except BaseException as exc:  # raised in the producer's thread
                    self._error = exc
            self._slots.put(None)


def write_layer_file(
    path: Path, compression: str, produce: Callable[[IO[bytes]], T]
) -> tuple[LayerDigests, T]:
    """A new layer blob at ``path`` from ``produce(tar)``, which writes the uncompressed tar.

    The tar is compressed, hashed both sides (digest and diff_id) in the one pass, by a
    worker thread behind ``produce`` (a threaded :class:`LayerWriter`), and the file fsynced
    before it is named anywhere. Returns the digests and what ``produce`` returned. This is
    how a new layer is made from a container (commit) or an unpacked tree (repack).
    """
    with path.open("wb") as out:
        writer = LayerWriter(out, compression, threaded=True)
        try:
            produced = produce(cast("IO[bytes]", writer))
        except BaseException:
            writer.abandon()
            raise
        digests = writer.close()
        out.flush()
        os.fsync(out.fileno())
    return digests, produced


class _CountingReader(WrappedReader):
    """The compressed side of a :class:`LayerReader`: hashes and counts what is read.

    When ``stream`` is a :class:`~boxwright.oci.readers.VerifyingStream` of a sha256 digest
    (it raises at EOF on a mismatch, as :class:`~boxwright.oci.digest.VerifyingReader`
    does), its digest is trusted instead of hashing the same bytes a second time.
    """

    def __init__(self, stream: Reader) -> None:
        self._stream = stream
        self.trusted: Digest | None = None
        verifying = as_verifying(stream)
        verifies = None if verifying is None else verifying.verifies
        if verifies is not None and verifies.algorithm == "sha256":
            self.trusted = verifies
        self.hasher = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            if self.trusted is None:
                self.hasher.update(data)
            self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass

    def digest(self) -> Digest:
        """The sha256 of everything read (call after :meth:`drain`)."""
        if self.trusted is not None:
            return self.trusted
        return Digest("sha256", self.hasher.hexdigest())


_EOF: Final = object()
#: Size of the decoded chunks a threaded reader hands out: large, so that the worker
#: thread needs the GIL (and takes it from the consumer) only a few hundred times a layer.
PUMP_CHUNK: Final = 1 << 20
#: Decoded chunks the worker may hold ready, and decoded chunks that may wait to be
#: hashed (bounded: memory stays flat).
_DEPTH: Final = 16


class _Pump:
    """A worker thread that reads and decompresses a layer ahead of its consumer.

    The worker reads the blob (a verifying source hashes it there) and inflates it,
    which releases the GIL, so this overlaps with what the consumer does (parsing tar
    headers, making syscalls) on the other core. Decoded chunks travel through a
    C-implemented ``SimpleQueue`` bounded by slot tokens, so memory stays flat and handing
    a chunk over costs no Python-level locking.

    The diff_id hash of the decoded chunks is work without a thread of its own: chunks
    wait in a backlog, hashed in order under a lock by whichever of the two threads would
    otherwise sit idle — the consumer while it waits for data, the worker while its
    consumer is behind — so the process keeps two busy threads on two cores instead of
    three threads taking turns. The worker hashes what is left before it reports the end.

    An error of the worker is handed to the consumer in order, after the chunks that
    preceded it; the end is only reported once the diff_id is known.

    ``after``: another pump whose blob must be read to its end before this one starts
    (so the next layer of an image inflates while the consumer still writes the tail of
    the current one, without competing with the current one's inflate for a core).
    """

    def __init__(
        self, plain: Reader, raw: _CountingReader, hasher: Any, after: _Pump | None = None
    ) -> None:
        self._lock = threading.Lock()
        self._produced = False
        self._then: list[Callable[[], None]] = []
        self._go = threading.Event()
        if after is None:
            self._go.set()
        else:
            after.when_produced(self._go.set)
        self._plain = plain
        self._raw = raw
        self._hasher = hasher
        self.size = 0
        self._stop = False
        self._ready: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._slots: queue.SimpleQueue[None] = queue.SimpleQueue()
        for _ in range(_DEPTH):
            self._slots.put(None)
        self._backlog: collections.deque[bytes] = collections.deque()
        self._hash_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="boxwright-layer", daemon=True)
        self._thread.start()

    def when_produced(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (in some thread) once this pump has read its blob to the end,
        failed, or been stopped; at once if that already happened."""
        with self._lock:
            if not self._produced:
                self._then.append(callback)
                return
        callback()

    def _hash_one(self, wait: bool) -> bool:
        """Hash the oldest chunk of the backlog; False if there was none (or, without
        ``wait``, if the other thread is hashing right now)."""
        if not self._hash_lock.acquire(wait):
            return False
        try:
            if not self._backlog:
                return False
            self._hasher.update(self._backlog.popleft())
            return True
        finally:
            self._hash_lock.release()

    def _run(self) -> None:
        try:
            self._go.wait()
            if not self._stop:
                self._pump()
        finally:
            with self._lock:
                self._produced = True
                then, self._then = self._then, []
            for callback in then:
                callback()

    def _pump(self) -> None:
        ready = self._ready.put
        slot = self._slots.get
        backlog = self._backlog
        try:
            read = self._plain.read
            size = 0
            while True:
                data = read(PUMP_CHUNK)
                if not data:
                    self._raw.drain()
                    while self._hash_one(True):
                        pass
                    self.size = size
                    ready(_EOF)
                    return
                backlog.append(data)
                while len(backlog) > _DEPTH:
                    self._hash_one(True)
                size += len(data)
                try:
                    slot(False)
                except queue.Empty:  # the consumer is behind: hash while waiting for it
                    while self._slots.empty() and self._hash_one(False):
                        pass
                    slot()
                if self._stop:
                    return
                ready(data)
        except BaseException as exc:  # handed to the consumer, raised there
            ready(exc)

    def get(self) -> object:
        """The next decoded chunk, :data:`_EOF`, or the worker's exception."""
        ready = self._ready
        while ready.empty() and self._hash_one(False):
            pass  # nothing to take yet: hash instead of waiting
        item = ready.get()
        if isinstance(item, bytes):
            self._slots.put(None)
        return item

    def stop(self) -> None:
        """Stop the worker and wait for it (it may be waiting for a free slot)."""
        self._stop = True
        self._go.set()
        self._slots.put(None)
        self._thread.join()


class LayerReader(io.RawIOBase):
    """A readable of a layer's uncompressed tar that verifies it when the stream ends.

    ``compression`` None detects it from the magic bytes. At EOF the sha256 of everything read
    must equal ``expected_diff_id`` and, when given, the sha256 of the compressed input must
    equal ``expected_digest``; otherwise :class:`DigestMismatchError` is raised from the read
    that reached EOF. After EOF, ``diff_id``, ``digest``, ``size`` (compressed) and
    ``uncompressed_size`` hold what was measured. ``close()`` does not close ``stream``.

    ``threaded``: read, decompress and hash in a worker thread, a few chunks ahead (see
    :class:`_Pump`); reads then return whole decoded chunks of up to :data:`PUMP_CHUNK`
    bytes when asked for that much. Verification is unchanged: the read that reaches EOF
    raises on a mismatch, and errors of the worker (a corrupt stream, a digest mismatch of
    the blob) are raised by the read that reaches them. ``close()`` stops the worker.
    ``start_after`` (another threaded reader) delays the work until that reader's blob has
    been read to its end: the way to read the next layer of an image ahead without slowing
    the current one.
    """

    # The stream, what to check it against, how to read it: a keyword list alike in shape
    # only to others (runtime.lifecycle's Container.create).
    def __init__(
        self,
        stream: Reader,
        compression: str | None = None,
        expected_diff_id: Digest | None = None,
        *,
        expected_digest: Digest | None = None,
        threaded: bool = False,
        start_after: LayerReader | None = None,
    ) -> None:
        super().__init__()
        for want in (expected_diff_id, expected_digest):
            if want is not None and want.algorithm != "sha256":
                raise LayerError(f"layer digests must be sha256, not {want}")
        self._raw = _CountingReader(stream)
        # In a threaded reader the worker thread is the only thread the decoder needs.
        inner_threads = not threaded
        if compression is None:
            self._plain, self.compression = auto_decompress(
                self._raw,
                threaded=inner_threads,
            )
        else:
            self.compression = check_compression(compression)
            self._plain = decompress(
                self._raw,
                compression,
                threaded=inner_threads,
            )
        self._expected_diff_id = expected_diff_id
        self._expected_digest = expected_digest
        self._hasher = hashlib.sha256()
        self.uncompressed_size = 0
        self.diff_id: Digest | None = None
        self.digest: Digest | None = None
        self.size: int | None = None
        self._pump: _Pump | None = None
        self._rest: memoryview | None = None
        self._error: BaseException | None = None
        if threaded:
            after = start_after._pump if start_after is not None else None
            self._pump = _Pump(self._plain, self._raw, self._hasher, after)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def read(self, size: int = -1) -> bytes:
        if self.diff_id is not None:
            return b""
        if size is None or size < 0:
            return read_to_end(self.read)
        if self._pump is not None:
            return self._read_pumped(size)
        data = self._plain.read(size)
        if data:
            self._hasher.update(data)
            self.uncompressed_size += len(data)
            return data
        self._finish()
        return b""

    def _read_pumped(self, size: int) -> bytes:
        rest = self._rest
        if rest is not None:
            if len(rest) > size:
                self._rest = rest[size:]
                return bytes(rest[:size])
            self._rest = None
            return bytes(rest)
        if self._error is not None:
            raise self._error
        assert self._pump is not None
        item = self._pump.get()
        if isinstance(item, bytes):
            if len(item) > size:
                self._rest = memoryview(item)[size:]
                return item[:size]
            return item
        if item is _EOF:
            self.uncompressed_size = self._pump.size
            self._finish()
            return b""
        assert isinstance(item, BaseException)
        self._error = item
        raise item

    def readall(self) -> bytes:
        return self.read()

    def _finish(self) -> None:
        if self._pump is None:
            self._raw.drain()
        self.diff_id = Digest("sha256", self._hasher.hexdigest())
        self.digest = self._raw.digest()
        self.size = self._raw.size
        want = self._expected_diff_id
        if want is not None and want != self.diff_id:
            raise DigestMismatchError(
                f"layer content does not match its diff_id: expected {want}, got {self.diff_id}"
            )
        want = self._expected_digest
        if want is not None and want != self.digest:
            raise DigestMismatchError(
                f"layer blob does not match its digest: expected {want}, got {self.digest}"
            )

    def result(self) -> LayerDigests:
        """Read to the end (verifying) and return what was measured."""
        while self.read(CHUNK):
            pass
        assert self.diff_id is not None and self.digest is not None and self.size is not None
        return LayerDigests(
            self.digest, self.size, self.diff_id, self.uncompressed_size, self.compression
        )

    def close(self) -> None:
        if not self.closed:
            try:
                if self._pump is not None:
                    self._pump.stop()
                if self.compression != NONE:  # a decoder of ours; never the caller's stream
                    self._plain.close()
            finally:
                super().close()

    def __enter__(self) -> Self:
        return self


__all__ = ["PUMP_CHUNK", "LayerDigests", "LayerReader", "LayerWriter", "write_layer_file"]
