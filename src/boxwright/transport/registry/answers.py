"""What a registry request gives back: one :class:`Answer` shape for both HTTP paths.

A request leaves through :mod:`http.client` (:mod:`.direct`, the common case) or through httpx
(auth challenges, proxies). Callers read the status, the headers and the body the same way
either way: :class:`~boxwright.transport.registry.direct.DirectAnswer` is the first,
:class:`HttpxAnswer` wraps the second. Bodies are read piece by piece and never buffered here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Protocol

from boxwright.transport.registry._httpx import httpx
from boxwright.transport.registry.stall import ProgressWatch


class Answer(Protocol):
    """A registry's answer to one request, its body still on the connection.

    ``headers`` looks names up in lower case. :meth:`read` returns up to ``n`` bytes (fewer
    when that is what arrived) and ``b""`` at the end of the body; it raises a network
    failure (see :func:`~boxwright.transport.registry.failures.network_failures`) when the
    connection breaks. :meth:`close` gives the connection back once the body was read.
    """

    @property
    def status_code(self) -> int: ...

    @property
    def reason_phrase(self) -> str: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    def read(self, n: int) -> bytes: ...

    def close(self) -> None: ...


class HttpxAnswer:
    """An httpx streaming response seen as an :class:`Answer` (pieces of httpx's own size).

    ``watch`` checks the body's progress piece by piece (httpx bounds each socket wait, the
    watch the bytes per window: see :mod:`.stall`).
    """

    def __init__(self, response: httpx.Response, watch: ProgressWatch | None = None) -> None:
        self.response = response
        self._watch = watch
        self._chunks: Iterator[bytes]
        try:
            content = response.content  # read already (an auth flow's, or made whole)
        except httpx.ResponseNotRead:
            self._chunks = response.iter_raw()
        else:
            self._chunks = iter((content,))

    @property
    def status_code(self) -> int:
        return self.response.status_code

    @property
    def reason_phrase(self) -> str:
        return self.response.reason_phrase

    @property
    def headers(self) -> Mapping[str, str]:
        return self.response.headers

    def read(self, n: int) -> bytes:
        """The next network piece (whatever its size); b"" at the end of the body."""
        try:
            piece = next(self._chunks, b"")
        except httpx.ReadTimeout:
            if self._watch is None:
                raise
            raise self._watch.failure() from None
        if piece and self._watch is not None:
            self._watch.add(len(piece))
        return piece

    def close(self) -> None:
        self.response.close()


_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]*)*)")
_NEXT = re.compile(r';\s*rel\s*=\s*"?([^";]*)"?')


def next_link(headers: Mapping[str, str]) -> str | None:
    """The ``rel="next"`` target of an answer's ``Link`` header (pagination), or None."""
    for match in _LINK.finditer(headers.get("link", "")):
        for rel in _NEXT.finditer(match.group(2)):
            if "next" in rel.group(1).split():
                return match.group(1)
    return None


__all__ = ["Answer", "HttpxAnswer", "next_link"]
