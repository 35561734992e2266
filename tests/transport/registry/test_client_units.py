"""Unit tests of the registry client's pure parts: challenge parsing, scopes, retry timing,
token expiry, error messages; and the token flows driven through a transport that answers
from a function where a real token service cannot produce the case (a service without the
GET form)."""

from __future__ import annotations

import http
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from urllib3.response import HTTPResponse

from boxwright.errors import AuthenticationError, RegistryError, TLSError
from boxwright.transport.registry.auth import Authenticating, RegistryAuth, token_expiry
from boxwright.transport.registry.challenge import (
    CATALOG_SCOPE,
    Challenge,
    parse_www_authenticate,
    repository_scope,
)
from boxwright.transport.registry.failures import (
    ConnectFailure,
    NetworkTimeout,
    error_codes,
    network_error,
    status_error,
)
from boxwright.transport.registry.retry import RetryPolicy, parse_retry_after
from boxwright.transport.registry.wire import Answer, Request


@dataclass(frozen=True)
class Creds:
    username: str
    password: str
    identity_token: str = ""


# -- WWW-Authenticate --------------------------------------------------------------------------


def test_bearer_challenge_with_quoted_params() -> None:
    header = (
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:library/alpine:pull,push repository:other:pull"'
    )
    [challenge] = parse_www_authenticate([header])
    assert challenge.scheme == "bearer"
    assert challenge.realm == "https://auth.example.com/token"
    assert challenge.service == "registry.example.com"
    assert challenge.scopes == ("repository:library/alpine:pull,push", "repository:other:pull")


def test_several_challenges_tokens_escapes_and_spaces() -> None:
    challenges = parse_www_authenticate(
        [
            'Negotiate, Basic realm="a \\"quoted\\" realm" , charset=UTF-8',
            "BEARER realm=https://x/token , Service=svc",
        ]
    )
    assert challenges == [
        Challenge("negotiate", {}),
        Challenge("basic", {"realm": 'a "quoted" realm', "charset": "UTF-8"}),
        Challenge("bearer", {"realm": "https://x/token", "service": "svc"}),
    ]


def test_garbage_headers_give_no_challenge() -> None:
    assert parse_www_authenticate(["", "   ", ',,=="x"']) == []


def test_scopes() -> None:
    assert repository_scope("a/b", "pull,push") == "repository:a/b:pull,push"
    assert CATALOG_SCOPE == "registry:catalog:*"


# -- Retry timing ------------------------------------------------------------------------------


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Wed, 01 May 2024 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Wed, 01 May 2024 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("") is None


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    low = RetryPolicy(attempts=10, base_delay=0.5, max_delay=3.0, random=lambda: 0.0)
    high = RetryPolicy(attempts=10, base_delay=0.5, max_delay=3.0, random=lambda: 0.999999)
    assert [low.backoff(n) for n in range(4)] == [0.25, 0.5, 1.0, 1.5]
    assert [round(high.backoff(n), 3) for n in range(4)] == [0.5, 1.0, 2.0, 3.0]


def test_attempts_bound_retries_and_retry_after_wins_up_to_its_cap() -> None:
    slept: list[float] = []
    policy = RetryPolicy(
        attempts=3, base_delay=1.0, max_retry_after=10, sleep=slept.append, random=lambda: 0.0
    )
    assert policy.wait(0) is True
    assert policy.wait(1, retry_after=4.0) is True
    assert policy.wait(2) is False
    assert slept == [0.5, 4.0]
    assert policy.delay(0, retry_after=11.0) is None
    assert RetryPolicy.none().delay(0) is None
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(attempts=0)


# -- Token expiry ------------------------------------------------------------------------------


