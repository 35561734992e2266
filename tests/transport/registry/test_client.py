"""The registry client against real Debian ``docker-registry`` servers (R4's fixtures): plain
HTTP, TLS with htpasswd Basic auth, and Bearer tokens; faults through the fault proxy."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import IO

import pytest
from fault_proxy import FaultProxy
from token_server import token_server_of

from boxwright.config.auth import Credentials
from boxwright.config.certs import TLSSettings
from boxwright.errors import (
    AuthenticationError,
    BlobNotFoundError,
    DigestMismatchError,
    ImageNotFoundError,
    RegistryError,
    TLSError,
)
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.mediatype import OCI_CONFIG, OCI_LAYER_GZIP, OCI_MANIFEST
from boxwright.transport.registry import client as client_module
from boxwright.transport.registry.client import RegistryClient
from boxwright.transport.registry.retry import RetryPolicy
from boxwright.transport.registry.stall import StallPolicy
from boxwright_testing.registry_servers import RegistryServer


def make_client(server: RegistryServer, **kw: object) -> RegistryClient:
    """A client with the server's TLS CA and credentials."""
    if server.tls:
        assert server.ca_path is not None
        kw.setdefault("tls", TLSSettings(ca_files=(server.ca_path,)))
    else:
        kw.setdefault("scheme", "http")
    if server.username:
        kw.setdefault("credentials", Credentials(server.username, server.password))
    return RegistryClient(server.host, **kw)  # type: ignore[arg-type]


def blob(size: int) -> tuple[bytes, Descriptor]:
    data = os.urandom(size)
    return data, Descriptor(OCI_LAYER_GZIP, Digest.from_bytes(data), size)


def read_all(stream: IO[bytes]) -> bytes:
    """Read to EOF in pieces, as consumers do (the verifying reader checks at EOF)."""
    return b"".join(iter(lambda: stream.read(1 << 16), b""))


def push_image(client: RegistryClient, repo: str, tag: str) -> tuple[bytes, Digest, Descriptor]:
    data, layer = blob(200_000)
    config = b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}'
    config_desc = Descriptor(OCI_CONFIG, Digest.from_bytes(config), len(config))
    client.upload_blob(repo, io.BytesIO(config), config_desc)
    client.upload_blob(repo, io.BytesIO(data), layer)
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config_desc.to_dict(),
            "layers": [layer.to_dict()],
        }
    ).encode()
    return raw, client.put_manifest(repo, tag, raw, OCI_MANIFEST), layer


# -- every flavour -----------------------------------------------------------------------------


def test_ping_blobs_manifests_tags_and_delete(registry_any: RegistryServer) -> None:
    repo = registry_any.repo("client")
    with make_client(registry_any) as client:
        assert client.ping() == "registry/2.0"
        raw, digest, layer = push_image(client, repo, "v1")
        assert digest == Digest.from_bytes(raw)
        assert client.get_manifest(repo, "v1") == (raw, OCI_MANIFEST, digest)
        assert client.get_manifest(repo, str(digest)) == (raw, OCI_MANIFEST, digest)
        assert client.head_manifest(repo, "v1") == Descriptor(OCI_MANIFEST, digest, len(raw))
        assert client.head_blob(repo, layer.digest) == layer.size
        with client.get_blob(repo, layer) as stream:
            assert Digest.from_bytes(read_all(stream)) == layer.digest
        client.put_manifest(repo, "v2", raw, OCI_MANIFEST)
        assert sorted(client.list_tags(repo)) == ["v1", "v2"]
        client.delete_manifest(repo, digest)
        assert client.head_manifest(repo, "v1") is None
        with pytest.raises(ImageNotFoundError, match=f"manifest {repo}:v1 not found"):
            client.get_manifest(repo, "v1")


def test_missing_blob_and_unknown_repository(registry_plain: RegistryServer) -> None:
    repo = registry_plain.repo("missing")
    _, layer = blob(10)
    with make_client(registry_plain) as client:
        assert client.head_blob(repo, layer.digest) is None
        with pytest.raises(BlobNotFoundError, match=f"blob {layer.digest} in {repo} not found"):
            client.get_blob(repo, layer)
        with pytest.raises(ImageNotFoundError, match="NAME_UNKNOWN"):
            list(client.list_tags(repo))
        assert client.referrers(repo, layer.digest) is None


