"""The low-overhead blob-body path (transport/registry/direct.py) against small local servers:
kept-alive connections, redirects without credentials, retries, and handing every other
answer (401, 404) back to the httpx path, which a blob download then uses."""

from __future__ import annotations

import io
import json
import os
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.client import RemoteDisconnected
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import IO

import pytest
from registry_servers import RegistryServer

from boxwright.config.auth import Credentials
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.mediatype import OCI_LAYER_GZIP, OCI_MANIFEST
from boxwright.transport.registry.client import RegistryClient
from boxwright.transport.registry.direct import DirectPool, transport_error
from boxwright.transport.registry.failures import (
    ConnectFailure,
    NetworkFailure,
    NetworkTimeout,
    ProtocolFailure,
    network_error,
)
from boxwright.transport.registry.retry import RetryPolicy
from boxwright.transport.registry.session import Session

DATA = bytes(range(256)) * 4096  # 1 MiB


def blob(size: int) -> tuple[bytes, Descriptor]:
    data = os.urandom(size)
    return data, Descriptor(OCI_LAYER_GZIP, Digest.from_bytes(data), size)


def read_all(stream: IO[bytes]) -> bytes:
    return b"".join(iter(lambda: stream.read(1 << 20), b""))


def _unverified() -> ssl.SSLContext:
    """A TLS context for pools that only ever speak plain HTTP here."""
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


@dataclass
class Seen:
    path: str
    authorization: str | None
    client_port: int
    range: str | None


@dataclass
class Server:
    """A blob server whose answer per request comes from ``answer`` (status, headers, body)."""

    answer: Callable[[Seen, int], tuple[int, dict[str, str], bytes]]
    seen: list[Seen] = field(default_factory=list)
    close_after_answer: bool = False
    port: int = 0

    def handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                seen = Seen(
                    self.path,
                    self.headers.get("Authorization"),
                    self.client_address[1],
                    self.headers.get("Range"),
                )
                server.seen.append(seen)
                status, headers, body = server.answer(seen, len(server.seen))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                if server.close_after_answer:
                    self.close_connection = True

        return Handler


@pytest.fixture
def serve() -> Iterator[Callable[[Server], str]]:
    started: list[ThreadingHTTPServer] = []

    def start(server: Server) -> str:
        http = ThreadingHTTPServer(("127.0.0.1", 0), server.handler())
        http.daemon_threads = True
        server.port = http.server_port
        threading.Thread(target=http.serve_forever, args=(0.05,), daemon=True).start()
        started.append(http)
        return f"127.0.0.1:{http.server_port}"

    yield start
    for http in started:
        http.shutdown()
        http.server_close()


def _no_sleep() -> RetryPolicy:
    return RetryPolicy(attempts=3, sleep=lambda _: None)


def test_bodies_are_read_in_the_callers_sizes_and_connections_are_kept(
    serve: Callable[[Server], str],
) -> None:
    server = Server(lambda seen, n: (200, {}, DATA))
    session = Session(serve(server), scheme="http", retries=_no_sleep())
    try:
        for _ in range(2):
            body = session.get_body(session.url("/v2/r/blobs/x"), what="x", scopes=())
            assert body is not None and body.status_code == 200
            assert body.headers["content-length"] == str(len(DATA))
            pieces = []
            while piece := body.read(300_000):
                pieces.append(piece)
            assert [len(p) for p in pieces] == [300_000, 300_000, 300_000, len(DATA) - 900_000]
            assert b"".join(pieces) == DATA
    finally:
        session.close()
    assert [s.path for s in server.seen] == ["/v2/r/blobs/x", "/v2/r/blobs/x"]
    assert server.seen[0].client_port == server.seen[1].client_port  # one kept-alive connection


def test_a_connection_the_server_closed_is_replaced(serve: Callable[[Server], str]) -> None:
    server = Server(lambda seen, n: (200, {}, DATA[:1000]), close_after_answer=True)
    pool = DirectPool(
        _unverified(), timeout=5, retries=RetryPolicy.none(), base_headers={"User-Agent": "t"}
    )
    session = Session(serve(server), scheme="http")
    try:
        for _ in range(3):
            body = pool.get(session.url("/b"), authorization=lambda: None)
            assert body is not None and body.read(5000) == DATA[:1000]
            assert body.read(5000) == b""
    finally:
        pool.close()
        session.close()
    assert len(server.seen) == 3  # no retry was spent on the closed connections
    assert len({s.client_port for s in server.seen}) == 3


