"""The native runner's monitor: the process that keeps a detached container, as conmon does.

:func:`start_monitor` forks twice (the middle process ends at once, so the monitor belongs to
no caller and leaves no zombie behind; it is a session leader of its own) and returns when the
container's command runs, with its pid, or raises the :class:`RunError` that kept it from
starting. The monitor then, for as long as it lives, holds ``monitor.lock`` (the state files
are :mod:`boxwright.runtime.state`'s) and

1. forks a *run child* that does what a foreground ``run`` does
   (:func:`boxwright.runtime.container.run_in_container`) with the container's stdout and
   stderr on pipes, stdin on ``/dev/null``, reporting the container's pid on a status pipe;
2. copies both pipes into ``ctr.log`` (:mod:`boxwright.runtime.logs`) until they close, and
   records the state: ``running`` with pid and start time, then ``exited`` with exit code
   and finish time;
3. starts it again as the restart policy says, unless a ``stop``/``kill`` asked for the end;
   with ``--rm``, removes the container at the end.

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
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from boxwright.errors import BoxwrightError, ContainerNotFoundError, RunError
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


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def start_monitor(store: Store, container_id: str) -> int:
    """Start the monitor of ``container_id`` and return the container process's pid once its
    command runs; raise :class:`RunError` (with podman's exit code) when it cannot start."""
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    middle = os.fork()
    if middle == 0:
        try:
            os.close(ready_r)
            os.setsid()
            if os.fork() == 0:
                _monitor(store.root, container_id, ready_w)
        finally:
            os._exit(0)
    os.close(ready_w)
    try:
        text = _read_all(ready_r).decode(errors="replace")
    finally:
        os.close(ready_r)
        os.waitpid(middle, 0)
    kind, _, rest = text.partition(" ")
    if kind == "R":
        return int(rest)
    if kind == "E":
        code, _, message = rest.partition(" ")
        raise RunError(message.strip(), int(code))
    raise RunError("the container's monitor ended before the container started", 125)


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


def _monitor(root: Path, container_id: str, ready: int) -> None:
    """The monitor's life (in the grandchild; never returns)."""
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
        config = files.config()
        log = os.open(files.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.write(ready, f"E 125 cannot start the container's monitor: {error}".encode())
        os._exit(1)
    _keep(store, container_id, files, config, log, ready)
    os._exit(0)


def _keep(
    store: Store, container_id: str, files: StateFiles, config: RunConfig, log: int, ready: int
) -> None:
    """Run the container, again as the restart policy says, and record each end."""
    backoff = BACKOFF
    answer: int | None = ready
    while True:
        began = time.monotonic()
        code, failed = _run_once(store, container_id, files, config, log, answer)
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
) -> tuple[int, bool]:
    """One run of the container: its exit code, and whether it failed to start."""
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    status_r, status_w = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        for fd in (out_r, err_r, status_r, *([ready] if ready is not None else [])):
            os.close(fd)
        _run_child(store, container_id, config, (out_w, err_w), status_w)
    for fd in (out_w, err_w, status_w):
        os.close(fd)
    streams = {out_r: "stdout", err_r: "stderr"}
    status_text = b""
    error: tuple[int, str] | None = None
    open_fds = [out_r, err_r, status_r]
    while open_fds:
        try:
            readable, _, _ = select.select(open_fds, [], [])
        except InterruptedError:
            continue
        for fd in readable:
            data = os.read(fd, 65536)
            if not data:
                open_fds.remove(fd)
                os.close(fd)
                continue
            if fd in streams:
                with contextlib.suppress(OSError):
                    os.write(log, format_records(streams[fd], data))
                continue
            status_text += data
            while b"\n" in status_text:
                line, _, status_text = status_text.partition(b"\n")
                error = _status(line.decode(errors="replace"), files, ready) or error
                if ready is not None:
                    with contextlib.suppress(OSError):
                        os.close(ready)
                    ready = None
    _, wait_status = os.waitpid(child, 0)
    code = os.waitstatus_to_exitcode(wait_status)
    code = 128 - code if code < 0 else code
    if ready is not None:  # it ended without a word: say so
        with contextlib.suppress(OSError):
            os.write(ready, f"E {code or 125} the container ended before it started".encode())
            os.close(ready)
    message = error[1] if error else ""
    files.update(
        lambda s: dataclasses.replace(
            s, status=EXITED, pid=0, pid_start=0, exit_code=code, finished_at=now(), error=message
        )
    )
    return code, error is not None


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
    store: Store, container_id: str, config: RunConfig, output: tuple[int, int], status: int
) -> None:
    """In the run child: a foreground run of the container; never returns."""
    code = 125
    try:
        null = os.open(os.devnull, os.O_RDONLY)

        def started(pid: int) -> None:
            os.write(status, f"S {pid}\n".encode())

        options = dataclasses.replace(
            config.options, output=output, stdin=null, terminal=False, on_start=started
        )
        code = run_in_container(store, container_id, options, config.isolation)
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


__all__ = ["holding_monitor_lock", "start_monitor"]
