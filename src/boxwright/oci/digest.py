"""Content digests: parse, validate, compute and verify while streaming.

A digest from an image or a network is hostile until validated: only known algorithms with
the exact hex length pass, so a digest can safely become a file name or a URL path.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from boxwright.errors import DigestError, DigestMismatchError
from boxwright.oci.readers import Reader, WrappedReader

_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[a-f0-9]+")
CHUNK = 1 << 20


def read_to_end(read: Callable[[int], bytes]) -> bytes:
    """Every byte ``read`` gives before its first b"", asked for :data:`CHUNK` at a time: the
    ``read(-1)`` of the streams here, whose own reads each return a bounded piece."""
    parts = []
    while chunk := read(CHUNK):
        parts.append(chunk)
    return b"".join(parts)


@dataclass(frozen=True, order=True, slots=True)
class Digest:
    """A validated ``algorithm:hex`` digest (sha256 or sha512)."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: object) -> Digest:
        """Parse and validate ``text`` (anything a document held); raise
        :class:`DigestError` if it is not a digest."""
        if not isinstance(text, str):
            raise DigestError(f"digest must be a string, not {type(text).__name__}")
        algorithm, sep, hexpart = text.partition(":")
        if not sep:
            raise DigestError(f"invalid digest {text!r}: expected ALGORITHM:HEX")
        want = _HEX_LENGTH.get(algorithm)
        if want is None:
            raise DigestError(f"unsupported digest algorithm {algorithm!r} in {text!r}")
        if len(hexpart) != want or not _HEX.fullmatch(hexpart):
            raise DigestError(f"invalid {algorithm} digest {text!r}: want {want} lowercase hex")
        return cls(algorithm, hexpart)

    @classmethod
    def from_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self) -> Any:
        """A fresh hashlib object for this digest's algorithm."""
        return hashlib.new(self.algorithm)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @property
    def encoded(self) -> str:
        """The hex part, as the OCI spec names it."""
        return self.hex


def new_hasher(algorithm: str = "sha256") -> Any:
    """A hashlib object for ``algorithm``, refusing algorithms digests cannot use."""
    if algorithm not in _HEX_LENGTH:
        raise DigestError(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)


class VerifyingReader(WrappedReader):
    """A binary reader that hashes what passes and fails at EOF on a wrong digest or size.

    Reads stop at ``size`` bytes when the size is known: a source sending more is an error
    too. ``verified`` becomes true once EOF was reached and everything matched.

    :attr:`verifies` names the digest checked, so that a consumer which would hash the same
    bytes again (:class:`~boxwright.transport.atomic.BlobWriter`) can trust this reader
    instead: it yields the bytes of that digest or raises at EOF.
    """

    def __init__(self, stream: Reader, digest: Digest, size: int | None = None) -> None:
        self._stream = stream
        self._digest = digest
        self._size = size
        self._hasher = digest.hasher()
        self._count = 0
        self._verified = False

    # verifies and verified: the VerifyingStream protocol's members (oci.readers).
    @property
    def verifies(self) -> Digest:
        """The digest this reader checks what it yields against."""
        return self._digest

    @property
    def verified(self) -> bool:
        """True once EOF was reached and the content matched."""
        return self._verified

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (all that is left when ``n`` is negative).

        The bytes that complete the blob are returned only after the whole blob verified:
        a caller reading the blob in one call, or stopping at the expected size without
        asking for EOF, never gets unchecked content.
        """
        if n is None or n < 0:
            return read_to_end(self.read)
        if self._size is not None:
            n = min(n, self._size - self._count)
            if n == 0:
                self._end_of_sized()
                return b""
        data = self._stream.read(n)
        if not data:
            self._finish()
            return b""
        self._hasher.update(data)
        self._count += len(data)
        if self._size is not None and self._count == self._size:
            self._end_of_sized()
        return data

    def _end_of_sized(self) -> None:
        if self._verified:
            return
        # Probe one byte: a stream longer than promised is as bad as a short one.
        if self._stream.read(1):
            raise DigestMismatchError(
                f"blob {self._digest} is longer than its expected size {self._size}"
            )
        self._finish()

    def _finish(self) -> None:
        if self._verified:
            return
        if self._size is not None and self._count != self._size:
            raise DigestMismatchError(
                f"blob {self._digest} is truncated: got {self._count} of {self._size} bytes"
            )
        got = self._hasher.hexdigest()
        if got != self._digest.hex:
            raise DigestMismatchError(
                f"blob content does not match its digest: expected {self._digest}, "
                f"got {self._digest.algorithm}:{got}"
            )
        self._verified = True


class HashingReader(WrappedReader):
    """A binary reader that counts and hashes what passes, for content of unknown digest."""

    def __init__(self, stream: Reader, algorithm: str = "sha256") -> None:
        self._stream = stream
        self._hasher = new_hasher(algorithm)
        self._algorithm = algorithm
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        if data:
            self._hasher.update(data)
            self.size += len(data)
        return data

    def digest(self) -> Digest:
        """The digest of everything read so far."""
        return Digest(self._algorithm, self._hasher.hexdigest())


def digest_of_stream(stream: Reader, algorithm: str = "sha256") -> tuple[Digest, int]:
    """Hash ``stream`` to its end; return its digest and size."""
    hasher = new_hasher(algorithm)
    size = 0
    while chunk := stream.read(CHUNK):
        hasher.update(chunk)
        size += len(chunk)
    return Digest(algorithm, hasher.hexdigest()), size


def verify_bytes(data: bytes, digest: Digest, size: int | None = None) -> None:
    """Raise :class:`DigestMismatchError` unless ``data`` has ``digest`` (and ``size``)."""
    if size is not None and len(data) != size:
        raise DigestMismatchError(f"{digest}: expected {size} bytes, got {len(data)}")
    got = hashlib.new(digest.algorithm, data).hexdigest()
    if got != digest.hex:
        raise DigestMismatchError(
            f"content does not match its digest: expected {digest}, got {digest.algorithm}:{got}"
        )
