"""Linux namespace and mount calls through libc: boxwright's one set of these wrappers.

Python 3.11 has no ``os.unshare``, ``os.setns`` or ``os.mount``, so these call libc through
:mod:`ctypes` and turn a failure into :class:`OSError` with the call's errno (callers tell
``EPERM``, not allowed here, from real faults). :mod:`boxwright.store.userns` and
:mod:`boxwright.runtime.linux` re-export them and build their further calls on :func:`libc`
and :func:`check`.
"""

from __future__ import annotations

import ctypes
import functools
import os

PathArg = str | bytes | os.PathLike[str]

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MNT_DETACH = 0x2
PR_SET_NAME = 15
PR_SET_DUMPABLE = 4


@functools.cache
def libc() -> ctypes.CDLL:
    """The C library with errno kept (loaded once; call it before a fork that pivots away)."""
    lib = ctypes.CDLL(None, use_errno=True)
    lib.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
    lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lib.unshare.argtypes = [ctypes.c_int]
    lib.setns.argtypes = [ctypes.c_int, ctypes.c_int]
    # The runtime calls prctl with every argument as a word, so do these wrappers.
    lib.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
    return lib


def check(result: int, what: str, path: PathArg | None = None) -> None:
    """Raise :class:`OSError` with the current errno when a libc call returned non-zero."""
    if result != 0:
        code = ctypes.get_errno()
        shown = None if path is None else os.fsdecode(path)
        raise OSError(code, f"{what}: {os.strerror(code)}", shown)


def _b(value: PathArg | None) -> bytes | None:
    return None if value is None else os.fsencode(value)


def unshare(flags: int) -> None:
    """``unshare(2)``: move this process into new namespaces (``CLONE_*`` flags)."""
    check(libc().unshare(flags), "unshare")


def setns(fd: int, kind: int) -> None:
    """``setns(2)``: join the namespace open on ``fd`` (``kind`` is its ``CLONE_*`` flag)."""
    check(libc().setns(fd, kind), "setns")


def mount(
    source: PathArg | None,
    target: PathArg,
    fstype: str | None = None,
    flags: int = 0,
    data: str | None = None,
) -> None:
    """``mount(2)``; ``data`` is the option string (``"lowerdir=...,upperdir=..."``)."""
    where = os.fsdecode(target)
    what = f"mount {fstype or ''} on {where}".replace("  ", " ")
    check(libc().mount(_b(source), _b(where), _b(fstype), flags, _b(data)), what, where)


def umount(target: PathArg, flags: int = 0) -> None:
    """``umount2(2)``; ``flags=MNT_DETACH`` detaches a busy mount lazily."""
    where = os.fsdecode(target)
    check(libc().umount2(_b(where), flags), f"umount {where}", where)


def set_dumpable() -> None:
    """Make this process dumpable again, so its ``/proc/self`` files stay its own.

    A process that changed its IDs (setuid from root) is not dumpable, which leaves its
    ``/proc/self`` files owned by root: its ID maps could not be written.
    """
    libc().prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)


def set_process_name(name: bytes) -> None:
    """``prctl(PR_SET_NAME)``: the name ``ps`` shows for this process (15 bytes at most)."""
    buffer = ctypes.create_string_buffer(name[:15])
    address = ctypes.cast(buffer, ctypes.c_void_p).value or 0
    libc().prctl(PR_SET_NAME, address, 0, 0, 0)


__all__ = [
    "CLONE_NEWNS",
    "CLONE_NEWUSER",
    "MNT_DETACH",
    "MS_BIND",
    "MS_NODEV",
    "MS_NOEXEC",
    "MS_NOSUID",
    "MS_PRIVATE",
    "MS_RDONLY",
    "MS_REC",
    "MS_REMOUNT",
    "MS_SLAVE",
    "PathArg",
    "check",
    "libc",
    "mount",
    "set_dumpable",
    "set_process_name",
    "setns",
    "umount",
    "unshare",
]
