"""Running a function inside fresh namespaces, on :mod:`boxwright.rootless.libc`'s calls.

:func:`run_in_namespace` is how an unprivileged user mounts an overlay: it forks, the child
enters a new user namespace where it is root (a single-ID map, ``0`` → the caller's euid and
egid, with ``setgroups`` denied, as ``unshare -r`` does; no helper binaries or subordinate
IDs are needed) and a private mount namespace, runs the function, and sends its pickled
result back through a pipe. Every mount the child makes disappears with it, so nothing leaks
when the function fails or the process is killed. Inside, the caller's own files appear
owned by ``0:0`` and no other ID can be used (a ``chown`` to one fails with ``EINVAL``);
:func:`inside_single_id_namespace` tells code that must then keep owners in a side record.

Unsharing a user namespace needs a single-threaded process, which the forked child is.
"""

from __future__ import annotations

import importlib
import os
import pickle
import sys
import traceback
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from boxwright.errors import BoxwrightError, RunError, StoreError
from boxwright.rootless.libc import (
    CLONE_NEWNS,
    CLONE_NEWUSER,
    MS_PRIVATE,
    MS_REC,
    check,
    libc,
    set_dumpable,
    unshare,
)

T = TypeVar("T")


def _write_proc(name: str, text: str) -> None:
    fd = os.open(f"/proc/self/{name}", os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def enter_namespaces(*, user: bool, mount: bool) -> None:
    """Move this (single-threaded) process into a new user namespace mapping only its own IDs
    to root (``user``) and/or a new mount namespace whose mounts do not propagate (``mount``).

    Meant for a freshly forked child: it changes the calling process for good.
    """
    if not (user or mount):
        return
    euid, egid = os.geteuid(), os.getegid()
    if user:
        set_dumpable()
    flags = (CLONE_NEWUSER if user else 0) | (CLONE_NEWNS if mount or user else 0)
    unshare(flags)
    if user:
        _write_proc("setgroups", "deny")
        _write_proc("uid_map", f"0 {euid} 1")
        _write_proc("gid_map", f"0 {egid} 1")
    check(libc().mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "making mounts private", "/")


def inside_single_id_namespace() -> bool:
    """Whether this process runs as the root of a user namespace that maps no other ID (the
    namespace :func:`run_in_namespace` makes for an unprivileged caller)."""
    try:
        with open("/proc/self/uid_map", "rb") as handle:
            rows = [line.split() for line in handle if line.strip()]
    except OSError:
        return False
    return len(rows) == 1 and rows[0][0] == b"0" and rows[0][1] != b"0" and rows[0][2] == b"1"


def _outcome(fn: Callable[[], Any], user: bool, mount: bool) -> bytes:
    """The child's side: run ``fn`` in the namespaces and pickle what happened."""
    try:
        enter_namespaces(user=user, mount=mount)
        result: tuple[Any, ...] = ("ok", fn())
    except BoxwrightError as exc:
        kind = type(exc)
        code = exc.exit_code if isinstance(exc, RunError) else None
        result = ("boxwright", kind.__module__, kind.__qualname__, str(exc), code)
    except OSError as exc:
        result = ("oserror", str(exc))
    except BaseException as exc:  # a bug: keep the traceback for the message
        result = ("bug", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")
    try:
        return pickle.dumps(result)
    except Exception as exc:
        return pickle.dumps(("bug", f"the result cannot be sent back (pickle: {exc})"))


def _raise(payload: tuple[Any, ...]) -> NoReturn:
    kind = payload[0]
    if kind == "boxwright":
        _, module, qualname, message, code = payload
        try:
            cls: Any = importlib.import_module(module)
            for part in qualname.split("."):
                cls = getattr(cls, part)
        except (ImportError, AttributeError):
            cls = StoreError
        if isinstance(cls, type) and issubclass(cls, BoxwrightError):
            try:
                error = cls(message) if code is None else cls(message, code)
            except TypeError:
                error = StoreError(message)
            raise error
        raise StoreError(message)
    if kind == "oserror":
        raise StoreError(payload[1])
    raise StoreError(f"failed inside the container's namespace: {payload[1]}")


def run_in_namespace(fn: Callable[[], T], *, user: bool, mount: bool) -> T:
    """Run ``fn()`` in a forked child inside new namespaces and return its (pickled) result.

    ``user``: a new user namespace where the caller is root (single-ID map, for rootless);
    ``mount``: a private mount namespace (implied by ``user``). A :class:`BoxwrightError` in
    the child is raised again here as the same class with the same message (and the same
    ``exit_code``, for a :class:`~boxwright.errors.RunError`); an
    :class:`OSError` (a mount refused, a namespace not allowed) becomes a :class:`StoreError`
    with its message. The result must pickle.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 0
        try:
            os.close(read_fd)
            data = _outcome(fn, user, mount)
            view = memoryview(data)
            while view:
                view = view[os.write(write_fd, view) :]
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_fd)
    chunks: list[bytes] = []
    try:
        while chunk := os.read(read_fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        _, wait_status = os.waitpid(pid, 0)
    if not chunks:
        raise StoreError(
            "the process working in the container's namespace ended without an answer "
            f"(wait status {wait_status}); see the messages above"
        )
    payload = pickle.loads(b"".join(chunks))
    if payload[0] == "ok":
        result: T = payload[1]
        return result
    _raise(payload)


__all__ = ["enter_namespaces", "inside_single_id_namespace", "run_in_namespace"]
