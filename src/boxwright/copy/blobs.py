"""Moving blobs from a source to a destination: skip, stream verified, or recompress.

One blob goes through a chain of readers, one named step each (as in containers/image):
the source's verifying reader → progress → detect compression → [decompress, hash the
uncompressed bytes and check them against the config's diff_id → compress] → the
destination's ``put_blob``, which hashes what it writes. Nothing is ever held whole in memory,
and a failure anywhere makes ``put_blob`` fail and leave nothing. Every layer the copier
decompresses (to recompress it, or to compress a plain one for a destination that wants
that) is checked against ``rootfs.diff_ids[i]`` of its image config in that same pass: the
check runs when the uncompressed stream ends, inside ``put_blob``, so a layer whose content is
not what the config says is never stored, and the copy fails before any manifest is written.

A layer's compression is what its first bytes say (:func:`~boxwright.layer.compression.
resolve_compression`): gzip and zstd by their frames whatever the media type claims; plain
only when the media type says so or the bytes open a tar. A layer declared compressed whose
bytes are none of these fails the copy with :class:`~boxwright.errors.CompressionError`.
A blob copied unchanged is hashed once: the readers on its way pass the source's
self-verification through (:class:`~boxwright.oci.readers.VerifyingStream`), so the
destination trusts it instead of hashing the same bytes again.

A :class:`BlobCopier` is shared by the worker threads of one copy: it remembers the blobs it
has already handled, so a layer named twice (or by two images of an index) moves once.

With a :class:`~boxwright.transport.blobinfocache.BlobInfoCache`, every layer the copier
decompresses or compresses leaves its verified digest pairs there (the source blob and the
new blob ↔ the diff_id computed from the bytes, with compressions and sizes); and a layer
about to be recompressed is first looked up there: when the destination already holds a blob
of the same diff_id in the wanted compression, that blob is used and nothing is compressed
or sent (containers/image's substitution of a blob by another compression of it). A cache
that fails is logged and ignored; it never fails a copy.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING

from boxwright._log import Logger
from boxwright.copy.progress import (
    DONE,
    PROGRESS,
    SKIPPED,
    STARTED,
    ProgressCallback,
    ProgressEvent,
    ProgressReader,
)
from boxwright.errors import DigestMismatchError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.mediatype import layer_compression
from boxwright.oci.readers import PassThroughReader, Reader, VerifyingStream, WrappedReader
from boxwright.transport.base import ImageDestination, ImageSource

if TYPE_CHECKING:
    from boxwright.layer.streams import LayerReader
    from boxwright.transport.blobinfocache import BlobInfoCache

_LOG = Logger(__name__)


@dataclass(frozen=True, slots=True)
class BlobOutcome:
    """What became of one source blob.

    ``stored`` is the blob as it is in the destination: the source descriptor itself when the
    bytes were copied or already present, or the new digest and size (media type still the
    source's, the caller picks the final one) after a recompression. ``compression`` is set
    when the stored blob's compression differs from what the source media type declares:
    the new one after a recompression, or the one detected in a blob whose media type was
    wrong.
    ``transferred`` is false when the destination already had the blob.
    ``diff_id`` is the diff_id of the stored blob's content as this copy knows it: measured
    when the blob was decompressed, or known from the blob-info cache when a blob already in
    the destination was used instead; None when the bytes were copied unchanged.
    """

    source: Descriptor
    stored: Descriptor
    compression: str | None
    transferred: bool
    diff_id: Digest | None = None


@dataclass(frozen=True, slots=True)
class ExpectedDiffId:
    """The diff_id a layer's content must have: ``rootfs.diff_ids[index]`` of its image config.

    ``resolve`` returns it; it is called only when the copier decompresses the layer (the
    config may then be read from the source by whichever job needs it first), so a copy that
    moves bytes unchanged does not wait for the config. ``may_be`` answers whether the
    diff_id could be a given digest without parsing the config (True when it cannot tell):
    a layer the destination already has is a plain tar labelled compressed only when its
    digest is its diff_id, which the config's text rules out for nearly every layer.
    """

    index: int
    resolve: Callable[[], Digest]
    may_be: Callable[[Digest], bool] = lambda _: True

    def is_digest(self, digest: Digest) -> bool:
        """Whether the diff_id is ``digest``."""
        return self.may_be(digest) and self.resolve() == digest

    def check(self, descriptor: Descriptor, measured: Digest) -> None:
        """Raise :class:`DigestMismatchError` unless ``measured`` is the config's diff_id."""
        want = self.resolve()
        if measured != want:
            raise DigestMismatchError(
                f"layer {descriptor.digest} does not match rootfs.diff_ids[{self.index}] of "
                f"its image config: expected {want}, its content is {measured}"
            )


class BlobCopier:
    """Copies the blobs of one copy operation, each at most once, from several threads."""

    def __init__(
        self,
        source: ImageSource,
        dest: ImageDestination,
        *,
        level: int | None = None,
        on_progress: ProgressCallback | None = None,
        compress_plain: str | None = None,
        cache: BlobInfoCache | None = None,
    ) -> None:
        # One copy's worker, shared by threads (a lock, the blobs in flight), not a value.
        self._source = source
        self._dest = dest
        self._cache = cache
        self._level = level
        self._compress_plain = compress_plain
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self._seen: dict[tuple[Digest, str | None], Future[BlobOutcome]] = {}

    @property
    def cache(self) -> BlobInfoCache | None:
        """The blob-info cache this copier reads and records digest pairs in, if any."""
        return self._cache

    def copy(
        self,
        descriptor: Descriptor,
        target: str | None = None,
        expected: ExpectedDiffId | None = None,
    ) -> BlobOutcome:
        """Copy ``descriptor``'s blob unchanged (``target`` None) or recompressed to ``target``.

        With a ``target``, the uncompressed content is checked against ``expected`` (when
        given) while it streams. Without one, a layer found to be uncompressed is compressed
        to ``compress_plain`` when the destination asked for that (as containers/image's OCI
        destinations do), checked the same way. A blob already handled in this copy is not
        moved again; the diff_id its first copy measured is checked against ``expected``.
        """
        if target is None:
            outcome = self._once(
                descriptor.digest, None, lambda: self._copy_unchanged(descriptor, expected)
            )
        else:
            outcome = self._once(
                descriptor.digest,
                target,
                lambda: (
                    self._reuse(descriptor, target, self._cached_diff_id(expected))
                    or self._recompress(descriptor, target, expected)
                ),
            )
        if expected is not None and outcome.diff_id is not None:
            expected.check(descriptor, outcome.diff_id)
        return outcome

    def put_small(self, descriptor: Descriptor, data: bytes) -> bool:
        """Store a small blob already read and verified (a config); False if it was present.

        It may run on a worker thread beside the layers; a layer with the same digest (an odd
        image, but a valid one) is then stored once, by whichever comes first.
        """
        return self._once(
            descriptor.digest, None, lambda: self._put_small(descriptor, data)
        ).transferred

    def _once(
        self, digest: Digest, target: str | None, work: Callable[[], BlobOutcome]
    ) -> BlobOutcome:
        """Run ``work`` for the blob ``digest`` (to ``target``) once; other callers wait for it
        and share its outcome (or its error)."""
        key = (digest, target)
        with self._lock:
            future = self._seen.get(key)
            owner = future is None
            if future is None:
                future = Future()
                self._seen[key] = future
        if not owner:
            return future.result()
        try:
            outcome = work()
        except BaseException as error:
            future.set_exception(error)
            raise
        future.set_result(outcome)
        return outcome

    # -- steps ------------------------------------------------------------------------------

    def _put_small(self, descriptor: Descriptor, data: bytes) -> BlobOutcome:
        if self._dest.has_blob(descriptor):
            self._emit(SKIPPED, descriptor, descriptor.size, descriptor.size)
            return BlobOutcome(descriptor, descriptor, None, transferred=False)
        self._dest.put_blob(io.BytesIO(data), descriptor)
        self._emit(DONE, descriptor, descriptor.size, descriptor.size)
        return BlobOutcome(descriptor, descriptor, None, transferred=True)

    def _copy_unchanged(
        self, descriptor: Descriptor, expected: ExpectedDiffId | None
    ) -> BlobOutcome:
        declared = layer_compression(descriptor.media_type)
        if self._dest.has_blob(descriptor):
            self._emit(SKIPPED, descriptor, descriptor.size, descriptor.size)
            # A blob whose digest is its own diff_id is an uncompressed tar, whatever its media
            # type says (docker-archive sources label every layer gzip, as containers/image
            # does); a transferred blob is sniffed instead.
            plain_tar = (
                declared not in (None, "none")
                and expected is not None
                and expected.is_digest(descriptor.digest)
            )
            return BlobOutcome(
                descriptor, descriptor, "none" if plain_tar else None, transferred=False
            )
        plain = self._compress_plain
        if plain not in (None, "none") and declared == "none":
            assert plain is not None
            # An uncompressed layer's digest is its diff_id.
            reused = self._reuse(descriptor, plain, descriptor.digest)
            if reused is not None:
                return reused
        self._emit(STARTED, descriptor, 0, descriptor.size)
        stream = self._source.get_blob(descriptor)
        try:
            reader, actual = _sniff_layer(stream, descriptor)
            if actual == "none" and plain not in (None, "none"):
                assert plain is not None
                return self._compress_stream(reader, descriptor, actual, plain, expected)
            self._dest.put_blob(self._with_progress(reader, descriptor), descriptor)
        finally:
            stream.close()
        self._emit(DONE, descriptor, descriptor.size, descriptor.size)
        relabel = None if actual == declared else actual
        return BlobOutcome(descriptor, descriptor, relabel, transferred=True)

    def _recompress(
        self, descriptor: Descriptor, target: str, expected: ExpectedDiffId | None
    ) -> BlobOutcome:
        self._emit(STARTED, descriptor, 0, descriptor.size)
        stream = self._source.get_blob(descriptor)
        try:
            reader, actual = _sniff_layer(stream, descriptor)
            assert actual is not None  # only layers are planned for recompression
            return self._compress_stream(reader, descriptor, actual, target, expected)
        finally:
            stream.close()

    def _compress_stream(
        self,
        stream: Reader,
        descriptor: Descriptor,
        compression: str,
        target: str,
        expected: ExpectedDiffId | None,
    ) -> BlobOutcome:
        """Decompress ``stream`` (compressed with ``compression``), check its diff_id against
        ``expected`` when it ends, compress it to ``target`` and put it.

        The check runs inside ``put_blob``, on the read that reaches the end of the
        uncompressed stream, so a mismatch makes ``put_blob`` fail and store nothing.
        """
        from boxwright.layer.compression import CompressingReader
        from boxwright.layer.streams import LayerReader

        plain = LayerReader(self._with_progress(stream, descriptor), compression)
        try:
            checked = _DiffIdCheck(plain, descriptor, expected)
            packed = CompressingReader(checked, target, self._level)
            put = self._dest.put_blob(packed)
        finally:
            plain.close()
        stored = descriptor.with_(digest=put.digest, size=put.size, urls=())
        self._record(descriptor, plain, stored, target)
        self._emit(DONE, descriptor, descriptor.size, descriptor.size)
        return BlobOutcome(descriptor, stored, target, transferred=True, diff_id=plain.diff_id)

    def _cached_diff_id(self, expected: ExpectedDiffId | None) -> Digest | None:
        """The config's diff_id of a layer about to be recompressed, when there is a cache to
        look it up in (resolving it may read the config)."""
        if expected is None or self._cache is None:
            return None
        return expected.resolve()

    def _reuse(
        self, descriptor: Descriptor, target: str, diff_id: Digest | None
    ) -> BlobOutcome | None:
        """The outcome of using a blob the destination already holds instead of recompressing
        ``descriptor`` to ``target``: one the cache knows to have the same diff_id, in the
        ``target`` compression. None when there is none (or no cache)."""
        cache = self._cache
        if cache is None:
            return None
        try:
            uncompressed = diff_id or cache.uncompressed_digest(descriptor.digest)
            variants = cache.compressed_variants(uncompressed) if uncompressed else []
        except Exception as error:  # the cache never fails a copy
            _LOG.debug("blob-info cache: %s", error)
            return None
        for digest, compression, size in reversed(variants):
            if compression != target:
                continue
            candidate = descriptor.with_(digest=digest, size=size, urls=())
            if self._dest.has_blob(candidate):
                self._emit(SKIPPED, descriptor, descriptor.size, descriptor.size)
                return BlobOutcome(
                    descriptor, candidate, target, transferred=False, diff_id=uncompressed
                )
        return None

    def _record(
        self, source: Descriptor, plain: LayerReader, stored: Descriptor, target: str
    ) -> None:
        """Record the pairs a recompression verified: the source blob and the stored one ↔
        the diff_id computed from the decompressed bytes."""
        cache = self._cache
        diff_id = plain.diff_id
        if cache is None or diff_id is None:
            return
        try:
            if plain.digest == source.digest:
                cache.record_digest_pair(
                    source.digest, diff_id, compression=plain.compression, size=source.size
                )
            cache.record_digest_pair(stored.digest, diff_id, compression=target, size=stored.size)
            cache.record_blob_info(diff_id, "none", plain.uncompressed_size)
        except Exception as error:  # the cache never fails a copy
            _LOG.debug("blob-info cache: %s", error)

    def _with_progress(self, stream: Reader, descriptor: Descriptor) -> Reader:
        if self._on_progress is None:
            return stream

        def report(count: int) -> None:
            self._emit(PROGRESS, descriptor, count, descriptor.size)

        return ProgressReader(stream, report)

    def _emit(self, kind: str, descriptor: Descriptor, done: int, total: int | None) -> None:
        if self._on_progress is not None:
            self._on_progress(
                ProgressEvent(kind, descriptor.digest, descriptor.media_type, done, total)
            )


def _sniff_layer(
    stream: VerifyingStream, descriptor: Descriptor
) -> tuple[VerifyingStream, str | None]:
    """Peek at a layer's first bytes: the compression it really has (None for a blob that is
    not a layer). The bytes win over the media type (a docker archive's plain tars are
    labelled gzip, as containers/image labels them); see
    :func:`~boxwright.layer.compression.resolve_compression`. The returned reader still yields
    every byte."""
    declared = layer_compression(descriptor.media_type)
    if declared is None:
        return stream, None
    from boxwright.layer.compression import PEEK_SIZE, resolve_compression

    replay = _Replay(stream, PEEK_SIZE)
    actual = resolve_compression(replay.head, declared, f"layer {descriptor.digest}")
    return replay, actual


class _DiffIdCheck(WrappedReader):
    """The uncompressed side of a recompression: when it ends, the diff_id ``plain`` measured
    is checked against the config's (``expected``), before the end is handed on."""

    def __init__(
        self, plain: LayerReader, descriptor: Descriptor, expected: ExpectedDiffId | None
    ) -> None:
        self._stream = plain
        self._plain = plain
        self._descriptor = descriptor
        self._expected = expected

    def read(self, n: int = -1) -> bytes:
        data = self._plain.read(n)
        if not data and self._expected is not None:
            assert self._plain.diff_id is not None
            expected, self._expected = self._expected, None
            expected.check(self._descriptor, self._plain.diff_id)
        return data


class _Replay(PassThroughReader):
    """Reads the first bytes of ``stream`` at once (:attr:`head`), then yields every byte.

    Unlike a generic peeking reader it passes the stream's self-verification through
    (``verifies``/``verified``): the bytes come out unchanged and in order, so a verifying
    source reader still vouches for all of them.
    """

    def __init__(self, stream: VerifyingStream, size: int) -> None:
        super().__init__(stream)
        head = b""
        while len(head) < size and (more := stream.read(size - len(head))):
            head += more
        self.head = head
        self._pending = head

    def read(self, n: int = -1) -> bytes:
        pending = self._pending
        if not pending:
            return self._stream.read(n)
        self._pending = b""
        if n is None or n < 0:
            return pending + self._stream.read()
        if n <= len(pending):
            self._pending = pending[n:]
            return pending[:n]
        return pending + self._stream.read(n - len(pending))


__all__ = ["BlobCopier", "BlobOutcome", "ExpectedDiffId"]
