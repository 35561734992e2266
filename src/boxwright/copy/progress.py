"""Progress events of the copy pipeline, and the reader that reports bytes as they pass.

The library never prints: a copy reports what it does through one callback that receives
:class:`ProgressEvent` values. The command line turns them into progress bars or plain lines.
The callback may be called from several threads at once (blobs move in parallel), so it must
be thread-safe; an exception it raises fails the copy like any other error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from boxwright.oci.readers import PassThroughReader, Reader

if TYPE_CHECKING:
    from boxwright.oci.digest import Digest

#: Event kinds, in the order one blob goes through them.
STARTED: Final = "started"
"""A blob transfer begins; ``total`` is the source blob's size."""
PROGRESS: Final = "progress"
"""``done`` bytes of the source blob have been read so far."""
SKIPPED: Final = "skipped"
"""The destination already has the blob: nothing was transferred."""
DONE: Final = "done"
"""The blob is stored in the destination (recompressed when that was asked for)."""
MANIFEST: Final = "manifest"
"""A manifest or index was written to the destination (``digest`` is its digest)."""

EVENT_KINDS: Final = (STARTED, PROGRESS, SKIPPED, DONE, MANIFEST)

#: Bytes between two ``progress`` events of one blob.
REPORT_EVERY: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class ProgressEvent:
    """One step of a copy.

    ``kind`` is one of :data:`EVENT_KINDS`. ``digest`` and ``media_type`` name the source
    blob (also for a layer that is recompressed: the new digests are in the
    :class:`~boxwright.copy.CopyResult`), or the manifest written. ``done`` counts bytes of
    the source blob read so far and ``total`` is its size, or ``None`` when not known.
    """

    kind: str
    digest: Digest
    media_type: str
    done: int
    total: int | None


ProgressCallback = Callable[[ProgressEvent], None]
"""What :class:`~boxwright.copy.CopyOptions` ``on_progress`` receives."""


class ProgressReader(PassThroughReader):
    """A reader passing bytes through and reporting ``progress`` events about every MiB.

    The bytes pass unchanged, so the self-verification of the wrapped reader (``verifies``
    and ``verified``, see :class:`~boxwright.oci.readers.VerifyingStream`) shows through.
    """

    def __init__(
        self,
        stream: Reader,
        report: Callable[[int], None],
        every: int = REPORT_EVERY,
    ) -> None:
        super().__init__(stream)
        self._report = report
        self._every = every
        self._next = every
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        if data:
            self.count += len(data)
            if self.count >= self._next:
                self._next = self.count + self._every
                self._report(self.count)
        return data


__all__ = [
    "DONE",
    "EVENT_KINDS",
    "MANIFEST",
    "PROGRESS",
    "SKIPPED",
    "STARTED",
    "ProgressCallback",
    "ProgressEvent",
    "ProgressReader",
]
