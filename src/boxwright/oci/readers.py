"""The reader protocols every stream in boxwright is typed with, and the base of its small
stream wrappers (verify, hash, count, peek, window).

:class:`Reader` is what a wrapper needs of what it wraps and what a blob consumer needs of
a blob: ``read`` and ``close`` (a file, a decompressor and every wrapper have both).
:class:`VerifyingStream` is a reader that also says what it promises about the digest of
the bytes it yields: every blob an image source hands out is one, so a consumer that would
hash the same bytes again can trust it instead. Each wrapper only says how it reads;
:class:`WrappedReader` gives it the rest of a binary reader, so any of them can be handed to
``shutil.copyfileobj``, ``tarfile`` or a decompressor, and declares by default that it
verifies nothing. :class:`PassThroughReader` is the wrapper whose bytes are the wrapped
stream's, unchanged, so its promise is the wrapped stream's; :class:`ClosingAlso` is one
that closes something more with it.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self, runtime_checkable

from boxwright._closing import Closing

if TYPE_CHECKING:
    from boxwright.oci.digest import Digest


class Reader(Protocol):
    """A binary stream read from its start to its end, then closed (``with`` closes it)."""

    def read(self, n: int = -1, /) -> bytes:
        """The next at most ``n`` bytes (all that is left when ``n`` is negative; b"" at EOF)."""
        ...

    def close(self) -> None:
        """Release what the stream holds."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> None: ...


@runtime_checkable
class VerifyingStream(Reader, Protocol):
    """A reader that says what it promises about the digest of the bytes it yields.

    ``verifies`` is the digest those bytes are checked against, or None when this reader
    checks nothing. A reader naming a digest raises
    :class:`~boxwright.errors.DigestMismatchError` when the bytes or their count differ, at
    the latest from the read that reaches EOF, and only then sets ``verified``: true once EOF
    was reached and everything matched. Only a reader that yields exactly the bytes it checks
    may name a digest (a decompressor of a verified blob may not).
    """

    @property
    def verifies(self) -> Digest | None:
        """The digest the yielded bytes are checked against; None: they are not checked."""
        ...

    @property
    def verified(self) -> bool:
        """True once EOF was read and the content matched :attr:`verifies`."""
        ...


class WrappedReader(Closing):
    """A read-only binary stream over ``self._stream``; subclasses implement :meth:`read`.

    It is a :class:`VerifyingStream` that checks nothing; :class:`~boxwright.oci.digest.
    VerifyingReader` and :class:`PassThroughReader` say otherwise.
    """

    _stream: Reader

    def read(self, n: int = -1) -> bytes:
        raise NotImplementedError

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    @property
    def verifies(self) -> Digest | None:
        """None: the bytes this reader yields are not checked by it."""
        return None

    @property
    def verified(self) -> bool:
        """False: this reader checks nothing."""
        return False

    def close(self) -> None:
        self._stream.close()


class PassThroughReader(WrappedReader):
    """A wrapper that hands on the wrapped stream's bytes unchanged (counting, peeking,
    recording), so its promise about them is the wrapped stream's: a consumer that trusts a
    :class:`VerifyingStream` can trust this one too. Whether the wrapped stream makes one is
    asked once, here."""

    def __init__(self, stream: Reader) -> None:
        self._stream = stream
        self._vouching = as_verifying(stream)

    @property
    def verifies(self) -> Digest | None:
        """The digest the wrapped stream checks its bytes against, if it does."""
        return None if self._vouching is None else self._vouching.verifies

    @property
    def verified(self) -> bool:
        """Whether the wrapped stream reached EOF and found its content right."""
        return self._vouching is not None and self._vouching.verified


class ClosingAlso(PassThroughReader):
    """A pass-through reader over ``stream`` whose :meth:`close` then calls ``also`` (whether
    or not closing ``stream`` failed): a decoder over the archive window it reads, a blob read
    under a lock that must be released with it."""

    def __init__(self, stream: Reader, also: Callable[[], object]) -> None:
        super().__init__(stream)
        self._also = also

    def read(self, n: int = -1) -> bytes:
        return self._stream.read(n)

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._also()


def as_verifying(stream: Reader) -> VerifyingStream | None:
    """``stream`` as a :class:`VerifyingStream` when it is one (it may still name no digest),
    else None. Every :class:`WrappedReader` is one; other streams are asked structurally."""
    if isinstance(stream, WrappedReader):
        return stream
    return stream if isinstance(stream, VerifyingStream) else None
