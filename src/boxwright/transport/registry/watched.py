"""urllib3 connections whose every socket wait follows a :class:`ProgressWatch`.

urllib3's connection parses an answer with its ``response_class``, which reads through a
buffered reader that loops over socket reads
until it has the bytes asked for, each bounded only by the socket's timeout: one byte every
few seconds keeps it reading forever. Here the raw stream under that reader waits at most
what is left of the request's progress window and counts what arrived, and the connection's
``send`` writes a body in socket-sized steps the same way, so a stall is a
:class:`~boxwright.transport.registry.failures.StallFailure` after at most one window, while
a transfer that keeps moving is never cut.

The pools of :mod:`.wire` make these connections; each request starts fresh watches
(:meth:`WatchedConnection.request`), and a stall seen while the answer's head is awaited
leaves :meth:`WatchedConnection.getresponse` as the :class:`StallFailure` itself.

Per request (:meth:`Progress.start`): a ``GET`` or ``HEAD`` watches its answer from the
moment it was sent (the head must start within a window: the registry computes nothing for
it); other methods watch a body as it is sent and their answer from its first byte on (the
registry may take a while to answer an upload it is completing, or a delete: the
connection's own timeout bounds that wait).
"""

from __future__ import annotations

import io
import socket
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from urllib3._base_connection import _TYPE_BODY
from urllib3.connection import HTTPConnection, HTTPException, HTTPSConnection
from urllib3.response import HTTPResponse

from boxwright.transport.registry.failures import StallFailure
from boxwright.transport.registry.stall import ProgressWatch, StallPolicy

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

_SEND_STEP = 256 * 1024


class Progress:
    """The watches of a connection's current request (none when ``policy`` is None)."""

    __slots__ = ("answer", "arm_on_data", "failure", "policy", "sending")

    def __init__(self, policy: StallPolicy | None) -> None:
        self.policy = policy
        self.sending: ProgressWatch | None = None
        self.answer: ProgressWatch | None = None
        self.arm_on_data = False
        self.failure: StallFailure | None = None
        """The answer's stall, once seen: the reader under the answer's parser ends the
        stream there (so the bytes it already holds are handed out), and every later read
        raises it."""

    def start(self, *, sends_body: bool, answer_now: bool) -> None:
        """A new request begins (before its head is sent): ``sends_body`` watches its body
        as it goes; ``answer_now`` watches its answer from the moment it was sent, else from
        the answer's first byte."""
        policy = self.policy
        self.answer = None
        self.failure = None
        self.arm_on_data = policy is not None and not answer_now
        self.sending = policy.watch("sent") if policy is not None and sends_body else None

    def sent(self) -> None:
        """The request went out: start watching its answer when ``answer_now`` said so."""
        self.sending = None
        if self.policy is not None and not self.arm_on_data:
            self.answer = self.policy.watch("received")


# io.RawIOBase's constructor and readable() as layer.compression's checked reader has them;
# this one watches a socket.
class _WatchedReader(io.RawIOBase):
    """The raw stream under an answer's buffered reader (see the module docstring)."""

    def __init__(self, raw: io.RawIOBase, sock: socket.socket, progress: Progress) -> None:
        super().__init__()
        self._raw = raw
        self._sock = sock
        self._progress = progress

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int | None:
        progress = self._progress
        if progress.failure is not None:
            raise progress.failure
        watch = progress.answer
        if watch is None:
            count = self._raw.readinto(buffer)
            if count and progress.arm_on_data and progress.policy is not None:
                progress.answer = progress.policy.watch("received")
                progress.answer.record(count)
            return count
        left = watch.remaining()
        if left > 0:
            self._sock.settimeout(left)
            try:
                count = self._raw.readinto(buffer)
            except TimeoutError:
                if watch.remaining() > 0:
                    raise
                count = None
        else:
            count = None
        if count is None:
            progress.failure = watch.failure()
            return 0  # the end, for now: what the buffered reader holds goes out first
        if count:
            watch.record(count)
        return count

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _WatchedSocket:
    """What the answer's parser is handed in place of the socket: it only calls
    ``makefile("rb")``, which gives the buffered reader over :class:`_WatchedReader`."""

    __slots__ = ("_progress", "_sock")

    def __init__(self, sock: socket.socket, progress: Progress) -> None:
        self._sock = sock
        self._progress = progress

    def makefile(self, mode: str) -> io.BufferedReader:
        assert mode == "rb"
        # the socket's own makefile counts the reader as a user of the socket, so closing
        # the connection while the answer is still read leaves its descriptor open
        raw = self._sock.makefile("rb", buffering=0)
        return io.BufferedReader(_WatchedReader(raw, self._sock, self._progress))


