"""Credentials bound to the registry's origin (transport/registry/origin.py), against hostile
registries: which server, under which name, saw which ``Authorization`` and client
certificate."""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from hostile_registry import Behaviour, Exchange, HostileRegistry, answer, json_answer, redirect
from pki import KeyPair

from boxwright.cli.main import main
from boxwright.config.auth import Credentials
from boxwright.config.certs import TLSSettings
from boxwright.errors import CredentialsRefusedError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.mediatype import OCI_LAYER_GZIP
from boxwright.transport.registry.client import RegistryClient
from boxwright.transport.registry.origin import Origin, OriginPolicy
from boxwright.transport.registry.retry import RetryPolicy
from boxwright.transport.registry.wire import Request

Hostile = Callable[..., HostileRegistry]
USER, PASSWORD = "alice", "s3cret-password"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def client_for(
    registry: HostileRegistry,
    hostile_pki: dict[str, KeyPair] | None = None,
    *,
    creds: bool = True,
    client_cert: bool = False,
    **kw: object,
) -> RegistryClient:
    tls = None
    if hostile_pki is not None:
        pair = hostile_pki["client"]
        tls = TLSSettings(
            ca_files=(hostile_pki["ca"].cert_path,),
            client_cert=(pair.cert_path, pair.key_path) if client_cert else None,
        )
    return RegistryClient(
        registry.host,
        scheme=registry.scheme,
        tls=tls,
        credentials=Credentials(USER, PASSWORD) if creds else None,
        retries=RetryPolicy.none(),
        **kw,  # type: ignore[arg-type]
    )


def seen_by(registry: HostileRegistry, path: str = "") -> list[tuple[str, str, str, str | None]]:
    """(Host header, method, target, Authorization) of every request ``registry`` saw."""
    return [
        (s.host, s.method, s.target, s.authorization)
        for s in registry.settle()
        if s.target.startswith(path)
    ]


def arm_two_pages(registry: HostileRegistry, next_url: str) -> None:
    registry.arm(
        "GET",
        r"^/v2/app/tags/list\?n=1000$",
        json_answer(200, {"name": "app", "tags": ["1"]}, {"Link": f'<{next_url}>; rel="next"'}),
    )
    registry.arm("GET", r"^/v2/app/tags/list\?last=1", json_answer(200, {"tags": ["2"]}))


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_a_tags_link_to_another_origin_is_requested_on_the_registry_origin(
    hostile: Hostile, name: str
) -> None:
    """The Link names another server (127.0.0.1, another port) or the same server under
    another name (localhost): only its path and query are kept; nothing goes elsewhere."""
    registry, other = hostile(), hostile()
    registry.require_basic(USER, PASSWORD)
    target = other if name == "127.0.0.1" else registry
    arm_two_pages(registry, target.url("/v2/app/tags/list?last=1&n=1000", name))
    with client_for(registry) as client:
        assert list(client.list_tags("app")) == ["1", "2"]
    page = "/v2/app/tags/list?n=1000"
    assert seen_by(registry, "/v2/app/") == [
        (registry.host, "GET", page, None),  # asked anonymously first, then with Basic
        (registry.host, "GET", page, BASIC),
        (registry.host, "GET", "/v2/app/tags/list?last=1&n=1000", BASIC),
    ]
    assert seen_by(other) == []


def test_a_link_from_https_to_http_stays_on_https(
    hostile: Hostile, hostile_pki: dict[str, KeyPair]
) -> None:
    registry, plain = hostile(tls=True), hostile()
    registry.require_basic(USER, PASSWORD)
    arm_two_pages(registry, plain.url("/v2/app/tags/list?last=1&n=1000"))
    with client_for(registry, hostile_pki) as client:
        assert list(client.list_tags("app")) == ["1", "2"]
    assert [s for s in seen_by(registry) if s[2].startswith("/v2/app/tags/list?last=1")] == [
        (registry.host, "GET", "/v2/app/tags/list?last=1&n=1000", BASIC)
    ]
    assert {s.origin for s in registry.seen()} == {f"https://{registry.host}"}
    assert seen_by(plain) == []


