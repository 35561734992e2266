"""The base of boxwright's small stream wrappers (verify, hash, count, peek, window).

Each wrapper only says how it reads; this base gives it the rest of a binary reader, so any
of them can be handed to ``shutil.copyfileobj``, ``tarfile`` or a decompressor.
"""

from __future__ import annotations

from typing import IO, TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from boxwright.oci.digest import Digest


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


class PassThroughReader(WrappedReader):
    """A wrapper that hands on the wrapped stream's bytes unchanged (counting, peeking,
    recording), so whether they are verified is the wrapped stream's answer: a writer that
    trusts self-verifying streams (``verifies``/``verified``) can trust this one too."""

    @property
    def verifies(self) -> Digest | None:
        """The digest the wrapped stream checks its bytes against, if it does."""
        return getattr(self._stream, "verifies", None)

    @property
    def verified(self) -> bool:
        """Whether the wrapped stream reached EOF and found its content right."""
        return getattr(self._stream, "verified", False) is True
