"""Registry requests over :mod:`http.client`, without httpx's per-request and per-piece work.

httpx (through httpcore and h11) costs ~25 ms to import and hands a body out in 64 KiB pieces,
each costing Python work under the GIL, which parallel transfers and the registry then compete
for. :class:`DirectPool` sends a request with :mod:`http.client` on a kept-alive connection of
its own and reads the body in reads of the caller's size (1 MiB) straight from the socket, and
sends a streamed body (a blob upload) in the caller's pieces: a loopback pull of a 100 MB image
spends ~40% less time in-process, and an anonymous push or pull never imports httpx.

It is a fast path beside the httpx client, not a second client: it sends only what a registry
already accepted (the ``Authorization`` the session earned, nothing when it earned none, and
at every hop only what the session's
:class:`~boxwright.transport.registry.origin.OriginPolicy` allows for that URL), follows
redirects of ``GET`` and ``HEAD``, and
hands back (``None``) what only httpx handles: an auth challenge (401) when the request can be
sent again, and a redirect it does not follow; the session then sends the request through
httpx, whose auth flow and redirect handling take it from there. Retries are the session's.
It is not used behind an HTTP proxy (``*_proxy`` in the environment), which only httpx
honours. It imports no httpx at all (URLs are strings, network failures are
:class:`~boxwright.transport.registry.failures.NetworkFailure` subclasses, which
:func:`~boxwright.transport.registry.failures.network_error` maps like httpx's).
"""

from __future__ import annotations

import http.client
import os
import select
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from urllib.parse import quote, urljoin, urlsplit

from boxwright.transport.registry.failures import (
    ConnectFailure,
    NetworkFailure,
    NetworkTimeout,
    ProtocolFailure,
)
from boxwright.transport.registry.origin import Origin
from boxwright.transport.registry.stall import StallPolicy
from boxwright.transport.registry.watched import (
    Watched,
    WatchedConnection,
    WatchedTLSConnection,
    begin_request,
)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 10
_POOLED_PER_HOST = 8
_DISCARD_LIMIT = 64 * 1024
_REPLAY_LIMIT = 4 << 20
_Key = tuple[str, str, int]
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def proxy_configured() -> bool:
    """Whether the environment names an HTTP proxy (then only httpx may send requests)."""
    return any(os.environ.get(name) or os.environ.get(name.upper()) for name in _PROXY_VARIABLES)


_SAFE = "/%:@!$&'()*+,;=-._~?#[]"
"""Characters a URL keeps as they are (httpx percent-encodes the rest the same way)."""


def _key(url: str) -> _Key:
    """(scheme, host, port) of an absolute ``http``/``https`` URL: its connection pool."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an absolute HTTP URL: {url!r}")
    port = parts.port or (443 if scheme == "https" else 80)
    return (scheme, parts.hostname, port)


def _target(url: str) -> str:
    """The request target (path and query) of ``url``, percent-encoded where it must be."""
    parts = urlsplit(quote(url, safe=_SAFE))
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def transport_error(error: BaseException, *, connected: bool) -> NetworkFailure:
    """The :class:`NetworkFailure` for an :mod:`http.client` or socket failure.

    ``connected`` says whether the request had been sent (a timeout before that is a connect
    timeout). The caller raises it ``from error``, which TLS reports read.
    """
    message = str(error) or type(error).__name__
    if isinstance(error, TimeoutError):
        return NetworkTimeout(f"{'read' if connected else 'connect'} timed out: {message}")
    if isinstance(error, ssl.SSLError | ssl.CertificateError) or not connected:
        return ConnectFailure(message)
    if isinstance(error, http.client.HTTPException):
        return ProtocolFailure(message)
    return NetworkFailure(message)


class DirectAnswer:
    """One answer, its body read from its connection as asked (an :class:`~.answers.Answer`).

    :meth:`read` returns up to ``n`` bytes and ``b""`` at the end of the body (or when the
    connection ended early: the caller compares sizes). A body read to its end gives its
    connection back to the pool, as does :meth:`close` of an answer without a body; closing
    before the end of a body drops the connection.
    """

    def __init__(
        self,
        pool: DirectPool,
        key: _Key,
        connection: Watched,
        response: http.client.HTTPResponse,
    ) -> None:
        self._pool = pool
        self._key = key
        self._progress = connection.progress
        self._connection: Watched | None = connection
        self._response = response
        self.status_code = response.status
        self.reason_phrase = response.reason
        headers: dict[str, str] = {}
        for name, value in response.getheaders():
            name = name.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        self.headers: Mapping[str, str] = headers

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the body; ``b""`` at its end. Raises NetworkFailure."""
        if self._connection is None:
            return b""
        try:
            data = self._response.read(n)
        except NetworkFailure:  # a stall the connection's watch saw
            self._drop()
            raise
        except (OSError, http.client.HTTPException) as e:
            self._drop()
            if self._progress.failure is not None:
                raise self._progress.failure from None
            raise transport_error(e, connected=True) from e
        if not data and self._progress.failure is not None:
            self._drop()
            raise self._progress.failure
        if not data or self._response.isclosed():
            self.close()
        return data

    def close(self) -> None:
        """Give the connection back when the body was read to its end (or had none), else
        drop it."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        response = self._response
        done = response.length == 0 or (response.isclosed() and response.length is None)
        response.close()
        if done and not response.will_close:
            self._pool.put(self._key, connection)
        else:
            connection.close()

    def discard(self) -> None:
        """Close an answer whose body nobody wants, reading a small one first so that its
        connection can serve again."""
        length = self._response.length
        if self._connection is not None and length is not None and length <= _DISCARD_LIMIT:
            try:
                while self.read(_DISCARD_LIMIT):
                    pass
            except NetworkFailure:
                return
        self.close()

    def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            self._response.close()
            connection.close()


Body = bytes | Iterable[bytes] | None
"""A request body: none, bytes (which can be sent again), or pieces streamed once."""


class _Pieces:
    """A streamed body whose first pieces are kept while it is sent (``keep`` bytes at most),
    so that a request whose kept-alive connection turns out closed can go again on a new
    one: the server's reset shows only at the first writes."""

    def __init__(self, pieces: Iterable[bytes], keep: int) -> None:
        self._source = iter(pieces)
        self._kept: list[bytes] | None = []
        self._kept_size = 0
        self._keep = keep

    @property
    def replayable(self) -> bool:
        """Whether every piece taken so far is still kept."""
        return self._kept is not None

    def __iter__(self) -> Iterator[bytes]:
        if self._kept:
            yield from list(self._kept)
        for piece in self._source:
            if self._kept is not None:
                self._kept_size += len(piece)
                if self._kept_size <= self._keep:
                    self._kept.append(piece)
                else:
                    self._kept = None
            yield piece