@pytest.mark.parametrize("elsewhere", ["other-server", "other-name"])
def test_an_upload_location_on_another_origin_gets_no_credentials(
    hostile: Hostile, elsewhere: str
) -> None:
    """The Location names another server, or this one under another name (localhost): the
    PUT with the blob goes there without the Basic password."""
    registry, other = hostile(), hostile()
    registry.require_basic(USER, PASSWORD)
    data = os.urandom(3000)
    digest = Digest.from_bytes(data)
    store, name = (other, "127.0.0.1") if elsewhere == "other-server" else (registry, "localhost")
    location = store.url("/upload/1", name)
    registry.arm("POST", r"^/v2/app/blobs/uploads/$", answer(202, headers={"Location": location}))
    store.arm("PUT", r"^/upload/1\?", answer(201, headers={"Docker-Content-Digest": str(digest)}))
    with client_for(registry) as client:
        stored = client.upload_blob(
            "app", io.BytesIO(data), Descriptor(OCI_LAYER_GZIP, digest, 3000)
        )
    assert stored.digest == digest
    assert [s for s in seen_by(registry) if s[1] == "POST"][-1] == (
        registry.host,
        "POST",
        "/v2/app/blobs/uploads/",
        BASIC,
    )
    assert [s for s in seen_by(store) if s[1] == "PUT"] == [
        (store.named(name), "PUT", f"/upload/1?digest={digest}".replace(":", "%3A"), None)
    ]
    assert [s.body_received for s in store.seen("PUT")] == [3000]


def test_a_redirect_to_another_origin_gets_no_credentials(hostile: Hostile) -> None:
    registry, storage = hostile(), hostile()
    registry.require_basic(USER, PASSWORD)
    data = os.urandom(1000)
    digest = Digest.from_bytes(data)
    registry.arm("GET", r"/blobs/", redirect(storage.url("/s/1?sig=x")))
    storage.arm("GET", r"^/s/1", answer(200, data))
    with client_for(registry) as client:
        for _ in range(2):  # the second time with the Basic earned the first time
            stream = client.get_blob("app", Descriptor(OCI_LAYER_GZIP, digest, len(data)))
            assert stream.read() == data
    assert [s[3] for s in seen_by(registry, "/v2/app/blobs/")][-2:] == [BASIC, BASIC]
    assert seen_by(storage) == [(storage.host, "GET", "/s/1?sig=x", None)] * 2


def bearer(realm: str) -> dict[str, str]:
    return {"WWW-Authenticate": f'Bearer realm="{realm}",service="hostile"'}


@pytest.mark.parametrize(
    ("tls", "realm_name", "message"),
    [
        (
            False,
            "localhost",
            "{host}: refusing to send credentials over plain HTTP to the token service "
            "http://localhost:{port}/token on another host (mark localhost:{port} insecure "
            "in registries.conf to allow it)",
        ),
        (
            True,
            "127.0.0.1",
            "{host}: refusing to send credentials to the token service "
            "http://127.0.0.1:{port}/token: plain HTTP for a registry reached over HTTPS",
        ),
    ],
    ids=["http-realm-on-another-host", "https-registry-http-realm"],
)
def test_basic_credentials_never_go_to_a_plain_http_realm_elsewhere(
    hostile: Hostile,
    hostile_pki: dict[str, KeyPair],
    tls: bool,
    realm_name: str,
    message: str,
) -> None:
    registry, tokens = hostile(tls=tls), hostile()
    realm = tokens.url("/token", realm_name)
    registry.arm(None, r"^/v2/", json_answer(401, {"errors": []}, bearer(realm)))
    tokens.arm("GET", r"^/token", json_answer(200, {"token": "t0k"}))
    with client_for(registry, hostile_pki) as client, pytest.raises(CredentialsRefusedError) as e:
        client.get_manifest("app", "1")
    assert str(e.value) == message.format(host=registry.host, port=tokens.port)
    assert seen_by(tokens) == []
    assert all(s[3] is None for s in seen_by(registry))


