"""The zstd codec: the ``zstandard`` bindings, with a frame checker that tells a complete
stream from a cut one.

The only module that imports ``zstandard``; :mod:`boxwright.layer.compression` imports it when
a zstd stream is first decoded or encoded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

import zstandard

from boxwright.errors import CompressionError
from boxwright.oci.digest import CHUNK

if TYPE_CHECKING:
    from boxwright.layer.compression import Decoder
    from boxwright.oci.readers import Reader

ERRORS: Final[tuple[type[BaseException], ...]] = (zstandard.ZstdError, EOFError)
"""What the decoder raises for truncated or corrupt input (the frame checker raises
:class:`CompressionError` itself)."""


class _ZstdFrameChecker:
    """Follows the frame structure of a zstd stream to tell a complete stream from a cut one.

    The ``zstandard`` stream reader returns a clean EOF when its input stops in the middle of a
    frame, so a truncated layer would decode "successfully". This checker walks the frame and
    block headers of the compressed bytes as they pass (a few operations per 128 KiB block)
    and reports, at the end, whether the input stopped on a frame boundary.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._need = 4  # bytes wanted for the current state
        self._state = "magic"
        self._skip = 0
        self._checksum = False
        self.frames = 0

    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self._skip:
                step = min(self._skip, len(view))
                self._skip -= step
                view = view[step:]
                continue
            take = self._need - len(self._pending)
            self._pending += bytes(view[:take])
            view = view[take:]
            if len(self._pending) == self._need:
                head, self._pending = self._pending, b""
                self._advance(head)

    def _advance(self, head: bytes) -> None:
        state = self._state
        if state == "magic":
            magic = int.from_bytes(head, "little")
            if magic == 0xFD2FB528:
                self._state, self._need = "descriptor", 1
            elif magic & 0xFFFFFFF0 == 0x184D2A50:
                self._state, self._need = "skippable", 4
            else:
                raise CompressionError(
                    "zstd stream is corrupt: unknown frame magic after frame "
                    f"{self.frames} (trailing garbage?)"
                )
        elif state == "skippable":
            self._skip = int.from_bytes(head, "little")
            self._state, self._need = "magic", 4
        elif state == "descriptor":
            fd = head[0]
            fcs_flag, single, self._checksum, did_flag = (
                fd >> 6,
                (fd >> 5) & 1,
                bool((fd >> 2) & 1),
                fd & 3,
            )
            if (fd >> 3) & 1:
                raise CompressionError("zstd stream is corrupt: reserved frame header bit set")
            fcs = (1 if single else 0, 2, 4, 8)[fcs_flag]
            self._skip = (0 if single else 1) + (0, 1, 2, 4)[did_flag] + fcs
            self._state, self._need = "block", 3
        elif state == "block":
            header = int.from_bytes(head, "little")
            last, kind, size = header & 1, (header >> 1) & 3, header >> 3
            if kind == 3:
                raise CompressionError("zstd stream is corrupt: reserved block type")
            self._skip = 1 if kind == 1 else size
            if last:
                if self._checksum:
                    self._skip += 4
                self.frames += 1
                self._state, self._need = "magic", 4
        self._pending = b""

    def finish(self) -> None:
        """Raise :class:`CompressionError` unless the input ended exactly between frames."""
        if self._state != "magic" or self._pending or self._skip:
            raise CompressionError(
                "zstd stream is truncated: the input ended inside a frame "
                f"(after {self.frames} complete frame(s))"
            )
        if self.frames == 0:
            raise CompressionError("zstd stream is empty: it holds no frame")


class _TeeToChecker:
    """The compressed source of a zstd decoder, feeding each chunk to a frame checker."""

    def __init__(self, stream: Reader, checker: _ZstdFrameChecker) -> None:
        self._stream = stream
        self._checker = checker
        self._done = False

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            self._checker.feed(data)
        elif not self._done:
            self._done = True
            self._checker.finish()
        return data


def open_reader(stream: Reader, *, threaded: bool) -> Decoder:
    """A decoder of ``stream``, all its frames, checked frame by frame as it is read
    (``threaded`` is gzip's: zstd decodes in the reading thread)."""
    source = _TeeToChecker(stream, _ZstdFrameChecker())
    # zstandard's stub asks for an IO[bytes]; the decoder only ever calls ``read``.
    reader: Decoder = zstandard.ZstdDecompressor().stream_reader(
        source,  # type: ignore[arg-type]
        read_size=CHUNK,
        read_across_frames=True,
        closefd=False,
    )
    return reader


def compressobj(level: int) -> Any:
    """A zstd compressor at ``level`` (1-22)."""
    return zstandard.ZstdCompressor(level=level).compressobj()


__all__ = ["ERRORS", "compressobj", "open_reader"]
