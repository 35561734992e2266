"""Attaching to a container its monitor keeps: the socket, its messages, and the client.

The monitor (:mod:`boxwright.runtime.monitor`) listens on ``userdata/attach``, a unix socket of
kind ``SOCK_SEQPACKET`` (each message arrives whole, as conmon's attach socket), and serves any
number of clients at once. It is reached through ``/proc/self/fd/N/attach``, ``N`` a handle on
the directory, since a store's path may be longer than a socket address holds (108 bytes);
podman reaches conmon's the same way.

A message is one kind byte, then its data:

====== ========================= ==========================================================
kind   from                      means
====== ========================= ==========================================================
``H``  client, first             hello; data ``ROWS COLS`` when the client has a terminal
``I``  client                    input for the container's stdin (its terminal, or its pipe)
``E``  client                    the client's input ended: the container's stdin pipe closes
``W``  client                    the client's window is now ``ROWS COLS``
``1``  monitor                   the container wrote data on stdout (its terminal's output)
``2``  monitor                   the container wrote data on stderr
``X``  monitor, last             the container exited with the decimal code in data
====== ========================= ==========================================================

:class:`Attachment` is the client, as ``podman attach`` behaves: it relays the caller's
stdin (a terminal in raw mode) and writes the container's output, follows the caller's window
size (``SIGWINCH``), passes the caller's signals to the container's process, and detaches on
the detach keys (:func:`parse_detach_keys`, default ``ctrl-p,ctrl-q``) leaving the container
running.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import sys
import termios
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from boxwright.errors import RunError, UsageError
from boxwright.runtime.sigproxy import FORWARDED_SIGNALS, Handler, handling

if TYPE_CHECKING:
    import socket

#: podman's default detach sequence.
DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
SOCKET_NAME = "attach"
#: The largest message either side sends (the data after the kind byte).
CHUNK = 32768
#: How long the monitor waits for a slow client to take a message before dropping it.
SEND_TIMEOUT = 5.0
HELLO, INPUT, END, WINDOW, STDOUT, STDERR, EXIT = b"H", b"I", b"E", b"W", b"1", b"2", b"X"


def parse_detach_keys(text: str) -> bytes:
    """podman's ``--detach-keys``: comma-separated keys, each one character or ``ctrl-X``
    (``X`` one of ``a``..``z``, ``@``, ``[``, ``\\``, ``]``, ``^``, ``_``); ``""`` turns
    detaching off. :class:`UsageError` for anything else."""
    if text == "":
        return b""
    out = bytearray()
    for key in text.split(","):
        lower = key.lower()
        if lower.startswith("ctrl-") and len(key) == 6:
            char = lower[5]
            if "a" <= char <= "z":
                out.append(ord(char) - ord("a") + 1)
                continue
            if char in "@[\\]^_":
                out.append(ord(char) - ord("@"))
                continue
        elif len(key) == 1 and ord(key) < 128:
            out.append(ord(key))
            continue
        raise UsageError(
            f"invalid detach keys {text!r}: {key!r} is not a character or ctrl-[a-z@[\\]^_]"
        )
    return bytes(out)


class DetachMatcher:
    """Finds the detach sequence in a stream of input: :meth:`feed` returns the bytes to pass
    on and whether the sequence was typed (a prefix of it is held back until the next byte
    shows whether it continues)."""

    def __init__(self, keys: bytes) -> None:
        self.keys = keys
        self.held = b""

    def feed(self, data: bytes) -> tuple[bytes, bool]:
        if not self.keys:
            return data, False
        out = bytearray()
        for byte in data:
            candidate = self.held + bytes([byte])
            if self.keys.startswith(candidate):
                if candidate == self.keys:
                    self.held = b""
                    return bytes(out), True
                self.held = candidate
                continue
            out += self.held
            self.held = b""
            if self.keys.startswith(bytes([byte])):
                self.held = bytes([byte])
            else:
                out.append(byte)
        return bytes(out), False


@contextlib.contextmanager
def _directory(path: Path) -> Iterator[str]:
    """``/proc/self/fd/N``: a short name of directory ``path`` while the block runs."""
    fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def listen(directory: Path) -> socket.socket:
    """The monitor's listening socket ``directory/attach`` (an old one replaced)."""
    import socket  # sockets only where attaching happens: exec, stop, ps never load them

    with contextlib.suppress(FileNotFoundError):
        (directory / SOCKET_NAME).unlink()
    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    with _directory(directory) as short:
        server.bind(f"{short}/{SOCKET_NAME}")
    os.chmod(directory / SOCKET_NAME, 0o600)
    server.listen(16)
    return server


