"""Caps on the answer bodies httpx reads into memory by itself.

httpx reads some bodies whole before the caller sees them: an answer its redirect handling
follows, and every answer of an auth flow but the last (the 401 challenge, the token
service's answer). :func:`cap_answer` is the session's httpx response hook: it runs on every
answer before httpx reads it and swaps its body stream for one that ends after a fixed number
of bytes, then drops the connection instead of draining it:

- a redirect, a 401 challenge or any other error answer: :data:`~.failures.MAX_ERROR_BODY`
  (a prefix is all a message needs);
- an answer to a request that names its own limit in the :data:`BODY_LIMIT` extension (a token
  request: :data:`~.auth.MAX_TOKEN_RESPONSE` + 1, so that a bigger answer shows as too big).

Other bodies (blobs, manifests) stay streams, read by the client in pieces under its own caps.
This module imports httpx; the session loads it with its httpx client.
"""

from __future__ import annotations

from collections.abc import Iterator

from boxwright.transport.registry._httpx import httpx
from boxwright.transport.registry.failures import MAX_ERROR_BODY

BODY_LIMIT = "boxwright.body_limit"
"""httpx request extension: the most bytes of its answer's body that are read (an int)."""

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class CappedStream(httpx.SyncByteStream):
    """A response body that ends after ``limit`` bytes; closing it closes the inner stream
    (which drops a connection whose body was not read to its end)."""

    def __init__(self, inner: httpx.SyncByteStream, limit: int) -> None:
        self._inner = inner
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        left = self._limit
        for chunk in self._inner:
            if len(chunk) >= left:
                if left:
                    yield chunk[:left]
                return
            left -= len(chunk)
            yield chunk

    def close(self) -> None:
        self._inner.close()


def answer_limit(response: httpx.Response) -> int | None:
    """How many bytes of ``response``'s body may be read into memory (None: no cap here)."""
    limit = response.request.extensions.get(BODY_LIMIT)
    if not isinstance(limit, int):
        limit = None
    status = response.status_code
    if status >= 400 or status in _REDIRECTS:
        limit = MAX_ERROR_BODY if limit is None else min(limit, MAX_ERROR_BODY)
    return limit


def cap_answer(response: httpx.Response) -> None:
    """The httpx response hook: cap the body of ``response`` (see the module docstring)."""
    limit = answer_limit(response)
    if limit is not None and isinstance(response.stream, httpx.SyncByteStream):
        response.stream = CappedStream(response.stream, limit)


__all__ = ["BODY_LIMIT", "CappedStream", "answer_limit", "cap_answer"]
