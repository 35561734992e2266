"""The chain's redirect layer: follows ``3xx`` answers, as registries and storage ask.

A registry may send a blob ``GET`` to an object store (``307`` to a signed URL), and an
upload or a token request may be redirected too. :class:`Redirects` follows up to
:data:`MAX_REDIRECTS` hops: ``303`` (and ``301``/``302`` of a ``POST``) becomes a ``GET``
without a body, as browsers and Go's client do; ``307``/``308`` repeat the method and body.
A request whose body is a stream cannot be sent again, so its redirect is the caller's
answer. Each hop goes down through the layers below, so the credential rule
(:class:`~boxwright.transport.registry.origin.CredentialGuard`) decides at every hop whether
the ``Authorization`` goes along: to another origin it never does. The body of a redirect
is never read beyond :data:`~.wire.DISCARD_LIMIT` (it is dropped with its connection).
A ``Location`` that is not an HTTP URL ends the request with a
:class:`~boxwright.transport.registry.failures.ProtocolFailure`.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final
from urllib.parse import urljoin, urlsplit

from boxwright.transport.registry.failures import ProtocolFailure
from boxwright.transport.registry.wire import Answer, Request, Transport

REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
MAX_REDIRECTS: Final = 10
_BODY_HEADERS = ("Content-Type", "Content-Length", "Content-Range", "Transfer-Encoding")


class Redirects:
    """Follows redirects (see the module docstring)."""

    def __init__(self, inner: Transport) -> None:
        self._inner = inner

    def send(self, request: Request) -> Answer:
        for _ in range(MAX_REDIRECTS):
            answer = self._inner.send(request)
            location = answer.headers.get("location")
            if answer.status_code not in REDIRECTS or not location or not request.replayable:
                return answer
            answer.discard()
            request = follow(request, answer.status_code, location)
        return self._inner.send(request)  # the last hop's answer, a redirect or not


def follow(request: Request, status: int, location: str) -> Request:
    """The request a redirect ``status`` to ``location`` asks for."""
    url = urljoin(request.url, location)
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ProtocolFailure(f"redirected to a URL that is not HTTP ({url[:100]})")
    to_get = status == 303 and request.method != "HEAD"
    if to_get or (status in (301, 302) and request.method == "POST"):
        headers = {k: v for k, v in request.headers.items() if k not in _BODY_HEADERS}
        return replace(request, method="GET", url=url, body=None, headers=headers)
    return replace(request, url=url)


__all__ = ["MAX_REDIRECTS", "REDIRECTS", "Redirects", "follow"]