def terminal_size(fd: int) -> tuple[int, int] | None:
    """``(rows, cols)`` of terminal ``fd``; ``None`` when it is none."""
    try:
        return termios.tcgetwinsize(fd)
    except (OSError, termios.error):
        return None


def size_message(kind: bytes, size: tuple[int, int] | None) -> bytes:
    return kind + (f"{size[0]} {size[1]}".encode() if size else b"")


def parse_size(data: bytes) -> tuple[int, int] | None:
    """``ROWS COLS`` of a hello or window message; ``None`` when absent or malformed."""
    words = data.split()
    if len(words) != 2 or not all(w.isdigit() and len(w) <= 5 for w in words):
        return None
    return int(words[0]), int(words[1])


@contextlib.contextmanager
def raw_terminal(fd: int | None) -> Iterator[None]:
    """Put terminal ``fd`` in raw mode at once (``TCSANOW``: nothing typed is flushed, so keys
    typed before the container runs reach it) for the block; no-op for a non-terminal."""
    if fd is None or not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    tty.setraw(fd, termios.TCSANOW)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class Attachment:
    """A client of a container's attach socket (see the module docstring)."""

    #: The kind bytes of the container's stdout and stderr, and of the last message (its exit
    #: code; ``None``: the socket's end is the last word).
    _out_kinds: tuple[bytes, bytes] = (STDOUT, STDERR)
    _exit_kind: bytes | None = EXIT

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    def connect(cls, directory: Path, *, size: tuple[int, int] | None = None) -> Attachment:
        """Connect to the monitor's socket in ``directory`` and say hello (with the terminal's
        ``size``); :class:`RunError` when no monitor listens."""
        import socket

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            with _directory(directory) as short:
                sock.connect(f"{short}/{SOCKET_NAME}")
            sock.sendall(size_message(HELLO, size))
        except OSError as error:
            sock.close()
            raise RunError(f"cannot attach to the container: {error.strerror}", 125) from error
        return cls(sock)

    def close(self) -> None:
        self.sock.close()

    def relay(
        self,
        *,
        stdin: int | None = None,
        output: tuple[int | None, int | None] = (1, 2),
        detach_keys: bytes = b"\x10\x11",
        signal_target: Callable[[], int] | None = None,
    ) -> int | None:
        """Relay until the container exits (its exit code) or the detach keys are typed
        (``None``): ``stdin``'s bytes to the container, its output to ``output`` (``None``
        drops a stream), the caller's window size when ``stdin`` is a terminal, and the
        caller's signals to the pid ``signal_target()`` names (main thread only)."""
        matcher = DetachMatcher(detach_keys)
        watched = [self.sock.fileno()] + ([stdin] if stdin is not None else [])
        with self._forwarding(stdin, signal_target):
            while True:
                try:
                    ready, _, _ = select.select(watched, [], [])
                except InterruptedError:
                    continue
                if stdin is not None and stdin in ready:
                    try:
                        data = os.read(stdin, CHUNK)
                    except OSError:
                        data = b""
                    if not data:
                        watched.remove(stdin)
                        if matcher.held:
                            self._input(matcher.held)
                        self._end()
                    else:
                        passed, detached = matcher.feed(data)
                        if passed:
                            self._input(passed)
                        if detached:
                            return None
                if self.sock.fileno() in ready:
                    code = self._receive(output)
                    if code is not None:
                        return code

    def _receive(self, output: tuple[int | None, int | None]) -> int | None:
        """One message from the monitor, its data written to ``output``'s stream of its kind;
        the exit code when it was the last."""
        try:
            message = self.sock.recv(CHUNK + 1)
        except OSError:
            message = b""
        if not message:
            return self._closed()
        kind, data = message[:1], message[1:]
        if kind == self._exit_kind:
            return int(data)
        out, err = self._out_kinds
        target = output[0] if kind == out else output[1] if kind == err else None
        if target is not None:
            with contextlib.suppress(BrokenPipeError):
                _write_all(target, data)
        return None

    def _closed(self) -> int:
        """The exit code when the socket ends: the monitor's last message carries it, so an
        end without it is an error."""
        raise RunError("the container's monitor closed the attach socket", 125)

    def _send(self, message: bytes) -> None:
        with contextlib.suppress(OSError):  # the monitor went away: its end is read next
            self.sock.sendall(message)

    def _input(self, data: bytes) -> None:
        self._send(INPUT + data)

    def _end(self) -> None:
        self._send(END)

    def _window(self, size: tuple[int, int] | None) -> None:
        self._send(size_message(WINDOW, size))

    @contextlib.contextmanager
    def _forwarding(
        self, stdin: int | None, signal_target: Callable[[], int] | None
    ) -> Iterator[None]:
        """While the block runs (main thread only): a terminal ``stdin``'s window size
        changes to the container, and with ``signal_target``, the caller's
        :data:`~boxwright.runtime.sigproxy.FORWARDED_SIGNALS` to the pid it names."""
        handlers: dict[int, Handler] = {}
        terminal = stdin if stdin is not None and os.isatty(stdin) else None
        if terminal is not None:
            source = terminal

            def resized(_signum: int, _frame: object) -> None:
                self._window(terminal_size(source))

            handlers[signal.SIGWINCH] = resized
        if signal_target is not None:
            target = signal_target

            def forward(signum: int, _frame: object) -> None:
                with contextlib.suppress(OSError, ValueError):
                    pid = target()
                    if pid > 0:
                        os.kill(pid, signum)

            handlers.update(dict.fromkeys(FORWARDED_SIGNALS, forward))
        with handling(handlers):
            yield