# -- uploads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [None, 300_000])
@pytest.mark.parametrize("known", [True, False])
def test_upload_modes(
    registry_plain: RegistryServer, fault_proxy: FaultProxy, chunk_size: int | None, known: bool
) -> None:
    repo = registry_plain.repo("upload")
    data, layer = blob(1_000_000)
    with RegistryClient(fault_proxy.host, scheme="http", chunk_size=chunk_size) as client:
        stored = client.upload_blob(repo, io.BytesIO(data), layer if known else None)
        assert (stored.digest, stored.size) == (layer.digest, layer.size)
        assert client.head_blob(repo, layer.digest) == layer.size
    patches = fault_proxy.count("PATCH", "/blobs/uploads/")
    puts = fault_proxy.count("PUT", "/blobs/uploads/")
    expected_patches = 4 if chunk_size else (0 if known else 1)
    assert (patches, puts, fault_proxy.count("POST")) == (expected_patches, 1, 1)


def test_upload_of_wrong_content_is_never_completed(registry_plain: RegistryServer) -> None:
    repo = registry_plain.repo("wrong")
    data, layer = blob(50_000)
    other = layer.with_(digest=Digest.from_bytes(b"something else"))
    with make_client(registry_plain) as client:
        with pytest.raises(DigestMismatchError, match="does not match its digest"):
            client.upload_blob(repo, io.BytesIO(data), other)
        with pytest.raises(DigestMismatchError, match="truncated"):
            client.upload_blob(repo, io.BytesIO(data[:-1]), layer)
        assert client.head_blob(repo, other.digest) is None
        assert client.head_blob(repo, layer.digest) is None


def test_mount_and_fallback_to_the_opened_session(
    registry_plain: RegistryServer, fault_proxy: FaultProxy
) -> None:
    source, target, other = (registry_plain.repo(h) for h in ("src", "dst", "other"))
    data, layer = blob(30_000)
    with RegistryClient(fault_proxy.host, scheme="http") as client:
        client.upload_blob(source, io.BytesIO(data), layer)
        assert client.mount_blob(target, layer.digest, source) is True
        assert client.head_blob(target, layer.digest) == layer.size
        fault_proxy.reset()
        assert client.mount_blob(other, layer.digest, registry_plain.repo("nowhere")) is False
        client.upload_blob(other, io.BytesIO(data), layer)
        assert client.head_blob(other, layer.digest) == layer.size
    # The upload used the session the refused mount opened: one POST in all.
    assert fault_proxy.count("POST") == 1
    assert fault_proxy.count("PUT", "/blobs/uploads/") == 1


def test_tags_follow_link_pagination(
    registry_plain: RegistryServer, fault_proxy: FaultProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "PAGE_SIZE", 2)
    repo = registry_plain.repo("pages")
    with RegistryClient(fault_proxy.host, scheme="http") as client:
        raw, _, _ = push_image(client, repo, "t0")
        for n in range(1, 5):
            client.put_manifest(repo, f"t{n}", raw, OCI_MANIFEST)
        fault_proxy.reset()
        assert sorted(client.list_tags(repo)) == ["t0", "t1", "t2", "t3", "t4"]
        repos = list(client.catalog())
    # distribution 2.8 pages the catalog (n=2 here) but not the tag list.
    assert repo in repos
    assert len(repos) == len(set(repos)) >= 2
    assert fault_proxy.count("GET", "/_catalog") == len(repos) // 2 + 1


# -- TLS and Basic auth ------------------------------------------------------------------------


def test_tls_needs_the_ca_unless_verification_is_off(registry_tls_basic: RegistryServer) -> None:
    creds = Credentials(registry_tls_basic.username, registry_tls_basic.password)
    client = RegistryClient(registry_tls_basic.host, credentials=creds)
    with client, pytest.raises(TLSError, match=f"{registry_tls_basic.host}: TLS failed"):
        client.ping()
    with RegistryClient(
        registry_tls_basic.host, credentials=creds, tls=TLSSettings(verify=False)
    ) as client:
        assert client.ping() == "registry/2.0"
    with RegistryClient(registry_tls_basic.host, credentials=creds, insecure=True) as client:
        assert client.ping() == "registry/2.0"
        assert client.scheme == "https"


def test_basic_auth_refusals_never_show_the_password(registry_tls_basic: RegistryServer) -> None:
    secret = "wrong-" + registry_tls_basic.password
    bad = make_client(
        registry_tls_basic, credentials=Credentials(registry_tls_basic.username, secret)
    )
    with bad, pytest.raises(AuthenticationError) as refused:
        bad.ping()
    assert str(refused.value).startswith(f"{registry_tls_basic.host}: the registry refused")
    assert secret not in str(refused.value)
    assert refused.value.status == 401
    anonymous = make_client(registry_tls_basic, credentials=None)
    with anonymous, pytest.raises(AuthenticationError, match="boxwright login"):
        anonymous.head_manifest(registry_tls_basic.repo("x"), "latest")


