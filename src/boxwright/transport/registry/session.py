"""One registry's HTTP session: TLS, scheme, authentication and bounded retries.

:class:`Session` owns the connection pools shared by every thread that moves blobs (the
:mod:`http.client` one of :mod:`.direct`, and an ``httpx.Client``), the
:class:`~boxwright.transport.registry.auth.RegistryAuth` state and the
:class:`~boxwright.transport.registry.retry.RetryPolicy`. :meth:`Session.send` is the one
place a request leaves: through :mod:`.direct` when it can (no proxy, and either the registry
never asked for credentials or the session already earned what this request needs), through
httpx otherwise; it retries 429/5xx answers and lost connections when the request can safely
be sent again, and turns every network failure into a typed error. The httpx client and the
auth state (whose flow is an ``httpx.Auth``) are made on first use: an anonymous pull or push
never needs them, and never imports httpx.

Both paths obey one :class:`~boxwright.transport.registry.origin.OriginPolicy`
(:attr:`Session.origins`): credentials and the client certificate go to the registry's own
origin only. Bodies httpx reads by itself are capped by the response hook of :mod:`.capped`.
"""

from __future__ import annotations

import ssl
import threading
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from boxwright._version import __version__
from boxwright.errors import RegistryError, TLSError
from boxwright.transport.registry._httpx import httpx, load_httpcore
from boxwright.transport.registry.answers import Answer, HttpxAnswer
from boxwright.transport.registry.direct import Body, DirectPool, proxy_configured
from boxwright.transport.registry.failures import network_error, network_failures
from boxwright.transport.registry.origin import Origin, OriginPolicy
from boxwright.transport.registry.retry import (
    IDEMPOTENT_METHODS,
    RETRY_STATUSES,
    RetryPolicy,
    parse_retry_after,
)
from boxwright.transport.registry.stall import StallPolicy

if TYPE_CHECKING:
    from boxwright.transport.registry.auth import CredentialsLike, RegistryAuth

USER_AGENT = f"boxwright/{__version__}"


class TLSSettingsLike(Protocol):
    """What the client reads from :class:`boxwright.config.certs.TLSSettings`."""

    @property
    def verify(self) -> bool: ...

    @property
    def ca_files(self) -> tuple[Path, ...]: ...

    @property
    def client_cert(self) -> tuple[Path, Path] | None: ...


