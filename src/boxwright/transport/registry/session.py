"""One registry's HTTP session: TLS, scheme, and the chain every request passes.

:class:`Session` composes the layers of :mod:`.wire` once::

    Retrying → Authenticating → Redirects → CredentialGuard → Wire

(bounded retries, :mod:`.retry`; the Basic/Bearer flow, :mod:`.auth`; redirects,
:mod:`.redirects`; the credential-origin rule, :mod:`.origin`; pooled urllib3 connections
watched for stalls, :mod:`.wire`). It owns the TLS contexts, the scheme (HTTPS, or plain HTTP
for an insecure registry that does not speak TLS), the
:class:`~boxwright.transport.registry.auth.RegistryAuth` state and the
:class:`~boxwright.transport.registry.retry.RetryPolicy`, all shared by every thread that
moves blobs. :meth:`Session.send` is the one place a request leaves. Bodies read whole are
capped by their readers (:mod:`.capped`).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from boxwright._version import __version__
from boxwright.errors import TLSError
from boxwright.transport.registry.auth import Authenticating, CredentialsLike, RegistryAuth
from boxwright.transport.registry.failures import NetworkFailure, status_error
from boxwright.transport.registry.origin import CredentialGuard, OriginPolicy
from boxwright.transport.registry.redirects import Redirects
from boxwright.transport.registry.retry import Retrying, RetryPolicy
from boxwright.transport.registry.stall import StallPolicy
from boxwright.transport.registry.wire import Answer, Body, Request, Wire

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
        self.authenticated = credentials is not None and bool(
            credentials.username or credentials.identity_token
        )
        self._scheme = scheme if scheme is not None else (None if insecure else "https")
        self._scheme_lock = threading.Lock()
        context = ssl_context(host, tls, insecure)
        client_cert = tls is not None and tls.client_cert is not None
        foreign = ssl_context(host, tls, insecure, client_cert=False) if client_cert else context
        self.origins = OriginPolicy(
            host,
            lambda: self.scheme,
            home_context=context,
            foreign_context=foreign,
            marked_insecure=marked_insecure,
        )
        """Where credentials may go (see :mod:`.origin`); every request passes it."""
        self.auth = RegistryAuth(host, credentials, self.origins)
        self._wire = Wire(
            self.origins.tls_context,
            timeout=timeout,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
            stall=self.stall,
        )
        guarded = CredentialGuard(self._wire, self.origins)
        self._chain = Retrying(
            Authenticating(Redirects(guarded), self.auth), self.retries, host, timeout
        )

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
        try:
            # Any answer (a 401 too) says the registry speaks TLS; its body is never read.
            self._wire.send(Request("GET", f"https://{self.host}/v2/")).discard()
        except NetworkFailure:
            return "http"
        return "https"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` (starting with ``/v2/``) on this registry."""
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
        """Send one request through the chain; the answer's body is unread.

        ``what`` names the object for messages, ``scopes`` the token scopes it needs. By
        default (``retry=None``) a request with a replayable body is retried on retryable
        statuses and, when its method is idempotent, on lost connections; ``retry=True``
        allows both for a non-idempotent method, ``retry=False`` sends once (see
        :class:`~boxwright.transport.registry.retry.Retrying`). The caller checks the status
        and closes the answer.
        """
        if params:
            url = with_query(url, params)
        request = Request(method, url, dict(headers or {}), content, what, scopes)
        return self._chain.send(request, retry=retry)

    def failure(
        self, response: Answer, what: str, not_found: type[Exception] | None = None
    ) -> Exception:
        """The typed error for ``response``, an unexpected status answering a request about
        ``what`` on this host (see :func:`.failures.status_error`)."""
        return status_error(
            response, self.host, what, authenticated=self.authenticated, not_found=not_found
        )

    def close(self) -> None:
        self._wire.close()


def with_query(url: str, params: Mapping[str, str]) -> str:
    """``url`` with ``params`` in its query (replacing parameters of the same names); the
    rest of the query is kept byte for byte (an upload's opaque ``_state``)."""
    parts = urlsplit(url)
    kept = [p for p in parts.query.split("&") if p and p.split("=", 1)[0] not in params]
    query = "&".join([*kept, urlencode(params)])
    return urlunsplit(parts._replace(query=query))
