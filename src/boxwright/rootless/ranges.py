"""Subordinate ID ranges and the user namespace mappings they give.

An unprivileged user gets, as podman gives it, container ID 0 mapped onto its own ID and
container IDs 1.. onto its ``/etc/subuid`` and ``/etc/subgid`` ranges, written by the setuid
(or file-capability) helpers ``newuidmap``/``newgidmap``: :func:`ranges_mapping`. Without
ranges or helpers the mapping is a single ID (container 0 = the caller), which a process can
write itself after denying ``setgroups``: :func:`single_mapping`.

This is the one place that reads the range files and runs the helpers: the store's ranges
mode (:mod:`boxwright.rootless.namespace`), the runtime (:mod:`boxwright.runtime.idmap`
re-exports these names) and podman's rootless containers-storage all use it.
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boxwright._idmaps import read_id_map
from boxwright._numbers import ascii_int
from boxwright.errors import RunError

SUBUID_FILE = Path("/etc/subuid")
SUBGID_FILE = Path("/etc/subgid")
HELPERS = ("newuidmap", "newgidmap")


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
        start, count = ascii_int(fields[1]), ascii_int(fields[2])
        if start is not None and count is not None and count > 0:
            found.append((start, count))
    return found


def user_name(uid: int) -> str:
    """The passwd name of ``uid`` (its number when it has none), as the range files list it."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def helper_usable(path: str) -> bool:
    """Whether ``path`` can write other IDs' maps: setuid root, or given file capabilities
    (``security.capability``, as Fedora installs ``newuidmap``)."""
    try:
        st = os.stat(path)
    except OSError:
        return False
    if st.st_mode & stat.S_ISUID and st.st_uid == 0:
        return True
    try:
        return bool(os.getxattr(path, "security.capability"))
    except OSError:
        return False


def helpers() -> tuple[str, str] | None:
    """The paths of usable ``newuidmap`` and ``newgidmap``, or None when either is missing."""
    found = [shutil.which(tool) for tool in HELPERS]
    paths = [path for path in found if path is not None and helper_usable(path)]
    return (paths[0], paths[1]) if len(paths) == 2 else None


def _with_ranges(own: int, ranges: Sequence[tuple[int, int]]) -> tuple[IDRange, ...]:
    out = [IDRange(0, own, 1)]
    next_id = 1
    for start, count in ranges:
        out.append(IDRange(next_id, start, count))
        next_id += count
    return tuple(out)


def single_mapping(uid: int | None = None, gid: int | None = None) -> IDMapping:
    """Container 0 = the caller, nothing else (what a process can map for itself)."""
    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    return IDMapping((IDRange(0, uid, 1),), (IDRange(0, gid, 1),))


def ranges_mapping(
    uid: int | None = None,
    gid: int | None = None,
    *,
    name: str | None = None,
    subuid_file: Path = SUBUID_FILE,
    subgid_file: Path = SUBGID_FILE,
    need_helpers: bool = True,
) -> IDMapping | None:
    """Podman's full mapping (0 = the caller, 1.. = the ranges), or None when the caller has
    no uid or no gid range, or (``need_helpers``) no usable ``newuidmap``/``newgidmap``.

    ``name`` is the user name the range files list (default: the passwd name of ``uid``).
    """
    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    name = name or user_name(uid)
    sub_uids = subordinate_ranges(subuid_file, name, uid)
    sub_gids = subordinate_ranges(subgid_file, name, uid)
    if not (sub_uids and sub_gids) or (need_helpers and helpers() is None):
        return None
    return IDMapping(_with_ranges(uid, sub_uids), _with_ranges(gid, sub_gids))


# ranges_mapping's parameters, passed on to it: rootless_mapping only adds the fallback to
# one ID.
def rootless_mapping(
    uid: int | None = None,
    gid: int | None = None,
    *,
    name: str | None = None,
    subuid_file: Path = SUBUID_FILE,
    subgid_file: Path = SUBGID_FILE,
) -> IDMapping:
    """The mapping for an unprivileged caller: subordinate ranges when usable, else one ID."""
    found = ranges_mapping(uid, gid, name=name, subuid_file=subuid_file, subgid_file=subgid_file)
    return found if found is not None else single_mapping(uid, gid)


def _privileged_writer() -> bool:
    """Whether this process may write a child namespace's maps itself: uid 0 with
    ``CAP_SETUID`` (7) and ``CAP_SETGID`` (6) effective."""
    if os.geteuid() != 0:
        return False
    try:
        with open("/proc/self/status", "rb") as handle:
            for line in handle:
                if line.startswith(b"CapEff:"):
                    caps = int(line.split()[1], 16)
                    return bool(caps >> 7 & 1) and bool(caps >> 6 & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def write_mapping_with_helpers(pid: int, mapping: IDMapping) -> None:
    """Map the user namespace of ``pid`` with ``newuidmap``/``newgidmap`` (from outside it),
    or, for root holding ``CAP_SETUID`` and ``CAP_SETGID``, by writing its maps directly (what
    the helpers do; a container's root has no usable setuid helper).

    :class:`~boxwright.errors.RunError` when a helper is missing or refuses (its message and
    the ranges to check).
    """
    if _privileged_writer():
        for kind, ranges in (("uid", mapping.uids), ("gid", mapping.gids)):
            text = "".join(f"{r.container_id} {r.host_id} {r.size}\n" for r in ranges)
            try:
                with open(f"/proc/{pid}/{kind}_map", "w", encoding="ascii") as handle:
                    handle.write(text)
            except OSError as error:
                raise RunError(
                    f"cannot write the {kind} map of a user namespace: {error}"
                ) from None
        return
    for tool, ranges in zip(HELPERS, (mapping.uids, mapping.gids), strict=True):
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
                f"of /etc/subuid and /etc/subgid for {user_name(os.geteuid())}"
            )


def read_mapping(pid: int | str = "self") -> IDMapping:
    """The mapping of the user namespace process ``pid`` is in (``/proc/PID/uid_map``)."""

    def rows(kind: str) -> tuple[IDRange, ...]:
        return tuple(IDRange(*row) for row in read_id_map(kind, pid))

    return IDMapping(rows("uid"), rows("gid"))


#: The uid map of the initial user namespace: every ID maps onto itself.
WHOLE_ID_SPACE = (IDRange(0, 0, 4294967295),)


def in_initial_user_namespace() -> bool:
    """Whether this process is in the initial user namespace (its uid map is the whole ID
    space onto itself), where real root's rights and ``trusted.`` xattrs apply; a map that
    cannot be read counts as the initial one."""
    try:
        return read_mapping().uids == WHOLE_ID_SPACE
    except OSError:
        return True


__all__ = [
    "HELPERS",
    "SUBGID_FILE",
    "SUBUID_FILE",
    "WHOLE_ID_SPACE",
    "IDMapping",
    "IDRange",
    "helper_usable",
    "helpers",
    "in_initial_user_namespace",
    "ranges_mapping",
    "read_mapping",
    "rootless_mapping",
    "single_mapping",
    "subordinate_ranges",
    "user_name",
    "write_mapping_with_helpers",
]
