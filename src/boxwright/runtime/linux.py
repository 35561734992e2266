"""The Linux system calls the native runner needs, reached through this one module.

It re-exports what the runtime uses of :mod:`boxwright.rootless.libc` (``unshare(2)``,
``mount(2)``, ``umount2(2)``, their flags; boxwright's one set of libc wrappers, in a lower
layer) and adds ``pivot_root(2)``, ``sethostname(2)``, ``prctl(2)`` and ``capset(2)``, which
Python 3.11's ``os`` module lacks, on the same :func:`~boxwright.rootless.libc.libc` handle
and errno check. Each raises :class:`OSError` with the call's errno, like the ``os``
functions. libc is loaded when this module is imported, so a forked child (after
``pivot_root``) never has to load it.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import struct

from boxwright.rootless.libc import (
    CLONE_NEWNS,
    CLONE_NEWUSER,
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    PathArg,
    check,
    libc,
    mount,
    set_dumpable,
    umount,
    unshare,
)
from boxwright.rootless.libc import setns as _setns

_libc = libc()

CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

PR_SET_NO_NEW_PRIVS = 38
PR_CAPBSET_DROP = 24
PR_SET_PDEATHSIG = 1

# System call numbers: (pivot_root, capset) per machine; the generic table serves aarch64/riscv.
_SYSCALLS = {"x86_64": (155, 126), "i686": (217, 185), "i386": (217, 185), "ppc64le": (203, 184)}
_SYS_PIVOT_ROOT, _SYS_CAPSET = _SYSCALLS.get(os.uname().machine, (41, 91))
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_AF_INET = 2
_SOCK_DGRAM = 2
_SOCK_CLOEXEC = 0o2000000

_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]


def pivot_root(new_root: PathArg, put_old: PathArg) -> None:
    """``pivot_root(2)``: make ``new_root`` the root of this mount namespace."""
    new, old = os.fsencode(new_root), os.fsencode(put_old)
    check(_libc.syscall(_SYS_PIVOT_ROOT, new, old), "pivot_root", new)


def setns(fd: int, nstype: int = 0) -> None:
    """setns(2): move this thread into the namespace ``fd`` refers to (``nstype`` 0: any)."""
    _setns(fd, nstype)


def sethostname(name: str) -> None:
    """``sethostname(2)`` in this process's UTS namespace."""
    data = name.encode()
    check(_libc.sethostname(data, len(data)), "sethostname")


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> None:
    """``prctl(2)`` for the options that return 0 on success."""
    check(_libc.prctl(option, arg2, arg3, arg4, arg5), "prctl")


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
    check(_libc.syscall(_SYS_CAPSET, hbuf, dbuf), "capset")


def last_capability() -> int:
    """The highest capability number the running kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return 40


def loopback_up() -> None:
    """Bring up ``lo`` in this process's (fresh) network namespace.

    The socket the interface ioctls need comes from libc's ``socket(2)``: the :mod:`socket`
    module (with :mod:`selectors`) is no part of what this module loads, which ``exec`` and
    ``stop`` load too, and a forked child calling this imports nothing.
    """
    fd = _libc.socket(_AF_INET, _SOCK_DGRAM | _SOCK_CLOEXEC, 0)
    if fd < 0:
        check(fd, "socket")
    try:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(fd, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(fd, _SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | _IFF_UP))
    finally:
        os.close(fd)


# The runtime reaches every system call through this module: its own, and the rootless.libc
# names it uses, re-exported (so this list repeats part of rootless.libc's __all__).
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
    "set_dumpable",
    "set_no_new_privs",
    "set_parent_death_signal",
    "sethostname",
    "setns",
    "umount",
    "unshare",
]
