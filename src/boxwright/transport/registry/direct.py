"""Blob bodies over :mod:`http.client`: a GET's bytes without httpx's per-piece Python work.

httpx (through httpcore and h11) hands a body out in 64 KiB pieces, each costing Python work
under the GIL, which four parallel downloads and the registry then compete for. For the one
request that carries nearly every byte of a pull, a blob ``GET``, :class:`DirectPool` sends
the request with :mod:`http.client` on a kept-alive connection of its own and reads the body
in reads of the caller's size (1 MiB) straight from the socket: a loopback pull of a 100 MB
image spends ~40% less time in-process.

It is a fast path beside the httpx client, not a second client: it sends only what a registry
already accepted (the ``Authorization`` the session earned, nothing when it earned none),
follows redirects (without ``Authorization`` to another host), retries 429/5xx answers and
lost connections with the session's policy, and answers ``None`` for anything else (401,
404, ...), so the caller sends the request through httpx, whose auth flow and error reports
handle it. It is not used behind an HTTP proxy (``*_proxy`` in the environment), which only
httpx honours. It imports no httpx at all (URLs are strings, network failures are
:class:`~boxwright.transport.registry.failures.NetworkFailure` subclasses, which
:func:`~boxwright.transport.registry.failures.network_error` maps like httpx's): an anonymous
pull never loads httpx.
"""

from __future__ import annotations

import http.client
import os
import ssl
import threading
from collections.abc import Callable, Mapping
from urllib.parse import quote, urljoin, urlsplit

from boxwright.transport.registry.failures import (
    ConnectFailure,
    NetworkFailure,
    NetworkTimeout,
    ProtocolFailure,
)
from boxwright.transport.registry.retry import RETRY_STATUSES, RetryPolicy, parse_retry_after

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 10
_POOLED_PER_HOST = 8
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


class DirectBody:
    """One answer (200 or 206) whose body is read from its connection as asked.

    :meth:`read` returns up to ``n`` bytes and ``b""`` at the end of the body (or when the
    connection ended early: the caller compares sizes). A body read to its end gives its
    connection back to the pool; :meth:`close` before that drops the connection.
    """

    def __init__(
        self,
        pool: DirectPool,
        key: _Key,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
    ) -> None:
        self._pool = pool
        self._key = key
        self._connection: http.client.HTTPConnection | None = connection
        self._response = response
        self.status_code = response.status
        self.headers: Mapping[str, str] = {k.lower(): v for k, v in response.getheaders()}

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the body; ``b""`` at its end. Raises NetworkFailure."""
        if self._connection is None:
            return b""
        try:
            data = self._response.read(n)
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise transport_error(e, connected=True) from e
        if not data or self._response.isclosed():
            self._release()
        return data

    def _release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if self._response.isclosed() and self._response.length in (0, None):
            self._pool.put(self._key, connection)
        else:
            connection.close()

    def close(self) -> None:
        """Drop the connection unless the body was read to its end."""
        connection, self._connection = self._connection, None
        if connection is not None:
            self._response.close()
            connection.close()


class DirectPool:
    """Kept-alive :mod:`http.client` connections per (scheme, host, port), for blob bodies."""

    def __init__(
        self,
        context: ssl.SSLContext,
        *,
        timeout: float,
        retries: RetryPolicy,
        base_headers: Mapping[str, str],
    ) -> None:
        self._context = context
        self._timeout = timeout
        self._retries = retries
        self._base_headers = dict(base_headers)
        self._lock = threading.Lock()
        self._idle: dict[_Key, list[http.client.HTTPConnection]] = {}

    def _take(self, key: _Key) -> tuple[http.client.HTTPConnection, bool]:
        """An idle connection to ``key`` (reused: True) or a new one (False)."""
        with self._lock:
            idle = self._idle.get(key)
            if idle:
                return idle.pop(), True
        scheme, host, port = key
        if scheme == "https":
            return (
                http.client.HTTPSConnection(
                    host, port, timeout=self._timeout, context=self._context
                ),
                False,
            )
        return http.client.HTTPConnection(host, port, timeout=self._timeout), False

    def put(self, key: _Key, connection: http.client.HTTPConnection) -> None:
        """Keep ``connection`` for the next request to ``key`` (a few per host at most)."""
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) < _POOLED_PER_HOST:
                idle.append(connection)
                return
        connection.close()

    def get(
        self,
        url: str,
        *,
        authorization: Callable[[], str | None],
        headers: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> DirectBody | None:
        """``GET url``: the body of a 200 or 206 answer, or None for the httpx path.

        ``authorization`` gives the ``Authorization`` value the session already earned for
        this request (or None); it is sent to the registry only, never after a redirect to
        another host. Raises NetworkFailure when the registry cannot be reached (at
        once with ``retry=False``, else after the retry policy's attempts).
        """
        retries = self._retries if retry else RetryPolicy.none()
        first = _key(url)
        attempt = 0
        redirects = 0
        while True:
            try:
                key = _key(url)
            except ValueError:
                return None  # redirected to a URL that is not HTTP: httpx reports it
            request_headers = dict(self._base_headers)
            if headers:
                request_headers.update(headers)
            if key == first:
                value = authorization()
                if value:
                    request_headers["Authorization"] = value
            try:
                connection, response = self._send(key, _target(url), request_headers)
            except NetworkFailure:
                if retries.wait(attempt):
                    attempt += 1
                    continue
                raise
            status = response.status
            if status in (200, 206):
                return DirectBody(self, key, connection, response)
            location = response.getheader("location")
            retry_after = parse_retry_after(response.getheader("retry-after"))
            self._discard(key, connection, response)
            if status in _REDIRECTS and location and redirects < _MAX_REDIRECTS:
                redirects += 1
                url = urljoin(url, location)
                continue
            if status in RETRY_STATUSES and retries.delay(attempt, retry_after) is not None:
                retries.wait(attempt, retry_after)
                attempt += 1
                continue
            return None

    def _send(
        self, key: _Key, target: str, headers: dict[str, str]
    ) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """Send one GET; a kept-alive connection the server closed meanwhile is replaced."""
        while True:
            connection, reused = self._take(key)
            sent = False
            try:
                connection.request("GET", target, headers=headers)
                sent = True
                return connection, connection.getresponse()
            except (OSError, http.client.HTTPException) as e:
                connection.close()
                if reused:
                    continue  # an idle connection the server had closed: try a new one
                raise transport_error(e, connected=sent) from e

    def _discard(
        self,
        key: _Key,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
    ) -> None:
        """Read a small unwanted answer's body so its connection can serve again."""
        try:
            if response.length is not None and response.length <= 64 * 1024:
                response.read()
                if response.isclosed() and not response.will_close:
                    self.put(key, connection)
                    return
        except (OSError, http.client.HTTPException):
            pass
        response.close()
        connection.close()

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()


__all__ = ["DirectBody", "DirectPool", "proxy_configured", "transport_error"]
