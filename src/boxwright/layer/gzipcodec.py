"""The gzip codec: ISA-L (``isal``) to decode and to encode at levels 0-3, zlib at 4-9.

The only module that imports ``isal`` (its readers only when a stream is decoded);
:mod:`boxwright.layer.compression` imports it when a gzip stream is first decoded or encoded
(see there for the levels and the threaded reader).
"""

from __future__ import annotations

import gzip
import zlib
from typing import TYPE_CHECKING, Any, Final

from isal import isal_zlib

from boxwright.oci.digest import CHUNK

if TYPE_CHECKING:
    from boxwright.layer.compression import Decoder
    from boxwright.oci.readers import Reader

# isal's stub declares ``error`` an Exception instance; it is the exception class.
_ISAL_ERROR: type[BaseException] = isal_zlib.error  # type: ignore[assignment]

ERRORS: Final[tuple[type[BaseException], ...]] = (
    zlib.error,
    _ISAL_ERROR,
    EOFError,
    gzip.BadGzipFile,
)
"""What the decoder raises for truncated or corrupt input."""


def open_reader(stream: Reader, *, threaded: bool) -> Decoder:
    """A decoder of ``stream``; ``threaded``: inflating in a worker thread that also reads it.

    The readers are imported here, not at the top: a command that only compresses (commit)
    would otherwise load ``isal.igzip`` (~5 ms) for nothing."""
    # isal's igzip modules carry no annotations (python-isal types only its C modules).
    if threaded:
        from isal import igzip_threaded

        inner: Decoder = igzip_threaded.open(  # type: ignore[no-untyped-call]
            stream, "rb", threads=1, block_size=CHUNK
        )
    else:
        from isal import igzip

        inner = igzip.open(stream, "rb")  # type: ignore[no-untyped-call]
    return inner


def compressobj(level: int) -> Any:
    """A gzip-framed (wbits 31) deflate compressor: ISA-L for levels 0-3, zlib for 4-9."""
    if level <= 3:
        return isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31)
    return zlib.compressobj(level, zlib.DEFLATED, 31)


__all__ = ["ERRORS", "compressobj", "open_reader"]