def test_a_realm_over_https_or_marked_insecure_gets_the_credentials(
    hostile: Hostile, hostile_pki: dict[str, KeyPair]
) -> None:
    """A realm over HTTPS on another host, or over plain HTTP on a host:port the user marked
    insecure, is asked for a token with the Basic credentials; the token goes to the
    registry."""
    secure_tokens, plain_tokens = hostile(tls=True), hostile()
    for tokens in (secure_tokens, plain_tokens):
        tokens.arm("GET", r"^/token", json_answer(200, {"token": "t0k"}))
        registry = hostile()
        challenge = json_answer(401, {"errors": []}, bearer(tokens.url("/token", "localhost")))

        def manifest(x: Exchange, challenge: Behaviour = challenge) -> None:
            ok = x.seen.authorization == "Bearer t0k"
            (answer(200, b"{}") if ok else challenge)(x)

        registry.arm("GET", r"^/v2/app/manifests/1$", manifest)
        marked = {plain_tokens.named("localhost")}
        with client_for(registry, hostile_pki, marked_insecure=marked.__contains__) as client:
            assert client.get_manifest("app", "1")[0] == b"{}"
        assert [s.authorization for s in registry.settle()][-1] == "Bearer t0k"
        assert [(s.host, s.authorization) for s in tokens.settle()] == [
            (tokens.named("localhost"), BASIC)
        ]


def test_the_client_certificate_goes_to_the_registry_only(
    hostile: Hostile, hostile_pki: dict[str, KeyPair]
) -> None:
    registry, storage = hostile(tls=True), hostile(tls=True)
    data = os.urandom(1000)
    digest = Digest.from_bytes(data)
    registry.arm("GET", r"/blobs/", redirect(storage.url("/s/1", "localhost")))
    storage.arm("GET", r"^/s/1", answer(200, data))
    with client_for(registry, hostile_pki, creds=False, client_cert=True) as client:
        stream = client.get_blob("app", Descriptor(OCI_LAYER_GZIP, digest, len(data)))
        assert stream.read() == data
    assert [(s.target, s.client_cert) for s in registry.settle() if "/blobs/" in s.target] == [
        (f"/v2/app/blobs/{digest}", "boxwright-client")
    ]
    assert [(s.target, s.client_cert) for s in storage.settle()] == [("/s/1", None)]


def test_inspect_after_login_keeps_the_password_on_the_registry(
    hostile: Hostile, isolated_auth: Path
) -> None:
    """``login`` then ``inspect`` (which lists RepoTags, following the tag list's Link): the
    stored Basic password reaches the registry only, never the host the Link names."""
    registry, other = hostile(), hostile()
    registry.require_basic(USER, PASSWORD)
    registry.serve_image("app", "1")
    arm_two_pages(registry, other.url("/v2/app/tags/list?last=1&n=1000", "localhost"))
    runner = CliRunner()
    login = runner.invoke(
        main,
        ["login", "--tls-verify=false", "-u", USER, "--password-stdin", registry.host],
        input=PASSWORD + "\n",
    )
    assert (login.exit_code, login.stdout, login.stderr) == (0, "Login Succeeded!\n", "")
    result = runner.invoke(
        main,
        [
            "inspect",
            "--tls-verify=false",
            "--format",
            "{{.RepoTags}}",
            f"docker://{registry.host}/app:1",
        ],
    )
    assert (result.exit_code, result.stdout, result.stderr) == (0, "[1 2]\n", "")
    assert seen_by(other) == []
    assert seen_by(registry, "/v2/app/tags/")[-1] == (
        registry.host,
        "GET",
        "/v2/app/tags/list?last=1&n=1000",
        BASIC,
    )
    assert {s[3] for s in seen_by(registry)} == {None, BASIC}


def test_origins_compare_scheme_host_and_port() -> None:
    policy = OriginPolicy("Reg.example:443", lambda: "https")
    assert policy.home == Origin("https", "reg.example", 443)
    assert policy.allows("https://reg.example/v2/")
    assert policy.allows("https://REG.example:443/v2/x?y=1")
    assert not policy.allows("http://reg.example:443/v2/")
    assert not policy.allows("https://reg.example:5000/v2/")
    assert not policy.allows("https://other.example/v2/")
    assert not policy.allows("ftp://reg.example/v2/")
    basic = {"Authorization": "Basic x"}
    assert policy.guard(Request("GET", "https://other.example/", basic)).headers == {}
    assert policy.guard(Request("GET", "https://reg.example/v2/", basic)).headers == basic
    assert policy.page("http://evil:1/v2/a/tags/list?last=b", "https://reg.example/v2/a") == (
        "https://reg.example:443/v2/a/tags/list?last=b"
    )
    assert policy.page("?last=c&n=2", "https://reg.example:443/v2/a/tags/list?n=2") == (
        "https://reg.example:443/v2/a/tags/list?last=c&n=2"
    )
