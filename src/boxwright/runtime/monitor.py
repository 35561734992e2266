"""The native runner's monitor: the process that keeps a detached container, as conmon does.

:class:`~boxwright.runtime.launch.MonitorLaunch` forks it (it belongs to no caller and is a
session leader of its own) and :func:`monitor_main` is its life: the caller hears when the
container's command runs, with its pid, or the :class:`RunError` that kept it from starting.
The monitor then, for as long as it lives, holds ``monitor.lock`` (the state files
are :mod:`boxwright.runtime.state`'s) and

1. listens on the attach socket ``userdata/attach`` (:mod:`boxwright.runtime.attach`);
2. forks a *run child* that does what a foreground ``run`` does
   (:func:`boxwright.runtime.container.run_in_container`) with the container's stdout and
   stderr on pipes and stdin on ``/dev/null`` (a pipe of the monitor's with ``-i``), or
   with ``-t`` a pty whose master the monitor holds, reporting the container's pid on a
   status pipe;
3. copies the output into ``ctr.log`` (:mod:`boxwright.runtime.logs`) and to every attached
   client until it ends, passes the clients' input to the container's stdin and their window
   size to its terminal, and records the state: ``running`` with pid and start time, then
   ``exited`` with exit code and finish time (told to the clients last);
4. starts it again as the restart policy says, unless a ``stop``/``kill`` asked for the end;
   with ``--rm``, removes the container at the end.

Started for an attached run (``MonitorLaunch.start`` with ``on_listening``), the monitor
waits for its first client before it starts the container, so none of the output is missed.

The monitor never execs: everything it runs is imported before the first fork, and it does
not start threads, so forking from it is safe. A caller with threads of its own should start
containers from its main thread.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import select
import signal
import socket
import termios
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

# The container store's modules (mounting, records), which every run uses: a monitor forked
# before it is told its container (launch.py) loads them while its caller makes it.
import boxwright.store.containers  # noqa: F401
from boxwright.errors import BoxwrightError, ContainerNotFoundError, RunError
from boxwright.runtime import attach
from boxwright.runtime.conmon import ConmonRunner
from boxwright.runtime.container import run_in_container
from boxwright.runtime.logs import format_records
from boxwright.runtime.state import (
    EXITED,
    RUNNING,
    RunConfig,
    RunState,
    StateFiles,
    now,
    process_start,
)
from boxwright.store.store import Store

#: Pause before a restart, doubled after each quick failure up to :data:`MAX_BACKOFF`.
BACKOFF = 0.1
MAX_BACKOFF = 5.0


#: How long a monitor started for an attached run waits for its first client.
ATTACH_WAIT = 30.0
#: The window size of a terminal no client has told the size of.
DEFAULT_SIZE = (24, 80)


@contextlib.contextmanager
def holding_monitor_lock(files: StateFiles) -> Iterator[None]:
    """Hold ``monitor.lock`` for the block: this process is the container's monitor;
    :class:`RunError` when another one is."""
    files.dir.mkdir(mode=0o700, exist_ok=True)
    lock = os.open(files.monitor_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunError("the container is already running", 125) from None
        yield
    finally:
        os.close(lock)


def _close_inherited(keep: int) -> None:
    """Close every descriptor the monitor inherited but ``keep``: it outlives its caller, and
    must not hold the caller's pipes (a reader of the caller's output would wait for it)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd != keep and fd > 2:
            with contextlib.suppress(OSError):
                os.close(fd)


