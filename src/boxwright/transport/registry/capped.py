"""Every answer body read into memory whole is read here, up to a cap.

Blobs are streams; the bodies read whole are small by nature (a manifest, a page of tags, a
token answer, an error's message), and a hostile registry can make them endless.
:func:`read_capped` reads at most ``limit + 1`` bytes (so a body over the cap shows as too
long), then closes the answer: a body read to its end gives its connection back, one cut at
the cap drops it (it is never drained). The caps themselves live with their readers: a
manifest's and a list page's in :mod:`.client`, the token answer's in :mod:`.auth`, the
error body's (:data:`~.failures.MAX_ERROR_BODY`) in :mod:`.failures`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from boxwright.transport.registry.wire import Answer

_PIECE = 1 << 16


def read_capped(answer: Answer, limit: int) -> bytes:
    """The body of ``answer``, or its first ``limit + 1`` bytes when it is longer; the
    answer is closed either way. Raises NetworkFailure when the connection breaks."""
    data = bytearray()
    try:
        while len(data) <= limit and (piece := answer.read(min(_PIECE, limit + 1 - len(data)))):
            data += piece
    finally:
        answer.close()
    return bytes(data)


__all__ = ["read_capped"]
