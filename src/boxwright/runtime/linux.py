"""Thin ctypes wrappers over the Linux system calls Python 3.11's ``os`` module lacks.

The native runner needs ``unshare(2)``, ``mount(2)``, ``umount2(2)``, ``pivot_root(2)``,
``sethostname(2)``, ``prctl(2)`` and ``capset(2)``; Python 3.11 offers none of them (``os.unshare``
came in 3.12). Each wrapper raises :class:`OSError` with the call's errno, exactly like the
``os`` functions, so callers can tell ``EPERM`` (not allowed here: fall back) from real faults.
libc is loaded once, when this module is imported, so a forked child never loads it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import platform
import socket
import struct

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)

CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24

MNT_DETACH = 2

PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_SET_PDEATHSIG = 1

# System call numbers: (pivot_root, capset) per machine; the generic table serves aarch64/riscv.
_SYSCALLS = {"x86_64": (155, 126), "i686": (217, 185), "i386": (217, 185), "ppc64le": (203, 184)}
_SYS_PIVOT_ROOT, _SYS_CAPSET = _SYSCALLS.get(platform.machine(), (41, 91))
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1

_libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [
    ctypes.c_int,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
    ctypes.c_ulong,
]


def _check(result: int, what: str, *paths: str | bytes | None) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        shown = [os.fsdecode(p) for p in paths if p]
        raise OSError(errno, f"{what}: {os.strerror(errno)}", *shown[:1])


def _b(value: str | bytes | os.PathLike[str] | None) -> bytes | None:
    if value is None:
        return None
    return os.fsencode(value)


def unshare(flags: int) -> None:
    """Move this process into new namespaces (``CLONE_NEW*`` flags)."""
    _check(_libc.unshare(flags), "unshare")


def mount(
    source: str | bytes | os.PathLike[str] | None,
    target: str | bytes | os.PathLike[str],
    fstype: str | bytes | None = None,
    flags: int = 0,
    data: str | bytes | None = None,
) -> None:
    """``mount(2)``: ``source`` on ``target`` with ``flags`` and file-system ``data``."""
    tgt = _b(target)
    _check(_libc.mount(_b(source), tgt, _b(fstype), flags, _b(data)), "mount", tgt)


def umount2(target: str | bytes | os.PathLike[str], flags: int = 0) -> None:
    """``umount2(2)``: detach the mount at ``target``."""
    tgt = _b(target)
    _check(_libc.umount2(tgt, flags), "umount2", tgt)


def pivot_root(new_root: str | bytes, put_old: str | bytes) -> None:
    """``pivot_root(2)``: make ``new_root`` the root of this mount namespace."""
    new, old = _b(new_root), _b(put_old)
    _check(_libc.syscall(_SYS_PIVOT_ROOT, new, old), "pivot_root", new)


def sethostname(name: str) -> None:
    """``sethostname(2)`` in this process's UTS namespace."""
    data = name.encode()
    _check(_libc.sethostname(data, len(data)), "sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> None:
    """``prctl(2)`` for the options that return 0 on success."""
    _check(_libc.prctl(option, arg2, arg3, arg4, arg5), "prctl")


def set_no_new_privs() -> None:
    """Forbid gaining privileges through setuid binaries or file capabilities from here on."""
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def drop_bounding_capability(number: int) -> None:
    """Remove one capability from this process's bounding set."""
    prctl(PR_CAPBSET_DROP, number)


def set_parent_death_signal(signum: int) -> None:
    """Have the kernel send ``signum`` to this process when its parent dies."""
    prctl(PR_SET_PDEATHSIG, signum)


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """``capset(2)`` with 64-bit masks for this thread (version 3 headers)."""
    header = struct.pack("Ii", _LINUX_CAPABILITY_VERSION_3, 0)
    data = struct.pack(
        "IIIIII",
        effective & 0xFFFFFFFF,
        permitted & 0xFFFFFFFF,
        inheritable & 0xFFFFFFFF,
        effective >> 32,
        permitted >> 32,
        inheritable >> 32,
    )
    hbuf = ctypes.create_string_buffer(header, len(header))
    dbuf = ctypes.create_string_buffer(data, len(data))
    _check(_libc.syscall(_SYS_CAPSET, hbuf, dbuf), "capset")


def last_capability() -> int:
    """The highest capability number the running kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 40


def loopback_up() -> None:
    """Bring up ``lo`` in this process's (fresh) network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        answer = fcntl.ioctl(sock.fileno(), _SIOCGIFFLAGS, request)
        flags = struct.unpack("16sH14x", answer)[1]
        fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))


__all__ = [
    "CLONE_NEWCGROUP",
    "CLONE_NEWIPC",
    "CLONE_NEWNET",
    "CLONE_NEWNS",
    "CLONE_NEWPID",
    "CLONE_NEWUSER",
    "CLONE_NEWUTS",
    "MNT_DETACH",
    "MS_BIND",
    "MS_NODEV",
    "MS_NOEXEC",
    "MS_NOSUID",
    "MS_PRIVATE",
    "MS_RDONLY",
    "MS_REC",
    "MS_REMOUNT",
    "capset",
    "drop_bounding_capability",
    "last_capability",
    "loopback_up",
    "mount",
    "pivot_root",
    "prctl",
    "set_no_new_privs",
    "set_parent_death_signal",
    "sethostname",
    "umount2",
    "unshare",
]