def ssl_context(
    host: str, tls: TLSSettingsLike | None, insecure: bool, *, client_cert: bool = True
) -> ssl.SSLContext:
    """The TLS context for ``host``: system trust plus certs.d CAs, an optional client pair.

    ``insecure`` or ``tls.verify == False`` turn verification off (the client certificate is
    still presented). ``client_cert=False`` leaves the client pair out: the context for other
    origins than the registry's (see :mod:`.origin`).
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
            if tls.client_cert is not None and client_cert:
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
        stall: StallPolicy | None = None,
        marked_insecure: Callable[[str], bool] | None = None,
    ) -> None:
        if scheme not in (None, "http", "https"):
            raise ValueError(f"scheme must be 'http' or 'https', not {scheme!r}")
        self.host = host
        self.insecure = insecure
        self.timeout = timeout
        self.retries = retries if retries is not None else RetryPolicy()
        self.stall = stall if stall is not None else StallPolicy()
        self._credentials = credentials
        self._auth: RegistryAuth | None = None
        self._auth_lock = threading.Lock()
        self.authenticated = credentials is not None and bool(
            credentials.username or credentials.identity_token
        )
        self._scheme = scheme if scheme is not None else (None if insecure else "https")
        self._scheme_lock = threading.Lock()
        context = ssl_context(host, tls, insecure)
        self._client_cert = tls is not None and tls.client_cert is not None
        foreign = (
            ssl_context(host, tls, insecure, client_cert=False) if self._client_cert else context
        )
        self._context, self._foreign_context = context, foreign
        self.origins = OriginPolicy(
            host,
            lambda: self.scheme,
            home_context=context,
            foreign_context=foreign,
            marked_insecure=marked_insecure,
        )
        """Where credentials may go (see :mod:`.origin`); every request asks it."""
        self._httpx: httpx.Client | None = None
        self._httpx_lock = threading.Lock()
        self._direct = (
            None
            if proxy_configured()
            else DirectPool(
                self.origins.tls_context,
                timeout=timeout,
                base_headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
                stall=self.stall,
            )
        )
        self._challenged = False
        """Whether the registry ever asked for credentials (then a request whose scopes have
        no earned ``Authorization`` goes to httpx at once, not to a sure 401 first)."""

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

                    auth = self._auth = RegistryAuth(self.host, self._credentials, self.origins)
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
                    from boxwright.transport.registry.capped import cap_answer

                    limits = httpx.Limits(max_connections=32, max_keepalive_connections=16)
                    client = self._httpx = httpx.Client(
                        verify=self._foreign_context,
                        timeout=httpx.Timeout(self.timeout, write=self.stall.seconds),
                        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
                        follow_redirects=True,
                        limits=limits,
                        mounts=self._home_mounts(limits),
                        event_hooks={"request": [self.origins.enforce], "response": [cap_answer]},
                    )
        return client

    def _home_mounts(self, limits: httpx.Limits) -> dict[str, httpx.BaseTransport] | None:
        """With a client certificate: a transport presenting it, mounted for the registry's
        HTTPS origin only (through the proxy the environment names for it, if any); every
        other origin gets the client's own transport, whose context has no client pair."""
        if not self._client_cert:
            return None
        home = Origin.of(f"https://{self.host}/")
        proxies = urllib.request.getproxies()
        proxy = proxies.get("https") or proxies.get("all")
        if proxy and urllib.request.proxy_bypass(home.host):
            proxy = None
        transport = httpx.HTTPTransport(verify=self._context, limits=limits, proxy=proxy)
        return {str(home): transport}

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
            if self._direct is None:
                # Streamed: the answer's body is never read (a /v2/ that sends forever).
                self._client.send(self._client.build_request("GET", url), stream=True).close()
            elif answer := self._direct.request("GET", url, authorization=lambda _: None):
                answer.discard()  # any answer (a 401 too) says the registry speaks TLS
        except network_failures():
            return "http"
        return "https"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (starting with ``/v2/``) on this registry.

        A string (httpx accepts it; the direct path needs no httpx to parse it).
        """
        return f"{self.scheme}://{self.host}{path}"

    def resolve(self, location: str) -> str:
        """An absolute URL from a ``Location`` header (which may be relative)."""
        return urljoin(self.url("/v2/"), location)

    # -- requests ----------------------------------------------------------------------------

    def send(
        self,
        method: str,
        url: str,
        *,
        what: str,
        scopes: tuple[str, ...] = (),
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        content: Body = None,
        retry: bool | None = None,
    ) -> Answer:
        """Send one request (with auth), retrying when safe; the answer's body is unread.

        ``what`` names the object for messages. By default (``retry=None``) a request with a
        replayable body is retried on retryable statuses (429, 5xx; honouring
        ``Retry-After``), and on lost connections too when its method is idempotent.
        ``retry=True`` allows both for a non-idempotent method (opening an upload session,
        which a lost answer leaves unused and harmless); ``retry=False`` sends once. A
        streamed body is never sent twice. The caller checks the status and closes the
        answer.
        """
        if params:
            url = with_query(url, params)
        replayable = (content is None or isinstance(content, bytes)) and retry is not False
        network_retry = replayable and (method in IDEMPOTENT_METHODS if retry is None else retry)
        attempt = 0
        while True:
            try:
                answer = self._attempt(method, url, what, scopes, headers, content)
            except RegistryError as e:
                # Raised by the token flow: a token service that answered 5xx or 429.
                if e.status in RETRY_STATUSES and replayable and self.retries.wait(attempt):
                    attempt += 1
                    continue
                raise
            except network_failures() as e:
                if network_retry and self.retries.wait(attempt):
                    attempt += 1
                    continue
                raise network_error(e, self.host, what, self.timeout) from None
            if answer.status_code in RETRY_STATUSES and replayable:
                after = parse_retry_after(answer.headers.get("retry-after"))
                if self.retries.delay(attempt, after) is not None:
                    answer.close()
                    self.retries.wait(attempt, after)
                    attempt += 1
                    continue
            return answer

    def _attempt(
        self,
        method: str,
        url: str,
        what: str,
        scopes: tuple[str, ...],
        headers: Mapping[str, str] | None,
        content: Body,
    ) -> Answer:
        """One try: the direct path when it applies and takes the request, else httpx.

        Raises a network failure (:func:`network_failures`) or, from the token flow, a
        RegistryError.
        """
        direct = self._direct
        if direct is not None:
            authorization = self._known_authorization(scopes)
            if authorization is not None or not self._challenged:
                answer = direct.request(
                    method,
                    url,
                    authorization=lambda hop: self.origins.authorization(hop, authorization),
                    headers=headers,
                    body=content,
                )
                if answer is None:
                    pass  # a redirect only httpx follows
                elif answer.status_code != 401:
                    return answer
                else:
                    self._challenged = True
                    if content is not None and not isinstance(content, bytes):
                        return answer  # a streamed body cannot go again: the caller decides
                    answer.discard()
        # Through httpx: the auth flow, redirects it alone follows, proxies.
        from boxwright.transport.registry.auth import SCOPE_EXTENSION

        auth = self.auth
        request = self._client.build_request(
            method,
            url,
            headers=headers,
            content=content,
            extensions={SCOPE_EXTENSION: scopes},
            timeout=self._httpx_timeout(method),
        )
        try:
            response = self._client.send(request, auth=auth, stream=True)
            return HttpxAnswer(response, self.stall.watch())
        except httpx.TransportError:
            raise
        except httpx.HTTPError as e:
            raise network_error(e, self.host, what, self.timeout) from None

    def _httpx_timeout(self, method: str) -> httpx.Timeout:
        """Each socket wait of a request through httpx: a ``GET`` or ``HEAD`` answer within
        the stall window (as on the direct path: see :mod:`.watched`), other answers within
        the session's timeout; sending never waits longer than the stall window."""
        read = self.stall.seconds if method in ("GET", "HEAD") else self.timeout
        return httpx.Timeout(self.timeout, read=read, write=self.stall.seconds)

    def close(self) -> None:
        if self._httpx is not None:
            self._httpx.close()
        if self._direct is not None:
            self._direct.close()


def with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` in its query (replacing parameters of the same names); the
    rest of the query is kept byte for byte (an upload's opaque ``_state``)."""
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and p.split("=", 1)[0] not in params]
    query = "&".join([*kept, urlencode(params)])
    return urlunsplit(parts._replace(query=query))
