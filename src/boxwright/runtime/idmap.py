"""The user namespace ID mapping a container runs with, and how it is written.

Root (or a process that is already uid 0 inside a user namespace, such as the forked child of
a rootless overlay container) needs no new user namespace: :func:`default_mapping` returns
``None``. An unprivileged user gets, as podman gives it, container ID 0 mapped onto its own ID
and container IDs 1.. onto its ``/etc/subuid`` and ``/etc/subgid`` ranges, written by the
setuid helpers ``newuidmap``/``newgidmap``. Without ranges or helpers the mapping is a single
ID (container 0 = the caller), which the process can write itself after denying
``setgroups`` (what ``unshare --map-root-user`` does); only uid 0 and gid 0 then exist.

The ranges, the mappings and the helpers are :mod:`boxwright.rootless.ranges`'s (one reader
of the range files for every layer), re-exported here. A process that joined its store's
user namespace (:mod:`boxwright.rootless.namespace`, ranges mode) is uid 0 with
``CAP_SYS_ADMIN`` there and needs no new one.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence

from boxwright.rootless.ranges import (
    IDMapping,
    IDRange,
    read_mapping,
    rootless_mapping,
    subordinate_ranges,
    write_mapping_with_helpers,
)
from boxwright.store.userns import inside_single_id_namespace

CAP_SETGID = 6
CAP_SETUID = 7
CAP_SYS_ADMIN = 21


def single_id_run() -> bool:
    """Whether a container started here gets a user namespace that maps only ID 0 (no
    subordinate IDs: ``chown`` to another ID fails inside; see :mod:`.ownership`)."""
    if os.geteuid() == 0:
        return inside_single_id_namespace()
    mapping = default_mapping()
    return mapping is not None and mapping.single


def _effective_capabilities() -> int:
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"CapEff:"):
                    return int(line.split()[1], 16)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def has_sys_admin() -> bool:
    """Whether this process holds ``CAP_SYS_ADMIN`` (its effective set, /proc/self/status)."""
    return bool(_effective_capabilities() >> CAP_SYS_ADMIN & 1)


def can_map_any_id() -> bool:
    """Whether this process may write any mapping of its namespace's IDs for a child user
    namespace itself: uid 0 holding ``CAP_SETUID`` and ``CAP_SETGID`` (root of a container
    with podman's or Kubernetes' default capabilities)."""
    caps = _effective_capabilities()
    return os.geteuid() == 0 and bool(caps >> CAP_SETUID & 1) and bool(caps >> CAP_SETGID & 1)


def identity_mapping() -> IDMapping:
    """Every ID of this process's user namespace, mapped onto itself."""
    current = read_mapping()
    return IDMapping(
        tuple(IDRange(r.container_id, r.container_id, r.size) for r in current.uids),
        tuple(IDRange(r.container_id, r.container_id, r.size) for r in current.gids),
    )


def default_mapping() -> IDMapping | None:
    """The mapping a container of this process gets; ``None`` when no user namespace is needed.

    A process with euid 0 and ``CAP_SYS_ADMIN`` (root, or root of a user namespace it is
    already in) has the privileges every other namespace needs. Root *without* it (inside a
    container that dropped the capability, as podman's and Kubernetes' defaults do) gets a
    new user namespace where it holds every capability again: with ``CAP_SETUID`` and
    ``CAP_SETGID`` every ID of its own namespace mapped onto itself (written by this process,
    no helper), so every owner works for real; without them, 0 onto itself only.
    """
    if os.geteuid() == 0:
        if has_sys_admin():
            return None
        if can_map_any_id():
            with contextlib.suppress(OSError):
                return identity_mapping()
        return IDMapping((IDRange(0, 0, 1),), (IDRange(0, os.getegid(), 1),))
    return rootless_mapping()


def _format(ranges: Sequence[IDRange]) -> str:
    return "".join(f"{r.container_id} {r.host_id} {r.size}\n" for r in ranges)


def _write_proc(path: str, text: str) -> None:
    # Plain os calls: a forked child may no longer be able to import codecs lazily.
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def write_self_mapping(mapping: IDMapping) -> None:
    """Write a single-ID mapping from inside the new user namespace (no helper needed)."""
    _write_proc("/proc/self/setgroups", "deny")
    _write_proc("/proc/self/uid_map", _format(mapping.uids))
    _write_proc("/proc/self/gid_map", _format(mapping.gids))


__all__ = [
    "IDMapping",
    "IDRange",
    "can_map_any_id",
    "default_mapping",
    "identity_mapping",
    "rootless_mapping",
    "single_id_run",
    "subordinate_ranges",
    "write_mapping_with_helpers",
    "write_self_mapping",
]
