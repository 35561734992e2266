"""The base of boxwright's small stream wrappers (verify, hash, count, peek, window).

Each wrapper only says how it reads; this base gives it the rest of a binary reader, so any
of them can be handed to ``shutil.copyfileobj``, ``tarfile`` or a decompressor.
"""

from __future__ import annotations

from typing import IO, Any, Self


class WrappedReader:
    """A read-only binary stream over ``self._stream``; subclasses implement :meth:`read`."""

    _stream: IO[bytes]

    def read(self, n: int = -1) -> bytes:
        raise NotImplementedError

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
