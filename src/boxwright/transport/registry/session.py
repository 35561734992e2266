"""One registry's HTTP session: TLS, scheme, authentication and bounded retries.

:class:`Session` owns the ``httpx.Client`` (a connection pool shared by every thread that
moves blobs), the :class:`~boxwright.transport.registry.auth.RegistryAuth` state and the
:class:`~boxwright.transport.registry.retry.RetryPolicy`. :meth:`Session.send` is the one
place a request leaves: it retries 429/5xx answers and lost connections when the request
can safely be sent again, and turns every network failure into a typed error.
:meth:`Session.get_body` is the low-overhead path for blob and manifest bodies
(:mod:`.direct`). The httpx client and the auth state (whose flow is an ``httpx.Auth``) are
made on first use: an anonymous pull never needs them, and never imports httpx.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from boxwright._version import __version__
from boxwright.errors import RegistryError, TLSError
from boxwright.transport.registry._httpx import httpx, load_httpcore
from boxwright.transport.registry.direct import DirectBody, DirectPool, proxy_configured
from boxwright.transport.registry.failures import NetworkFailure, network_error, network_failures
from boxwright.transport.registry.retry import (
    IDEMPOTENT_METHODS,
    RETRY_STATUSES,
    RetryPolicy,
    parse_retry_after,
)

if TYPE_CHECKING:
    from boxwright.transport.registry.auth import CredentialsLike, RegistryAuth

USER_AGENT = f"boxwright/{__version__}"
Content = bytes | Iterator[bytes] | Iterable[bytes] | None


class TLSSettingsLike(Protocol):
    """What the client reads from :class:`boxwright.config.certs.TLSSettings`."""

    @property
    def verify(self) -> bool: ...

    @property
    def ca_files(self) -> tuple[Path, ...]: ...

    @property
    def client_cert(self) -> tuple[Path, Path] | None: ...


def ssl_context(host: str, tls: TLSSettingsLike | None, insecure: bool) -> ssl.SSLContext:
    """The TLS context for ``host``: system trust plus certs.d CAs, an optional client pair.

    ``insecure`` or ``tls.verify == False`` turn verification off (the client certificate is
    still presented).
    """
    verify = not insecure and (tls is None or tls.verify)
    if verify:
        context = ssl.create_default_context()
    else:
        # No trust store to load (that costs ~20 ms of start-up) when nothing is verified.
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        if tls is not None:
            if verify:
                for ca in tls.ca_files:
                    context.load_verify_locations(cafile=str(ca))
            if tls.client_cert is not None:
                cert, key = tls.client_cert
                context.load_cert_chain(certfile=str(cert), keyfile=str(key))
    except (OSError, ssl.SSLError) as e:
        raise TLSError(f"{host}: cannot load TLS certificates: {e}") from None
    return context


class Session:
    """HTTP plumbing for one registry host (see the module docstring)."""

    def __init__(
        self,
        host: str,
        *,
        scheme: str | None = None,
        insecure: bool = False,
        tls: TLSSettingsLike | None = None,
        credentials: CredentialsLike | None = None,
        retries: RetryPolicy | None = None,
        timeout: float = 60,
    ) -> None:
        if scheme not in (None, "http", "https"):
            raise ValueError(f"scheme must be 'http' or 'https', not {scheme!r}")
        self.host = host
        self.insecure = insecure
        self.timeout = timeout
        self.retries = retries if retries is not None else RetryPolicy()
        self._credentials = credentials
        self._auth: RegistryAuth | None = None
        self._auth_lock = threading.Lock()
        self.authenticated = credentials is not None and bool(
            credentials.username or credentials.identity_token
        )
        self._scheme = scheme if scheme is not None else (None if insecure else "https")
        self._scheme_lock = threading.Lock()
        context = ssl_context(host, tls, insecure)
        self._context = context
        self._httpx: httpx.Client | None = None
        self._httpx_lock = threading.Lock()
        self._direct = (
            None
            if proxy_configured()
            else DirectPool(
                context,
                timeout=timeout,
                retries=self.retries,
                base_headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            )
        )

    @property
    def auth(self) -> RegistryAuth:
        """The authentication state (tokens, Basic), made on first use.

        Until a request goes through httpx nothing can have been earned (a token, the
        registry asking for Basic), so the direct path sends no ``Authorization`` before then.
        """
        auth = self._auth
        if auth is None:
            with self._auth_lock:
                auth = self._auth
                if auth is None:
                    from boxwright.transport.registry.auth import RegistryAuth

                    auth = self._auth = RegistryAuth(self.host, self._credentials)
        return auth

    def _known_authorization(self, scopes: tuple[str, ...]) -> str | None:
        """What the direct path sends: the ``Authorization`` already earned, if any."""
        auth = self._auth
        return None if auth is None else auth.known_authorization(scopes)

    @property
    def _client(self) -> httpx.Client:
        """The httpx client, made on first use (a pull may never need it: see :mod:`.direct`)."""
        client = self._httpx
        if client is None:
            with self._httpx_lock:
                client = self._httpx
                if client is None:
                    load_httpcore()
                    client = self._httpx = httpx.Client(
                        verify=self._context,
                        timeout=httpx.Timeout(self.timeout),
                        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
                        follow_redirects=True,
                        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
                    )
        return client

    # -- scheme ------------------------------------------------------------------------------

    @property
    def scheme(self) -> str:
        """``https``, or ``http`` for an insecure registry that does not speak TLS.

        An insecure registry is tried with HTTPS (unverified) first and plain HTTP after a
        connection or TLS failure, once, as containers/image does.
        """
        if self._scheme is None:
            with self._scheme_lock:
                if self._scheme is None:
                    self._scheme = self._probe_scheme()
        return self._scheme

    def _probe_scheme(self) -> str:
        url = f"https://{self.host}/v2/"
        try:
            if self._direct is not None:
                body = self._direct.get(url, authorization=lambda: None, retry=False)
                if body is not None:
                    body.close()
                return "https"
            response = self._client.get(url)
        except network_failures():
            return "http"
        response.close()
        return "https"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (starting with ``/v2/``) on this registry.

        A string (httpx accepts it; the direct path needs no httpx to parse it).
        """
        return f"{self.scheme}://{self.host}{path}"

    def resolve(self, location: str) -> httpx.URL:
        """An absolute URL from a ``Location`` header (which may be relative)."""
        return httpx.URL(self.url("/v2/")).join(location)

    # -- requests ----------------------------------------------------------------------------

    def send(
        self,
        method: str,
        url: httpx.URL | str,
        *,
        what: str,
        scopes: tuple[str, ...] = (),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        content: Content = None,
        retry: bool | None = None,
    ) -> httpx.Response:
        """Send one request (with auth), retrying when safe; the response is streaming.

        ``what`` names the object for messages. By default (``retry=None``) a request with a
        replayable body is retried on retryable statuses (429, 5xx; honouring
        ``Retry-After``), and on lost connections too when its method is idempotent.
        ``retry=True`` allows both for a non-idempotent method (opening an upload session,
        which a lost answer leaves unused and harmless); ``retry=False`` sends once. A
        streamed body is never sent twice. The caller checks the status and closes the
        response.
        """
        from boxwright.transport.registry.auth import SCOPE_EXTENSION

        auth = self.auth
        replayable = (content is None or isinstance(content, bytes)) and retry is not False
        network_retry = replayable and (method in IDEMPOTENT_METHODS if retry is None else retry)
        attempt = 0
        while True:
            request = self._client.build_request(
                method,
                url,
                headers=headers,
                params=params,
                content=content,
                extensions={SCOPE_EXTENSION: scopes},
            )
            try:
                response = self._client.send(request, auth=auth, stream=True)
            except RegistryError as e:
                # Raised by the token flow: a token service that answered 5xx or 429.
                if e.status in RETRY_STATUSES and replayable and self.retries.wait(attempt):
                    attempt += 1
                    continue
                raise
            except httpx.TransportError as e:
                if network_retry and self.retries.wait(attempt):
                    attempt += 1
                    continue
                raise network_error(e, self.host, what, self.timeout) from None
            except httpx.HTTPError as e:
                raise network_error(e, self.host, what, self.timeout) from None
            if response.status_code in RETRY_STATUSES and replayable:
                after = parse_retry_after(response.headers.get("retry-after"))
                if self.retries.delay(attempt, after) is not None:
                    response.close()
                    self.retries.wait(attempt, after)
                    attempt += 1
                    continue
            return response

    def get_body(
        self,
        url: str,
        *,
        what: str,
        scopes: tuple[str, ...],
        headers: Mapping[str, str] | None = None,
    ) -> DirectBody | None:
        """``GET url`` on the low-overhead path (see :mod:`.direct`), for a blob body.

        Returns the body of a 200 or 206 answer, or None when the request must go through
        :meth:`send` instead (an answer that needs the auth flow or an error report, or a
        proxy in the environment). Raises RegistryError when the registry cannot be reached.
        """
        if self._direct is None:
            return None
        try:
            return self._direct.get(
                url, authorization=lambda: self._known_authorization(scopes), headers=headers
            )
        except NetworkFailure as e:
            raise network_error(e, self.host, what, self.timeout) from None

    def close(self) -> None:
        if self._httpx is not None:
            self._httpx.close()
        if self._direct is not None:
            self._direct.close()
