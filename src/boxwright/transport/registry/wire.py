"""The base of the registry's HTTP chain: one request on pooled urllib3 connections.

A registry request passes a chain of small layers, each a :class:`Transport` (one method,
``send(request) -> Answer``), composed once by
:class:`~boxwright.transport.registry.session.Session`::

    Retrying → Authenticating → Redirects → CredentialGuard → Wire

:class:`Wire` is the last: it sends exactly the request it is given on a kept-alive
connection of a urllib3 pool (one per origin, or per origin and proxy) and hands back the
:class:`Answer` with its body still on the connection. It follows no redirect, retries
nothing, reads no body by itself (urllib3's ``preload_content=False``,
``decode_content=False``), adds the session's ``User-Agent`` and ``Accept-Encoding:
identity``, and watches every transfer for stalls (:mod:`.watched`). An HTTP proxy named by
``HTTP_PROXY``/``HTTPS_PROXY``/``ALL_PROXY`` (or lower case) carries the requests of every
origin ``NO_PROXY`` does not exempt (a tunnel for HTTPS). The TLS context of each origin is
the credential rule's (:meth:`~boxwright.transport.registry.origin.OriginPolicy.tls_context`:
the client certificate for the registry's origin only).

Network failures leave as :class:`~boxwright.transport.registry.failures.NetworkFailure`
subclasses (raised ``from`` urllib3's exception, which TLS reports read).
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlsplit

import urllib3
from urllib3.connection import HTTPException
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NewConnectionError,
    ProtocolError,
    ProxyError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.response import HTTPResponse

from boxwright.transport.registry.failures import (
    ConnectFailure,
    NetworkFailure,
    NetworkTimeout,
    ProtocolFailure,
)
from boxwright.transport.registry.origin import Origin
from boxwright.transport.registry.stall import StallPolicy
from boxwright.transport.registry.watched import LAST, Progress, connection_classes

if TYPE_CHECKING:
    from urllib3._base_connection import BaseHTTPConnection

Body = bytes | Iterable[bytes] | None
"""A request body: none, bytes (which can be sent again), or pieces streamed once."""

DISCARD_LIMIT = 64 * 1024
"""The largest unwanted body read to its end so that its connection serves again."""
_POOL_SIZE = 32
_REPLAY_LIMIT = 4 << 20
_STALE = (ProtocolError, ConnectionError)
"""Failures of a request sent on a connection the server had closed (an answer that ended
before its status line, ``RemoteDisconnected``, is a ``ConnectionResetError``)."""
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
_SAFE = "/%:@!$&'()*+,;=-._~?#[]"
"""Characters a request target keeps as they are (the rest is percent-encoded)."""


@dataclass(slots=True)
class Request:
    """One request as the layers pass it down (each layer that changes it makes a copy).

    ``what`` names the object for messages; ``scopes`` are the token scopes it needs.
    ``bound`` is the origin the credentials it carries are bound to (None: the registry's);
    ``credentials_in_body`` marks a body that holds credentials (an OAuth2 form), which is
    refused, not stripped, on another origin (see :mod:`.origin`).
    """

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: Body = None
    what: str = ""
    scopes: tuple[str, ...] = ()
    bound: Origin | None = None
    credentials_in_body: bool = False

    @property
    def replayable(self) -> bool:
        """Whether the body can be sent again (none, or bytes; not a stream)."""
        return self.body is None or isinstance(self.body, bytes)

    def with_headers(self, **changes: str | None) -> Request:
        """A copy with headers set (a value) or removed (None); names as HTTP writes them."""
        headers = dict(self.headers)
        for name, value in changes.items():
            name = name.replace("_", "-")
            if value is None:
                headers.pop(name, None)
            else:
                headers[name] = value
        return replace(self, headers=headers)


class Answer:
    """A registry's answer, its body still on the connection.

    ``headers`` looks names up in any case (``getlist`` gives every value of a repeated
    one); ``url`` is the URL that answered. :meth:`read` returns up to ``n`` bytes and
    ``b""`` at the end of the body (or when the connection ended early: the caller compares
    sizes); it raises :class:`NetworkFailure` when the connection breaks or stalls. A body
    read to its end gives its connection back to the pool, as does :meth:`close` of an
    answer without a body; closing before the end of a body drops the connection (it is
    never drained).
    """

    def __init__(self, response: HTTPResponse, url: str, progress: Progress | None) -> None:
        self._response = response
        self._progress = progress
        self._open = True
        self.url = url
        self.status_code: int = response.status
        self.reason_phrase: str = response.reason or ""
        self.headers = response.headers

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes of the body; ``b""`` at its end. Raises NetworkFailure."""
        if not self._open:
            return b""
        progress = self._progress
        try:
            data: bytes = self._response.read(n)
        except NetworkFailure:  # a stall the connection's watch saw
            self._drop()
            raise
        except (HTTPError, OSError, HTTPException) as e:
            self._drop()
            if progress is not None and progress.failure is not None:
                raise progress.failure from None
            raise transport_error(e) from e
        if not data:
            if progress is not None and progress.failure is not None:
                self._drop()
                raise progress.failure
            self.close()
        return data

    def close(self) -> None:
        """Give the connection back when the body was read to its end (or had none), else
        drop it."""
        if not self._open:
            return
        self._open = False
        response = self._response
        if response.closed or response.length_remaining == 0:
            response.drain_conn()  # nothing left to read: the connection serves again
        else:
            response.close()
            response.release_conn()

    def discard(self) -> None:
        """Close an answer whose body nobody wants, reading a small one first so that its
        connection can serve again."""
        length = self._response.length_remaining
        if self._open and length is not None and length <= DISCARD_LIMIT:
            try:
                while self.read(DISCARD_LIMIT):
                    pass
            except NetworkFailure:
                return
        self.close()

    def _drop(self) -> None:
        if self._open:
            self._open = False
            self._response.close()
            self._response.release_conn()


class Transport(Protocol):
    """One layer of the chain: sends ``request``, returns its answer (body unread)."""

    def send(self, request: Request) -> Answer: ...


def transport_error(error: BaseException) -> NetworkFailure:
    """The :class:`NetworkFailure` for a urllib3, TLS or socket failure (``HTTPException``,
    which urllib3's connection raises for an answer that is not HTTP, is a protocol failure).

    The caller raises it ``from error``, which TLS reports read.
    """
    reason = getattr(error, "reason", None)
    message = str(reason if isinstance(reason, BaseException) else error) or type(error).__name__
    if isinstance(error, NewConnectionError):  # a ConnectTimeoutError subclass
        return ConnectFailure(str(error.__cause__ or message))
    if isinstance(error, ConnectTimeoutError):
        return NetworkTimeout(f"connect timed out: {message}")
    if isinstance(error, ReadTimeoutError | TimeoutError):
        return NetworkTimeout(f"read timed out: {message}")
    if isinstance(error, SSLError | ProxyError | ConnectionRefusedError | ssl.SSLError):
        return ConnectFailure(message)
    if isinstance(error, HTTPException) or isinstance(
        getattr(error, "__context__", None), HTTPException
    ):
        return ProtocolFailure(message)
    return NetworkFailure(message)


def target(url: str) -> str:
    """The request target (path and query) of ``url``, percent-encoded where it must be."""
    parts = urlsplit(quote(url, safe=_SAFE))
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path


def proxy_for(origin: Origin) -> str | None:
    """The proxy URL the environment names for ``origin`` (None: connect directly)."""
    if not any(os.environ.get(n) or os.environ.get(n.upper()) for n in _PROXY_VARIABLES):
        return None
    # Only with a proxy variable set: urllib.request is ~1 ms of every registry command's
    # start (docs/performance.md, "What the mount push spends").
    import urllib.request

    proxies = urllib.request.getproxies()
    proxy = proxies.get(origin.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(origin.host):
        return None
    return proxy


class _Pieces:
    """A streamed body whose first pieces are kept while it is sent (``keep`` bytes at most),
    so that a request whose kept-alive connection turns out closed can go again on a new
    one: the server's close shows only at the first writes or at the answer."""

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


class _TLSPool(HTTPSConnectionPool):
    """An HTTPS pool that does not warn about unverified connections: they are made only
    when the user turned verification off (``--tls-verify=false``, ``insecure = true``)."""

    def _validate_conn(self, conn: BaseHTTPConnection) -> None:
        HTTPConnectionPool._validate_conn(self, conn)
        if conn.is_closed:
            conn.connect()


class Wire:
    """The chain's base (see the module docstring): pooled connections per origin.

    ``tls_context(origin)`` is the TLS context of a connection to ``origin``; ``headers``
    go with every request (the caller's own win); ``timeout`` bounds connecting and each
    socket wait the stall watch does not bound itself.
    """

    def __init__(
        self,
        tls_context: Callable[[Origin], ssl.SSLContext],
        *,
        timeout: float,
        headers: Mapping[str, str],
        stall: StallPolicy | None = None,
    ) -> None:
        self._tls_context = tls_context
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        self._headers = dict(headers)
        plain, tls = connection_classes(stall)
        self._pool_classes: dict[str, type[HTTPConnectionPool]] = {
            "http": type("Pool", (HTTPConnectionPool,), {"ConnectionCls": plain}),
            "https": type("TLSPool", (_TLSPool,), {"ConnectionCls": tls}),
        }
        self._managers: dict[str | None, urllib3.PoolManager] = {}
        self._pools: dict[Origin, tuple[HTTPConnectionPool, bool]] = {}
        self._lock = threading.Lock()

    def send(self, request: Request) -> Answer:
        try:
            origin = Origin.of(request.url)
        except ValueError:
            raise ConnectFailure(f"not an HTTP URL: {request.url[:200]}") from None
        pool, absolute = self._pool(origin)
        headers = self._headers | request.headers
        body = request.body
        pieces = None if body is None or isinstance(body, bytes) else _Pieces(body, _REPLAY_LIMIT)
        while True:
            try:
                return self._send(pool, request, absolute, headers, pieces or body)
            except NetworkFailure as e:
                stale = LAST.reused and not LAST.answered and isinstance(e.__cause__, _STALE)
                if not stale or (pieces is not None and not pieces.replayable):
                    raise
                # A kept-alive connection the server had closed: once more on a new one.

    def _send(
        self,
        pool: HTTPConnectionPool,
        request: Request,
        absolute: bool,
        headers: dict[str, str],
        body: Body,
    ) -> Answer:
        try:
            response = pool.urlopen(
                request.method,
                request.url if absolute else target(request.url),
                body=body,
                headers=headers,
                retries=False,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
                decode_content=False,
                release_conn=False,
                enforce_content_length=False,  # an early end reads as b"": callers count
                timeout=self._timeout,
            )
        except (HTTPError, OSError, HTTPException) as e:
            raise transport_error(e) from e
        assert isinstance(response, HTTPResponse)
        return Answer(response, request.url, getattr(response.connection, "progress", None))

    def _pool(self, origin: Origin) -> tuple[HTTPConnectionPool, bool]:
        """The pool for ``origin`` and whether its requests name absolute URLs (plain HTTP
        through a proxy)."""
        found = self._pools.get(origin)
        if found is not None:
            return found
        with self._lock:
            found = self._pools.get(origin)
            if found is None:
                proxy = proxy_for(origin)
                manager = self._manager(proxy)
                kwargs = {}
                if origin.scheme == "https":
                    kwargs["ssl_context"] = self._tls_context(origin)
                pool = manager.connection_from_host(
                    origin.host, origin.port, origin.scheme, pool_kwargs=kwargs
                )
                found = self._pools[origin] = (pool, proxy is not None and origin.scheme == "http")
        return found

    def _manager(self, proxy: str | None) -> urllib3.PoolManager:
        manager = self._managers.get(proxy)
        if manager is None:
            kwargs: dict[str, Any] = {"num_pools": 16, "maxsize": _POOL_SIZE}
            if proxy is None:
                manager = urllib3.PoolManager(**kwargs)
            else:
                manager = urllib3.ProxyManager(proxy, **kwargs)
            manager.pool_classes_by_scheme = self._pool_classes
            self._managers[proxy] = manager
        return manager

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            managers, self._managers, self._pools = self._managers, {}, {}
        for manager in managers.values():
            manager.clear()


__all__ = [
    "DISCARD_LIMIT",
    "Answer",
    "Body",
    "Request",
    "Transport",
    "Wire",
    "proxy_for",
    "target",
    "transport_error",
]