def test_token_expiry_from_expires_in_and_issued_at() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    issued = (now - timedelta(seconds=100)).isoformat().replace("+00:00", "Z")
    assert token_expiry({"expires_in": 300}, now, 1000.0) == 1300.0
    assert token_expiry({"expires_in": 300, "issued_at": issued}, now, 1000.0) == 1200.0
    # Missing or too short: the spec's 60 s minimum.
    assert token_expiry({}, now, 1000.0) == 1060.0
    assert token_expiry({"expires_in": 5}, now, 1000.0) == 1060.0
    # A service clock ahead of ours never stretches the lifetime.
    future = (now + timedelta(hours=1)).isoformat()
    assert token_expiry({"expires_in": 300, "issued_at": future}, now, 0.0) == 300.0


# -- Errors ------------------------------------------------------------------------------------


def _response(
    status: int, body: bytes = b"", headers: dict[str, str] | None = None, url: str = ""
) -> Answer:
    response = HTTPResponse(
        body=io.BytesIO(body),
        headers={"Content-Length": str(len(body)), **(headers or {})},
        status=status,
        reason=http.HTTPStatus(status).phrase,
        preload_content=False,
    )
    return Answer(response, url, None)


def test_error_body_codes_and_typed_status_errors() -> None:
    body = json.dumps(
        {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {}}]}
    ).encode()
    assert error_codes(body) == [("MANIFEST_UNKNOWN", "manifest unknown")]
    assert error_codes(b"not json") == []
    error = status_error(_response(500, body), "reg:5000", "manifest a:b")
    assert isinstance(error, RegistryError)
    assert str(error) == (
        "reg:5000: HTTP 500 Internal Server Error for manifest a:b "
        "(MANIFEST_UNKNOWN: manifest unknown)"
    )
    assert (error.status, error.code) == (500, "MANIFEST_UNKNOWN")
    denied = status_error(_response(401), "reg:5000", "x", authenticated=False)
    assert isinstance(denied, AuthenticationError)
    assert "boxwright login reg:5000" in str(denied)
    refused = status_error(_response(401), "reg:5000", "x", authenticated=True)
    assert str(refused) == "reg:5000: the registry refused the credentials for x"