def monitor_main(root: Path, container_id: str, ready: int, attach_first: bool) -> NoReturn:
    """The monitor's life (in the process :class:`~boxwright.runtime.launch.MonitorLaunch`
    forked; never returns): it answers on ``ready``."""
    try:
        _close_inherited(ready)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        os.chdir("/")
        for signum in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE):
            signal.signal(signum, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        store = Store(root, create=False)
        files = StateFiles(store.containers.directory(container_id))
        lock = os.open(files.monitor_lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.write(ready, b"E 125 the container is already running")
            os._exit(1)
        os.ftruncate(lock, 0)
        os.pwrite(lock, f"{os.getpid()}\n".encode(), 0)  # for StateFiles.monitor_pidfd
        config = files.config()
        log = os.open(files.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        server = _Server(attach.listen(files.dir))
        if attach_first:
            os.write(ready, b"L\n")
            if not server.await_first(ATTACH_WAIT):
                os.write(ready, b"E 125 no client attached to the container's monitor")
                os._exit(1)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.write(ready, f"E 125 cannot start the container's monitor: {error}".encode())
        os._exit(1)
    try:
        _keep(store, container_id, files, config, log, ready, server, attach_first)
    finally:
        with contextlib.suppress(OSError):
            (files.dir / attach.SOCKET_NAME).unlink()
    os._exit(0)


class _Server:
    """The monitor's side of the attach socket: the listener, the clients, the input waiting
    for the container to read it, and the last window size a client told."""

    def __init__(self, listener: socket.socket) -> None:
        self.listener = listener
        self.clients: list[socket.socket] = []
        self.size: tuple[int, int] | None = None
        self.target: int | None = None
        """Where input goes: the pty's master, the stdin pipe, or nowhere."""
        self.terminal = False
        self.pending = b""
        self.input_ended = False

    def await_first(self, timeout: float) -> bool:
        """Accept the first client and read its hello (the window size the run starts with)."""
        ready, _, _ = select.select([self.listener], [], [], timeout)
        if not ready:
            return False
        client = self._accept()
        if client is None:
            return False
        readable, _, _ = select.select([client], [], [], 5.0)
        if readable:
            self._from_client(client)
        return bool(self.clients)

    def close(self) -> None:
        """Close the listener and the clients (in a forked child, which serves none)."""
        for sock in (self.listener, *self.clients):
            sock.close()

    def fds(self) -> list[int]:
        return [self.listener.fileno(), *(c.fileno() for c in self.clients)]

    def _accept(self) -> socket.socket | None:
        try:
            client, _ = self.listener.accept()
        except OSError:
            return None
        client.settimeout(attach.SEND_TIMEOUT)
        self.clients.append(client)
        return client

    def readable(self, fd: int) -> None:
        """Act on a readable listener or client ``fd``."""
        if fd == self.listener.fileno():
            self._accept()
            return
        for client in self.clients:
            if client.fileno() == fd:
                self._from_client(client)
                return

    def _from_client(self, client: socket.socket) -> None:
        try:
            message = client.recv(attach.CHUNK + 1)
        except OSError:
            message = b""
        if not message:
            self._drop(client)
            return
        kind, data = message[:1], message[1:]
        if kind == attach.INPUT and self.target is not None and not self.input_ended:
            self.pending += data
        elif kind == attach.END and not self.terminal and self.target is not None:
            self.input_ended = True
        elif kind in (attach.HELLO, attach.WINDOW):
            size = attach.parse_size(data)
            if size is not None:
                self.size = size
                if self.terminal and self.target is not None:
                    with contextlib.suppress(OSError):
                        termios.tcsetwinsize(self.target, size)

    def write_input(self) -> None:
        """Pass what the container can take now of the pending input (its target is
        non-blocking); close a stdin pipe whose input ended once it is all passed."""
        if self.target is None:
            return
        try:
            if self.pending:
                written = os.write(self.target, self.pending)
                self.pending = self.pending[written:]
        except BlockingIOError:
            return
        except OSError:
            self.pending = b""
        if self.input_ended and not self.pending and not self.terminal:
            os.close(self.target)
            self.target = None

    def send(self, message: bytes) -> None:
        """``message`` to every client; one that does not take it in time is dropped."""
        for client in list(self.clients):
            try:
                client.sendall(message)
            except OSError:
                self._drop(client)

    def _drop(self, client: socket.socket) -> None:
        self.clients.remove(client)
        client.close()

    def run_ended(self, code: int) -> None:
        """Tell the clients the exit code and let them go; forget the run's input target."""
        self.send(attach.EXIT + str(code).encode())
        for client in list(self.clients):
            self._drop(client)
        if self.target is not None and not self.terminal:
            with contextlib.suppress(OSError):
                os.close(self.target)
        self.target = None
        self.pending = b""
        self.input_ended = False


def _keep(
    store: Store,
    container_id: str,
    files: StateFiles,
    config: RunConfig,
    log: int,
    ready: int,
    server: _Server,
    attach_first: bool,
) -> None:
    """Run the container, again as the restart policy says, and record each end."""
    backoff = BACKOFF
    answer: int | None = ready
    while True:
        began = time.monotonic()
        # conmon keeps a detached oci container; an attached run's output comes through us
        conmon = config.isolation == "oci" and not (attach_first and answer is not None)
        code, failed = _run_once(store, container_id, files, config, log, answer, server, conmon)
        answer = None
        state = files.read()
        if failed or state.stop_requested:
            break
        if not config.restart.restarts(code, state.restart_count):
            break
        files.update(lambda s: dataclasses.replace(s, restart_count=s.restart_count + 1))
        backoff = BACKOFF if time.monotonic() - began > 10 else min(backoff * 2, MAX_BACKOFF)
        time.sleep(backoff)
        if files.read().stop_requested:
            break
    if config.remove:
        with contextlib.suppress(ContainerNotFoundError):
            store.containers.remove(container_id)


def _run_once(
    store: Store,
    container_id: str,
    files: StateFiles,
    config: RunConfig,
    log: int,
    ready: int | None,
    server: _Server,
    conmon: bool,
) -> tuple[int, bool]:
    """One run of the container: its exit code, and whether it failed to start."""
    status_r, status_w = os.pipe2(os.O_CLOEXEC)
    io = _RunIO(config, server)
    child = os.fork()
    if child == 0:
        for fd in (status_r, *io.monitor_side, *([ready] if ready is not None else [])):
            os.close(fd)
        server.close()
        _run_child(store, container_id, config, io, status_w, conmon)
    for fd in (status_w, *io.child_side):
        os.close(fd)
    status = _StatusChannel(files, ready)
    _follow_run(io.streams, status_r, status, server, log)
    _, wait_status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(wait_status)
    code = 128 - code if code < 0 else code
    status.ended(code)
    message = status.error[1] if status.error else ""
    files.update(
        lambda s: dataclasses.replace(
            s, status=EXITED, pid=0, pid_start=0, exit_code=code, finished_at=now(), error=message
        )
    )
    server.run_ended(code)
    return code, status.error is not None


class _StatusChannel:
    """The run child's status pipe as the monitor reads it: each line acted on as it arrives
    (:func:`_status`), the last error kept, and ``ready`` (the pipe of the process that
    started the monitor, when it waits) told of the first line and closed."""

    def __init__(self, files: StateFiles, ready: int | None) -> None:
        self.files = files
        self.ready = ready
        self.pending = b""
        self.error: tuple[int, str] | None = None

    def feed(self, data: bytes) -> None:
        self.pending += data
        while b"\n" in self.pending:
            line, _, self.pending = self.pending.partition(b"\n")
            self.error = (
                _status(line.decode(errors="replace"), self.files, self.ready) or self.error
            )
            if self.ready is not None:
                with contextlib.suppress(OSError):
                    os.close(self.ready)
                self.ready = None

    def ended(self, code: int) -> None:
        """The run ended with ``code``: a starter still waiting hears that it never started."""
        if self.ready is not None:  # it ended without a word: say so
            with contextlib.suppress(OSError):
                os.write(
                    self.ready, f"E {code or 125} the container ended before it started".encode()
                )
                os.close(self.ready)


def _follow_run(
    streams: dict[int, str], status_r: int, status: _StatusChannel, server: _Server, log: int
) -> None:
    """Until the run child closes its output ``streams`` and status pipe ``status_r``: copy
    the output into ``log`` and to the attached clients, feed the status lines to ``status``,
    serve the clients (new ones, their input and window size). Closes each pipe at its end."""
    open_fds = [*streams, status_r]
    while open_fds:
        writing = [server.target] if server.target is not None and server.pending else []
        try:
            readable, writable, _ = select.select(open_fds + server.fds(), writing, [])
        except InterruptedError:
            continue
        if writable:
            server.write_input()
        for fd in readable:
            if fd not in open_fds:
                server.readable(fd)
                if server.input_ended:
                    server.write_input()
                continue
            try:
                data = os.read(fd, attach.CHUNK)
            except BlockingIOError:
                continue
            except OSError:  # EIO: the terminal's last user closed it
                data = b""
            if not data:
                open_fds.remove(fd)
                os.close(fd)
            elif fd in streams:
                with contextlib.suppress(OSError):
                    os.write(log, format_records(streams[fd], data))
                server.send((attach.STDOUT if streams[fd] == "stdout" else attach.STDERR) + data)
            else:
                status.feed(data)


class _RunIO:
    """The descriptors of one run: the container's terminal (a pty whose master the monitor
    holds) or its stdout and stderr pipes, and its stdin (the monitor's pipe with ``-i``,
    else ``/dev/null``)."""

    def __init__(self, config: RunConfig, server: _Server) -> None:
        self.terminal = config.options.terminal
        self.console: int | None = None
        self.stdin: int | None = None
        self.output: tuple[int, int] | None = None
        self.monitor_side: list[int] = []
        self.child_side: list[int] = []
        server.terminal = self.terminal
        if self.terminal:
            master, slave = os.openpty()
            os.set_inheritable(master, False)
            os.set_inheritable(slave, False)
            termios.tcsetwinsize(master, server.size or DEFAULT_SIZE)
            os.set_blocking(master, False)
            self.console = slave
            self.streams = {master: "stdout"}
            server.target = master if config.interactive else None
            self.monitor_side, self.child_side = [master], [slave]
            return
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        self.output = (out_w, err_w)
        self.streams = {out_r: "stdout", err_r: "stderr"}
        self.monitor_side, self.child_side = [out_r, err_r], [out_w, err_w]
        if config.interactive:
            in_r, in_w = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(in_w, False)
            self.stdin = in_r
            server.target = in_w
            self.monitor_side.append(in_w)
            self.child_side.append(in_r)
        else:
            server.target = None


def _status(line: str, files: StateFiles, ready: int | None) -> tuple[int, str] | None:
    """Act on one line of the run child's status pipe: ``S PID`` (running) or ``E CODE MSG``."""
    kind, _, rest = line.partition(" ")
    if kind == "S":
        pid = int(rest)
        start = process_start(pid)
        files.update(
            lambda s: RunState(
                status=RUNNING,
                pid=pid,
                pid_start=start,
                started_at=now(),
                restart_count=s.restart_count,
                stop_requested=s.stop_requested,
            )
        )
        if ready is not None:
            with contextlib.suppress(OSError):
                os.write(ready, f"R {pid}".encode())
        return None
    code, _, message = rest.partition(" ")
    if ready is not None:
        with contextlib.suppress(OSError):
            os.write(ready, f"E {code} {message}".encode())
    return int(code), message


def _run_child(
    store: Store, container_id: str, config: RunConfig, io: _RunIO, status: int, conmon: bool
) -> None:
    """In the run child: a foreground run of the container (under conmon with ``conmon``);
    never returns."""
    code = 125
    try:
        runner: str | ConmonRunner = config.isolation
        if conmon:
            directory = store.containers.directory(container_id)
            name = store.containers.get(container_id).name
            runner = ConmonRunner(
                StateFiles(directory), container_id, name, interactive=config.interactive
            )
        stdin = io.stdin if io.stdin is not None else os.open(os.devnull, os.O_RDONLY)

        def started(pid: int) -> None:
            os.write(status, f"S {pid}\n".encode())

        options = dataclasses.replace(
            config.options,
            output=io.output,
            stdin=None if io.terminal else stdin,
            console=io.console,
            on_start=started,
        )
        code = run_in_container(store, container_id, options, runner)
    except RunError as error:
        code = error.exit_code
        _say(status, code, str(error))
    except BoxwrightError as error:
        _say(status, 125, str(error))
    except BaseException as error:
        _say(status, 125, f"internal error: {type(error).__name__}: {error}")
    finally:
        os._exit(code)


def _say(fd: int, code: int, message: str) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, f"E {code} {' '.join(message.split())}\n".encode(errors="replace"))


__all__ = ["holding_monitor_lock", "monitor_main"]