def test_redirects_are_followed_and_credentials_stay_with_the_registry(
    serve: Callable[[Server], str],
) -> None:
    storage = Server(lambda seen, n: (200, {}, DATA))
    storage_host = serve(storage)
    front = Server(lambda seen, n: (307, {"Location": f"http://{storage_host}/s?sig=1"}, b""))
    pool = DirectPool(_unverified(), timeout=5, retries=RetryPolicy.none(), base_headers={})
    session = Session(serve(front), scheme="http")
    try:
        body = pool.get(session.url("/v2/r/blobs/x"), authorization=lambda: "Bearer t0k")
        assert body is not None and body.status_code == 200
        assert body.read(len(DATA) + 1) == DATA
    finally:
        pool.close()
        session.close()
    assert [(s.path, s.authorization) for s in front.seen] == [("/v2/r/blobs/x", "Bearer t0k")]
    assert [(s.path, s.authorization) for s in storage.seen] == [("/s?sig=1", None)]


def test_503_is_retried_and_401_or_404_go_back_to_httpx(serve: Callable[[Server], str]) -> None:
    answers = {1: 503, 2: 200, 3: 401, 4: 404}
    server = Server(lambda seen, n: (answers[n], {}, DATA if answers[n] == 200 else b"{}"))
    session = Session(serve(server), scheme="http", retries=_no_sleep())
    try:
        body = session.get_body(session.url("/v2/r/blobs/x"), what="x", scopes=())
        assert body is not None and body.read(len(DATA)) == DATA
        assert session.get_body(session.url("/v2/r/blobs/x"), what="x", scopes=()) is None
        assert session.get_body(session.url("/v2/r/blobs/x"), what="x", scopes=()) is None
    finally:
        session.close()
    assert len(server.seen) == 4