def test_network_errors_are_typed_one_line() -> None:
    import ssl

    tls = ConnectFailure("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    tls.__cause__ = ssl.SSLCertVerificationError(1, "certificate verify failed")
    assert isinstance(network_error(tls, "h:1", "manifest x", 5), TLSError)
    timeout = network_error(NetworkTimeout("read timed out"), "h:1", "blob y", 2.5)
    assert str(timeout) == "h:1: no answer within 2.5 s for blob y"
    refused = network_error(ConnectFailure("[Errno 111] Connection refused"), "h:1", "z", 1)
    assert str(refused) == "h:1: cannot connect for z: [Errno 111] Connection refused"
    assert "\n" not in str(refused)


# -- Token flows against a function (cases the test token service cannot produce) -------------


class Answering:
    """A transport whose answers come from ``handle`` (the base of a chain under test)."""

    def __init__(self, handle: Callable[[Request], Answer]) -> None:
        self.handle = handle

    def send(self, request: Request) -> Answer:
        return self.handle(request)


def _json(status: int, doc: object, url: str) -> Answer:
    return _response(status, json.dumps(doc).encode(), {"Content-Type": "application/json"}, url)


def _registry_handler(log: list[Request], *, get_token: bool) -> Answering:
    def handle(request: Request) -> Answer:
        log.append(request)
        if urlsplit(request.url).hostname == "auth.test":
            if request.method == "GET" and not get_token:
                return _response(404, url=request.url)
            return _json(200, {"access_token": "T0KEN", "expires_in": 600}, request.url)
        if request.headers.get("Authorization") == "Bearer T0KEN":
            return _json(200, {"ok": True}, request.url)
        challenge = 'Bearer realm="https://auth.test/token",service="reg",scope="repository:a:pull"'
        return _response(401, headers={"WWW-Authenticate": challenge}, url=request.url)

    return Answering(handle)


def _get(chain: Authenticating) -> Answer:
    url = "https://reg.test/v2/a/tags/list"
    return chain.send(Request("GET", url, what="tags", scopes=("repository:a:pull",)))


def _hosts(log: list[Request]) -> list[str | None]:
    return [urlsplit(r.url).hostname for r in log]


def test_token_service_without_get_form_falls_back_to_oauth2_password_post() -> None:
    log: list[Request] = []
    auth = RegistryAuth("reg.test", Creds("user", "s3cret"))
    chain = Authenticating(_registry_handler(log, get_token=False), auth)
    assert _get(chain).status_code == 200
    assert _get(chain).status_code == 200  # cached: no token request
    token_requests = [r for r in log if urlsplit(r.url).hostname == "auth.test"]
    assert [r.method for r in token_requests] == ["GET", "POST"]
    assert isinstance(token_requests[1].body, bytes)
    form = dict(parse_qsl(token_requests[1].body.decode()))
    assert form["grant_type"] == "password"
    assert form["username"] == "user"
    assert form["scope"] == "repository:a:pull"
    assert auth.token_requests == 1
    assert _hosts(log).count("reg.test") == 3


def test_identity_token_uses_oauth2_refresh_grant() -> None:
    log: list[Request] = []
    auth = RegistryAuth("reg.test", Creds("<token>", "", identity_token="REFRESH-ME"))
    assert _get(Authenticating(_registry_handler(log, get_token=True), auth)).status_code == 200
    [token_request] = [r for r in log if urlsplit(r.url).hostname == "auth.test"]
    assert token_request.method == "POST"
    assert isinstance(token_request.body, bytes)
    form = dict(parse_qsl(token_request.body.decode()))
    assert (form["grant_type"], form["refresh_token"], form["service"]) == (
        "refresh_token",
        "REFRESH-ME",
        "reg",
    )


def test_a_known_challenge_gets_the_token_before_the_request() -> None:
    """Once the registry sent its Bearer challenge, a request for other scopes asks the
    token service first instead of meeting a sure 401 (a streamed upload body included)."""
    log: list[Request] = []
    auth = RegistryAuth("reg.test", Creds("user", "s3cret"))
    chain = Authenticating(_registry_handler(log, get_token=True), auth)
    assert _get(chain).status_code == 200
    log.clear()
    body = iter([b"blob"])
    upload = Request(
        "PUT",
        "https://reg.test/v2/b/blobs/uploads/1",
        body=body,
        scopes=("repository:b:pull,push",),
    )
    assert chain.send(upload).status_code == 200
    assert [(r.method, _hosts([r])[0], r.headers.get("Authorization")) for r in log] == [
        ("GET", "auth.test", "Basic dXNlcjpzM2NyZXQ="),
        ("PUT", "reg.test", "Bearer T0KEN"),
    ]


def test_token_refusal_message_names_no_secret() -> None:
    def handle(request: Request) -> Answer:
        if urlsplit(request.url).hostname == "auth.test":
            return _json(401, {"errors": [{"code": "UNAUTHORIZED"}]}, request.url)
        challenge = {"WWW-Authenticate": 'Bearer realm="https://auth.test/t"'}
        return _response(401, headers=challenge, url=request.url)

    auth = RegistryAuth("reg.test", Creds("user", "hunter2-secret"))
    with pytest.raises(AuthenticationError) as caught:
        _get(Authenticating(Answering(handle), auth))
    assert str(caught.value) == "reg.test: the token service refused the credentials (HTTP 401)"
    assert "hunter2" not in repr(caught.value.args)


def test_scope_coverage_for_cached_tokens() -> None:
    from boxwright.transport.registry.auth import covers

    push = frozenset({"repository:a/b:pull,push"})
    assert covers(push, frozenset({"repository:a/b:pull"}))
    assert covers(push, frozenset())
    assert not covers(push, frozenset({"repository:a/b:delete"}))
    assert not covers(push, frozenset({"repository:a/c:pull"}))
    assert covers(frozenset({"repository:a/b:*"}), frozenset({"repository:a/b:delete"}))
    assert covers(
        frozenset({"repository:x:pull", "repository:y:pull,push"}),
        frozenset({"repository:y:push", "repository:x:pull"}),
    )
