"""The reader protocols: what each stream wrapper promises about the digest of its bytes."""

from __future__ import annotations

import io

import pytest

from boxwright.errors import DigestMismatchError
from boxwright.layer.compression import PeekableReader
from boxwright.oci.digest import Digest, HashingReader, VerifyingReader
from boxwright.oci.readers import PassThroughReader, VerifyingStream, as_verifying

DATA = b"layer bytes " * 100
DIGEST = Digest.from_bytes(DATA)


class _Counting(PassThroughReader):
    """The smallest pass-through wrapper: counts what passes."""

    def __init__(self, stream: io.BytesIO | VerifyingReader) -> None:
        super().__init__(stream)
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self.count += len(data)
        return data


def test_a_verifying_reader_promises_its_digest_and_keeps_it_at_eof() -> None:
    reader = VerifyingReader(io.BytesIO(DATA), DIGEST, len(DATA))
    assert isinstance(reader, VerifyingStream)
    assert (reader.verifies, reader.verified) == (DIGEST, False)
    assert reader.read() == DATA
    assert reader.verified is True


def test_a_pass_through_reader_makes_the_promise_of_the_stream_beneath() -> None:
    wrapped = _Counting(_Counting(VerifyingReader(io.BytesIO(DATA), DIGEST, len(DATA))))
    assert (wrapped.verifies, wrapped.verified) == (DIGEST, False)
    while wrapped.read(7):
        pass
    assert (wrapped.verifies, wrapped.verified, wrapped.count) == (DIGEST, True, len(DATA))


def test_a_pass_through_reader_over_wrong_bytes_fails_and_stays_unverified() -> None:
    wrapped = _Counting(VerifyingReader(io.BytesIO(DATA[:-1] + b"X"), DIGEST, len(DATA)))
    with pytest.raises(DigestMismatchError, match="does not match its digest"):
        wrapped.read()
    assert (wrapped.verifies, wrapped.verified) == (DIGEST, False)


def test_a_pass_through_reader_over_a_plain_file_promises_nothing() -> None:
    plain = io.BytesIO(DATA)
    assert not isinstance(plain, VerifyingStream)
    wrapped = _Counting(plain)
    assert wrapped.read() == DATA
    assert (wrapped.verifies, wrapped.verified) == (None, False)


@pytest.mark.parametrize("wrap", [HashingReader, PeekableReader], ids=["hashing", "peekable"])
def test_other_wrappers_promise_nothing_even_over_a_verifying_reader(wrap: type) -> None:
    wrapped = wrap(VerifyingReader(io.BytesIO(DATA), DIGEST, len(DATA)))
    assert isinstance(wrapped, VerifyingStream)
    assert wrapped.read() == DATA
    assert (wrapped.verifies, wrapped.verified) == (None, False)


class _Claims:
    """Not a wrapper, yet a VerifyingStream by its shape."""

    verifies = DIGEST
    verified = False

    def read(self, n: int = -1) -> bytes:
        return b""

    def close(self) -> None:
        pass

    def __enter__(self) -> _Claims:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def test_as_verifying_takes_wrappers_and_shapes_but_not_plain_files() -> None:
    reader = VerifyingReader(io.BytesIO(DATA), DIGEST, len(DATA))
    claims = _Claims()
    assert as_verifying(reader) is reader
    assert as_verifying(claims) is claims
    assert as_verifying(io.BytesIO(DATA)) is None
