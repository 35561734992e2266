"""A fault-injecting HTTP/1.1 proxy to put between a client and a plain-HTTP registry.

The proxy listens on 127.0.0.1, reads each request from the client, and forwards it byte for byte
to the registry over a fresh upstream connection (the ``Host`` header is kept, so the upload
``Location`` URLs the registry builds point back at the proxy). Bodies are relayed as they arrive,
never buffered whole; chunked framing is parsed only to know where a message ends.

Tests arm faults, each matching a method and a path regular expression, for the next ``times``
matching requests:

* :meth:`FaultProxy.fail` — answer ``status`` (503, 429, ...) itself, with ``Retry-After``;
* :meth:`FaultProxy.drop_response` — close the connection after N bytes of the response body;
* :meth:`FaultProxy.drop_request` — close both sides after N bytes of the request body;
* :meth:`FaultProxy.stall` — stop sending the response for S seconds (after N body bytes);
* :meth:`FaultProxy.trickle` — send the response body a few bytes at a time, slowly;
* :meth:`FaultProxy.corrupt` — flip one byte of the response body (same length).

Every request is recorded as a :class:`Seen` (method, path, status, fault) so tests can assert
exactly which requests a client made, e.g. "one manifest HEAD and nothing else".
"""

from __future__ import annotations

import contextlib
import io
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

_PIECE = 64 * 1024
_MAX_LINE = 65536


class _Dropped(Exception):
    """The proxy cut the connection on purpose."""


@dataclass
class Rule:
    """One armed fault."""

    kind: str  # "status" | "drop_response" | "drop_request" | "stall" | "trickle" | "corrupt"
    method: str | None
    path: re.Pattern[str] | None
    remaining: int
    status: int = 503
    retry_after: str | None = None
    after_bytes: int = 0
    seconds: float = 0.0

    def matches(self, method: str, target: str) -> bool:
        return (
            self.remaining > 0
            and (self.method is None or self.method == method)
            and (self.path is None or self.path.search(target) is not None)
        )


@dataclass(frozen=True)
class Seen:
    """One request that reached the proxy: ``status`` 0 when no answer reached the client."""

    method: str
    path: str
    status: int
    fault: str = ""


def _read_head(rfile: BinaryIO) -> list[bytes] | None:
    """The start line and header lines of one message (raw, with CRLF); None at EOF."""
    lines: list[bytes] = []
    while True:
        line = rfile.readline(_MAX_LINE)
        if not line:
            return None
        if not lines and line in (b"\r\n", b"\n"):
            continue  # stray CRLF between keep-alive messages
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return lines


