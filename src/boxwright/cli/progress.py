"""How a command that copies images reports progress (``copy``, ``pull``, ``push``): live
bars on a terminal, skopeo's lines when stderr is piped, nothing when quiet.

The bars come from :mod:`boxwright.cli.output`, imported only when stderr is a terminal.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

from boxwright.cli.main import current_state
from boxwright.copy.progress import DONE, MANIFEST, SKIPPED, ProgressCallback, ProgressEvent
from boxwright.oci import mediatype

_CONFIG_TYPES = frozenset({mediatype.OCI_CONFIG, mediatype.DOCKER_CONFIG})


class SkopeoLines:
    """Progress as skopeo prints it when piped: one line per blob and manifest, when done."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind not in (DONE, SKIPPED, MANIFEST):
            return
        if event.kind == MANIFEST:
            line = f"Writing manifest {event.digest} to image destination"
        else:
            what = "config" if event.media_type in _CONFIG_TYPES else "blob"
            word = "done" if event.kind == DONE else "skipped: already exists"
            line = f"Copying {what} {event.digest} {word}"
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


@contextmanager
def copy_progress(quiet: bool) -> Iterator[ProgressCallback | None]:
    """The progress callback of one copy, for the ``with`` block the copy runs in: None when
    ``quiet`` or the global ``--quiet``; :class:`SkopeoLines` when stderr is piped; on a
    terminal, a callback feeding live bars, which the block's end closes."""
    if quiet or current_state().quiet:
        yield None
        return
    if not sys.stderr.isatty():
        yield SkopeoLines(sys.stderr)
        return
    from boxwright.cli.output import make_progress

    reporter = make_progress(quiet=False, force_terminal=True)
    words = {DONE: "done", SKIPPED: "skipped"}

    def on_progress(event: ProgressEvent) -> None:
        if event.kind != MANIFEST:
            reporter(words.get(event.kind, event.kind), str(event.digest), event.done, event.total)

    with reporter:
        yield on_progress


__all__ = ["SkopeoLines", "copy_progress"]
