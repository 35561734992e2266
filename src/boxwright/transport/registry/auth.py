"""Registry authentication: anonymous, Basic and Bearer tokens, as a generator flow.

:meth:`RegistryAuth.flow` has the shape of httpx's auth flows: it yields a request, receives
its answer, and may yield more (a token request, the request again); :class:`Authenticating`
is the chain's layer that drives it (see :mod:`.wire`). The flow follows the distribution
token spec and what containers/image does:

1. A request goes out with whatever is already known to work for it: a cached Bearer token
   whose scopes cover the request, or Basic credentials once the registry asked for Basic.
   Once the registry has sent a Bearer challenge, a request whose scopes no cached token
   covers gets its token first, from the realm of that challenge, instead of meeting a
   sure ``401``.
2. On ``401`` the ``WWW-Authenticate`` challenges are read. Basic: send the credentials.
   Bearer: ask the token service named by ``realm`` for a token with the ``service`` and the
   ``scope`` of the challenge (plus the scope the request itself needs), then send the request
   again with it, once. A request whose body is a stream cannot go again: its ``401`` is
   the caller's answer (the uploader opens a new upload session, whose requests then carry
   the token from the start).
3. Tokens are cached per scope set until they expire (``expires_in``, default 60 s, from
   ``issued_at`` when given) and fetched again after that.

Token endpoints: a plain ``GET realm?service=..&scope=..`` with Basic credentials (or none, for
anonymous pulls), as containers/image does; when an identity token (a refresh token from
``login``) is set, the OAuth2 ``POST`` with ``grant_type=refresh_token``; and when a token
service refuses the GET form (404/405) but credentials exist, ``POST`` with
``grant_type=password``.

Credentials never appear in an error message or a log line, and go only where the session's
:class:`~boxwright.transport.registry.origin.OriginPolicy` lets them: nothing is attached to,
and no challenge answered for, a request on another origin than the registry's; a token
request carrying credentials goes to its realm only as
:meth:`~boxwright.transport.registry.origin.OriginPolicy.check_token_realm` allows, and the
layer below this one (:class:`~boxwright.transport.registry.origin.CredentialGuard`) keeps
every hop of it on that origin. A token answer is read into memory up to
:data:`MAX_TOKEN_RESPONSE` bytes (:mod:`.capped`).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlencode, urlsplit

from boxwright.errors import AuthenticationError, RegistryError
from boxwright.transport.registry.capped import read_capped
from boxwright.transport.registry.challenge import Challenge, parse_www_authenticate
from boxwright.transport.registry.origin import Origin, OriginPolicy
from boxwright.transport.registry.wire import Answer, Request, Transport

Flow = Generator[Request, Answer, None]

CLIENT_ID = "boxwright"
DEFAULT_EXPIRY = 60.0
MIN_EXPIRY = 60.0
"""The token spec: a token lives at least 60 s; shorter ``expires_in`` values mean 60."""
EXPIRY_MARGIN = 5.0
MAX_TOKEN_RESPONSE = 1 << 20


# What this layer reads of config.auth's Credentials (OwnershipEntryLike is alike in shape).
class CredentialsLike(Protocol):
    """What the client reads from :class:`boxwright.config.auth.Credentials`."""

    @property
    def username(self) -> str: ...

    @property
    def password(self) -> str: ...

    @property
    def identity_token(self) -> str: ...


@dataclass(frozen=True)
class Token:
    """A Bearer token and when (monotonic clock) it stops being used."""

    value: str
    expires: float

    def valid(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) < self.expires - EXPIRY_MARGIN


def token_expiry(body: dict[str, object], now_wall: datetime, now_mono: float) -> float:
    """The monotonic time a token from a token-service answer ``body`` expires at.

    ``expires_in`` (seconds, default and minimum 60) counts from ``issued_at`` when the
    service sent one, else from now; the result never lies beyond now + expires_in, so a
    service clock ahead of ours cannot stretch a token's life.
    """
    expires_in = body.get("expires_in")
    lifetime = (
        float(expires_in)
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool)
        else DEFAULT_EXPIRY
    )
    lifetime = max(lifetime, MIN_EXPIRY)
    remaining = lifetime
    issued = body.get("issued_at")
    if isinstance(issued, str) and issued:
        try:
            when = datetime.fromisoformat(issued.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            remaining = lifetime - max(0.0, (now_wall - when).total_seconds())
    return now_mono + min(lifetime, remaining)


class RegistryAuth:
    """Per-registry authentication state, shared by every thread of one client.

    ``host`` names the registry in messages. ``credentials`` may be ``None`` (anonymous).
    ``origins`` is the session's credential rule (default: the registry over HTTPS).
    """

    # The auth state of one registry host, kept apart from the session that uses it.
    def __init__(
        self,
        host: str,
        credentials: CredentialsLike | None = None,
        origins: OriginPolicy | None = None,
    ) -> None:
        self.host = host
        self.credentials = credentials
        self.origins = origins if origins is not None else OriginPolicy(host, lambda: "https")
        self._lock = threading.Lock()
        # Held while one thread fetches a token: parallel blob requests refused at the same
        # moment wait for that token instead of each asking the token service again.
        self._fetching = threading.Lock()
        self._tokens: dict[frozenset[str], Token] = {}
        self._basic = False
        self._challenge: Challenge | None = None
        """The registry's Bearer challenge, once it sent one (tokens are then fetched before
        a request that needs one, from its realm)."""
        self._refresh_token = credentials.identity_token if credentials else ""
        self.token_requests = 0
        """How many tokens were fetched (tests check the cache with it)."""

    # -- the flow ----------------------------------------------------------------------------

    def flow(self, request: Request) -> Flow:
        """Send ``request`` authenticated (see the module docstring)."""
        if not self.origins.allows(request.url):
            yield request  # another origin (an upload Location elsewhere): nothing of ours
            return
        needed = frozenset(request.scopes)
        known, sent = self._known(needed)
        if known is None and self._challenge is not None and self._bearer_allowed():
            token = yield from self._token(self._challenge, needed, refused="")
            known, sent = f"Bearer {token.value}", token.value
        if known is not None:
            request = request.with_headers(Authorization=known)
        answer = yield request
        if answer.status_code != 401 or not self.origins.allows(answer.url):
            return
        challenges = parse_www_authenticate(answer.headers.getlist("www-authenticate"))
        bearer = next((c for c in challenges if c.scheme == "bearer" and c.realm), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is not None:
            with self._lock:
                self._challenge = bearer
        elif basic is not None and self.credentials is not None and self.credentials.username:
            with self._lock:
                self._basic = True
        else:
            return
        if not request.replayable:
            return  # a stream cannot go again: the caller's next request is authenticated
        if bearer is not None:
            token = yield from self._token(bearer, needed, refused=sent)
            request = request.with_headers(Authorization=f"Bearer {token.value}")
        else:
            assert self.credentials is not None
            request = request.with_headers(Authorization=_basic_header(self.credentials))
        yield request

    def _bearer_allowed(self) -> bool:
        """Whether a token may be fetched before the request (not once Basic is in use)."""
        with self._lock:
            return not self._basic

    def _known(self, needed: frozenset[str]) -> tuple[str | None, str]:
        """What is already known to work for a request needing ``needed``: the
        ``Authorization`` value (or None) and the Bearer token in it ("" for none), so that
        a 401 can tell a token refused from one another thread fetched meanwhile."""
        with self._lock:
            if self._basic and self.credentials is not None and self.credentials.username:
                return _basic_header(self.credentials), ""
        token = self._cached(needed)
        if token is None:
            return None, ""
        return f"Bearer {token.value}", token.value

    def _token(
        self, challenge: Challenge, needed: frozenset[str], refused: str
    ) -> Generator[Request, Answer, Token]:
        """A token covering ``needed`` (and the challenge's scopes): one another thread just
        fetched, or a new one from the token service."""
        scopes = frozenset(challenge.scopes) | needed
        with self._fetching:
            token = self._cached(needed, refused=refused)
            if token is None:
                token = yield from self._fetch_token(challenge, scopes)
                with self._lock:
                    self._tokens[scopes] = token
                    self._tokens[needed] = token
        return token

    def _cached(self, needed: frozenset[str], refused: str = "") -> Token | None:
        """A valid cached token covering ``needed``, other than the ``refused`` one."""
        with self._lock:
            now = time.monotonic()
            for scopes, token in self._tokens.items():
                if covers(scopes, needed) and token.valid(now) and token.value != refused:
                    return token
        return None

    # -- token service -----------------------------------------------------------------------

    def _fetch_token(
        self, challenge: Challenge, scopes: frozenset[str]
    ) -> Generator[Request, Answer, Token]:
        with self._lock:
            refresh = self._refresh_token
        creds = self.credentials
        has_password = creds is not None and bool(creds.username) and bool(creds.password)
        if refresh:
            answer = yield self._oauth_request(challenge, scopes, "refresh_token", refresh)
        else:
            answer = yield self._get_token_request(challenge, scopes)
            if answer.status_code in (404, 405) and has_password:
                answer.discard()
                answer = yield self._oauth_request(challenge, scopes, "password", "")
        body = _token_body(answer, self.host, creds is not None)
        value = body.get("token") or body.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthenticationError(f"{self.host}: the token service answered without a token")
        new_refresh = body.get("refresh_token")
        with self._lock:
            if isinstance(new_refresh, str) and new_refresh:
                self._refresh_token = new_refresh
            self.token_requests += 1
        return Token(value, token_expiry(body, datetime.now(UTC), time.monotonic()))

    def _get_token_request(self, challenge: Challenge, scopes: frozenset[str]) -> Request:
        params: list[tuple[str, str]] = []
        if challenge.service:
            params.append(("service", challenge.service))
        params.extend(("scope", scope) for scope in sorted(scopes))
        if self.credentials is not None and self.credentials.username:
            params.append(("account", self.credentials.username))
        realm = _realm_url(challenge, self.host)
        url = realm
        if params:
            url = f"{realm}{'&' if urlsplit(realm).query else '?'}{urlencode(params)}"
        request = Request("GET", url, {"Accept": "application/json"}, what="a token")
        if self.credentials is not None and self.credentials.username:
            request.bound = self.origins.check_token_realm(realm)
            request.headers["Authorization"] = _basic_header(self.credentials)
        return request

    def _oauth_request(
        self, challenge: Challenge, scopes: frozenset[str], grant: str, refresh: str
    ) -> Request:
        form = {"grant_type": grant, "client_id": CLIENT_ID, "access_type": "offline"}
        if challenge.service:
            form["service"] = challenge.service
        if scopes:
            form["scope"] = " ".join(sorted(scopes))
        if grant == "refresh_token":
            form["refresh_token"] = refresh
        elif self.credentials is not None:
            form["username"] = self.credentials.username
            form["password"] = self.credentials.password
        realm = _realm_url(challenge, self.host)
        bound: Origin = self.origins.check_token_realm(realm)
        return Request(
            "POST",
            realm,
            {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
            body=urlencode(form).encode(),
            what="a token",
            bound=bound,
            credentials_in_body=True,
        )


class Authenticating:
    """The chain's layer that sends each request through :meth:`RegistryAuth.flow`."""

    def __init__(self, inner: Transport, auth: RegistryAuth) -> None:
        self._inner = inner
        self.auth = auth

    def send(self, request: Request) -> Answer:
        flow = self.auth.flow(request)
        try:
            outgoing = next(flow)
            while True:
                answer = self._inner.send(outgoing)
                try:
                    outgoing = flow.send(answer)
                except StopIteration:
                    return answer
                answer.discard()  # what the flow needed of it was read
        finally:
            flow.close()  # a failed request ends the flow (and frees its token lock) now


def _actions(scopes: frozenset[str]) -> dict[tuple[str, str], set[str]]:
    """``{(type, name): actions}`` of scope strings ``TYPE:NAME:ACTION,ACTION``."""
    out: dict[tuple[str, str], set[str]] = {}
    for scope in scopes:
        head, _, actions = scope.rpartition(":")
        kind, _, name = head.partition(":")
        out.setdefault((kind, name), set()).update(a for a in actions.split(",") if a)
    return out


def covers(granted: frozenset[str], needed: frozenset[str]) -> bool:
    """True when a token asked for ``granted`` scopes also serves a request needing ``needed``
    (``repository:a:pull,push`` covers ``repository:a:pull``; ``*`` covers every action)."""
    have = _actions(granted)
    for resource, actions in _actions(needed).items():
        got = have.get(resource)
        if got is None or not ("*" in got or actions <= got):
            return False
    return True


def _basic_header(creds: CredentialsLike) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _realm_url(challenge: Challenge, host: str) -> str:
    realm = challenge.realm
    try:
        parts = urlsplit(realm)
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise AuthenticationError(f"{host}: the token realm in its challenge is not an HTTP URL")
    return realm


def _token_body(answer: Answer, host: str, has_creds: bool) -> dict[str, object]:
    """Read a token-service answer (bounded) and turn failures into typed errors."""
    too_large = f"{host}: the token service answer is larger than {MAX_TOKEN_RESPONSE} bytes"
    length = answer.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_TOKEN_RESPONSE:
        answer.close()
        raise AuthenticationError(too_large)
    status = answer.status_code
    if status in (401, 403):
        answer.discard()
        if has_creds:
            raise AuthenticationError(
                f"{host}: the token service refused the credentials (HTTP {status})", status
            )
        raise AuthenticationError(
            f"{host}: authentication required; log in with 'boxwright login {host}' "
            "or give --creds",
            status,
        )
    if status >= 400:
        answer.discard()
        raise RegistryError(f"{host}: the token service answered HTTP {status}", status)
    data = read_capped(answer, MAX_TOKEN_RESPONSE)
    if len(data) > MAX_TOKEN_RESPONSE:
        raise AuthenticationError(too_large)
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        raise AuthenticationError(f"{host}: the token service answer is not JSON") from None
    if not isinstance(body, dict):
        raise AuthenticationError(f"{host}: the token service answer is not a JSON object")
    return body