class DirectPool:
    """Kept-alive :mod:`http.client` connections per (scheme, host, port).

    ``context`` is the TLS context of every connection, or a function giving the context
    for a connection to an origin (the client certificate goes to the registry's only).
    """

    def __init__(
        self,
        context: ssl.SSLContext | Callable[[Origin], ssl.SSLContext],
        *,
        timeout: float,
        base_headers: Mapping[str, str],
        stall: StallPolicy | None = None,
    ) -> None:
        self._context = context
        self._timeout = timeout
        self._stall = stall
        self._base_headers = dict(base_headers)
        self._lock = threading.Lock()
        self._idle: dict[_Key, list[Watched]] = {}

    def _take(self, key: _Key) -> tuple[Watched, bool]:
        """An idle connection to ``key`` still open (reused: True), or a new one (False)."""
        while True:
            with self._lock:
                idle = self._idle.get(key)
                connection = idle.pop() if idle else None
            if connection is None:
                break
            if not _closed_by_peer(connection):
                return connection, True
            connection.close()
        scheme, host, port = key
        if scheme == "https":
            context = self._context
            if not isinstance(context, ssl.SSLContext):
                context = context(Origin(scheme, host, port))
            return (
                WatchedTLSConnection(
                    host, port, timeout=self._timeout, context=context, policy=self._stall
                ),
                False,
            )
        return WatchedConnection(host, port, timeout=self._timeout, policy=self._stall), False

    def put(self, key: _Key, connection: Watched) -> None:
        """Keep ``connection`` for the next request to ``key`` (a few per host at most)."""
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < _POOLED_PER_HOST:
                idle.append(connection)
                return
        connection.close()

    def request(
        self,
        method: str,
        url: str,
        *,
        authorization: Callable[[str], str | None],
        headers: Mapping[str, str] | None = None,
        body: Body = None,
    ) -> DirectAnswer | None:
        """Send one request; its answer, or None for a redirect only httpx follows (of a
        method other than ``GET`` or ``HEAD``, or to a URL that is not HTTP).

        ``authorization(url)`` gives the ``Authorization`` value to send to ``url`` (or
        None); it is asked at every hop, the request's URL and each redirect's, so the
        session's rule decides where its credentials go. A streamed ``body`` (not bytes) is
        sent once, and every answer to it is handed out. Raises NetworkFailure when the
        registry cannot be reached or the connection breaks before an answer.
        """
        replayable = body is None or isinstance(body, bytes)
        follows = method in ("GET", "HEAD")
        redirects = 0
        while True:
            try:
                key = _key(url)
            except ValueError:
                return None  # redirected to a URL that is not HTTP: httpx reports it
            request_headers = dict(self._base_headers)
            if headers:
                request_headers.update(headers)
            value = authorization(url)
            if value:
                request_headers["Authorization"] = value
            connection, response = self._send(key, method, _target(url), request_headers, body)
            if response.status in _REDIRECTS and replayable:
                location = response.getheader("location")
                DirectAnswer(self, key, connection, response).discard()
                if not follows or not location or redirects >= _MAX_REDIRECTS:
                    return None
                redirects += 1
                url = urljoin(url, location)
                continue
            return DirectAnswer(self, key, connection, response)

    def _send(
        self, key: _Key, method: str, target: str, headers: dict[str, str], body: Body
    ) -> tuple[Watched, http.client.HTTPResponse]:
        """Send one request; a kept-alive connection that broke is replaced (a streamed body
        is sent again from its kept first pieces while they are all kept)."""
        pieces = None if body is None or isinstance(body, bytes) else _Pieces(body, _REPLAY_LIMIT)
        while True:
            connection, reused = self._take(key)
            connected = reused
            try:
                if not reused:
                    connection.connect()
                    connected = True
                begin_request(connection, method, has_body=bool(body))
                connection.request(
                    method, target, body=pieces if pieces is not None else body, headers=headers
                )
                connection.progress.sent()
                return connection, connection.getresponse()
            except (OSError, http.client.HTTPException) as e:
                connection.close()
                if connection.progress.failure is not None:
                    raise connection.progress.failure from None  # the answer's head stalled
                if reused and (pieces is None or pieces.replayable):
                    continue  # an idle connection the server had closed: try a new one
                raise transport_error(e, connected=connected) from e
            except BaseException:
                connection.close()  # the body's own failure (a digest check): half sent
                raise

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()


def _closed_by_peer(connection: http.client.HTTPConnection) -> bool:
    """Whether an idle kept-alive connection was closed by the server meanwhile (its socket
    reads as ready: end of stream, or bytes nobody asked for), as httpcore checks too."""
    sock = connection.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


__all__ = ["Body", "DirectAnswer", "DirectPool", "proxy_configured", "transport_error"]
