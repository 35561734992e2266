"""Layer compression: detection by magic bytes and streaming codecs for gzip, zstd and none.

Compression names are the strings used across boxwright: ``"gzip"``, ``"zstd"`` and ``"none"``.
Every codec here streams: no blob is ever held whole in memory. Decoding errors of any kind
(truncated input, corrupt data, bad checksums, trailing garbage) surface as
:class:`~boxwright.errors.CompressionError` with a message that names the codec and the cause;
errors raised by the source stream itself (for example a digest mismatch from a verifying
reader) pass through unchanged.

gzip is decoded with ISA-L (``isal.igzip_threaded``: the inflate runs in a worker thread, so it
overlaps with tar parsing and file writing) and encoded with ISA-L at level 1 by default. ISA-L
levels are 0-3: level 1 compresses at roughly 350 MB/s per core against about 25 MB/s for
zlib level 6, at the price of output a few percent larger. Levels 4-9 select zlib, for callers
who prefer size over speed. zstd uses the ``zstandard`` bindings at level 3 (zstd's own default).

Each codec lives in its own module, the only importer of its library:
:mod:`boxwright.layer.gzipcodec` (isal) and :mod:`boxwright.layer.zstdcodec` (zstandard), imported
when a stream is first decoded or encoded, so importing this module stays cheap on the command
line start-up path.
"""

from __future__ import annotations

import io
from typing import IO, Any, Final, Protocol, TypeVar

from boxwright.errors import BoxwrightError, CompressionError
from boxwright.oci.digest import CHUNK, read_to_end
from boxwright.oci.mediatype import COMPRESSIONS
from boxwright.oci.readers import Reader, WrappedReader

_R = TypeVar("_R", bound=Reader)

GZIP: Final = "gzip"
ZSTD: Final = "zstd"
NONE: Final = "none"

DEFAULT_GZIP_LEVEL: Final = 1
DEFAULT_ZSTD_LEVEL: Final = 3
PEEK_SIZE: Final = 512
"""Bytes of a stream's start that :func:`detect_compression` and :func:`resolve_compression`
look at: one tar header block, which also holds the first skippable zstd frames of the
usual producers (pzstd writes 12-byte ones)."""

_GZIP_MAGIC: Final = b"\x1f\x8b\x08"
_ZSTD_FRAME: Final = 0xFD2FB528
_ZSTD_SKIPPABLE: Final = 0x184D2A50
_ZSTD_SKIPPABLE_MASK: Final = 0xFFFFFFF0
_UNSUPPORTED_MAGIC: Final = (
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)
_TAR_BLOCK: Final = 512


def _starts_zstd(prefix: bytes) -> bool:
    """Whether ``prefix`` begins a zstd stream: a frame's magic, or skippable frames (magic
    0x184D2A50-0x184D2A5F, a 4-byte little-endian length, that many bytes) that lead, as far
    as ``prefix`` reaches, to another frame's magic.

    A prefix that ends inside the skippable frames counts as zstd: nothing else starts with
    such a magic, and the decoder checks the rest (a stream that is not zstd after all fails
    loudly as a corrupt one).
    """
    pos = 0
    while pos + 4 <= len(prefix):
        magic = int.from_bytes(prefix[pos : pos + 4], "little")
        if magic == _ZSTD_FRAME:
            return True
        if magic & _ZSTD_SKIPPABLE_MASK != _ZSTD_SKIPPABLE:
            return False
        if pos + 8 > len(prefix):
            return True
        pos += 8 + int.from_bytes(prefix[pos + 4 : pos + 8], "little")
    return pos > 0


