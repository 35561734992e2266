"""The low-overhead request path (transport/registry/direct.py) against small local servers:
kept-alive connections, redirects without credentials, retries, streamed bodies sent once, and
handing auth challenges and redirects it does not follow to the httpx path."""

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
from pathlib import Path
from typing import IO

import pytest

from boxwright.config.auth import Credentials
from boxwright.errors import RegistryError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.mediatype import OCI_LAYER_GZIP, OCI_MANIFEST
from boxwright.transport.registry.answers import Answer
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
from boxwright_testing.registry_servers import RegistryServer

DATA = bytes(range(256)) * 4096  # 1 MiB


def blob(size: int) -> tuple[bytes, Descriptor]:
    data = os.urandom(size)
    return data, Descriptor(OCI_LAYER_GZIP, Digest.from_bytes(data), size)


def read_all(stream: IO[bytes] | Answer) -> bytes:
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
    method: str = "GET"
    body: bytes = b""
    via_httpx: bool = False  # httpx sends "Connection: keep-alive", http.client sends none


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
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.path,
                    self.headers.get("Authorization"),
                    self.client_address[1],
                    self.headers.get("Range"),
                    self.command,
                    self.rfile.read(length) if length else b"",
                    self.headers.get("Connection") is not None,
                )
                server.seen.append(seen)
                status, headers, body = server.answer(seen, len(server.seen))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                if server.close_after_answer:
                    self.close_connection = True

            do_HEAD = do_PUT = do_POST = do_GET

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
            body = session.send("GET", session.url("/v2/r/blobs/x"), what="x")
            assert body.status_code == 200
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
    pool = DirectPool(_unverified(), timeout=5, base_headers={"User-Agent": "t"})
    session = Session(serve(server), scheme="http")
    try:
        for _ in range(3):
            body = pool.request("GET", session.url("/b"), authorization=lambda _: None)
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
    pool = DirectPool(_unverified(), timeout=5, base_headers={})
    session = Session(serve(front), scheme="http")
    try:
        body = pool.request(
            "GET",
            session.url("/v2/r/blobs/x"),
            authorization=lambda url: session.origins.authorization(url, "Bearer t0k"),
        )
        assert body is not None and body.status_code == 200
        assert body.read(len(DATA) + 1) == DATA
    finally:
        pool.close()
        session.close()
    assert [(s.path, s.authorization) for s in front.seen] == [("/v2/r/blobs/x", "Bearer t0k")]
    assert [(s.path, s.authorization) for s in storage.seen] == [("/s?sig=1", None)]


def test_503_is_retried_404_is_answered_and_401_goes_to_httpx(
    serve: Callable[[Server], str],
) -> None:
    """Error answers come back on the direct path; an auth challenge is asked again through
    httpx (whose auth flow owns it), and once the registry asked for credentials a request
    with none earned for it goes to httpx at once, not to a sure 401 first."""
    answers = {1: 503, 2: 200, 3: 404, 4: 401, 5: 401, 6: 200}
    server = Server(lambda seen, n: (answers[n], {}, DATA if answers[n] == 200 else b"{}"))
    session = Session(serve(server), scheme="http", retries=_no_sleep())
    url = session.url("/v2/r/blobs/x")
    try:
        body = session.send("GET", url, what="x")
        assert body.status_code == 200 and body.read(len(DATA)) == DATA
        missing = session.send("GET", url, what="x")
        assert missing.status_code == 404
        missing.close()
        refused = session.send("GET", url, what="x")
        assert refused.status_code == 401
        refused.close()
        again = session.send("GET", url, what="x")
        assert again.status_code == 200 and read_all(again) == DATA
    finally:
        session.close()
    assert [s.via_httpx for s in server.seen] == [False, False, False, False, True, True]


