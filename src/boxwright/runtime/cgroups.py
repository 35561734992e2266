"""Resource limits (``--memory``, ``--cpus``, ``--pids-limit``) on a cgroup v2 delegated to
the caller.

A limit needs a cgroup of its own for the container, made below the caller's cgroup in the
unified (v2) hierarchy. That works where the hierarchy is cgroup v2 alone
(``/sys/fs/cgroup`` is ``cgroup2``) and the caller's cgroup hands the controllers on to its
children (``cgroup.subtree_control`` lists ``memory``, ``cpu``, ``pids`` as asked) and is
writable by the caller, as systemd delegates a user's ``user@UID.service`` or a
``Delegate=yes`` unit. Everywhere else, and notably on a hybrid layout (cgroup v1 controllers
with an empty v2 tree at ``/sys/fs/cgroup/unified``), :func:`check_delegation` refuses the
run with a :class:`~boxwright.errors.RunError` saying which case it is: boxwright never
writes cgroup v1 files.

The limits travel in the runtime spec as ``linux.resources`` (the OCI fields); the native
runner puts the keeper in :func:`make_cgroup`'s cgroup before the container starts.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Any

from boxwright.errors import RunError, UsageError

CGROUP_ROOT = Path("/sys/fs/cgroup")
_CGROUP2_MAGIC = "cgroup2fs"
_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_CPU_PERIOD = 100_000


def parse_size(text: str) -> int:
    """``512m``, ``1g``, ``65536`` (podman's units: b, k, m, g; 1024-based) in bytes."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([bkmg]?)b?", text.strip().lower())
    if found is None:
        raise UsageError(f"invalid memory size {text!r}: expected a number with b, k, m or g")
    return int(float(found.group(1)) * _UNITS[found.group(2)])


def resource_limits(
    *, memory: str | None = None, cpus: float | None = None, pids: int | None = None
) -> dict[str, Any]:
    """The OCI ``linux.resources`` object for the limits given (empty when none is)."""
    resources: dict[str, Any] = {}
    if memory is not None:
        resources["memory"] = {"limit": parse_size(memory)}
    if cpus is not None:
        if cpus <= 0:
            raise UsageError(f"invalid --cpus {cpus}: must be more than 0")
        resources["cpu"] = {"quota": int(cpus * _CPU_PERIOD), "period": _CPU_PERIOD}
    if pids is not None:
        if pids == 0 or pids < -1:
            raise UsageError(f"invalid --pids-limit {pids}: a positive number, or -1 for none")
        resources["pids"] = {"limit": pids}
    return resources


def _files(resources: dict[str, Any]) -> dict[str, str]:
    """cgroup v2 file → value for the limits of an OCI ``linux.resources`` object that
    :func:`resource_limits` writes (other fields, such as ``devices``, are not limits)."""
    files: dict[str, str] = {}
    if "limit" in (resources.get("memory") or {}):
        files["memory.max"] = str(resources["memory"]["limit"])
    if "quota" in (resources.get("cpu") or {}):
        cpu = resources["cpu"]
        files["cpu.max"] = f"{cpu['quota']} {cpu['period']}"
    if "limit" in (resources.get("pids") or {}):
        limit = resources["pids"]["limit"]
        files["pids.max"] = "max" if limit == -1 else str(limit)
    return files


def has_limits(resources: dict[str, Any]) -> bool:
    """Whether an OCI ``linux.resources`` object asks for a limit boxwright sets."""
    return bool(_files(resources))


def _own_cgroup() -> str | None:
    """This process's cgroup in the unified hierarchy (the ``0::`` line)."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            if line.startswith("0::"):
                return line[3:]
    return None


def check_delegation(resources: dict[str, Any]) -> Path:
    """The caller's cgroup v2 directory, when it can hold the container's limits; else a
    :class:`RunError` (125) naming what is missing."""
    controllers = sorted({name.partition(".")[0] for name in _files(resources)})
    wanted = ", ".join(f"--{c if c != 'cpu' else 'cpus'}" for c in controllers)
    wanted = wanted.replace("--pids", "--pids-limit")
    kind = _fs_type(CGROUP_ROOT)
    if kind != _CGROUP2_MAGIC:
        layout = "cgroup v1"
        if _fs_type(CGROUP_ROOT / "unified") == _CGROUP2_MAGIC:
            layout = "a hybrid cgroup layout (v1 controllers, v2 at /sys/fs/cgroup/unified)"
        raise RunError(
            f"{wanted} need cgroup v2 with the controllers delegated; this machine has "
            f"{layout}: boxwright does not set limits through cgroup v1",
            125,
        )
    own = _own_cgroup()
    if own is None:
        raise RunError(f"{wanted}: this process is in no cgroup v2 group", 125)
    directory = CGROUP_ROOT / own.lstrip("/")
    # The nearest group (this process's own, else an ancestor) that hands the controllers
    # on and that this process may write: a delegated subtree.
    for candidate in (directory, *directory.parents):
        if candidate == CGROUP_ROOT.parent:
            break
        try:
            enabled = set((candidate / "cgroup.subtree_control").read_text().split())
        except OSError:
            continue
        if set(controllers) <= enabled and os.access(candidate, os.W_OK):
            return candidate
    raise RunError(
        f"{wanted} need cgroup v2 delegated to this user: no group from {directory} up hands "
        f"on the {', '.join(controllers)} controller(s) with write access (run under a "
        "systemd unit with Delegate=yes, or in a user session)",
        125,
    )


def _fs_type(path: Path) -> str:
    """The file system type of ``path`` as ``stat -f`` names it (only cgroup2 matters)."""
    with contextlib.suppress(OSError, IndexError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            if left.split()[4] == str(path):
                return "cgroup2fs" if right.split()[0] == "cgroup2" else right.split()[0]
    return ""


def make_cgroup(parent: Path, name: str, resources: dict[str, Any]) -> Path:
    """A new cgroup ``name`` under ``parent`` with the limits written."""
    group = parent / name
    try:
        group.mkdir()
        for file, value in _files(resources).items():
            (group / file).write_text(value)
    except OSError as error:
        raise RunError(f"cannot set up the cgroup {group}: {error.strerror}", 125) from None
    return group


def enter_cgroup(group: Path, pid: int) -> None:
    """Move process ``pid`` into ``group``."""
    try:
        (group / "cgroup.procs").write_text(str(pid))
    except OSError as error:
        raise RunError(f"cannot move the container into {group}: {error.strerror}", 125) from None


def remove_cgroup(group: Path) -> None:
    """Remove ``group`` once its processes are gone (best effort)."""
    with contextlib.suppress(OSError):
        group.rmdir()


__all__ = [
    "check_delegation",
    "enter_cgroup",
    "has_limits",
    "make_cgroup",
    "parse_size",
    "remove_cgroup",
    "resource_limits",
]
