"""Blob downloads that survive dropped connections.

:class:`ResumingReader` reads a blob's HTTP body and, when the connection drops or stalls
before ``size`` bytes arrived, asks again with ``Range: bytes=N-`` from the first byte not yet
received. The session's :class:`~boxwright.transport.registry.retry.RetryPolicy` bounds the
tries that made no progress (``attempts`` GETs in all, each resume after its delay), and
progress counts across tries: once :data:`RESUME_PROGRESS` bytes arrived since the last
failure, the next failure starts a fresh count, so a long download over a link that keeps
dropping but keeps moving is not given up, while one that stalls (see :mod:`.stall`) fails
after ``attempts`` windows with a :class:`~boxwright.errors.StalledTransferError`. The caller
wraps it in one
:class:`~boxwright.oci.digest.VerifyingReader`, so the digest covers the whole blob across
every resumed piece: a registry that answers a Range with different bytes fails the digest.

Every request for a body (the first and each resume) is a ``GET`` through
:meth:`Session.send`.
"""

from __future__ import annotations

import re

from boxwright.errors import RegistryError, StalledTransferError
from boxwright.oci.digest import read_to_end
from boxwright.oci.readers import WrappedReader
from boxwright.transport.registry.failures import (
    NetworkFailure,
    StallFailure,
    network_error,
    status_error,
)
from boxwright.transport.registry.retry import RETRY_STATUSES
from boxwright.transport.registry.session import Session
from boxwright.transport.registry.wire import Answer

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")
_SKIP_CHUNK = 1 << 20
RESUME_PROGRESS = 1 << 20
"""Bytes that must arrive between two failures for the second to start a fresh count of
tries (containers/image resumes a blob only after 1 MiB of progress, too)."""


class ResumingReader(WrappedReader):
    """A binary reader over a blob GET that resumes with Range requests (see module doc)."""

    def __init__(
        self,
        session: Session,
        url: str,
        *,
        size: int,
        what: str,
        scopes: tuple[str, ...],
        response: Answer,
    ) -> None:
        # A stream (a WrappedReader) that resumes a download, not a value: it keeps what a
        # ranged GET needs to continue.
        self._session = session
        self._url = url
        self._size = size
        self._what = what
        self._scopes = scopes
        self._body: Answer | None = response
        self._chunk = b""
        self._offset = 0
        self._received = 0
        self._eof = False
        self._failures = 0
        self._mark = 0
        self.resumes = 0
        """How many times the download was resumed (for tests and progress)."""

    def read(self, n: int = -1) -> bytes:
        """At most ``n`` bytes: what the connection delivered so far, without copying it.

        Like a raw stream's ``read``, it may return fewer bytes than asked for (one network
        piece at a time, so no byte is copied on its way to the caller); b"" means the whole
        blob arrived.
        """
        if n is None or n < 0:
            return read_to_end(self.read)
        if n == 0:
            return b""
        chunk, offset = self._chunk, self._offset
        if offset >= len(chunk):
            if not self._fill(n):
                return b""
            chunk, offset = self._chunk, 0
        end = offset + n
        if offset == 0 and end >= len(chunk):
            self._offset = len(chunk)
            return chunk
        self._offset = min(end, len(chunk))
        return chunk[offset:end]

    def _fill(self, n: int) -> bool:
        """Get the next piece of the body (``n`` bytes at most, when the body obliges)."""
        while not self._eof:
            body = self._body
            try:
                chunk = body.read(min(n, self._size - self._received) or 1) if body else b""
            except NetworkFailure as e:
                self._resume(e)
                continue
            if not chunk:
                if self._received >= self._size:
                    self._finish()
                    return False
                self._resume(None)
                continue
            self._received += len(chunk)
            self._chunk, self._offset = chunk, 0
            return True
        return False

    def _finish(self) -> None:
        self._eof = True
        self._close_body()

    def _close_body(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()

    def _resume(self, error: Exception | None) -> None:
        """Ask again from byte ``_received``; raise when the tries are used up."""
        self._close_body()
        if self._received - self._mark >= RESUME_PROGRESS:
            self._failures = 0
        self._mark = self._received
        session = self._session
        while True:
            if not session.retries.wait(self._failures):
                self._eof = True
                raise self._given_up(error) from None
            self._failures += 1
            self.resumes += 1
            start = self._received
            try:
                body = session.send(
                    "GET",
                    self._url,
                    what=self._what,
                    scopes=self._scopes,
                    headers={"Range": f"bytes={start}-"},
                    retry=False,
                )
            except NetworkFailure as e:
                error = e
                continue
            if body.status_code in RETRY_STATUSES:
                error = status_error(body, session.host, self._what)
                continue
            break
        if body.status_code == 206:
            match = _CONTENT_RANGE.match(body.headers.get("content-range", ""))
            if match is None or int(match.group(1)) != start:
                body.close()
                raise RegistryError(
                    f"{session.host}: a resumed download of {self._what} did not start "
                    f"at byte {start}"
                )
            self._body = body
        elif body.status_code == 200:
            # The server ignored the Range: read again from the start, dropping what we have.
            self._body = body
            self._skip(start)
        else:
            raise status_error(body, session.host, self._what)

    def _given_up(self, error: Exception | None) -> Exception:
        """The error that ends the download after the last failed try."""
        host, tries = self._session.host, self.resumes + 1
        got = f"{self._received} of {self._size} bytes arrived in {tries} tries"
        if isinstance(error, StallFailure):
            return StalledTransferError(f"{host}: {self._what} stalled: {error} ({got})")
        if isinstance(error, RegistryError):
            return error
        if error is not None:
            return network_error(error, host, self._what, self._session.timeout)
        return RegistryError(
            f"{host}: the connection ended after {self._received} of {self._size} bytes of "
            f"{self._what}, and resuming did not succeed"
        )

    def _skip(self, count: int) -> None:
        assert self._body is not None
        left = count
        while left > 0:
            try:
                chunk = self._body.read(min(left, _SKIP_CHUNK))
            except NetworkFailure as e:
                host, timeout = self._session.host, self._session.timeout
                raise network_error(e, host, self._what, timeout) from None
            if not chunk:
                raise RegistryError(
                    f"{self._session.host}: a resumed download of {self._what} ended early"
                )
            if len(chunk) > left:
                self._chunk, self._offset = chunk, left
                self._received += len(chunk) - left
                return
            left -= len(chunk)

    def close(self) -> None:
        self._eof = True
        self._close_body()