def detect_compression(prefix: bytes) -> str:
    """Name the compression of a stream from its first bytes (:data:`PEEK_SIZE` of them).

    gzip is recognised by its magic and deflate method (``1f 8b 08``), zstd by its frames:
    a frame's magic, or skippable frames leading to one (see :func:`_starts_zstd`). Returns
    ``"gzip"``, ``"zstd"`` or ``"none"`` (anything else, which need not be a tar: see
    :func:`resolve_compression` for a layer whose media type says it is compressed); raises
    :class:`CompressionError` for formats that layers may not use (bzip2, xz), so they are
    refused clearly instead of failing later as a corrupt tar.
    """
    if prefix.startswith(_GZIP_MAGIC):
        return GZIP
    if _starts_zstd(prefix):
        return ZSTD
    for magic, name in _UNSUPPORTED_MAGIC:
        if prefix.startswith(magic):
            raise CompressionError(
                f"layer is {name}-compressed, which OCI layers do not support "
                "(supported: gzip, zstd, uncompressed)"
            )
    return NONE


def is_tar_start(prefix: bytes) -> bool:
    """Whether ``prefix`` (at least its first 512 bytes) opens a tar archive: a header block
    whose checksum is right (the unsigned sum, or the signed one old tars wrote), or the
    zero block that ends an empty archive."""
    block = prefix[:_TAR_BLOCK]
    if len(block) < _TAR_BLOCK:
        return False
    if block == bytes(_TAR_BLOCK):
        return True
    field = block[148:156]
    digits = field.split(b"\0", 1)[0].strip(b" ")
    if not digits or any(c not in b"01234567" for c in digits):
        return False
    stored = int(digits, 8)
    rest = block[:148] + b" " * 8 + block[156:]
    signed = sum(c - 256 if c > 127 else c for c in rest)
    return stored in (sum(rest), signed)


def resolve_compression(prefix: bytes, declared: str, name: str = "layer") -> str:
    """The compression a layer blob has, from its first bytes and its media type's.

    The bytes win, as in containers/image (``DetectCompression`` on the stream, the media
    type only for the descriptor): gzip and zstd are what their frames say, whatever the
    media type claims. Uncompressed is concluded from the bytes only when the media type
    says so too, or when they open a tar archive (a docker archive's plain tar labelled
    gzip); a layer declared ``declared`` ("gzip" or "zstd") whose bytes are neither gzip, zstd
    nor a tar raises :class:`CompressionError` (its message calls the layer ``name``) instead
    of being passed on as a plain tar.
    """
    actual = detect_compression(prefix)
    if actual != NONE or declared == NONE or is_tar_start(prefix):
        return actual
    raise CompressionError(
        f"{name} is declared {declared}-compressed, but its content is neither gzip, zstd "
        "nor a tar archive"
    )


def check_compression(compression: str) -> str:
    """Return ``compression`` if it is a known name, else raise :class:`CompressionError`."""
    if compression not in COMPRESSIONS:
        raise CompressionError(
            f"unknown compression {compression!r}: expected one of {', '.join(COMPRESSIONS)}"
        )
    return compression


# --------------------------------------------------------------------------------------------
# Reading


def _wrap_codec_error(codec: str, exc: BaseException) -> CompressionError:
    if isinstance(exc, EOFError):
        return CompressionError(f"{codec} stream is truncated: {exc}")
    return CompressionError(f"{codec} stream is corrupt: {exc}")


class Decoder(Protocol):
    """What :class:`_CheckedReader` needs of the gzip and zstd decoders it wraps."""

    def read(self, size: int = -1, /) -> bytes: ...

    def readinto(self, buffer: Any, /) -> int: ...

    def close(self) -> None: ...


# A raw stream's constructor and readable(), as registry.watched's has: io.RawIOBase asks
# each subclass for them; what they wrap and check differs.
class _CheckedReader(io.RawIOBase):
    """A raw reader over a decoder that turns codec exceptions into :class:`CompressionError`."""

    def __init__(self, inner: Decoder, codec: str, errors: tuple[type[BaseException], ...]):
        super().__init__()
        self._inner = inner
        self._codec = codec
        self._errors = errors

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        try:
            return self._inner.readinto(buffer)
        except BoxwrightError:
            raise
        except self._errors as exc:
            raise _wrap_codec_error(self._codec, exc) from exc

    def read(self, size: int = -1) -> bytes:
        try:
            if size is None or size < 0:
                return self._inner.read()
            return self._inner.read(size)
        except BoxwrightError:
            raise
        except self._errors as exc:
            raise _wrap_codec_error(self._codec, exc) from exc

    def readall(self) -> bytes:
        return self.read()

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                super().close()