def _send(connection: HTTPConnection, progress: Progress, data: Any) -> bool:
    """Send ``data`` (bytes) under the request's send watch; False when there is none (then
    the connection sends it as usual)."""
    watch = progress.sending
    sock = connection.sock
    if watch is None or sock is None or not isinstance(data, bytes | bytearray | memoryview):
        return False
    view = memoryview(data).cast("B")
    try:
        while view:
            left = watch.remaining()
            if left <= 0:
                raise watch.failure()
            sock.settimeout(left)
            try:
                count = sock.send(view[:_SEND_STEP])
            except TimeoutError:
                if watch.remaining() <= 0:
                    raise watch.failure() from None
                raise
            watch.record(count)
            view = view[count:]
    finally:
        sock.settimeout(connection.timeout)
    return True


class WatchedConnection(HTTPConnection):
    """A plain HTTP connection whose request's transfers follow its ``progress`` (under the
    class's ``stall`` policy: see :func:`connection_classes`): fresh watches per request,
    the body sent under the send watch, the answer's head read under the answer watch."""

    stall: StallPolicy | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.progress = Progress(self.stall)
        self.response_class = _response_factory(self.progress)
        self.requests = 0

    def request(  # type: ignore[override]  # urllib3's own signature (it ignores it too)
        self,
        method: str,
        url: str,
        body: _TYPE_BODY | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        chunked: bool = False,
        preload_content: bool = True,
        decode_content: bool = True,
        enforce_content_length: bool = True,
    ) -> None:
        if self.sock is not None:
            self.sock.settimeout(self.timeout)  # a watch may have shortened it
        LAST.reused, LAST.answered = self.requests > 0, False
        self.requests += 1
        self.progress.start(sends_body=bool(body), answer_now=method in ("GET", "HEAD"))
        super().request(
            method,
            url,
            body,
            headers,
            chunked=chunked,
            preload_content=preload_content,
            decode_content=decode_content,
            enforce_content_length=enforce_content_length,
        )
        self.progress.sent()

    def send(self, data: Any) -> None:
        if not _send(self, self.progress, data):
            super().send(data)

    def getresponse(self) -> HTTPResponse:  # type: ignore[override]  # as urllib3's
        try:
            response = super().getresponse()
        except (OSError, HTTPException):
            if self.progress.failure is not None:
                raise self.progress.failure from None  # the answer's head stalled
            raise
        LAST.answered = True
        return response


class _Last(threading.local):
    """The current thread's last request: whether it went out on a connection that had
    served before (``reused``) and whether its answer's head arrived (``answered``). A
    kept-alive connection the server closed meanwhile fails at the first write or read,
    before any answer: :mod:`.wire` then sends the request again on a new connection."""

    reused = False
    answered = False


LAST = _Last()


class WatchedTLSConnection(WatchedConnection, HTTPSConnection):
    """A TLS connection whose request's transfers follow its ``progress``."""


def connection_classes(
    stall: StallPolicy | None,
) -> tuple[type[WatchedConnection], type[WatchedTLSConnection]]:
    """The connection classes of one session's pools, watching under ``stall`` (urllib3
    makes connections from a class and keyword arguments that name its pool)."""
    plain = type("WatchedConnection", (WatchedConnection,), {"stall": stall})
    tls = type("WatchedTLSConnection", (WatchedTLSConnection,), {"stall": stall})
    return plain, tls


def _response_factory(progress: Progress) -> Any:
    """urllib3's own ``response_class``, reading its answer through ``progress``'s watches
    (a function the connection calls as it would the class)."""
    parse: Callable[..., Any] = HTTPConnection.response_class

    def make(sock: socket.socket, *args: Any, **kwargs: Any) -> Any:
        return parse(_WatchedSocket(sock, progress), *args, **kwargs)

    return make


__all__ = [
    "LAST",
    "Progress",
    "WatchedConnection",
    "WatchedTLSConnection",
    "connection_classes",
]
