"""Registry authentication as an httpx ``Auth`` generator: anonymous, Basic and Bearer tokens.

The flow follows the distribution token spec and what containers/image does:

1. A request goes out with whatever is already known to work for it: a cached Bearer token
   whose scopes cover the request, or Basic credentials once the registry asked for Basic.
2. On ``401`` the ``WWW-Authenticate`` challenges are read. Basic: send the credentials.
   Bearer: ask the token service named by ``realm`` for a token with the ``service`` and the
   ``scope`` of the challenge (plus the scope the request itself needs), then send the request
   again with it, once.
3. Tokens are cached per scope set until they expire (``expires_in``, default 60 s, from
   ``issued_at`` when given) and fetched again after that.

Token endpoints: a plain ``GET realm?service=..&scope=..`` with Basic credentials (or none, for
anonymous pulls), as containers/image does; when an identity token (a refresh token from
``login``) is set, the OAuth2 ``POST`` with ``grant_type=refresh_token``; and when a token
service refuses the GET form (404/405) but credentials exist, ``POST`` with
``grant_type=password``. A request whose body is a one-shot stream is not sent twice: its
401 is returned as it is, and the uploader restarts the upload, which then finds the token.

Credentials never appear in an error message or a log line, and go only where the session's
:class:`~boxwright.transport.registry.origin.OriginPolicy` lets them: nothing is attached to,
and no challenge answered for, a request on another origin than the registry's; a token
request carrying credentials goes to its realm only as
:meth:`~boxwright.transport.registry.origin.OriginPolicy.check_token_realm` allows. A token
answer is read into memory up to :data:`MAX_TOKEN_RESPONSE` bytes (see :mod:`.capped`).
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

from boxwright.errors import AuthenticationError, RegistryError
from boxwright.transport.registry._httpx import httpx
from boxwright.transport.registry.capped import BODY_LIMIT
from boxwright.transport.registry.challenge import Challenge, parse_www_authenticate
from boxwright.transport.registry.origin import (
    CREDENTIALS_IN_BODY,
    CREDENTIALS_ORIGIN,
    OriginPolicy,
)

SCOPE_EXTENSION = "boxwright.scopes"
"""Request extension naming the token scopes the request needs (a tuple of strings)."""

CLIENT_ID = "boxwright"
DEFAULT_EXPIRY = 60.0
MIN_EXPIRY = 60.0
"""The token spec: a token lives at least 60 s; shorter ``expires_in`` values mean 60."""
EXPIRY_MARGIN = 5.0
MAX_TOKEN_RESPONSE = 1 << 20


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


class RegistryAuth(httpx.Auth):
    """Per-registry authentication state, shared by every thread of one client.

    ``host`` names the registry in messages. ``credentials`` may be ``None`` (anonymous).
    ``origins`` is the session's credential rule (default: the registry over HTTPS).
    """

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
        self._refresh_token = credentials.identity_token if credentials else ""
        self.token_requests = 0
        """How many tokens were fetched (tests check the cache with it)."""

    # -- the httpx flow ----------------------------------------------------------------------

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self.origins.allows(request.url):
            yield request  # another origin (an upload Location elsewhere): nothing of ours
            return
        needed = _scopes_of(request)
        sent = self._authorize(request, needed)
        response = yield request
        if response.status_code != 401:
            return
        challenges = parse_www_authenticate(response.headers.get_list("www-authenticate"))
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        basic = next((c for c in challenges if c.scheme == "basic"), None)
        if bearer is None and basic is None:
            return
        if not isinstance(request.stream, httpx.ByteStream):
            # A one-shot body cannot be sent again: hand the 401 back (the uploader opens a
            # new session, whose bodiless POST goes through this flow and gets the token).
            if basic is not None and bearer is None:
                with self._lock:
                    self._basic = True
            return
        if bearer is not None and bearer.realm:
            scopes = frozenset(bearer.scopes) | needed
            with self._fetching:
                token = self._cached(needed, refused=sent)
                if token is None:
                    token = yield from self._fetch_token(bearer, scopes)
                    with self._lock:
                        self._tokens[scopes] = token
                        self._tokens[needed] = token
            request.headers["Authorization"] = f"Bearer {token.value}"
        else:
            if self.credentials is None or not self.credentials.username:
                return
            with self._lock:
                self._basic = True
            request.headers["Authorization"] = _basic_header(self.credentials)
        yield request

    def _authorize(self, request: httpx.Request, needed: frozenset[str]) -> str:
        """Attach what is already known to work: a cached token covering ``needed``, or Basic.

        Returns the Bearer token attached ("" for none), so that a 401 can tell a token
        refused from one another thread fetched meanwhile.
        """
        with self._lock:
            if self._basic and self.credentials is not None and self.credentials.username:
                request.headers["Authorization"] = _basic_header(self.credentials)
                return ""
        token = self._cached(needed)
        if token is None:
            return ""
        request.headers["Authorization"] = f"Bearer {token.value}"
        return token.value

    def known_authorization(self, scopes: tuple[str, ...]) -> str | None:
        """The ``Authorization`` value a request needing ``scopes`` would carry now, or None.

        Only what is already known to work (Basic once the registry asked for it, a cached
        token covering the scopes), for requests sent outside httpx (blob bodies).
        """
        with self._lock:
            if self._basic and self.credentials is not None and self.credentials.username:
                return _basic_header(self.credentials)
        token = self._cached(frozenset(scopes))
        return None if token is None else f"Bearer {token.value}"

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
    ) -> Generator[httpx.Request, httpx.Response, Token]:
        # Called after a 401: a token cached for these scopes was refused (revoked, or the
        # service restarted), so a fresh one is always fetched here.
        with self._lock:
            refresh = self._refresh_token
        creds = self.credentials
        has_password = creds is not None and bool(creds.username) and bool(creds.password)
        if refresh:
            response = yield self._oauth_request(challenge, scopes, "refresh_token", refresh)
        else:
            response = yield self._get_token_request(challenge, scopes)
            if response.status_code in (404, 405) and has_password:
                _drain(response)
                response = yield self._oauth_request(challenge, scopes, "password", "")
        body = _token_body(response, self.host, creds is not None)
        value = body.get("token") or body.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthenticationError(f"{self.host}: the token service answered without a token")
        new_refresh = body.get("refresh_token")
        with self._lock:
            if isinstance(new_refresh, str) and new_refresh:
                self._refresh_token = new_refresh
            self.token_requests += 1
        return Token(value, token_expiry(body, datetime.now(UTC), time.monotonic()))

    def _get_token_request(self, challenge: Challenge, scopes: frozenset[str]) -> httpx.Request:
        params: list[tuple[str, str | int | float | bool | None]] = []
        if challenge.service:
            params.append(("service", challenge.service))
        params.extend(("scope", scope) for scope in sorted(scopes))
        if self.credentials is not None and self.credentials.username:
            params.append(("account", self.credentials.username))
        headers = {"Accept": "application/json"}
        url = _realm_url(challenge, self.host)
        extensions: dict[str, object] = {BODY_LIMIT: MAX_TOKEN_RESPONSE + 1}
        if self.credentials is not None and self.credentials.username:
            extensions[CREDENTIALS_ORIGIN] = self.origins.check_token_realm(str(url))
            headers["Authorization"] = _basic_header(self.credentials)
        return httpx.Request("GET", url, params=params, headers=headers, extensions=extensions)

    def _oauth_request(
        self, challenge: Challenge, scopes: frozenset[str], grant: str, refresh: str
    ) -> httpx.Request:
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
        url = _realm_url(challenge, self.host)
        return httpx.Request(
            "POST",
            url,
            data=form,
            headers={"Accept": "application/json"},
            extensions={
                BODY_LIMIT: MAX_TOKEN_RESPONSE + 1,
                CREDENTIALS_ORIGIN: self.origins.check_token_realm(str(url)),
                CREDENTIALS_IN_BODY: True,
            },
        )


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


def _scopes_of(request: httpx.Request) -> frozenset[str]:
    scopes = request.extensions.get(SCOPE_EXTENSION, ())
    return frozenset(scopes)


def _basic_header(creds: CredentialsLike) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _realm_url(challenge: Challenge, host: str) -> httpx.URL:
    try:
        url = httpx.URL(challenge.realm)
    except (httpx.InvalidURL, ValueError):
        raise AuthenticationError(
            f"{host}: the token realm in its challenge is not a URL"
        ) from None
    if url.scheme not in ("http", "https") or not url.host:
        raise AuthenticationError(f"{host}: the token realm in its challenge is not an HTTP URL")
    return url


def _drain(response: httpx.Response) -> None:
    response.read()


def _token_body(response: httpx.Response, host: str, has_creds: bool) -> dict[str, object]:
    """Read a token-service answer (bounded) and turn failures into typed errors."""
    # Read with ``read()`` (httpx reads the responses of an auth flow again, from the cache);
    # the response hook of :mod:`.capped` ends the body after MAX_TOKEN_RESPONSE + 1 bytes.
    too_large = f"{host}: the token service answer is larger than {MAX_TOKEN_RESPONSE} bytes"
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_TOKEN_RESPONSE:
        response.close()
        raise AuthenticationError(too_large)
    data = response.read()
    if len(data) > MAX_TOKEN_RESPONSE:
        raise AuthenticationError(too_large)
    status = response.status_code
    if status in (401, 403):
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
        raise RegistryError(f"{host}: the token service answered HTTP {status}", status)
    try:
        body = json.loads(bytes(data))
    except (ValueError, RecursionError):
        raise AuthenticationError(f"{host}: the token service answer is not JSON") from None
    if not isinstance(body, dict):
        raise AuthenticationError(f"{host}: the token service answer is not a JSON object")
    return body
