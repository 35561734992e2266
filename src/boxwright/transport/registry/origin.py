"""Where a registry's credentials may go: the one rule every request of a session passes.

Credentials are bound to an origin (scheme, host and port): the ``Authorization`` header
(Basic, or a Bearer token the registry's token service issued), and the TLS client
certificate of the registry's certs.d directory, go only to the registry's own origin, the one
they were configured or obtained for. :class:`OriginPolicy` is that rule, and
:class:`CredentialGuard`, the layer of the session's chain just above the wire (see
:mod:`.wire`), applies it to every request that leaves: each redirect hop and each token
request included. The wire asks :meth:`OriginPolicy.tls_context` for every connection it
opens, so the client certificate too is presented to the registry's origin only.

What follows from the rule, as containers/image does it:

- A pagination ``Link`` keeps only its path and query, requested on the registry's origin
  (:meth:`OriginPolicy.page`): a registry cannot send a listing, and its credentials, to
  another host or scheme.
- A redirect, or an upload ``Location``, on another origin is followed without credentials.
- A token request that carries credentials (Basic, or a password or refresh token in an
  OAuth2 form) goes to the token realm only over HTTPS, or over plain HTTP when the user
  marked the realm insecure (registries.conf ``insecure = true`` for its ``host:port``), or
  when the registry itself is reached over plain HTTP and the realm is on the same host
  (the credentials already travel in clear to that host). A realm over plain HTTP for a
  registry reached over HTTPS is a downgrade and always refused
  (:meth:`OriginPolicy.check_token_realm` raises
  :class:`~boxwright.errors.CredentialsRefusedError`).
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

from boxwright.errors import CredentialsRefusedError

if TYPE_CHECKING:
    from boxwright.transport.registry.wire import Answer, Request, Transport


# A URL's origin, as browsers compare them; its header looks like other value types'.
@dataclass(frozen=True, slots=True)
class Origin:
    """The scheme, host (lower case) and port of an ``http``/``https`` URL."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        """The origin of an absolute HTTP URL; ValueError for anything else."""
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an absolute HTTP URL: {url!r}")
        port = parts.port or (443 if scheme == "https" else 80)
        return cls(scheme, parts.hostname, port)

    @property
    def netloc(self) -> str:
        """``host:port`` as a URL writes it (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def url(self, target: str) -> str:
        """The absolute URL of ``target`` (a path and query starting with ``/``) here."""
        return f"{self.scheme}://{self.netloc}{target}"

    def __str__(self) -> str:
        return f"{self.scheme}://{self.netloc}"


def _origin(url: object) -> Origin | None:
    try:
        return Origin.of(str(url))
    except ValueError:
        return None


class OriginPolicy:
    """The credential rule of one registry session (see the module docstring).

    ``host`` is the registry's ``HOST[:PORT]`` and ``scheme`` a function giving the scheme the
    session reaches it with (probed on first use for an insecure registry). ``home_context``
    is the TLS context with the registry's client certificate, ``foreign_context`` the same
    trust without it (a policy that only decides about headers needs neither).
    ``marked_insecure(host_port)`` says whether the user marked another ``host:port``
    insecure (registries.conf).
    """

    def __init__(
        self,
        host: str,
        scheme: Callable[[], str],
        *,
        home_context: ssl.SSLContext | None = None,
        foreign_context: ssl.SSLContext | None = None,
        marked_insecure: Callable[[str], bool] | None = None,
    ) -> None:
        self.host = host
        self._scheme = scheme
        self._home: Origin | None = None
        self._lock = threading.Lock()
        self.home_context = home_context
        self.foreign_context = foreign_context
        self._marked_insecure = marked_insecure

    @property
    def home(self) -> Origin:
        """The registry's origin, the one its credentials are bound to."""
        home = self._home
        if home is None:
            scheme = self._scheme()
            with self._lock:
                home = self._home = Origin.of(f"{scheme}://{self.host}/")
        return home

    def allows(self, url: object, bound: Origin | None = None) -> bool:
        """Whether credentials bound to ``bound`` (default: the registry's origin) may go
        with a request to ``url``: only when ``url`` is on that very origin."""
        return _origin(url) == (bound if bound is not None else self.home)

    def is_home(self, origin: Origin) -> bool:
        """Whether ``origin`` is the registry's, in either scheme (no scheme probe needed:
        the probe itself connects through :meth:`tls_context`)."""
        return origin == Origin.of(f"{origin.scheme}://{self.host}/")

    def tls_context(self, origin: Origin) -> ssl.SSLContext:
        """The TLS context for a connection to ``origin``: with the client certificate on
        the registry's origin only."""
        context = self.home_context if self.is_home(origin) else self.foreign_context
        if context is None:
            raise ValueError("this policy was made without TLS contexts")
        return context

    def page(self, link: str, current: str) -> str:
        """The URL of the next page a ``Link`` names: its path and query (resolved against
        the ``current`` page's URL) on the registry's own origin."""
        parts = urlsplit(urljoin(current, link))
        target = parts.path or "/"
        if parts.query:
            target = f"{target}?{parts.query}"
        return self.home.url(target)

    def check_token_realm(self, realm: str) -> Origin:
        """Check that a token request carrying credentials may go to ``realm``; the realm's
        origin, which the request's credentials are then bound to.

        Raises :class:`CredentialsRefusedError` for a realm over plain HTTP unless the user
        marked it insecure (or the registry is plain HTTP on the same host), and always for a
        plain HTTP realm of a registry reached over HTTPS.
        """
        origin = Origin.of(realm)
        if origin.scheme == "https":
            return origin
        home = self.home
        where = f"{origin}{urlsplit(realm).path}"
        if home.scheme == "https":
            raise CredentialsRefusedError(
                f"{self.host}: refusing to send credentials to the token service {where}: "
                "plain HTTP for a registry reached over HTTPS"
            )
        if origin.host == home.host:
            return origin
        if self._marked_insecure is not None and self._marked_insecure(origin.netloc):
            return origin
        raise CredentialsRefusedError(
            f"{self.host}: refusing to send credentials over plain HTTP to the token service "
            f"{where} on another host (mark {origin.netloc} insecure in registries.conf to "
            "allow it)"
        )

    def guard(self, request: Request) -> Request:
        """``request`` as it may leave: without its ``Authorization`` on an origin its
        credentials are not bound to (``request.bound``, default the registry's). Raises
        :class:`CredentialsRefusedError` for a body holding credentials there."""
        in_body = request.credentials_in_body and request.method != "GET"
        if "Authorization" not in request.headers and not in_body:
            return request  # nothing to keep from anyone (the scheme probe is such a request)
        if self.allows(request.url, request.bound):
            return request
        if in_body:
            raise CredentialsRefusedError(
                f"{self.host}: refusing to send credentials to {_origin(request.url) or 'a URL'}"
                f" where the token service redirected them"
            )
        return request.with_headers(Authorization=None)


class CredentialGuard:
    """The chain's layer that applies :meth:`OriginPolicy.guard` to every request."""

    def __init__(self, inner: Transport, policy: OriginPolicy) -> None:
        self._inner = inner
        self._policy = policy

    def send(self, request: Request) -> Answer:
        return self._inner.send(self._policy.guard(request))


__all__ = ["CredentialGuard", "Origin", "OriginPolicy"]
