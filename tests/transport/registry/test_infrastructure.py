"""The registry test fixtures themselves: each server, the token service and the fault proxy
behave as the other registry tests assume, checked with plain HTTP requests and skopeo."""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import time
import urllib.parse
from pathlib import Path

import pytest
from fault_proxy import FaultProxy
from registry_images import make_image, make_index, sha256
from registry_peers import SKOPEO, PeerError, skopeo, skopeo_copy, skopeo_digest, skopeo_tags
from token_server import token_server_of

from boxwright_testing.registry_servers import RegistryServer

needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")


def request(
    server: RegistryServer | str,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    context: ssl.SSLContext | None = None,
    timeout: float = 10,
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request to a test server: (status, lower-cased headers, body)."""
    if isinstance(server, str):
        url = urllib.parse.urlsplit(server)
        tls, host = url.scheme == "https", url.netloc
    else:
        tls, host = server.tls, server.host
        if tls and context is None and server.ca_path is not None:
            context = ssl.create_default_context(cafile=str(server.ca_path))
    conn: http.client.HTTPConnection
    if tls:
        conn = http.client.HTTPSConnection(host, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def challenge(header: str) -> dict[str, str]:
    """The parameters of a ``Bearer realm="...",service="...",scope="..."`` challenge."""
    scheme, _, params = header.partition(" ")
    assert scheme == "Bearer"
    out: dict[str, str] = {}
    for part in params.split('",'):
        key, _, value = part.partition("=")
        out[key.strip()] = value.strip().strip('"')
    return out


# -- the three registries --------------------------------------------------------------------
def test_plain_registry_answers_anonymously(registry_plain: RegistryServer) -> None:
    status, headers, _ = request(registry_plain, "GET", "/v2/")
    assert status == 200
    assert headers["docker-distribution-api-version"] == "registry/2.0"
    assert registry_plain.url == f"http://{registry_plain.host}"
    assert registry_plain.repo("x") != registry_plain.repo("x")


def test_tls_registry_needs_the_test_ca_and_credentials(registry_tls_basic: RegistryServer) -> None:
    server = registry_tls_basic
    assert server.ca_path is not None and server.cert_dir is not None and server.certs_d
    assert (server.certs_d / server.host / "ca.crt").read_bytes() == server.ca_path.read_bytes()
    with pytest.raises(ssl.SSLCertVerificationError):
        request(server, "GET", "/v2/", context=ssl.create_default_context())
    status, headers, _ = request(server, "GET", "/v2/")
    assert status == 401
    assert headers["www-authenticate"] == 'Basic realm="boxwright-test"'
    assert request(server, "GET", "/v2/", headers=basic(server.username, "wrong"))[0] == 401
    assert request(server, "GET", "/v2/", headers=basic(server.username, server.password))[0] == 200


@needs_skopeo
def test_mtls_registry_needs_a_client_certificate(
    registry_mtls: RegistryServer, tmp_path: Path
) -> None:
    server = registry_mtls
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        request(server, "GET", "/v2/")
    context = ssl.create_default_context(cafile=str(server.ca_path))
    cert, key = server.extra["client"]  # type: ignore[misc]
    context.load_cert_chain(str(cert), str(key))
    assert request(server, "GET", "/v2/", context=context)[0] == 200
    image = make_image(tmp_path / "src", layers=1)
    repo = server.repo("mtls")
    skopeo_copy(image.ref, server.ref(repo), dest_registry=server)
    assert skopeo_digest(server, repo) == image.manifest_digest


def test_token_registry_challenges_and_accepts_issued_tokens(
    registry_token: RegistryServer,
) -> None:
    server, tokens = registry_token, token_server_of(registry_token)
    repo = server.repo("tok")
    status, headers, _ = request(server, "GET", f"/v2/{repo}/tags/list")
    assert status == 401
    params = challenge(headers["www-authenticate"])
    assert params["realm"] == tokens.realm
    assert params["service"] == tokens.service
    assert params["scope"] == f"repository:{repo}:pull"

    query = urllib.parse.urlencode({"service": params["service"], "scope": params["scope"]})
    realm = urllib.parse.urlsplit(params["realm"])
    status, _, body = request(
        params["realm"],
        "GET",
        f"{realm.path}?{query}",
        headers=basic(server.username, server.password),
    )
    assert status == 200
    token = json.loads(body)["token"]
    status, _, body = request(
        server, "GET", f"/v2/{repo}/tags/list", headers={"Authorization": f"Bearer {token}"}
    )
    # Authorized; the repository does not exist yet.
    assert status == 404
    assert json.loads(body)["errors"][0]["code"] == "NAME_UNKNOWN"
    assert tokens.count("GET", ok_only=True) == 1
    assert tokens.requests[0].user == server.username
    assert tokens.requests[0].scopes == (f"repository:{repo}:pull",)


def test_token_service_scopes_access_per_user_and_repository(
    registry_token: RegistryServer,
) -> None:
    tokens = token_server_of(registry_token)
    scope = "repository:app:pull,push,delete"
    assert tokens.granted(registry_token.username, [scope]) == [
        {"type": "repository", "name": "app", "actions": ["delete", "pull", "push"]}
    ]
    assert tokens.granted("reader", [scope]) == [
        {"type": "repository", "name": "app", "actions": ["pull"]}
    ]
    assert tokens.granted("", [scope]) == []
    assert tokens.granted("", ["repository:public-x:pull,push"]) == [
        {"type": "repository", "name": "public-x", "actions": ["pull"]}
    ]
    assert tokens.granted(registry_token.username, ["registry:catalog:*"]) == [
        {"type": "registry", "name": "catalog", "actions": ["*"]}
    ]
    assert tokens.granted("reader", ["registry:catalog:*"]) == []


def test_token_service_oauth2_post_and_refresh(registry_token: RegistryServer) -> None:
    server, tokens = registry_token, token_server_of(registry_token)
    repo = server.repo("oauth")
    path = urllib.parse.urlsplit(tokens.realm).path
    form = {
        "grant_type": "password",
        "username": server.username,
        "password": server.password,
        "service": tokens.service,
        "scope": f"repository:{repo}:pull",
        "client_id": "boxwright-tests",
        "access_type": "offline",
    }
    ctype = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _, body = request(
        tokens.realm, "POST", path, headers=ctype, body=urllib.parse.urlencode(form).encode()
    )
    assert status == 200
    answer = json.loads(body)
    assert answer["expires_in"] == 300 and answer["refresh_token"]
    refresh = {
        "grant_type": "refresh_token",
        "refresh_token": answer["refresh_token"],
        "service": tokens.service,
        "scope": f"repository:{repo}:pull",
        "client_id": "boxwright-tests",
    }
    status, _, body = request(
        tokens.realm, "POST", path, headers=ctype, body=urllib.parse.urlencode(refresh).encode()
    )
    assert status == 200
    token = json.loads(body)["access_token"]
    status, _, _ = request(
        server, "GET", f"/v2/{repo}/tags/list", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 404  # authorized by the refreshed token; no such repository yet
    bad = {**form, "password": "wrong"}
    status, _, _ = request(
        tokens.realm, "POST", path, headers=ctype, body=urllib.parse.urlencode(bad).encode()
    )
    assert status == 401
    assert [(r.method, r.grant_type, r.status) for r in tokens.requests] == [
        ("POST", "password", 200),
        ("POST", "refresh_token", 200),
        ("POST", "password", 401),
    ]
    tokens.allow_post = False
    status, _, _ = request(
        tokens.realm, "POST", path, headers=ctype, body=urllib.parse.urlencode(form).encode()
    )
    assert status == 404


def test_token_registry_rejects_a_token_without_push_rights(registry_token: RegistryServer) -> None:
    server, tokens = registry_token, token_server_of(registry_token)
    repo = server.repo("ro")
    reader, reader_password = server.extra["reader"]  # type: ignore[misc]
    query = urllib.parse.urlencode(
        {"service": tokens.service, "scope": f"repository:{repo}:pull,push"}
    )
    status, _, body = request(
        tokens.realm, "GET", f"/token?{query}", headers=basic(str(reader), str(reader_password))
    )
    assert status == 200
    token = json.loads(body)["token"]
    status, _, _ = request(
        server, "POST", f"/v2/{repo}/blobs/uploads/", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 401


@needs_skopeo
def test_skopeo_round_trip_through_each_registry(
    registry_any: RegistryServer, tmp_path: Path
) -> None:
    image = make_image(tmp_path / "src", layers=2)
    repo = registry_any.repo("infra")
    skopeo_copy(image.ref, registry_any.ref(repo, "v1"), dest_registry=registry_any)
    assert skopeo_digest(registry_any, repo, "v1") == image.manifest_digest
    assert skopeo_tags(registry_any, repo) == ["v1"]
    skopeo_copy(
        registry_any.ref(repo, "v1"), f"oci:{tmp_path / 'back'}:v1", src_registry=registry_any
    )
    index = json.loads((tmp_path / "back" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == image.manifest_digest


@needs_skopeo
def test_skopeo_index_round_trip(registry_plain: RegistryServer, tmp_path: Path) -> None:
    image = make_index(tmp_path / "src")
    repo = registry_plain.repo("index")
    skopeo_copy(image.ref, registry_plain.ref(repo), dest_registry=registry_plain, extra=("--all",))
    assert skopeo_digest(registry_plain, repo) == image.manifest_digest
    for child in image.children:
        assert skopeo_digest(registry_plain, repo, child) == child


@needs_skopeo
def test_reader_cannot_push_and_anonymous_pulls_public(
    registry_token: RegistryServer, tmp_path: Path
) -> None:
    server = registry_token
    image = make_image(tmp_path / "src", layers=1)
    reader, reader_password = server.extra["reader"]  # type: ignore[misc]
    with pytest.raises(PeerError, match=r"(?i)unauthorized|denied|authentication required"):
        skopeo(
            "copy",
            "--dest-tls-verify=false",
            f"--dest-creds={reader}:{reader_password}",
            image.ref,
            server.ref(server.repo("nope")),
        )
    public = server.repo("public")
    skopeo_copy(image.ref, server.ref(public), dest_registry=server)
    out = skopeo("inspect", "--raw", "--tls-verify=false", server.ref(public))
    assert sha256(out.encode()) == image.manifest_digest
    assert any(r.user == "" and r.status == 200 for r in token_server_of(server).requests)


# -- the fault proxy -------------------------------------------------------------------------
def _push_blob(server: RegistryServer, repo: str, data: bytes) -> str:
    digest = sha256(data)
    status, headers, _ = request(server, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202
    location = urllib.parse.urlsplit(headers["location"])
    sep = "&" if location.query else ""
    path = f"{location.path}?{location.query}{sep}digest={digest}"
    status, _, _ = request(
        server, "PUT", path, body=data, headers={"Content-Type": "application/octet-stream"}
    )
    assert status == 201
    return digest


def test_proxy_forwards_and_counts(
    proxied_registry: RegistryServer, fault_proxy: FaultProxy
) -> None:
    repo = proxied_registry.repo("proxy")
    data = bytes(range(256)) * 400
    digest = _push_blob(proxied_registry, repo, data)
    status, _, body = request(proxied_registry, "GET", f"/v2/{repo}/blobs/{digest}")
    assert status == 200 and body == data
    status, headers, body = request(proxied_registry, "HEAD", f"/v2/{repo}/blobs/{digest}")
    assert status == 200 and headers["content-length"] == str(len(data)) and body == b""
    assert [(s.method, s.status) for s in fault_proxy.requests] == [
        ("POST", 202),
        ("PUT", 201),
        ("GET", 200),
        ("HEAD", 200),
    ]
    assert fault_proxy.count("GET", r"/blobs/sha256:") == 1
    assert fault_proxy.count(path=r"/manifests/") == 0


def test_proxy_answers_503_and_429_with_retry_after(
    proxied_registry: RegistryServer, fault_proxy: FaultProxy
) -> None:
    fault_proxy.fail(503, times=2, method="GET", path=r"^/v2/$")
    fault_proxy.fail(429, retry_after="1", path=r"/tags/list")
    assert request(proxied_registry, "GET", "/v2/")[0] == 503
    assert request(proxied_registry, "GET", "/v2/")[0] == 503
    assert request(proxied_registry, "GET", "/v2/")[0] == 200
    status, headers, _ = request(proxied_registry, "GET", "/v2/x/tags/list")
    assert status == 429 and headers["retry-after"] == "1"
    assert [(s.status, s.fault) for s in fault_proxy.requests] == [
        (503, "status"),
        (503, "status"),
        (200, ""),
        (429, "status"),
    ]


def test_proxy_drops_corrupts_and_stalls_blob_bodies(
    proxied_registry: RegistryServer, fault_proxy: FaultProxy
) -> None:
    repo = proxied_registry.repo("faults")
    data = bytes(range(256)) * 1024
    digest = _push_blob(proxied_registry, repo, data)
    path = f"/v2/{repo}/blobs/{digest}"

    fault_proxy.drop_response(1000)
    with pytest.raises(http.client.IncompleteRead) as info:
        request(proxied_registry, "GET", path)
    assert len(info.value.partial) == 1000

    fault_proxy.corrupt(offset=5)
    status, _, body = request(proxied_registry, "GET", path)
    assert status == 200 and len(body) == len(data) and body != data
    assert body[5] == data[5] ^ 0xFF and body[:5] == data[:5] and body[6:] == data[6:]

    fault_proxy.stall(0.5, after_bytes=100)
    started = time.monotonic()
    assert request(proxied_registry, "GET", path)[2] == data
    assert time.monotonic() - started >= 0.5

    fault_proxy.stall(5)
    with pytest.raises((TimeoutError, socket.timeout)):
        request(proxied_registry, "GET", path, timeout=0.5)
    assert [s.fault for s in fault_proxy.seen("GET")] == ["drop_response", "corrupt", "stall"]


def test_proxy_drops_an_upload_midway(
    proxied_registry: RegistryServer, fault_proxy: FaultProxy
) -> None:
    repo = proxied_registry.repo("upfault")
    data = b"x" * 100_000
    status, headers, _ = request(proxied_registry, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202
    location = urllib.parse.urlsplit(headers["location"])
    fault_proxy.drop_request(5000, method="PUT")
    with pytest.raises((ConnectionError, http.client.RemoteDisconnected, OSError)):
        request(
            proxied_registry,
            "PUT",
            f"{location.path}?{location.query}&digest={sha256(data)}",
            body=data,
        )
    status, _, _ = request(proxied_registry, "HEAD", f"/v2/{repo}/blobs/{sha256(data)}")
    assert status == 404  # nothing half-written became visible
