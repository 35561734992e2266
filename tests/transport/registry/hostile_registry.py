"""A registry that misbehaves on command: a small threaded HTTP or HTTPS server for the tests.

Real registries do not send endless bodies, point pagination at another host or ask for
credentials on behalf of a stranger; this server does, when a test arms it to. Start several
(different ports, ``http`` and ``https``, and the two names ``127.0.0.1`` and ``localhost`` of
one server) and "another origin" is real.

Arming: :meth:`HostileRegistry.arm` takes a method (None: any), a regular expression searched
in the request target (path and query) and a :data:`Behaviour`, for the next ``times``
matching requests (None: all of them). The first armed rule that matches answers; a request no
rule matches gets ``/v2/`` → 200 and anything else → 404 with a distribution error body. The
behaviours are small factories in this module:

* :func:`answer` / :func:`json_answer` — a fixed answer (status, headers, body);
* :func:`redirect` — a 3xx with a ``Location``;
* :func:`endless` — headers, then a body that never ends (chunked, or delimited by the close
  of the connection) until the client goes away (or ``limit`` bytes, a safety stop);
* :func:`stall` — headers and ``after_bytes`` of a body, then silence for ``seconds``, then
  the rest (or nothing: ``then_close``).

:meth:`HostileRegistry.require_basic` puts every request behind a Basic challenge (what a
``login`` then checks), :meth:`HostileRegistry.serve_image` arms a one-layer image.

Recording: every request is a :class:`Seen` in :attr:`HostileRegistry.requests`: the origin of
the server that saw it, the ``Host`` the client named, method, target, headers (names in lower
case), ``Authorization`` above all, whether a TLS client certificate came with it, the body
size received, and for its answer the body bytes sent and whether the client closed the
connection before the end. :meth:`HostileRegistry.settle` waits until every answer is over, so
that a test reads final numbers.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

_PIECE = 64 * 1024
_DEFAULT_LIMIT = 1 << 30
_ENDLESS = b'{"tags":["' + b"a" * (_PIECE - 10) + b'",'


@dataclass
class Seen:
    """One request the server answered (or is answering)."""

    origin: str
    host: str
    method: str
    target: str
    headers: dict[str, str]
    client_cert: str | None
    body_received: int = 0
    status: int = 0
    body_sent: int = 0
    client_closed: bool = False
    done: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


class Exchange:
    """What a behaviour answers with: the handler's socket, and the request's record."""

    def __init__(self, handler: _Handler, seen: Seen) -> None:
        self._handler = handler
        self.seen = seen
        self.registry: HostileRegistry = handler.server.registry  # type: ignore[attr-defined]

    def head(self, status: int, headers: dict[str, str] | None = None) -> None:
        """Send the status line and headers (``Docker-Distribution-Api-Version`` added)."""
        handler = self._handler
        self.seen.status = status
        handler.send_response(status)
        handler.send_header("Docker-Distribution-Api-Version", "registry/2.0")
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()

    def body(self, data: bytes) -> bool:
        """Send body bytes; False when the client has gone (recorded)."""
        try:
            self._handler.wfile.write(data)
        except (OSError, ssl.SSLError):
            self.seen.client_closed = True
            self._handler.close_connection = True
            return False
        self.seen.body_sent += len(data)
        return True

    def chunk(self, data: bytes) -> bool:
        """Send one chunk of a chunked body (the framing is not counted as body)."""
        try:
            self._handler.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        except (OSError, ssl.SSLError):
            self.seen.client_closed = True
            self._handler.close_connection = True
            return False
        self.seen.body_sent += len(data)
        return True

    def end_chunks(self) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            self._handler.wfile.write(b"0\r\n\r\n")

    def close_connection(self) -> None:
        self._handler.close_connection = True

    @property
    def stopping(self) -> threading.Event:
        return self.registry.stopping


Behaviour = Callable[[Exchange], None]
"""How to answer one request: writes the answer through the :class:`Exchange`."""


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Behaviour:
    """A fixed answer with a ``Content-Length``."""

    def behave(x: Exchange) -> None:
        x.head(status, {**(headers or {}), "Content-Length": str(len(body))})
        if x.seen.method != "HEAD":
            x.body(body)

    return behave


def json_answer(status: int, doc: object, headers: dict[str, str] | None = None) -> Behaviour:
    """A fixed JSON answer."""
    return answer(
        status, json.dumps(doc).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


def redirect(location: str, status: int = 307) -> Behaviour:
    """A redirect to ``location`` (absolute or relative)."""
    return answer(status, b"", {"Location": location})


def endless(
    status: int = 200,
    headers: dict[str, str] | None = None,
    *,
    piece: bytes = _ENDLESS,
    chunked: bool = True,
    limit: int = _DEFAULT_LIMIT,
) -> Behaviour:
    """Headers, then ``piece`` again and again until the client closes the connection (or
    ``limit`` body bytes were sent: then a chunked body ends properly, a close-delimited one
    by closing). No ``Content-Length``: chunked framing, or the end of the connection."""

    def behave(x: Exchange) -> None:
        framing = {"Transfer-Encoding": "chunked"} if chunked else {"Connection": "close"}
        x.head(status, {"Content-Type": "application/json", **(headers or {}), **framing})
        if not chunked:
            x.close_connection()
        if x.seen.method == "HEAD":
            return
        send = x.chunk if chunked else x.body
        while x.seen.body_sent < limit and not x.stopping.is_set():
            if not send(piece):
                return
        if chunked:
            x.end_chunks()

    return behave


def stall(
    seconds: float,
    *,
    status: int = 200,
    body: bytes = b"",
    after_bytes: int = 0,
    then_close: bool = False,
    headers: dict[str, str] | None = None,
) -> Behaviour:
    """Headers (``Content-Length`` of ``body``) and ``after_bytes`` of ``body``, then silence
    for ``seconds`` (cut short when the server stops), then the rest of ``body``, or a closed
    connection when ``then_close``."""

    def behave(x: Exchange) -> None:
        x.head(status, {**(headers or {}), "Content-Length": str(len(body))})
        if not x.body(body[:after_bytes]):
            return
        x.stopping.wait(seconds)
        if then_close:
            x.close_connection()
            return
        x.body(body[after_bytes:])

    return behave


@dataclass
class Rule:
    """One armed behaviour: method (None: any), target pattern, how many more times."""

    method: str | None
    pattern: re.Pattern[str]
    behaviour: Behaviour
    remaining: int | None

    def take(self, method: str, target: str) -> bool:
        if self.remaining == 0:
            return False
        if self.method is not None and self.method != method:
            return False
        if self.pattern.search(target) is None:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        return True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        context = self.server.registry.tls_context
        if context is not None:
            self.request.settimeout(10)
            self.request = context.wrap_socket(self.request, server_side=True)
            self.request.settimeout(None)
        super().setup()

    def log_message(self, *args: object) -> None:
        pass

    def handle_one_request(self) -> None:
        if self.server.registry.tls_context is None and self.rfile.peek(1)[:1] == b"\x16":
            # A TLS ClientHello (a client trying https first): answer as Go's plain HTTP
            # server does, so that it falls back to http at once. Not a request: not recorded.
            with contextlib.suppress(OSError):
                self.wfile.write(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent a TLS handshake.\n")
            self.close_connection = True
            return
        super().handle_one_request()

    def _client_cert(self) -> str | None:
        if not isinstance(self.connection, ssl.SSLSocket):
            return None
        cert = self.connection.getpeercert()
        if not cert:
            return None
        for rdn in cert.get("subject", ()):
            for name, value in rdn:
                if name == "commonName":
                    return str(value)
        return "?"

    def _read_body(self) -> int:
        length = self.headers.get("Content-Length")
        if length is not None:
            left = int(length)
            while left > 0:
                data = self.rfile.read(min(left, _PIECE))
                if not data:
                    break
                left -= len(data)
            return int(length) - left
        if "chunked" not in (self.headers.get("Transfer-Encoding") or "").lower():
            return 0
        total = 0
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return total
            self.rfile.read(size)
            self.rfile.readline(1024)
            total += size

    def _handle(self) -> None:
        registry = self.server.registry
        seen = Seen(
            origin=registry.origin,
            host=self.headers.get("Host", ""),
            method=self.command,
            target=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            client_cert=self._client_cert(),
        )
        seen.body_received = self._read_body()
        registry.record(seen)
        try:
            registry.behaviour_for(seen)(Exchange(self, seen))
        finally:
            seen.done.set()

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _handle


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    registry: HostileRegistry

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up on an endless body is the point, not an error


class HostileRegistry:
    """The server (see the module docstring). ``tls`` is a (cert, key) pair to speak HTTPS;
    ``client_ca`` asks TLS clients for a certificate from that CA (optional for them)."""

    def __init__(
        self, *, tls: tuple[Path, Path] | None = None, client_ca: Path | None = None
    ) -> None:
        self.scheme = "https" if tls else "http"
        self.tls_context: ssl.SSLContext | None = None
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(tls[0]), str(tls[1]))
            if client_ca is not None:
                context.verify_mode = ssl.CERT_OPTIONAL
                context.load_verify_locations(cafile=str(client_ca))
            self.tls_context = context
        self.requests: list[Seen] = []
        self.rules: list[Rule] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._basic: tuple[str, str] | None = None
        self._server: _Server | None = None

    # -- where it is ----------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``; :meth:`named` gives the same server under another name."""
        return self.named("127.0.0.1")

    def named(self, name: str) -> str:
        """``NAME:PORT``: ``localhost`` is the same server as another origin."""
        return f"{name}:{self.port}"

    @property
    def origin(self) -> str:
        return f"{self.scheme}://{self.host}"

    def url(self, target: str, name: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{self.named(name)}{target}"

    # -- arming ---------------------------------------------------------------------------
    def arm(
        self,
        method: str | None,
        path: str,
        behaviour: Behaviour,
        *,
        times: int | None = None,
    ) -> Rule:
        """Answer the next ``times`` requests (None: every one) whose method is ``method``
        (None: any) and whose target matches the regular expression ``path``."""
        rule = Rule(method, re.compile(path), behaviour, times)
        with self._lock:
            self.rules.append(rule)
        return rule

    def require_basic(
        self, username: str, password: str, *, path: str = r"^/v2/", realm: str = "hostile"
    ) -> None:
        """Every request whose target matches ``path`` and that lacks these Basic credentials
        gets a 401 Basic challenge."""
        self._basic = (username, password)
        self._basic_path = re.compile(path)
        self._realm = realm

    def serve_image(
        self, repo: str, tag: str, *, config_answer: Behaviour | None = None
    ) -> dict[str, str]:
        """Arm a one-layer OCI image at ``repo:tag`` (manifest by tag and digest, config and
        layer blobs; ``config_answer`` answers for the config blob instead); the digests of
        its ``manifest``, ``config`` and ``layer`` and the config's ``config_size``."""
        layer = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\x03\x00\x00\x00\x00\x00\x00\x00\x00\x00"
        diff_id = "sha256:" + hashlib.sha256(b"").hexdigest()
        config, manifest = one_layer_image(
            layer, "application/vnd.oci.image.layer.v1.tar+gzip", diff_id, _descriptor
        )
        digest = _digest(manifest)
        headers = {
            "Content-Type": "application/vnd.oci.image.manifest.v1+json",
            "Docker-Content-Digest": digest,
        }
        for ref in (re.escape(tag), re.escape(digest)):
            path = rf"^/v2/{re.escape(repo)}/manifests/{ref}$"
            self.arm(None, path, answer(200, manifest, headers))
        for blob in (config, layer):
            path = rf"^/v2/{re.escape(repo)}/blobs/{re.escape(_digest(blob))}$"
            behaviour = answer(200, blob, {"Docker-Content-Digest": _digest(blob)})
            if blob is config and config_answer is not None:
                behaviour = config_answer
            self.arm(None, path, behaviour)
        return {
            "manifest": digest,
            "config": _digest(config),
            "layer": _digest(layer),
            "config_size": str(len(config)),
        }

    def behaviour_for(self, seen: Seen) -> Behaviour:
        if (
            self._basic is not None
            and self._basic_path.search(seen.target) is not None
            and not _basic_ok(seen.authorization, *self._basic)
        ):
            return answer(
                401,
                b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                {"WWW-Authenticate": f'Basic realm="{self._realm}"'},
            )
        with self._lock:
            for rule in self.rules:
                if rule.take(seen.method, seen.target):
                    return rule.behaviour
        if seen.path == "/v2/":
            return json_answer(200, {})
        return json_answer(404, {"errors": [{"code": "NAME_UNKNOWN", "message": "unknown"}]})

    # -- what tests look at ---------------------------------------------------------------
    def record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def seen(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        """The requests so far whose method is ``method`` and whose target matches ``path``."""
        pattern = re.compile(path) if path is not None else None
        with self._lock:
            return [
                s
                for s in self.requests
                if (method is None or s.method == method)
                and (pattern is None or pattern.search(s.target) is not None)
            ]

    def settle(self, timeout: float = 30) -> list[Seen]:
        """Wait until every answer so far is over (sent, or its client gone); the requests."""
        deadline = time.monotonic() + timeout
        for seen in self.seen():
            if not seen.done.wait(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"the answer to {seen.method} {seen.target} is still going")
        return self.seen()

    def reset(self) -> None:
        """Disarm every rule and forget the requests."""
        with self._lock:
            self.rules.clear()
            self.requests.clear()
        self._basic = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> HostileRegistry:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.registry = self
        self._server = server
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


def one_layer_image(
    layer: bytes,
    layer_type: str,
    diff_id: str,
    describe: Callable[[str, bytes], dict[str, object]],
) -> tuple[bytes, bytes]:
    """The config and manifest of a one-layer OCI image whose config lists ``diff_id``;
    ``describe(media_type, data)`` gives each blob's descriptor (and may store the blob)."""
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": describe("application/vnd.oci.image.config.v1+json", config),
            "layers": [describe(layer_type, layer)],
        }
    ).encode()
    return config, manifest


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _descriptor(media_type: str, data: bytes) -> dict[str, object]:
    return {"mediaType": media_type, "digest": _digest(data), "size": len(data)}


def _basic_ok(header: str | None, username: str, password: str) -> bool:
    expected = base64.b64encode(f"{username}:{password}".encode()).decode()
    return header == f"Basic {expected}"


def free_port() -> int:
    """A port nothing listens on (for a realm that must never be reached)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