def decompress(stream: _R, compression: str, *, threaded: bool = True) -> _R | IO[bytes]:
    """A reader of the uncompressed bytes of ``stream``, compressed with ``compression``.

    gzip may hold several members (they decode as one stream, as gzip(1) does); zstd may
    hold several frames. With ``threaded`` (the default) gzip inflates in a worker thread
    that also reads ``stream``, so the caller's work overlaps with decompression; closing
    the returned reader stops the worker. Closing never closes ``stream`` itself.
    Truncated or corrupt input raises :class:`CompressionError` while reading. An
    uncompressed ``stream`` is returned itself.
    """
    compression = check_compression(compression)
    if compression == NONE:
        return stream
    codec = _codec(compression)
    inner = codec.open_reader(stream, threaded=threaded)
    return io.BufferedReader(_CheckedReader(inner, compression, codec.ERRORS), buffer_size=CHUNK)


class PeekableReader(WrappedReader):
    """A reader that lets its first bytes be inspected without consuming them."""

    def __init__(self, stream: Reader) -> None:
        self._stream = stream
        self._head = b""

    def peek(self, size: int) -> bytes:
        """Return up to ``size`` first unread bytes (fewer only at EOF), keeping them unread."""
        while len(self._head) < size:
            more = self._stream.read(size - len(self._head))
            if not more:
                break
            self._head += more
        return self._head[:size]

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head, b""
                return data + self._stream.read()
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._stream.read(size)


def auto_decompress(stream: Reader, *, threaded: bool = True) -> tuple[Reader, str]:
    """Detect the compression of ``stream`` by its magic bytes and return a decoder for it.

    The peeked bytes are not lost: the returned reader yields the whole uncompressed content.
    Returns ``(reader, compression)``.
    """
    peekable = PeekableReader(stream)
    compression = detect_compression(peekable.peek(PEEK_SIZE))
    if compression == NONE:
        return peekable, NONE
    return decompress(peekable, compression, threaded=threaded), compression


# --------------------------------------------------------------------------------------------
# Writing


class _Codec(Protocol):
    """What a codec module (:mod:`boxwright.layer.gzipcodec`, :mod:`boxwright.layer.zstdcodec`)
    offers: the exceptions its decoder raises, a decoder and a compressor."""

    ERRORS: tuple[type[BaseException], ...]

    def open_reader(self, stream: Reader, *, threaded: bool) -> Decoder: ...

    def compressobj(self, level: int) -> Any: ...


def _codec(compression: str) -> _Codec:
    """The codec module of ``gzip`` or ``zstd``, imported on first use: each is the only
    importer of its library (isal, zstandard), which a command that never decodes or encodes
    a layer does not load."""
    if compression == GZIP:
        from boxwright.layer import gzipcodec

        return gzipcodec
    from boxwright.layer import zstdcodec

    return zstdcodec


def _level(compression: str, level: int | None) -> int:
    """``level``, or the codec's default; :class:`CompressionError` when out of its range
    (gzip 0-9: ISA-L for 0-3, zlib for 4-9; zstd 1-22)."""
    if compression == GZIP:
        level = DEFAULT_GZIP_LEVEL if level is None else level
        if not 0 <= level <= 9:
            raise CompressionError(f"gzip level {level} is out of range 0-9")
        return level
    level = DEFAULT_ZSTD_LEVEL if level is None else level
    if not 1 <= level <= 22:
        raise CompressionError(f"zstd level {level} is out of range 1-22")
    return level