def test_no_direct_path_behind_a_proxy(
    serve: Callable[[Server], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    server = Server(lambda seen, n: (200, {}, DATA))
    session = Session(serve(server), scheme="http")
    try:
        assert session.get_body(session.url("/v2/r/blobs/x"), what="x", scopes=()) is None
    finally:
        session.close()
    assert server.seen == []


def test_credentials_earned_through_httpx_are_sent_on_the_direct_path(
    serve: Callable[[Server], str],
) -> None:
    """Basic auth is first earned through httpx (the direct path hands the 401 back); from
    then on blob bodies go out on the direct path with that header, in one request each."""
    import base64

    data, layer = blob(3_000_000)
    good = "Basic " + base64.b64encode(b"user:pw").decode()

    def answer(seen: Seen, n: int) -> tuple[int, dict[str, str], bytes]:
        if seen.authorization != good:
            return 401, {"WWW-Authenticate": 'Basic realm="r"'}, b""
        return 200, {}, data

    server = Server(answer)
    client = RegistryClient(serve(server), scheme="http", credentials=Credentials("user", "pw"))
    with client:
        with client.get_blob("r", layer) as stream:
            assert read_all(stream) == data
        with client.get_blob("r", layer) as stream:
            assert read_all(stream) == data
    # direct (refused), httpx (refused, then with Basic), then direct with Basic at once.
    assert [s.authorization == good for s in server.seen] == [False, False, True, True]
    assert server.seen[2].client_port != server.seen[3].client_port


def test_an_anonymous_pull_never_loads_httpx(registry_plain: RegistryServer) -> None:
    """Manifest and blobs of an anonymous registry all come the direct path: httpx, httpcore
    and h11 (~25 ms of start-up) stay unloaded, and the bytes are right."""
    data, layer = blob(2_000_000)
    with RegistryClient(registry_plain.host, scheme="http") as client:
        client.upload_blob("direct/pull", io.BytesIO(data), layer)
        raw = json.dumps(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": layer.to_dict(), "layers": []}
        ).encode()
        client.put_manifest("direct/pull", "v1", raw, OCI_MANIFEST)
    probe = f"""
import sys
from boxwright.transport.registry.client import RegistryClient
from boxwright.oci.descriptor import Descriptor
with RegistryClient({registry_plain.host!r}, scheme="http") as client:
    raw, media_type, digest = client.get_manifest("direct/pull", "v1")
    layer = Descriptor.from_dict(__import__("json").loads(raw)["config"])
    with client.get_blob("direct/pull", layer) as stream:
        body = b"".join(iter(lambda: stream.read(1 << 20), b""))
import hashlib
print(media_type, digest, "sha256:" + hashlib.sha256(body).hexdigest(), stream.verified)
print(sorted(m for m in ("httpx", "httpcore", "h11") if m in sys.modules) or "-")
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    digest = Digest.from_bytes(raw)
    assert done.stdout.splitlines() == [f"{OCI_MANIFEST} {digest} {layer.digest} True", "-"]


def test_redirects_are_percent_encoded_and_a_non_http_one_goes_back_to_httpx(
    serve: Callable[[Server], str],
) -> None:
    def answer(seen: Seen, n: int) -> tuple[int, dict[str, str], bytes]:
        if seen.path == "/v2/r/blobs/x":
            return 302, {"Location": "/store/a b\u00e9?sig=1 2"}, b""
        if seen.path.startswith("/store/"):
            return 200, {}, DATA
        return 302, {"Location": "ftp://elsewhere/blob"}, b""

    server = Server(answer)
    session = Session(serve(server), scheme="http", retries=_no_sleep())
    try:
        body = session.get_body(session.url("/v2/r/blobs/x"), what="x", scopes=())
        assert body is not None and body.read(len(DATA) + 1) == DATA
        assert session.get_body(session.url("/v2/r/blobs/y"), what="y", scopes=()) is None
    finally:
        session.close()
    assert [s.path for s in server.seen] == [
        "/v2/r/blobs/x",
        "/store/a%20b%C3%A9?sig=1%202",
        "/v2/r/blobs/y",
    ]


@pytest.mark.parametrize(
    ("error", "connected", "kind", "message"),
    [
        (TimeoutError("timed out"), True, NetworkTimeout, "h:1: no answer within 2.5 s for x"),
        (TimeoutError("timed out"), False, NetworkTimeout, "h:1: no answer within 2.5 s for x"),
        (
            ConnectionRefusedError(111, "Connection refused"),
            False,
            ConnectFailure,
            "h:1: cannot connect for x: [Errno 111] Connection refused",
        ),
        (
            RemoteDisconnected("Remote end closed connection without response"),
            True,
            ProtocolFailure,
            "h:1: the connection broke during x: Remote end closed connection without response",
        ),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            True,
            NetworkFailure,
            "h:1: network error during x: [Errno 104] Connection reset by peer",
        ),
    ],
)
def test_direct_failures_are_typed_like_httpx_ones(
    error: Exception, connected: bool, kind: type[NetworkFailure], message: str
) -> None:
    failure = transport_error(error, connected=connected)
    assert type(failure) is kind
    assert str(network_error(failure, "h:1", "x", 2.5)) == message


def test_a_tls_failure_on_the_direct_path_is_a_tls_error() -> None:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_message = "self-signed certificate"
    try:
        raise transport_error(cause, connected=False) from cause
    except NetworkFailure as failure:
        error = network_error(failure, "h:1", "manifest x", 5)
    assert str(error) == (
        "h:1: TLS failed for manifest x: self-signed certificate (trust its CA in "
        "/etc/containers/certs.d/h:1/ or use --tls-verify=false)"
    )


def test_a_registry_that_cannot_be_reached_fails_without_importing_httpx() -> None:
    """The failure of a direct request is caught and reported with httpx never imported."""
    probe = """
import socket, sys
from boxwright.errors import RegistryError
from boxwright.transport.registry.failures import network_failures
from boxwright.transport.registry.retry import RetryPolicy
from boxwright.transport.registry.session import Session
spare = socket.socket()
spare.bind(("127.0.0.1", 0))
port = spare.getsockname()[1]
spare.close()  # nothing listens there now
session = Session(f"127.0.0.1:{port}", scheme="http", retries=RetryPolicy.none())
try:
    session.get_body(session.url("/v2/r/blobs/x"), what="blob x", scopes=())
except RegistryError as e:
    print(str(e).replace(str(port), "PORT"))
print([c.__name__ for c in network_failures()], "httpx" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines() == [
        "127.0.0.1:PORT: cannot connect for blob x: [Errno 111] Connection refused",
        "['NetworkFailure'] False",
    ]


def test_the_user_agent_names_the_installed_version() -> None:
    from importlib.metadata import version

    from boxwright._version import __version__
    from boxwright.transport.registry.session import USER_AGENT

    installed = version("boxwright")
    assert __version__ == installed
    user_agent = USER_AGENT
    assert user_agent == f"boxwright/{installed}"
