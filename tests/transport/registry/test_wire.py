"""The registry's HTTP chain (transport/registry/wire.py and the layers above it) against small
local servers and the real registry: kept-alive connections, redirects without credentials,
retries, streamed bodies sent once, an HTTP proxy, typed failures, and what an anonymous push
or pull imports."""

from __future__ import annotations

import ast
import io
import json
import os
import socket
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
from fault_proxy import FaultProxy

import boxwright
from boxwright.config.auth import Credentials
from boxwright.errors import RegistryError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.mediatype import OCI_LAYER_GZIP, OCI_MANIFEST
from boxwright.transport.registry.client import RegistryClient
from boxwright.transport.registry.failures import (
    ConnectFailure,
    NetworkFailure,
    NetworkTimeout,
    ProtocolFailure,
    network_error,
)
from boxwright.transport.registry.retry import RetryPolicy
from boxwright.transport.registry.session import Session
from boxwright.transport.registry.wire import Answer, transport_error
from boxwright_testing.registry_servers import RegistryServer

DATA = bytes(range(256)) * 4096  # 1 MiB


def blob(size: int) -> tuple[bytes, Descriptor]:
    data = os.urandom(size)
    return data, Descriptor(OCI_LAYER_GZIP, Digest.from_bytes(data), size)


def read_all(stream: IO[bytes] | Answer) -> bytes:
    return b"".join(iter(lambda: stream.read(1 << 20), b""))


@dataclass
class Seen:
    path: str
    authorization: str | None
    client_port: int
    range: str | None
    method: str = "GET"
    body: bytes = b""


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
    session = Session(serve(server), scheme="http", retries=RetryPolicy.none())
    try:
        for _ in range(3):
            body = session.send("GET", session.url("/b"), what="b")
            assert body.read(5000) == DATA[:1000]
            assert body.read(5000) == b""
    finally:
        session.close()
    assert len(server.seen) == 3  # no retry was spent on the closed connections
    assert len({s.client_port for s in server.seen}) == 3


def test_redirects_are_followed_and_credentials_stay_with_the_registry(
    serve: Callable[[Server], str],
) -> None:
    storage = Server(lambda seen, n: (200, {}, DATA))
    storage_host = serve(storage)
    front = Server(lambda seen, n: (307, {"Location": f"http://{storage_host}/s?sig=1"}, b""))
    session = Session(serve(front), scheme="http")
    try:
        body = session.send(
            "GET", session.url("/v2/r/blobs/x"), what="x", headers={"Authorization": "Bearer t0k"}
        )
        assert body.status_code == 200
        assert body.read(len(DATA) + 1) == DATA
    finally:
        session.close()
    assert [(s.path, s.authorization) for s in front.seen] == [("/v2/r/blobs/x", "Bearer t0k")]
    assert [(s.path, s.authorization) for s in storage.seen] == [("/s?sig=1", None)]


def test_503_is_retried_and_404_and_401_are_answered(serve: Callable[[Server], str]) -> None:
    """A 503 is tried again; a 404, and a 401 without a challenge the session can answer
    (no credentials, no Bearer realm), are the caller's answers, each from one request."""
    answers = {1: 503, 2: 200, 3: 404, 4: 401, 5: 200}
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
    assert [s.path for s in server.seen] == ["/v2/r/blobs/x"] * 5