# -- Bearer tokens -----------------------------------------------------------------------------


def test_bearer_tokens_are_cached_per_scope(registry_token: RegistryServer) -> None:
    tokens = token_server_of(registry_token)
    repo = registry_token.repo("cached")
    with make_client(registry_token) as client:
        _, digest, layer = push_image(client, repo, "v1")
        pushes = tokens.count()
        assert pushes == 1
        assert client.get_manifest(repo, "v1")[2] == digest
        with client.get_blob(repo, layer) as stream:
            read_all(stream)
        # Pull scope is covered by the cached pull,push token: no new request.
        assert tokens.count() == 1
        other = registry_token.repo("other")
        assert client.head_manifest(other, "v1") is None
        assert tokens.count() == 2
        # An expired token is fetched again.
        auth = client.session.auth
        for key, token in list(auth._tokens.items()):
            auth._tokens[key] = type(token)(token.value, 0.0)
        assert client.head_manifest(repo, "v1") is not None
        assert tokens.count() == 3
    assert all(r.grant_type == "basic" for r in tokens.requests)


def test_bearer_identity_token_and_anonymous_access(registry_token: RegistryServer) -> None:
    tokens = token_server_of(registry_token)
    public = "public-" + registry_token.repo("anon")
    with make_client(registry_token) as owner:
        _, digest, _ = push_image(owner, public, "v1")
    tokens.reset()
    refresh = tokens.new_refresh_token(registry_token.username)
    identity = Credentials("<token>", "", identity_token=refresh)
    with make_client(registry_token, credentials=identity) as client:
        assert client.head_manifest(public, "v1") == client.head_manifest(public, str(digest))
    assert [(r.method, r.grant_type) for r in tokens.requests] == [("POST", "refresh_token")]
    with make_client(registry_token, credentials=None) as anonymous:
        assert anonymous.get_manifest(public, "v1")[2] == digest
        _, layer = blob(100)
        with pytest.raises(AuthenticationError, match="authentication required"):
            anonymous.upload_blob(public, io.BytesIO(b"x" * 100), layer)
    reader_user, reader_password = registry_token.extra["reader"]  # type: ignore[misc]
    reader = make_client(registry_token, credentials=Credentials(reader_user, reader_password))
    with reader, pytest.raises(AuthenticationError) as denied:
        reader.put_manifest(public, "v2", b"{}", OCI_MANIFEST)
    assert reader_password not in str(denied.value)


# -- faults ------------------------------------------------------------------------------------


def proxied(fault_proxy: FaultProxy, slept: list[float], **kw: object) -> RegistryClient:
    retries = RetryPolicy(attempts=4, sleep=slept.append, random=lambda: 0.0)
    return RegistryClient(fault_proxy.host, scheme="http", retries=retries, **kw)  # type: ignore[arg-type]


def test_503_and_429_are_retried_honouring_retry_after(
    registry_plain: RegistryServer, fault_proxy: FaultProxy
) -> None:
    repo = registry_plain.repo("retry")
    slept: list[float] = []
    with proxied(fault_proxy, slept) as client:
        raw, digest, _ = push_image(client, repo, "v1")
        fault_proxy.fail(503, times=1, method="GET", path="/manifests/")
        fault_proxy.fail(429, times=1, method="GET", path="/manifests/", retry_after="3")
        assert client.get_manifest(repo, "v1") == (raw, OCI_MANIFEST, digest)
        assert slept == [0.125, 3.0]
        fault_proxy.fail(503, times=10, method="HEAD", path="/manifests/")
        with pytest.raises(RegistryError, match="HTTP 503") as failed:
            client.head_manifest(repo, "v1")
        assert failed.value.status == 503
    assert fault_proxy.count("HEAD", "/manifests/") == 4


def test_dropped_blob_download_resumes_with_range(
    registry_plain: RegistryServer, fault_proxy: FaultProxy
) -> None:
    repo = registry_plain.repo("resume")
    data, layer = blob(3_000_000)
    slept: list[float] = []
    with proxied(fault_proxy, slept) as client:
        client.upload_blob(repo, io.BytesIO(data), layer)
        fault_proxy.drop_response(1_000_000, times=2)
        with client.get_blob(repo, layer) as stream:
            assert read_all(stream) == data
    statuses = [s.status for s in fault_proxy.seen("GET", "/blobs/sha256:")]
    assert statuses == [0, 0, 206]
    assert len(slept) == 2