def _header(lines: list[bytes], name: str) -> str | None:
    wanted = name.lower().encode()
    for line in lines[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == wanted:
            return value.strip().decode("latin-1")
    return None


def _framing(lines: list[bytes], *, request: bool, head_request: bool, status: int) -> str | int:
    """How the body ends: a byte count, "chunked", or "close" (read until EOF)."""
    if not request and (head_request or status in (204, 304) or 100 <= status < 200):
        return 0
    encoding = _header(lines, "Transfer-Encoding")
    if encoding and "chunked" in encoding.lower():
        return "chunked"
    length = _header(lines, "Content-Length")
    if length is not None:
        return int(length)
    return 0 if request else "close"


def _pieces(rfile: BinaryIO, framing: str | int) -> Iterator[tuple[bytes, bool]]:
    """The raw bytes of a body as (data, is_payload): chunk framing is passed through as-is."""
    if isinstance(framing, int):
        left = framing
        while left > 0:
            data = rfile.read(min(_PIECE, left))
            if not data:
                raise _Dropped("peer closed mid-body")
            left -= len(data)
            yield data, True
        return
    if framing == "close":
        while data := rfile.read1(_PIECE) if hasattr(rfile, "read1") else rfile.read(_PIECE):
            yield data, True
        return
    while True:
        size_line = rfile.readline(_MAX_LINE)
        if not size_line:
            raise _Dropped("peer closed mid-chunk")
        yield size_line, False
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while True:  # trailers, then the blank line
                trailer = rfile.readline(_MAX_LINE)
                if not trailer:
                    raise _Dropped("peer closed in trailers")
                yield trailer, False
                if trailer in (b"\r\n", b"\n"):
                    return
        left = size
        while left > 0:
            data = rfile.read(min(_PIECE, left))
            if not data:
                raise _Dropped("peer closed mid-chunk")
            left -= len(data)
            yield data, True
        yield rfile.readline(_MAX_LINE), False


@dataclass
class FaultProxy:
    """The proxy: ``host``/``url`` to give the client instead of the registry's."""

    upstream_host: str
    upstream_port: int
    requests: list[Seen] = field(default_factory=list)
    rules: list[Rule] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _listener: socket.socket | None = None
    _sockets: set[socket.socket] = field(default_factory=set)
    _port: int = 0

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    # -- arming faults --------------------------------------------------------------------
    def _arm(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    @staticmethod
    def _re(path: str | None) -> re.Pattern[str] | None:
        return re.compile(path) if path is not None else None

    def fail(
        self,
        status: int = 503,
        *,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
        retry_after: str | None = None,
    ) -> Rule:
        """Answer the next ``times`` matching requests with ``status`` (not forwarded)."""
        return self._arm(
            Rule("status", method, self._re(path), times, status=status, retry_after=retry_after)
        )

    def drop_response(
        self,
        after_bytes: int,
        *,
        times: int = 1,
        method: str | None = "GET",
        path: str | None = r"/blobs/sha256:",
    ) -> Rule:
        """Close the client connection after ``after_bytes`` bytes of the response body."""
        return self._arm(
            Rule("drop_response", method, self._re(path), times, after_bytes=after_bytes)
        )

    def drop_request(
        self,
        after_bytes: int,
        *,
        times: int = 1,
        method: str | None = None,
        path: str | None = r"/blobs/uploads/",
    ) -> Rule:
        """Forward ``after_bytes`` bytes of the request body, then close both connections."""
        return self._arm(
            Rule("drop_request", method, self._re(path), times, after_bytes=after_bytes)
        )

    def stall(
        self,
        seconds: float,
        *,
        after_bytes: int = 0,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
    ) -> Rule:
        """Send nothing for ``seconds`` (before the response when ``after_bytes`` is 0,
        else after that many body bytes), then carry on."""
        return self._arm(
            Rule(
                "stall",
                method,
                self._re(path),
                times,
                after_bytes=after_bytes,
                seconds=seconds,
            )
        )

    def trickle(
        self,
        step: int,
        interval: float,
        *,
        times: int = 1,
        method: str | None = "GET",
        path: str | None = r"/blobs/sha256:",
    ) -> Rule:
        """Send the response body ``step`` bytes at a time, ``interval`` seconds apart."""
        return self._arm(
            Rule("trickle", method, self._re(path), times, after_bytes=step, seconds=interval)
        )

    def corrupt(
        self,
        *,
        offset: int = 0,
        times: int = 1,
        method: str | None = "GET",
        path: str | None = r"/blobs/sha256:",
    ) -> Rule:
        """Flip the byte at ``offset`` of the response body (the length stays the same)."""
        return self._arm(Rule("corrupt", method, self._re(path), times, after_bytes=offset))

    def clear_faults(self) -> None:
        with self._lock:
            self.rules.clear()

    def reset(self) -> None:
        """Disarm every fault and forget the request log."""
        with self._lock:
            self.rules.clear()
            self.requests.clear()

    # -- what tests look at ---------------------------------------------------------------
    def seen(self, method: str | None = None, path: str | None = None) -> list[Seen]:
        pattern = self._re(path)
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method)
                and (pattern is None or pattern.search(r.path) is not None)
            ]

    def count(self, method: str | None = None, path: str | None = None) -> int:
        """How many requests matched ``method`` and the ``path`` regular expression."""
        return len(self.seen(method, path))

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> FaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        self._listener = listener
        self._port = listener.getsockname()[1]
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            live = list(self._sockets)
        for sock in live:
            _close(sock)

    def _accept(self) -> None:
        listener = self._listener
        while listener is not None and not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self._track(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _forget(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        _close(sock)

    def _take_rule(self, method: str, target: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, target):
                    rule.remaining -= 1
                    return rule
        return None

    def _record(self, seen: Seen) -> int:
        """Append to the request log; the index lets a later drop amend the entry."""
        with self._lock:
            self.requests.append(seen)
            return len(self.requests) - 1

    # -- one client connection ------------------------------------------------------------
    def _serve(self, client: socket.socket) -> None:
        rfile = client.makefile("rb")
        try:
            while not self._stopping.is_set():
                if rfile.peek(1)[:1] == b"\x16":
                    # A TLS ClientHello (a client trying https first): answer as Go's plain
                    # HTTP server does, so the client falls back to http at once instead of
                    # waiting for its handshake timeout. Not a request: not recorded.
                    client.sendall(
                        b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent a TLS handshake.\n"
                    )
                    return
                head = _read_head(rfile)
                if head is None:
                    return
                if not self._exchange(client, rfile, head):
                    return
        except (OSError, ValueError, _Dropped):
            return
        finally:
            rfile.close()
            self._forget(client)

    def _exchange(self, client: socket.socket, rfile: io.BufferedReader, head: list[bytes]) -> bool:
        """Handle one request; True to keep the client connection for another."""
        method, target, _ = head[0].decode("latin-1").split(" ", 2)
        if target.startswith(("http://", "https://")):
            target = "/" + target.split("/", 3)[3] if target.count("/") >= 3 else "/"
        rule = self._take_rule(method, target)
        request_body = _framing(head, request=True, head_request=False, status=0)
        keep_alive = (_header(head, "Connection") or "").lower() != "close"
        if rule is not None and rule.kind == "status":
            for _ in _pieces(rfile, request_body):
                pass
            self._record(Seen(method, target, rule.status, "status"))
            self._answer(client, rule)
            return keep_alive
        slot: int | None = None
        upstream = socket.create_connection((self.upstream_host, self.upstream_port), timeout=60)
        self._track(upstream)
        up_rfile = upstream.makefile("rb")
        try:
            upstream.sendall(b"".join(head))
            self._relay(
                _pieces(rfile, request_body),
                upstream.sendall,
                rule if rule is not None and rule.kind == "drop_request" else None,
            )
            response = _read_head(up_rfile)
            if response is None:
                raise _Dropped("registry closed without answering")
            status = int(response[0].split(b" ", 2)[1])
            if rule is not None and rule.kind == "stall" and rule.after_bytes == 0:
                self._stopping.wait(rule.seconds)
            # Recorded before the client can see the answer, so a test that asserts on the log
            # right after its request returns never races the proxy thread.
            slot = self._record(Seen(method, target, status, rule.kind if rule else ""))
            client.sendall(b"".join(response))
            framing = _framing(
                response, request=False, head_request=method == "HEAD", status=status
            )
            body_rule = rule if rule is not None and rule.kind != "drop_request" else None
            self._relay(_pieces(up_rfile, framing), client.sendall, body_rule)
        except _Dropped:
            dropped = Seen(method, target, 0, rule.kind if rule else "upstream")
            if slot is None:
                self._record(dropped)
            else:
                with self._lock:
                    self.requests[slot] = dropped
            return False
        finally:
            up_rfile.close()
            self._forget(upstream)
        upstream_close = (_header(response, "Connection") or "").lower() == "close"
        return keep_alive and not upstream_close and framing != "close"

    def _relay(
        self,
        pieces: Iterator[tuple[bytes, bool]],
        send: Callable[[bytes], None],
        rule: Rule | None,
    ) -> None:
        """Send a body piece by piece, applying ``rule`` at its byte offset."""
        sent = 0
        stalled = False
        for data, payload in pieces:
            if not payload or rule is None:
                send(data)
                continue
            end = sent + len(data)
            if rule.kind in ("drop_response", "drop_request") and end >= rule.after_bytes:
                send(data[: rule.after_bytes - sent])
                raise _Dropped(rule.kind)
            if rule.kind == "trickle":
                for at in range(0, len(data), rule.after_bytes):
                    if self._stopping.wait(rule.seconds):
                        raise _Dropped("proxy stopping")
                    send(data[at : at + rule.after_bytes])
                sent = end
                continue
            if rule.kind == "corrupt" and sent <= rule.after_bytes < end:
                at = rule.after_bytes - sent
                data = data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]
            if (
                rule.kind == "stall"
                and rule.after_bytes > 0
                and not stalled
                and end >= rule.after_bytes
            ):
                cut = rule.after_bytes - sent
                send(data[:cut])
                self._stopping.wait(rule.seconds)
                stalled = True
                data = data[cut:]
            send(data)
            sent = end

    @staticmethod
    def _answer(client: socket.socket, rule: Rule) -> None:
        body = (
            b'{"errors":[{"code":"UNAVAILABLE","message":"injected by the fault proxy"}]}'
            if rule.status >= 500
            else b'{"errors":[{"code":"TOOMANYREQUESTS","message":"injected by the fault proxy"}]}'
        )
        lines = [
            f"HTTP/1.1 {rule.status} Injected",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Docker-Distribution-Api-Version: registry/2.0",
        ]
        if rule.retry_after is not None:
            lines.append(f"Retry-After: {rule.retry_after}")
        client.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
