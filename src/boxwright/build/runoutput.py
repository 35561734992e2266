"""A RUN's output as lines: its stdout and stderr through pipes, each read by a thread.

:func:`output_lines` gives the runtime a ``(stdout, stderr)`` pair of pipe write ends
(:attr:`boxwright.runtime.options.RunOptions.output`) and hands every line the process writes to
a callback, with the stream it came on. A line is delivered whole, without its newline, the
bytes decoded as UTF-8 with ``errors="replace"``; a last line without a newline is delivered
at the end; a line longer than ``limit`` bytes (1 MiB) comes in pieces of ``limit`` bytes and
a last piece of the rest, however the bytes arrived, so a process that never writes a newline
cannot make the build hold its whole output.

The block ends once the process has ended: the write ends are closed and the threads read to
the end of both pipes, so every line has been delivered when the block exits (before a RUN's
failure is reported). When the callback raises, the pipes are still drained (a process must
never block on a full pipe) and the first error is raised when the block exits.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Literal

Stream = Literal["stdout", "stderr"]
LINE_LIMIT = 1 << 20
_CHUNK = 65536


class _Reader(threading.Thread):
    """Reads one pipe to its end, delivering its lines (module docstring)."""

    def __init__(
        self, fd: int, stream: Stream, deliver: Callable[[str, Stream], None], limit: int
    ) -> None:
        super().__init__(name=f"run-{stream}", daemon=True)
        self.fd = fd
        self.stream: Stream = stream
        self.deliver = deliver
        self.limit = limit
        self.error: BaseException | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def _send(self, data: bytes, final: bool) -> None:
        text = self._decoder.decode(data, final=final)
        if self.error is not None:
            return  # keep draining: the process must not block on a full pipe
        try:
            self.deliver(text, self.stream)
        except BaseException as error:
            self.error = error

    def run(self) -> None:
        pending = bytearray()  # at most limit + one chunk: the start of an unfinished line
        scanned = 0  # bytes of ``pending`` known to hold no newline
        try:
            while chunk := os.read(self.fd, _CHUNK):
                pending += chunk
                start = 0
                while True:
                    end = pending.find(b"\n", max(start, scanned))
                    if (end if end >= 0 else len(pending)) - start > self.limit:
                        # a piece of a long line; the rest (1 to limit bytes) ends it
                        self._send(bytes(pending[start : start + self.limit]), False)
                        start += self.limit
                    elif end >= 0:
                        self._send(bytes(pending[start:end]), True)
                        start = end + 1
                    else:
                        break
                del pending[:start]  # once per chunk: no quadratic shifting of short lines
                scanned = len(pending)
            if pending:
                self._send(bytes(pending), True)
        except OSError as error:
            self.error = self.error or error
        finally:
            os.close(self.fd)


@contextlib.contextmanager
def output_lines(
    deliver: Callable[[str, Stream], None], *, limit: int = LINE_LIMIT
) -> Iterator[tuple[int, int]]:
    """Yield ``(stdout, stderr)`` write ends; ``deliver(line, stream)`` gets every line."""
    readers: list[_Reader] = []
    writers: list[int] = []
    streams: tuple[Stream, Stream] = ("stdout", "stderr")
    try:
        for stream in streams:
            read_fd, write_fd = os.pipe()  # both close on exec: only the run's dup2 keeps them
            writers.append(write_fd)
            reader = _Reader(read_fd, stream, deliver, limit)
            try:
                reader.start()
            except BaseException:
                os.close(read_fd)
                raise
            readers.append(reader)
        yield (writers[0], writers[1])
    finally:
        for fd in writers:
            os.close(fd)
        for reader in readers:
            reader.join()
    for reader in readers:
        if reader.error is not None:
            raise reader.error


__all__ = ["LINE_LIMIT", "Stream", "output_lines"]