class ConmonAttachment(Attachment):
    """A client of conmon's attach socket (``BUNDLE/attach`` with ``--full-attach``), as
    podman attaches: input goes raw, output arrives with a first byte of ``2`` (stdout) or
    ``3`` (stderr), a window size is written to the ``BUNDLE/ctl`` fifo as ``1 ROWS COLS``,
    the end of input shuts the socket's writing side, and when conmon closes the socket the
    container has ended: ``exit_code()`` says how."""

    _out_kinds = (b"\x02", b"\x03")
    _exit_kind = None

    def __init__(self, sock: socket.socket, bundle: Path, exit_code: Callable[[], int]) -> None:
        super().__init__(sock)
        self.bundle = bundle
        self.exit_code = exit_code

    @classmethod
    def connect_to(
        cls, bundle: Path, exit_code: Callable[[], int], *, size: tuple[int, int] | None = None
    ) -> ConmonAttachment:
        """Connect to conmon's socket in ``bundle``; :class:`RunError` when it is not there."""
        import socket

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        try:
            with _directory(bundle) as short:
                sock.connect(f"{short}/{SOCKET_NAME}")
        except OSError as error:
            sock.close()
            raise RunError(f"cannot attach to the container: {error.strerror}", 125) from error
        attachment = cls(sock, bundle, exit_code)
        attachment._window(size)
        return attachment

    def _input(self, data: bytes) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(data)

    def _end(self) -> None:
        import socket

        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def _window(self, size: tuple[int, int] | None) -> None:
        if size is None:
            return
        with contextlib.suppress(OSError):
            fd = os.open(self.bundle / "ctl", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                os.write(fd, f"1 {size[0]} {size[1]}\n".encode())
            finally:
                os.close(fd)

    def _closed(self) -> int:
        return self.exit_code()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])


def caller_terminal_size() -> tuple[int, int] | None:
    """The size of the caller's terminal (stdin's, else stdout's), if it has one."""
    for stream in (sys.stdin, sys.stdout):
        with contextlib.suppress(ValueError, OSError, AttributeError):
            size = terminal_size(stream.fileno())
            if size is not None:
                return size
    return None


__all__ = [
    "DEFAULT_DETACH_KEYS",
    "Attachment",
    "ConmonAttachment",
    "DetachMatcher",
    "caller_terminal_size",
    "listen",
    "parse_detach_keys",
    "parse_size",
    "raw_terminal",
    "terminal_size",
]