def test_no_direct_path_behind_a_proxy(
    serve: Callable[[Server], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    server = Server(lambda seen, n: (200, {}, DATA))
    session = Session(serve(server), scheme="http", retries=RetryPolicy.none())
    try:
        with pytest.raises(RegistryError, match="cannot connect for x"):
            session.send("GET", session.url("/v2/r/blobs/x"), what="x")
    finally:
        session.close()
    assert server.seen == []


def test_a_streamed_body_is_sent_once_and_its_401_handed_back(
    serve: Callable[[Server], str],
) -> None:
    """A blob upload's body is streamed on the direct path in the caller's pieces; a 401 to it
    is the caller's (the pieces are gone), not sent again through httpx."""
    pieces = [b"a" * 1000, b"b" * 2000]
    answers = {1: 201, 2: 401}
    server = Server(lambda seen, n: (answers[n], {}, b""))
    session = Session(serve(server), scheme="http", retries=_no_sleep())
    url = session.url("/v2/r/blobs/uploads/u?_state=a%3D")
    try:
        for _ in range(2):
            answer = session.send(
                "PUT",
                url,
                what="x",
                params={"digest": "sha256:00"},
                headers={"Content-Length": "3000"},
                content=iter(pieces),
            )
            answer.close()
        assert answer.status_code == 401
    finally:
        session.close()
    assert [(s.method, s.path, s.body, s.via_httpx) for s in server.seen] == [
        ("PUT", "/v2/r/blobs/uploads/u?_state=a%3D&digest=sha256%3A00", b"".join(pieces), False)
    ] * 2


def test_a_streamed_body_gets_a_fresh_connection_when_the_kept_one_was_closed(
    serve: Callable[[Server], str],
) -> None:
    """An idle connection the registry closed is not used for a body that cannot be sent
    twice: each upload below reaches the server whole, on a new connection."""
    server = Server(lambda seen, n: (201, {}, b""), close_after_answer=True)
    session = Session(serve(server), scheme="http", retries=RetryPolicy.none())
    try:
        for _ in range(3):
            answer = session.send(
                "PUT",
                session.url("/u"),
                what="x",
                headers={"Content-Length": "9000"},
                content=iter([DATA[:5000], DATA[5000:9000]]),
            )
            assert answer.status_code == 201
            answer.close()
    finally:
        session.close()
    assert [s.body == DATA[:9000] for s in server.seen] == [True, True, True]
    assert len({s.client_port for s in server.seen}) == 3


def test_answers_without_a_body_keep_their_connection(serve: Callable[[Server], str]) -> None:
    server = Server(lambda seen, n: (202, {}, b"") if seen.method == "POST" else (200, {}, b"{}"))
    session = Session(serve(server), scheme="http")
    try:
        session.send("HEAD", session.url("/v2/r/manifests/a"), what="x").close()
        session.send("POST", session.url("/v2/r/blobs/uploads/"), what="x", content=b"").close()
        got = session.send("GET", session.url("/v2/"), what="x")
        assert got.read(10) == b"{}"
    finally:
        session.close()
    assert [s.method for s in server.seen] == ["HEAD", "POST", "GET"]
    assert len({s.client_port for s in server.seen}) == 1


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
from boxwright.transport.registry.answers import Answer
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


def test_an_anonymous_push_never_loads_httpx(registry_plain: RegistryServer) -> None:
    """Blob checks, upload sessions, the streamed upload and the manifest of an anonymous push
    all go the direct path; the registry then serves exactly what was pushed."""
    data, layer = blob(3_000_000)
    probe = f"""
import io, json, sys
from boxwright.oci.descriptor import Descriptor
from boxwright.transport.registry.client import RegistryClient
layer = Descriptor.from_dict(json.loads({json.dumps(json.dumps(layer.to_dict()))}))
with RegistryClient({registry_plain.host!r}, scheme="http") as client:
    print(client.head_blob("direct/push", layer.digest))
    print(client.upload_blob("direct/push", sys.stdin.buffer, layer) == layer)
    raw = json.dumps(
        {{"schemaVersion": 2, "mediaType": {OCI_MANIFEST!r}, "config": layer.to_dict(),
          "layers": []}}
    ).encode()
    print(client.put_manifest("direct/push", "v1", raw, {OCI_MANIFEST!r}))
    pushed = client.head_manifest("direct/push", "v1")
    print(pushed.digest, client.head_blob("direct/push", layer.digest))
print(sorted(m for m in ("httpx", "httpcore", "h11") if m in sys.modules) or "-")
"""
    done = subprocess.run(
        [sys.executable, "-c", probe],
        input=data,
        capture_output=True,
        check=True,
        timeout=60,
    )
    lines = done.stdout.decode().splitlines()
    manifest = lines[2]
    assert lines == ["None", "True", manifest, f"{manifest} {len(data)}", "-"]
    with (
        RegistryClient(registry_plain.host, scheme="http") as client,
        client.get_blob("direct/push", layer) as stream,
    ):
        assert read_all(stream) == data


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
    session = Session(serve(server), scheme="http", retries=RetryPolicy.none())
    try:
        body = session.send("GET", session.url("/v2/r/blobs/x"), what="x")
        assert body.read(len(DATA) + 1) == DATA
        with pytest.raises(RegistryError, match=r"during y: .*unsupported protocol"):
            session.send("GET", session.url("/v2/r/blobs/y"), what="y")
    finally:
        session.close()
    assert [(s.path, s.via_httpx) for s in server.seen] == [
        ("/v2/r/blobs/x", False),
        ("/store/a%20b%C3%A9?sig=1%202", False),
        ("/v2/r/blobs/y", False),
        ("/v2/r/blobs/y", True),
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
    session.send("GET", session.url("/v2/r/blobs/x"), what="blob x")
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


def test_behind_a_proxy_every_request_goes_through_httpx(
    registry_plain: RegistryServer,
    tmp_path: Path,
    isolated_auth: Path,
    httpx_only: None,
) -> None:
    """With a proxy in the environment (NO_PROXY letting httpx reach the loopback registry
    itself), the direct path is never used: a push and a pull go through httpx alone,
    streamed upload bodies included, and give the same digests."""
    from registry_images import make_image

    from boxwright.copy import CopyOptions, copy_image
    from boxwright.transport.options import TransportOptions

    image = make_image(tmp_path / "image", layers=2, layer_size=300_000, seed="proxy")
    options = TransportOptions(tls_verify=False)
    ref = registry_plain.ref(registry_plain.repo("proxy"), "v1")
    pushed = copy_image(image.ref, ref, CopyOptions(dest_options=options))
    pulled = copy_image(ref, f"oci:{tmp_path / 'out'}:v1", CopyOptions(src_options=options))
    assert str(pushed.digest) == str(pulled.digest) == image.manifest_digest
    assert sorted(str(d) for d in pulled.blobs_written) == sorted(image.blob_digests)