def test_a_streamed_body_is_sent_once_and_its_401_handed_back(
    serve: Callable[[Server], str],
) -> None:
    """A blob upload's body is streamed in the caller's pieces; a 401 to it is the caller's
    (the pieces are gone), not sent again."""
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
    assert [(s.method, s.path, s.body) for s in server.seen] == [
        ("PUT", "/v2/r/blobs/uploads/u?_state=a%3D&digest=sha256%3A00", b"".join(pieces))
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


def test_credentials_earned_once_are_sent_at_once(serve: Callable[[Server], str]) -> None:
    """Basic auth is earned by the first request's 401; from then on blob requests carry
    it at once, one request each."""
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
    # refused, then with Basic, then with Basic at once; one kept-alive connection
    assert [s.authorization == good for s in server.seen] == [False, True, True]
    assert len({s.client_port for s in server.seen}) == 1


HEAVY = ("httpx", "httpcore", "h11", "trio", "anyio", "rich", "click", "requests")
"""Modules a registry request never needs (another HTTP stack, async libraries, the CLI's)."""


def test_an_anonymous_pull_imports_nothing_heavy(registry_plain: RegistryServer) -> None:
    """Manifest and blob of an anonymous registry: the bytes are right, and no other HTTP
    stack, async library or CLI module is loaded on the way."""
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
print(sorted(m for m in {HEAVY!r} if m in sys.modules) or "-")
"""
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    digest = Digest.from_bytes(raw)
    assert done.stdout.splitlines() == [f"{OCI_MANIFEST} {digest} {layer.digest} True", "-"]


def test_an_anonymous_push_imports_nothing_heavy(registry_plain: RegistryServer) -> None:
    """Blob checks, upload sessions, the streamed upload and the manifest of an anonymous
    push: nothing heavy is loaded, and the registry then serves exactly what was pushed."""
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
print(sorted(m for m in {HEAVY!r} if m in sys.modules) or "-")
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


def test_redirects_are_percent_encoded_and_a_non_http_one_is_refused(
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
        with pytest.raises(RegistryError) as caught:
            session.send("GET", session.url("/v2/r/blobs/y"), what="y")
    finally:
        session.close()
    assert str(caught.value) == (
        f"{session.host}: the connection broke during y: redirected to a URL that is not HTTP "
        "(ftp://elsewhere/blob)"
    )
    assert [s.path for s in server.seen] == [
        "/v2/r/blobs/x",
        "/store/a%20b%C3%A9?sig=1%202",
        "/v2/r/blobs/y",
    ]


@pytest.mark.parametrize(
    ("error", "kind", "message"),
    [
        (TimeoutError("timed out"), NetworkTimeout, "h:1: no answer within 2.5 s for x"),
        (
            ConnectionRefusedError(111, "Connection refused"),
            ConnectFailure,
            "h:1: cannot connect for x: [Errno 111] Connection refused",
        ),
        (
            RemoteDisconnected("Remote end closed connection without response"),
            ProtocolFailure,
            "h:1: the connection broke during x: Remote end closed connection without response",
        ),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            NetworkFailure,
            "h:1: network error during x: [Errno 104] Connection reset by peer",
        ),
    ],
)
def test_failures_are_typed(error: Exception, kind: type[NetworkFailure], message: str) -> None:
    failure = transport_error(error)
    assert type(failure) is kind
    assert str(network_error(failure, "h:1", "x", 2.5)) == message


def test_an_answer_that_is_not_http_is_a_protocol_failure() -> None:
    """A peer that answers with something other than an HTTP status line (here an SSH
    banner): the parser's failure reaches the caller as the one-line protocol error."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def answer() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    session = Session(f"127.0.0.1:{port}", scheme="http", retries=RetryPolicy.none())
    try:
        with pytest.raises(RegistryError) as caught:
            session.send("GET", session.url("/v2/"), what="the ping")
    finally:
        session.close()
        thread.join(5)
        listener.close()
    assert str(caught.value) == (
        f"127.0.0.1:{port}: the connection broke during the ping: "
        "('Connection aborted.', BadStatusLine('SSH-2.0-OpenSSH_9.2\\r\\n'))"
    )


def test_the_library_speaks_http_through_urllib3_alone() -> None:
    """Every module of the package that imports an HTTP client library imports urllib3 (the
    answer parser and its exceptions are reached through urllib3's connection module)."""
    libraries = {"http.client", "httpx", "requests", "aiohttp", "urllib3", "httpcore"}
    found: set[str] = set()
    for path in Path(boxwright.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found |= {lib for lib in libraries if name == lib or name.startswith(lib + ".")}
    assert found == {"urllib3"}


def test_a_tls_failure_is_a_tls_error() -> None:
    cause = ssl.SSLCertVerificationError(1, "certificate verify failed")
    cause.verify_message = "self-signed certificate"
    try:
        raise transport_error(cause) from cause
    except NetworkFailure as failure:
        error = network_error(failure, "h:1", "manifest x", 5)
    assert str(error) == (
        "h:1: TLS failed for manifest x: self-signed certificate (trust its CA in "
        "/etc/containers/certs.d/h:1/ or use --tls-verify=false)"
    )


def test_a_registry_that_cannot_be_reached_is_one_line() -> None:
    """A refused connection is reported in one line, nothing heavy imported on the way."""
    probe = (
        f"HEAVY = {HEAVY!r}\n"
        + """
import socket, sys
from boxwright.errors import RegistryError
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
print(sorted(m for m in HEAVY if m in sys.modules) or "-")
"""
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.splitlines() == [
        "127.0.0.1:PORT: cannot connect for blob x: [Errno 111] Connection refused",
        "-",
    ]


def test_the_user_agent_names_the_installed_version() -> None:
    from importlib.metadata import version

    from boxwright._version import __version__
    from boxwright.transport.registry.session import USER_AGENT

    installed = version("boxwright")
    assert __version__ == installed
    user_agent = USER_AGENT
    assert user_agent == f"boxwright/{installed}"


def test_behind_a_proxy_every_request_goes_through_it(
    registry_plain: RegistryServer,
    fault_proxy: FaultProxy,
    tmp_path: Path,
    isolated_auth: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``HTTP_PROXY`` names a forward proxy (the fault proxy, which forwards the absolute-form
    requests to the registry): a push and a pull both go through it, streamed upload bodies
    included, and give the same digests; ``NO_PROXY`` naming the registry skips it."""
    from registry_images import make_image

    from boxwright.copy import CopyOptions, copy_image
    from boxwright.transport.options import TransportOptions

    monkeypatch.setenv("HTTP_PROXY", f"http://{fault_proxy.host}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    image = make_image(tmp_path / "image", layers=2, layer_size=300_000, seed="proxy")
    options = TransportOptions(tls_verify=False)
    ref = registry_plain.ref(registry_plain.repo("proxy"), "v1")
    pushed = copy_image(image.ref, ref, CopyOptions(dest_options=options))
    pulled = copy_image(ref, f"oci:{tmp_path / 'out'}:v1", CopyOptions(src_options=options))
    assert str(pushed.digest) == str(pulled.digest) == image.manifest_digest
    assert sorted(str(d) for d in pulled.blobs_written) == sorted(image.blob_digests)
    through = fault_proxy.count("PUT", "/blobs/uploads/"), fault_proxy.count("GET", "/blobs/")
    assert through == (3, 3)  # two layers and the config, each way
    monkeypatch.setenv("NO_PROXY", registry_plain.host.split(":")[0])
    before = len(fault_proxy.seen())
    copy_image(ref, f"oci:{tmp_path / 'again'}:v1", CopyOptions(src_options=options))
    assert len(fault_proxy.seen()) == before
