"""What ``-v``, ``--mount``, ``--tmpfs`` and ``--read-only`` put in a container (podman's).

:func:`parse_mount` reads ``--mount type=bind|volume|tmpfs,...``: a bind or a volume becomes a
:class:`~boxwright.runtime.options.Mount` (a volume's source is a name of the store's, empty for
an anonymous volume made for the run), a tmpfs a runtime-spec mount object for
``RunOptions.extra_mounts``. :func:`use_named_volumes` turns the names into the volumes'
directories (``R/volumes/NAME/_data``, created on first use) for one container of the store.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from boxwright.errors import RunError, UsageError
from boxwright.runtime.options import Mount, RunOptions
from boxwright.runtime.state import process_start
from boxwright.store.store import Store

#: The mount options a tmpfs may take (``--tmpfs DEST:OPTS``), besides ``size=``/``mode=``.
_TMPFS_FLAGS = frozenset(
    {"ro", "rw", "noexec", "exec", "nosuid", "suid", "nodev", "dev", "noatime", "relatime"}
)
_PROPAGATION = frozenset({"private", "rprivate", "shared", "rshared", "slave", "rslave"})
#: podman's ``--read-only-tmpfs``: the directories a read-only container still writes.
READ_ONLY_TMPFS = ("/tmp", "/var/tmp", "/run")


def tmpfs_mount(destination: str, options: str = "") -> dict[str, Any]:
    """``--tmpfs DEST[:OPTS]`` as a runtime-spec mount: podman's defaults ``rw,noexec,nosuid,
    nodev`` unless OPTS say otherwise (``exec``, ``ro``, ``size=64m``, ``mode=1777`` ...)."""
    if not destination.startswith("/"):
        raise UsageError(f"invalid tmpfs {destination!r}: the destination must be absolute")
    chosen = {"rw": "rw", "exec": "noexec", "suid": "nosuid", "dev": "nodev"}
    data: list[str] = []
    for option in filter(None, options.split(",")):
        if option.partition("=")[0] in ("size", "mode", "nr_inodes"):
            data.append(option)
        elif option in _TMPFS_FLAGS:
            kind = {"ro": "rw", "noatime": "atime", "relatime": "atime"}.get(option, option)
            chosen[kind.removeprefix("no")] = option
        else:
            raise UsageError(f"invalid tmpfs option {option!r} for {destination}")
    # the positive ones (exec, suid, dev, rw) are the kernel's defaults: no flag to pass
    flags = [o for o in chosen.values() if o not in ("exec", "suid", "dev")]
    return {"destination": destination, "type": "tmpfs", "source": "tmpfs", "options": flags + data}


def read_only_mounts() -> tuple[dict[str, Any], ...]:
    """The tmpfs mounts ``--read-only`` adds (podman's ``--read-only-tmpfs``, on by default)."""
    return tuple(
        {"destination": d, "type": "tmpfs", "source": "tmpfs", "options": ["rw", "nosuid", "nodev"]}
        for d in READ_ONLY_TMPFS
    )


def parse_mount(text: str) -> Mount | dict[str, Any]:
    """``--mount type=bind|volume|tmpfs,source=...,destination=...[,ro][,U]...``."""
    fields: dict[str, str] = {}
    flags: set[str] = set()
    for item in text.split(","):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not key:
            continue
        if key in ("src", "source"):
            key = "source"
        elif key in ("dst", "destination", "target"):
            key = "destination"
        elif key == "readonly":
            key = "ro"
        if sep and key not in ("ro", "U", "chown"):
            fields[key] = value
        elif key in ("ro", "U", "chown") and value in ("", "true", "false"):
            if value != "false":
                flags.add("U" if key == "chown" else key)
        else:
            flags.add(key)
    kind = fields.pop("type", "")
    destination = fields.pop("destination", "")
    if not destination:
        raise UsageError(f"invalid --mount {text!r}: a destination (dst=) is required")
    if kind == "tmpfs":
        options = [f"size={fields.pop('tmpfs-size')}"] if "tmpfs-size" in fields else []
        if "tmpfs-mode" in fields:
            options.append(f"mode={fields.pop('tmpfs-mode')}")
        options += sorted(flags & _TMPFS_FLAGS) + (["ro"] if "ro" in flags else [])
        _refuse_rest(text, fields, flags - _TMPFS_FLAGS - {"ro"})
        return tmpfs_mount(destination, ",".join(options))
    if kind not in ("bind", "volume"):
        raise UsageError(f"invalid --mount {text!r}: type must be bind, volume or tmpfs")
    source = fields.pop("source", "")
    fields.pop("relabel", None)  # SELinux relabelling: nothing to do without SELinux
    if fields.get("bind-propagation", "rprivate") not in _PROPAGATION:
        raise UsageError(f"invalid --mount {text!r}: unknown bind-propagation")
    fields.pop("bind-propagation", None)
    _refuse_rest(text, fields, flags - {"ro", "U", "z", "Z"})
    if kind == "bind":
        if not source.startswith("/"):
            raise UsageError(f"invalid --mount {text!r}: a bind needs an absolute source")
    elif source.startswith(("/", ".")):
        raise UsageError(f"invalid --mount {text!r}: a volume's source is a volume name")
    return Mount(source, destination, "ro" in flags, "U" in flags)


def _refuse_rest(text: str, fields: dict[str, str], flags: Iterable[str]) -> None:
    left = sorted([*fields, *flags])
    if left:
        raise UsageError(f"invalid --mount {text!r}: unknown option {left[0]!r}")


def use_named_volumes(store: Store, container_id: str, options: RunOptions) -> RunOptions:
    """``options`` with every volume naming a volume of the store (or none: an anonymous
    one, made now) replaced by that volume's directory; each is noted as used by
    ``container_id``."""
    if not any(m.named or not m.source for m in options.volumes):
        return options
    volumes = []
    for mount in options.volumes:
        if mount.named or not mount.source:
            volume = store.volumes.use(mount.source or _anonymous(store), container_id)
            mount = replace(mount, source=volume.mountpoint)
        volumes.append(mount)
    return replace(options, volumes=tuple(volumes))


def joining_container(store: Store, options: RunOptions) -> RunOptions:
    """``--network container:NAME`` as ``ns:`` the network namespace of NAME's running
    process (its pid in ``userdata/state.json`` of the container's directory, checked
    against the kernel's start time of that pid); :class:`RunError` when it does not run."""
    if not options.network.startswith("container:"):
        return options
    name = options.network.partition(":")[2]
    state = store.containers.directory(name) / "userdata" / "state.json"
    try:
        data = json.loads(state.read_bytes())
        pid = int(data.get("pid") or 0)
        start = int(data.get("pid_start") or 0)
    except (OSError, ValueError, AttributeError):
        pid = start = 0
    if pid <= 0 or (start and process_start(pid) != start) or not _alive(pid):
        raise RunError(f"--network container:{name}: the container is not running", 125)
    return replace(options, network=f"ns:/proc/{pid}/ns/net")


def _alive(pid: int) -> bool:
    return os.path.exists(f"/proc/{pid}/ns/net")


def _anonymous(store: Store) -> str:
    return store.volumes.create().name


__all__ = [
    "READ_ONLY_TMPFS",
    "joining_container",
    "parse_mount",
    "read_only_mounts",
    "tmpfs_mount",
    "use_named_volumes",
]
