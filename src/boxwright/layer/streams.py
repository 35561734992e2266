"""One-pass layer streams: the compressed digest and the diff_id computed together.

A layer has two identities: its *digest* (sha256 of the compressed blob, named by the
manifest) and its *diff_id* (sha256 of the uncompressed tar, listed in the image config).
:class:`LayerWriter` produces both while compressing a tar as it is written;
:class:`LayerReader` decompresses a blob, hashes both sides as they pass and checks the
diff_id (and optionally the digest) when the stream ends.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import IO, Any

from boxwright.errors import DigestMismatchError, LayerError
from boxwright.layer.compression import (
    CHUNK,
    NONE,
    CompressWriter,
    auto_decompress,
    check_compression,
    decompress,
)
from boxwright.oci.digest import Digest
from boxwright.oci.readers import WrappedReader


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
    """

    def __init__(self, out: IO[bytes], compression: str, level: int | None = None) -> None:
        super().__init__()
        self.compression = check_compression(compression)
        self._sink = _HashingSink(out)
        self._writer = CompressWriter(self._sink, compression, level)  # type: ignore[arg-type]
        self._diff = hashlib.sha256()
        self._usize = 0
        self._result: LayerDigests | None = None

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self._result is not None:
            raise ValueError("write to a closed LayerWriter")
        self._diff.update(data)
        size = self._writer.write(data)
        self._usize += size
        return size

    def close(self) -> LayerDigests:  # type: ignore[override]
        """Finish the compressed stream and return the digests."""
        if self._result is None:
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

    def __enter__(self) -> LayerWriter:
        return self


class _CountingReader(WrappedReader):
    """The compressed side of a :class:`LayerReader`: hashes and counts what is read."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self.hasher = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            self.hasher.update(data)
            self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class LayerReader(io.RawIOBase):
    """A readable of a layer's uncompressed tar that verifies it when the stream ends.

    ``compression`` None detects it from the magic bytes. At EOF the sha256 of everything read
    must equal ``expected_diff_id`` and, when given, the sha256 of the compressed input must
    equal ``expected_digest``; otherwise :class:`DigestMismatchError` is raised from the read
    that reached EOF. After EOF, ``diff_id``, ``digest``, ``size`` (compressed) and
    ``uncompressed_size`` hold what was measured. ``close()`` does not close ``stream``.
    """

    def __init__(
        self,
        stream: IO[bytes],
        compression: str | None = None,
        expected_diff_id: Digest | None = None,
        *,
        expected_digest: Digest | None = None,
    ) -> None:
        super().__init__()
        for want in (expected_diff_id, expected_digest):
            if want is not None and want.algorithm != "sha256":
                raise LayerError(f"layer digests must be sha256, not {want}")
        self._raw = _CountingReader(stream)
        if compression is None:
            self._plain, self.compression = auto_decompress(self._raw)  # type: ignore[arg-type]
        else:
            self.compression = check_compression(compression)
            self._plain = decompress(self._raw, compression)  # type: ignore[arg-type]
        self._expected_diff_id = expected_diff_id
        self._expected_digest = expected_digest
        self._hasher = hashlib.sha256()
        self.uncompressed_size = 0
        self.diff_id: Digest | None = None
        self.digest: Digest | None = None
        self.size: int | None = None

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
            parts = []
            while chunk := self.read(CHUNK):
                parts.append(chunk)
            return b"".join(parts)
        data = self._plain.read(size)
        if data:
            self._hasher.update(data)
            self.uncompressed_size += len(data)
            return data
        self._finish()
        return b""

    def readall(self) -> bytes:
        return self.read()

    def _finish(self) -> None:
        self._raw.drain()
        self.diff_id = Digest("sha256", self._hasher.hexdigest())
        self.digest = Digest("sha256", self._raw.hasher.hexdigest())
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
                if self.compression != NONE:  # a decoder of ours; never the caller's stream
                    self._plain.close()
            finally:
                super().close()

    def __enter__(self) -> LayerReader:
        return self


__all__ = ["LayerDigests", "LayerReader", "LayerWriter"]
