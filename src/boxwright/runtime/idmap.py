"""The user namespace ID mapping a container runs with, and how it is written.

Root (or a process that is already uid 0 inside a user namespace, such as the forked child of
a rootless overlay container) needs no new user namespace: :func:`default_mapping` returns
``None``. An unprivileged user gets, as podman gives it, container ID 0 mapped onto its own ID
and container IDs 1.. onto its ``/etc/subuid`` and ``/etc/subgid`` ranges, written by the
setuid helpers ``newuidmap``/``newgidmap``. Without ranges or helpers the mapping is a single
ID (container 0 = the caller), which the process can write itself after denying
``setgroups`` (what ``unshare --map-root-user`` does); only uid 0 and gid 0 then exist.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boxwright.errors import RunError
from boxwright.store.userns import inside_single_id_namespace

SUBUID_FILE = Path("/etc/subuid")
SUBGID_FILE = Path("/etc/subgid")


# One line of /etc/subuid or a runtime spec's mapping; alike in shape only to other
# small value types (explain's FieldChange).
@dataclass(frozen=True, slots=True)
class IDRange:
    """``size`` consecutive container IDs from ``container_id`` mapped onto ``host_id``.."""

    container_id: int
    host_id: int
    size: int

    def to_spec(self) -> dict[str, int]:
        """The runtime spec's ``{"containerID", "hostID", "size"}`` entry."""
        return {"containerID": self.container_id, "hostID": self.host_id, "size": self.size}


@dataclass(frozen=True, slots=True)
class IDMapping:
    """The uid and gid maps of a user namespace."""

    uids: tuple[IDRange, ...]
    gids: tuple[IDRange, ...]

    @property
    def single(self) -> bool:
        """Whether only the caller's own IDs are mapped (writable without helpers)."""
        return len(self.uids) == 1 and len(self.gids) == 1 and self.uids[0].size == 1

    def maps_uid(self, uid: int) -> bool:
        """Whether container uid ``uid`` exists in this namespace."""
        return any(r.container_id <= uid < r.container_id + r.size for r in self.uids)

    def maps_gid(self, gid: int) -> bool:
        """Whether container gid ``gid`` exists in this namespace."""
        return any(r.container_id <= gid < r.container_id + r.size for r in self.gids)

    def to_spec(self) -> dict[str, list[dict[str, int]]]:
        """``uidMappings`` and ``gidMappings`` of a runtime spec's ``linux`` object."""
        return {
            "uidMappings": [r.to_spec() for r in self.uids],
            "gidMappings": [r.to_spec() for r in self.gids],
        }

    @classmethod
    def from_spec(cls, linux: dict[str, Any]) -> IDMapping:
        """The mapping held by a runtime spec's ``linux`` object."""

        def ranges(key: str) -> tuple[IDRange, ...]:
            return tuple(
                IDRange(int(e["containerID"]), int(e["hostID"]), int(e["size"]))
                for e in linux.get(key) or ()
            )

        return cls(ranges("uidMappings"), ranges("gidMappings"))


def subordinate_ranges(path: Path, user: str, uid: int) -> list[tuple[int, int]]:
    """The ``(start, count)`` ranges ``path`` (``/etc/subuid`` format) grants ``user``/``uid``."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found: list[tuple[int, int]] = []
    for line in text.splitlines():
        fields = line.strip().split(":")
        if len(fields) != 3 or fields[0] not in (user, str(uid)):
            continue
        if fields[1].isdigit() and fields[2].isdigit() and int(fields[2]) > 0:
            found.append((int(fields[1]), int(fields[2])))
    return found


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _with_ranges(own: int, ranges: Sequence[tuple[int, int]]) -> tuple[IDRange, ...]:
    out = [IDRange(0, own, 1)]
    next_id = 1
    for start, count in ranges:
        out.append(IDRange(next_id, start, count))
        next_id += count
    return tuple(out)


def rootless_mapping(
    uid: int | None = None,
    gid: int | None = None,
    *,
    name: str | None = None,
    subuid_file: Path = SUBUID_FILE,
    subgid_file: Path = SUBGID_FILE,
) -> IDMapping:
    """The mapping for an unprivileged caller: subordinate ranges when usable, else one ID.

    ``name`` is the user name the range files list (default: the passwd name of ``uid``).
    """
    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    name = name or _user_name(uid)
    sub_uids = subordinate_ranges(subuid_file, name, uid)
    sub_gids = subordinate_ranges(subgid_file, name, uid)
    helpers = shutil.which("newuidmap") and shutil.which("newgidmap")
    if sub_uids and sub_gids and helpers:
        return IDMapping(_with_ranges(uid, sub_uids), _with_ranges(gid, sub_gids))
    return IDMapping((IDRange(0, uid, 1),), (IDRange(0, gid, 1),))


CAP_SYS_ADMIN = 21


def single_id_run() -> bool:
    """Whether a container started here gets a user namespace that maps only ID 0 (no
    subordinate IDs: ``chown`` to another ID fails inside; see :mod:`.ownership`)."""
    if os.geteuid() == 0:
        return inside_single_id_namespace()
    mapping = default_mapping()
    return mapping is not None and mapping.single


def has_sys_admin() -> bool:
    """Whether this process holds ``CAP_SYS_ADMIN`` (its effective set, /proc/self/status)."""
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_SYS_ADMIN & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def default_mapping() -> IDMapping | None:
    """The mapping a container of this process gets; ``None`` when no user namespace is needed.

    A process with euid 0 and ``CAP_SYS_ADMIN`` (root, or root of a user namespace it is
    already in) has the privileges every other namespace needs. Root *without* it (inside a
    container that dropped the capability, as podman's and Kubernetes' defaults do) gets a
    new user namespace mapping 0 onto itself, where it holds every capability again.
    """
    if os.geteuid() == 0:
        if has_sys_admin():
            return None
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


def write_mapping_with_helpers(pid: int, mapping: IDMapping) -> None:
    """Map the user namespace of ``pid`` with ``newuidmap``/``newgidmap`` (from the parent)."""
    import subprocess

    for tool, ranges in (("newuidmap", mapping.uids), ("newgidmap", mapping.gids)):
        path = shutil.which(tool)
        if path is None:
            raise RunError(f"{tool} is not installed: install the uidmap package")
        args = [path, str(pid)]
        for r in ranges:
            args += [str(r.container_id), str(r.host_id), str(r.size)]
        done = subprocess.run(args, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RunError(
                f"{tool} failed: {done.stderr.strip() or done.returncode}; check the ranges "
                f"of /etc/subuid and /etc/subgid for {_user_name(os.geteuid())}"
            )


__all__ = [
    "IDMapping",
    "IDRange",
    "default_mapping",
    "rootless_mapping",
    "single_id_run",
    "subordinate_ranges",
    "write_mapping_with_helpers",
    "write_self_mapping",
]