def test_stalled_download_times_out_and_resumes(
    registry_plain: RegistryServer, fault_proxy: FaultProxy
) -> None:
    repo = registry_plain.repo("stall")
    data, layer = blob(500_000)
    slept: list[float] = []
    with proxied(fault_proxy, slept, stall=StallPolicy(seconds=0.5)) as client:
        client.upload_blob(repo, io.BytesIO(data), layer)
        fault_proxy.stall(3, after_bytes=100_000, method="GET", path="/blobs/sha256:")
        with client.get_blob(repo, layer) as stream:
            assert read_all(stream) == data
    assert [s.status for s in fault_proxy.seen("GET", "/blobs/sha256:")] == [200, 206]
    assert slept == [0.125]


def test_corrupt_blob_is_rejected(registry_plain: RegistryServer, fault_proxy: FaultProxy) -> None:
    repo = registry_plain.repo("corrupt")
    data, layer = blob(100_000)
    with proxied(fault_proxy, []) as client:
        client.upload_blob(repo, io.BytesIO(data), layer)
        fault_proxy.corrupt(offset=5000)
        with (
            client.get_blob(repo, layer) as stream,
            pytest.raises(DigestMismatchError, match="does not match its digest"),
        ):
            read_all(stream)
        push_image(client, repo, "v1")
        fault_proxy.corrupt(offset=10, method="GET", path="/manifests/v1")
        with pytest.raises(DigestMismatchError):
            client.get_manifest(repo, "v1")


def test_dropped_upload_restarts_from_a_seekable_stream(
    registry_plain: RegistryServer, fault_proxy: FaultProxy
) -> None:
    """The connection drops 4.5 MB into a streamed PUT: only a restart of the whole upload
    (a new session, the stream sought back) can get past it; a stream that cannot seek back
    fails with one clear line."""
    repo = registry_plain.repo("restart")
    past_replay = (4 << 20) + 500_000
    data, layer = blob(past_replay + 1_000_000)
    slept: list[float] = []
    with proxied(fault_proxy, slept) as client:
        fault_proxy.drop_request(past_replay, method="PUT")
        assert client.upload_blob(repo, io.BytesIO(data), layer).digest == layer.digest
        assert client.head_blob(repo, layer.digest) == layer.size
        assert fault_proxy.count("POST", "/blobs/uploads/") == 2

        class OneShot(io.RawIOBase):
            def __init__(self) -> None:
                self._inner = io.BytesIO(data[::-1])

            def readable(self) -> bool:
                return True

            def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
                return self._inner.readinto(buffer)

        reversed_layer = Descriptor(OCI_LAYER_GZIP, Digest.from_bytes(data[::-1]), len(data))
        fault_proxy.drop_request(past_replay, method="PUT")
        with pytest.raises(RegistryError, match="cannot seek back"):
            client.upload_blob(repo, OneShot(), reversed_layer)  # type: ignore[arg-type]
        assert client.head_blob(repo, reversed_layer.digest) is None


def test_connection_refused_is_one_clear_line(tmp_path: Path) -> None:
    from boxwright_testing.registry_servers import free_port

    host = f"127.0.0.1:{free_port()}"
    slept: list[float] = []
    retries = RetryPolicy(attempts=2, sleep=slept.append)
    client = RegistryClient(host, scheme="http", retries=retries)
    with client, pytest.raises(RegistryError) as failed:
        client.ping()
    assert str(failed.value).startswith(f"{host}: cannot connect for the API endpoint /v2/")
    assert "\n" not in str(failed.value)
    assert len(slept) == 1


def test_blob_redirect_to_another_host_drops_the_authorization() -> None:
    """A registry that redirects blob GETs to storage elsewhere (as S3-backed ones do): the
    client follows, and the credentials stay with the registry."""
    import base64
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    data, layer = blob(70_000)
    storage_auth: list[str | None] = []

    class Storage(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            storage_auth.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    storage = ThreadingHTTPServer(("127.0.0.1", 0), Storage)
    good = "Basic " + base64.b64encode(b"user:pw").decode()

    class Front(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            if self.headers.get("Authorization") != good:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="front"')
                self.send_header("Content-Length", "0")
            else:
                self.send_response(307)
                self.send_header("Location", f"http://localhost:{storage.server_port}/b")
                self.send_header("Content-Length", "0")
            self.end_headers()

    front = ThreadingHTTPServer(("127.0.0.1", 0), Front)
    for server in (storage, front):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host = f"127.0.0.1:{front.server_port}"
        client = RegistryClient(host, scheme="http", credentials=Credentials("user", "pw"))
        with client, client.get_blob("r", layer) as stream:
            assert read_all(stream) == data
    finally:
        front.shutdown()
        storage.shutdown()
    assert storage_auth == [None]
