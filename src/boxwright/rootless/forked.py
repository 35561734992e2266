"""A function run in a forked child inside a new user namespace; its result comes back pickled.

:func:`call_in_namespace` is the one way boxwright runs a piece of its own code as root of a
namespace it makes for that code alone: the store mounts an overlay in a single-ID namespace
(``0`` → the caller, written by the child itself, as ``unshare -r`` does), and the
containers-storage transport unpacks a layer in the user's subordinate ranges (the maps
written from outside by ``newuidmap``/``newgidmap``, as rootless podman's). Either way the
child enters the namespaces, runs the function and sends back its pickled result or a
description of its error; every mount it made ends with it.

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

from boxwright.errors import BoxwrightError, RunError
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
from boxwright.rootless.ranges import IDMapping, write_mapping_with_helpers

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


class _Mapped:
    """The handshake of a namespace mapped from outside: the child unshares and says so, the
    parent writes the maps with the helpers and says so, the child becomes its root."""

    def __init__(self, mapping: IDMapping, error: type[BoxwrightError]) -> None:
        self.mapping = mapping
        self.error = error
        self.ready_r, self.ready_w = os.pipe()
        self.go_r, self.go_w = os.pipe()

    def child(self) -> None:
        os.close(self.ready_r)
        os.close(self.go_w)
        try:
            unshare(CLONE_NEWUSER)
            os.write(self.ready_w, b"1")
            mapped = os.read(self.go_r, 1) == b"1"
        finally:
            os.close(self.ready_w)
            os.close(self.go_r)
        if not mapped:
            raise self.error("the user namespace was not mapped")
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)

    def parent(self, pid: int) -> None:
        os.close(self.ready_w)
        os.close(self.go_r)
        try:
            if os.read(self.ready_r, 1) == b"1":
                try:
                    write_mapping_with_helpers(pid, self.mapping)
                except RunError as exc:
                    raise self.error(str(exc)) from None
                os.write(self.go_w, b"1")
        finally:
            os.close(self.ready_r)
            os.close(self.go_w)


def _outcome(fn: Callable[[], Any], enter: Callable[[], None]) -> bytes:
    """The child's side: enter the namespaces, run ``fn`` and pickle what happened."""
    try:
        enter()
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


def _raise(payload: tuple[Any, ...], error: type[BoxwrightError]) -> NoReturn:
    """The child's error again: a :class:`BoxwrightError` as its own class (found by name, so
    one whose arguments do not pickle comes back too), anything else as ``error``."""
    kind = payload[0]
    if kind == "boxwright":
        _, module, qualname, message, code = payload
        try:
            cls: Any = importlib.import_module(module)
            for part in qualname.split("."):
                cls = getattr(cls, part)
        except (ImportError, AttributeError):
            cls = error
        if isinstance(cls, type) and issubclass(cls, BoxwrightError):
            try:
                exc = cls(message) if code is None else cls(message, code)
            except TypeError:
                exc = error(message)
            raise exc
        raise error(message)
    if kind == "oserror":
        raise error(payload[1])
    raise error(f"failed inside the user namespace: {payload[1]}")


def call_in_namespace(
    fn: Callable[[], T],
    *,
    error: type[BoxwrightError],
    user: bool = False,
    mount: bool = False,
    mapping: IDMapping | None = None,
) -> T:
    """Run ``fn()`` in a forked child inside new namespaces and return its (pickled) result.

    ``mapping``: a new user namespace with these maps, written by ``newuidmap``/``newgidmap``
    from this process, the child its root (uid and gid 0). Without it, ``user``: a new user
    namespace where the caller is root (single-ID map, written by the child); ``mount``: a
    private mount namespace (implied by ``user``). A :class:`BoxwrightError` in the child is
    raised again here as the same class with the same message (and the same ``exit_code``,
    for a :class:`~boxwright.errors.RunError`); an :class:`OSError` (a mount refused, a
    namespace not allowed), a bug, or a child that dies without an answer becomes ``error``.
    The result must pickle; the caller's locks stay held by the caller.
    """
    mapped = None if mapping is None else _Mapped(mapping, error)
    enter = (lambda: enter_namespaces(user=user, mount=mount)) if mapped is None else mapped.child
    sys.stdout.flush()
    sys.stderr.flush()
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        status = 0
        try:
            os.close(read_fd)
            data = _outcome(fn, enter)
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
        if mapped is not None:
            mapped.parent(pid)
        while chunk := os.read(read_fd, 1 << 20):
            chunks.append(chunk)
    finally:
        os.close(read_fd)
        _, wait_status = os.waitpid(pid, 0)
    if not chunks:
        raise error(
            "the process working in a user namespace ended without an answer "
            f"(wait status {wait_status}); see the messages above"
        )
    payload = pickle.loads(b"".join(chunks))
    if payload[0] == "ok":
        result: T = payload[1]
        return result
    _raise(payload, error)


__all__ = ["call_in_namespace", "enter_namespaces"]