class _ChunkedCompressor:
    """Feeds a compressor in fixed ``CHUNK``-sized pieces so its output never depends on how
    the caller split the input: the same bytes always compress to the same blob (ISA-L and
    zstd both emit block boundaries that follow the input calls)."""

    def __init__(self, compression: str, level: int | None) -> None:
        compression = check_compression(compression)
        self._obj: Any = None
        if compression != NONE:
            self._obj = _codec(compression).compressobj(_level(compression, level))
        self._pending = bytearray()

    def feed(self, data: Any) -> bytes:
        if self._obj is None:
            return bytes(data)
        pending = self._pending
        pending += data
        if len(pending) < CHUNK:
            return b""
        out = []
        whole = len(pending) - len(pending) % CHUNK
        view = memoryview(pending)
        for start in range(0, whole, CHUNK):
            out.append(self._obj.compress(view[start : start + CHUNK]))
        view.release()
        del pending[:whole]
        return b"".join(out)

    def finish(self) -> bytes:
        if self._obj is None:
            return b""
        head: bytes = self._obj.compress(bytes(self._pending)) if self._pending else b""
        self._pending = bytearray()
        tail: bytes = self._obj.flush()
        return head + tail


class Sink(Protocol):
    """Where a :class:`CompressWriter` writes: a binary file, or anything that writes and
    flushes like one."""

    def write(self, data: bytes, /) -> object: ...

    def flush(self) -> None: ...


class CompressWriter(io.RawIOBase):
    """A writable that compresses what it receives into ``out``; ``close()`` ends the stream.

    Closing writes the trailer (gzip CRC and size, zstd frame end) and flushes ``out`` but does
    not close it. The output is deterministic: the same input and level give the same bytes
    (the gzip header carries no name and a zero mtime).
    """

    def __init__(self, out: Sink, compression: str, level: int | None = None) -> None:
        super().__init__()
        self._out = out
        self._compressor = _ChunkedCompressor(compression, level)
        self.compression = compression

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        if self.closed:
            raise ValueError("write to a closed compressing writer")
        size = len(data) if isinstance(data, bytes) else memoryview(data).nbytes
        chunk = self._compressor.feed(data)
        if chunk:
            self._out.write(chunk)
        return size

    def close(self) -> None:
        if self.closed:
            return
        try:
            tail = self._compressor.finish()
            if tail:
                self._out.write(tail)
            self._out.flush()
        finally:
            super().close()


def compress_writer(out: Sink, compression: str, level: int | None = None) -> CompressWriter:
    """A writable compressing into ``out`` with ``compression`` ("gzip", "zstd", "none").

    ``level``: gzip 0-3 use ISA-L (default 1, fast with slightly larger output), 4-9 zlib;
    zstd 1-22 (default 3). Call ``close()`` to finish the stream; ``out`` stays open.
    """
    return CompressWriter(out, compression, level)


class CompressingReader(io.RawIOBase):
    """A readable yielding the compressed form of an uncompressed source, as it is read.

    Used to recompress a blob while streaming it into a destination: memory use is bounded by
    one input chunk and its compressed output. ``stream`` is not closed by ``close()``.
    """

    def __init__(self, stream: Reader, compression: str, level: int | None = None) -> None:
        super().__init__()
        self._stream = stream
        self._compressor = _ChunkedCompressor(compression, level)
        self._buffer = bytearray()
        self._eof = False
        self.compression = compression

    def readable(self) -> bool:
        return True

    def _fill(self, want: int) -> None:
        while len(self._buffer) < want and not self._eof:
            chunk = self._stream.read(CHUNK)
            if not chunk:
                self._eof = True
                self._buffer += self._compressor.finish()
                break
            self._buffer += self._compressor.feed(chunk)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return read_to_end(self.read)
        self._fill(size)
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def readall(self) -> bytes:
        return self.read()

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


__all__ = [
    "COMPRESSIONS",
    "DEFAULT_GZIP_LEVEL",
    "DEFAULT_ZSTD_LEVEL",
    "GZIP",
    "NONE",
    "ZSTD",
    "CompressWriter",
    "CompressingReader",
    "PeekableReader",
    "Sink",
    "auto_decompress",
    "check_compression",
    "compress_writer",
    "decompress",
    "detect_compression",
    "is_tar_start",
    "resolve_compression",
]
