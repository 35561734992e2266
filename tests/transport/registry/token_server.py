"""A Docker/OCI token service for the Bearer-auth registry, written for the tests.

It speaks both flavours clients use (https://distribution.github.io/distribution/spec/auth/):

* ``GET /token?service=S&scope=repository:NAME:pull,push[&scope=...][&offline_token=true]``
  with optional ``Authorization: Basic`` credentials (anonymous otherwise);
* ``POST /token`` (OAuth2, form-encoded) with ``grant_type=password`` (username, password,
  ``access_type=offline`` for a refresh token) or ``grant_type=refresh_token``.

Tokens are JWTs signed RS256 with a key whose self-signed certificate is the registry's
``rootcertbundle``; the certificate travels in the ``x5c`` header, which distribution 2.8
verifies against that bundle (``registry/auth/token/token.go``: x5c, then jwk, then kid).
Access is scoped: each user has repository globs mapped to the actions they may get, and a
token grants only the intersection with what was asked. Every request is recorded
(:attr:`TokenServer.requests`) so tests can assert how often a client asked for a token.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import secrets
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from pki import KeyPair

ALL_ACTIONS = frozenset({"pull", "push", "delete", "*"})


@dataclass(frozen=True)
class TokenRequest:
    """One request the token service answered (or refused)."""

    method: str
    grant_type: str  # "basic" / "anonymous" for GET, the OAuth2 grant type for POST
    user: str  # "" for anonymous
    scopes: tuple[str, ...]
    service: str
    status: int
    refresh_token_issued: bool


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def parse_scope(scope: str) -> tuple[str, str, set[str]] | None:
    """``TYPE:NAME:ACTION,ACTION`` -> (type, name, actions); the name may contain ``:``
    only in theory, so split the type off the front and the actions off the back."""
    head, sep, actions = scope.rpartition(":")
    kind, sep2, name = head.partition(":")
    if not sep or not sep2 or not kind or not name:
        return None
    return kind, name, {a for a in actions.split(",") if a}


@dataclass
class TokenServer:
    """The token service: users, grants, signing key, and the request log."""

    signer: KeyPair
    service: str = "boxwright-test-registry"
    issuer: str = "boxwright-test-token-issuer"
    users: dict[str, str] = field(default_factory=dict)
    # user ("" = anonymous) -> {repository glob -> actions}; "registry:catalog:*" needs "catalog"
    grants: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    expires_in: int = 300
    allow_post: bool = True
    requests: list[TokenRequest] = field(default_factory=list)
    _refresh: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def realm(self) -> str:
        assert self._httpd is not None, "token server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/token"

    def registry_config(self, bundle: Path) -> dict[str, str]:
        """The ``auth: token:`` section of the registry config."""
        return {
            "realm": self.realm,
            "service": self.service,
            "issuer": self.issuer,
            "rootcertbundle": str(bundle),
            "autoredirect": "false",
        }

    # -- what tests look at -------------------------------------------------------------
    def count(self, method: str | None = None, *, ok_only: bool = False) -> int:
        with self._lock:
            return sum(
                1
                for r in self.requests
                if (method is None or r.method == method) and (not ok_only or r.status == 200)
            )

    def reset(self) -> None:
        """Forget the request log and refresh tokens; restore the defaults tests change."""
        with self._lock:
            self.requests.clear()
            self._refresh.clear()
        self.expires_in = 300
        self.allow_post = True

    # -- token minting ------------------------------------------------------------------
    def granted(self, user: str, scopes: list[str]) -> list[dict[str, object]]:
        """The ``access`` claim: for each requested scope, the allowed subset of actions."""
        rules = self.grants.get(user, {})
        access: list[dict[str, object]] = []
        for scope in scopes:
            parsed = parse_scope(scope)
            if parsed is None:
                continue
            kind, name, wanted = parsed
            allowed: set[str] = set()
            if kind == "repository":
                for pattern, actions in rules.items():
                    if fnmatch.fnmatchcase(name, pattern):
                        allowed |= actions
            elif kind == "registry" and name == "catalog" and "catalog" in rules:
                allowed = {"*"}
            actions = sorted(wanted & allowed)
            if actions:
                access.append({"type": kind, "name": name, "actions": actions})
        return access

    def mint(self, user: str, scopes: list[str]) -> str:
        now = int(time.time())
        header = {
            "typ": "JWT",
            "alg": "RS256",
            "x5c": [
                base64.b64encode(
                    self.signer.certificate.public_bytes(serialization.Encoding.DER)
                ).decode()
            ],
        }
        claims = {
            "iss": self.issuer,
            "sub": user,
            "aud": self.service,
            "exp": now + self.expires_in,
            "nbf": now - 5,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": self.granted(user, scopes),
        }
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self.signer.private_key.sign(
            signing_input.encode(), padding.PKCS1v15(), hashes.SHA256()
        )
        return f"{signing_input}.{_b64url(signature)}"

    def new_refresh_token(self, user: str) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[token] = user
        return token

    def user_for_refresh(self, token: str) -> str | None:
        with self._lock:
            return self._refresh.get(token)

    def record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> TokenServer:
        server = self

        class Handler(_TokenHandler):
            token_server = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="token-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


class _TokenHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    token_server: TokenServer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the request log is :attr:`TokenServer.requests`."""

    def _reply(self, status: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="boxwright-test-token"')
        self.end_headers()
        self.wfile.write(data)

    def _basic_user(self) -> tuple[str, bool]:
        """(user, ok): ("", True) when no credentials were sent (anonymous)."""
        header = self.headers.get("Authorization", "")
        if not header:
            return "", True
        kind, _, value = header.partition(" ")
        if kind.lower() != "basic":
            return "", False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return "", False
        return user, self.token_server.users.get(user) == password

    def do_GET(self) -> None:
        server = self.token_server
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        scopes = query.get("scope", [])
        service = query.get("service", [""])[0]
        user, ok = self._basic_user()
        offline = query.get("offline_token", [""])[0] == "true"
        grant = "basic" if self.headers.get("Authorization") else "anonymous"
        if url.path != "/token":
            self._reply(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        if not ok:
            server.record(TokenRequest("GET", grant, user, tuple(scopes), service, 401, False))
            self._reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]})
            return
        token = server.mint(user, scopes)
        body: dict[str, object] = {
            "token": token,
            "access_token": token,
            "expires_in": server.expires_in,
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if offline and user:
            body["refresh_token"] = server.new_refresh_token(user)
        server.record(
            TokenRequest("GET", grant, user, tuple(scopes), service, 200, "refresh_token" in body)
        )
        self._reply(200, body)

    def do_POST(self) -> None:
        server = self.token_server
        length = int(self.headers.get("Content-Length", "0") or "0")
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if not server.allow_post or urllib.parse.urlsplit(self.path).path != "/token":
            server.record(TokenRequest("POST", "", "", (), "", 404, False))
            self._reply(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        grant_type = form.get("grant_type", [""])[0]
        scopes = " ".join(form.get("scope", [])).split()
        service = form.get("service", [""])[0]
        user: str | None = None
        if grant_type == "password":
            name = form.get("username", [""])[0]
            if name and server.users.get(name) == form.get("password", [""])[0]:
                user = name
        elif grant_type == "refresh_token":
            user = server.user_for_refresh(form.get("refresh_token", [""])[0])
        if user is None:
            server.record(TokenRequest("POST", grant_type, "", tuple(scopes), service, 401, False))
            self._reply(401, {"error": "invalid_grant", "error_description": "bad credentials"})
            return
        body: dict[str, object] = {
            "access_token": server.mint(user, scopes),
            "expires_in": server.expires_in,
            "scope": " ".join(scopes),
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if grant_type == "refresh_token":
            body["refresh_token"] = form.get("refresh_token", [""])[0]
        elif form.get("access_type", [""])[0] == "offline":
            body["refresh_token"] = server.new_refresh_token(user)
        server.record(
            TokenRequest(
                "POST", grant_type, user, tuple(scopes), service, 200, "refresh_token" in body
            )
        )
        self._reply(200, body)


def token_server_of(server: object) -> TokenServer:
    """The typed token service behind the ``registry_token`` fixture's server."""
    tokens = getattr(server, "token_server", None)
    assert isinstance(tokens, TokenServer), "not the token registry"
    return tokens
