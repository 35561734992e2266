"""The OCI runtime spec (``config.json``) both runners execute, made from an image's config
and the run's :class:`~boxwright.runtime.options.RunOptions` (defined apart, and imported
here for the spec's callers: ``run.json``'s readers load none of this module).

:func:`generate_spec` starts from :func:`boxwright.oci.runtime_spec.runtime_spec` (umoci's
conversion of an image config) and applies what a ``run`` asks for, the way Docker and podman
define it:

* the command: ``--entrypoint`` replaces the image's ``Entrypoint`` and then drops its ``Cmd``;
  a command given on the line replaces ``Cmd``; the process runs ``Entrypoint + Cmd``, and
  neither being set is an error ("no command specified"), never an implicit shell;
* the environment: the image's, then ``-e K=V`` (``-e K`` takes ``K`` from the caller's
  environment when it is set), with ``HOME`` from the user's passwd entry unless given;
* the user and groups: ``USER[:GROUP]`` resolved against the rootfs's own ``/etc/passwd`` and
  ``/etc/group`` (:func:`boxwright.unpack.users.resolve_user`, never the host's);
* the working directory, hostname, capabilities (containers.conf's default set; only the
  bounding set for a non-root user, as podman does), rlimits (none unless asked: a limit
  above the caller's own would be refused), no-new-privileges, bind mounts (volumes), the
  network namespace (``host`` shares the caller's, ``none`` is a fresh loopback-only one) and,
  for an unprivileged caller, the user namespace with its ID mapping.

The image's declared ``Volumes`` are not mounted over (umoci mounts a tmpfs there): a run
writes into the container's own files, as a build step must.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from boxwright.errors import RunError, UsageError
from boxwright.oci.config import ImageConfig
from boxwright.oci.runtime_spec import DEFAULT_HOSTNAME, runtime_spec
from boxwright.runtime.cgroups import resource_limits
from boxwright.runtime.idmap import IDMapping, IDRange
from boxwright.runtime.options import Mount, RunOptions
from boxwright.unpack.users import ExecUser, resolve_user

#: containers.conf's ``default_capabilities`` (podman 4, buildah): what a container's root keeps.
DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETFCAP",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETUID",
    "CAP_SYS_CHROOT",
)

#: Capability names → numbers (linux/capability.h).
CAPABILITY_NUMBERS: dict[str, int] = {
    name: number
    for number, name in enumerate(
        (
            "CAP_CHOWN",
            "CAP_DAC_OVERRIDE",
            "CAP_DAC_READ_SEARCH",
            "CAP_FOWNER",
            "CAP_FSETID",
            "CAP_KILL",
            "CAP_SETGID",
            "CAP_SETUID",
            "CAP_SETPCAP",
            "CAP_LINUX_IMMUTABLE",
            "CAP_NET_BIND_SERVICE",
            "CAP_NET_BROADCAST",
            "CAP_NET_ADMIN",
            "CAP_NET_RAW",
            "CAP_IPC_LOCK",
            "CAP_IPC_OWNER",
            "CAP_SYS_MODULE",
            "CAP_SYS_RAWIO",
            "CAP_SYS_CHROOT",
            "CAP_SYS_PTRACE",
            "CAP_SYS_PACCT",
            "CAP_SYS_ADMIN",
            "CAP_SYS_BOOT",
            "CAP_SYS_NICE",
            "CAP_SYS_RESOURCE",
            "CAP_SYS_TIME",
            "CAP_SYS_TTY_CONFIG",
            "CAP_MKNOD",
            "CAP_LEASE",
            "CAP_AUDIT_WRITE",
            "CAP_AUDIT_CONTROL",
            "CAP_SETFCAP",
            "CAP_MAC_OVERRIDE",
            "CAP_MAC_ADMIN",
            "CAP_SYSLOG",
            "CAP_WAKE_ALARM",
            "CAP_BLOCK_SUSPEND",
            "CAP_AUDIT_READ",
            "CAP_PERFMON",
            "CAP_BPF",
            "CAP_CHECKPOINT_RESTORE",
        )
    )
}

_RLIMITS = "AS CORE CPU DATA FSIZE LOCKS MEMLOCK MSGQUEUE NICE NOFILE NPROC RSS RTPRIO RTTIME"
RLIMIT_NAMES = frozenset(f"RLIMIT_{n}" for n in [*_RLIMITS.split(), "SIGPENDING", "STACK"])


#: Where the init program is bound in the container (podman binds its own at /run/podman-init).
INIT_DESTINATION = "/run/boxwright-init"
#: Statically linked inits, in order: a container's rootfs has no libraries of the host's.
INIT_CANDIDATES = (
    "/usr/libexec/podman/catatonit",
    "/usr/bin/catatonit",
    "/usr/bin/tini-static",
    "/usr/sbin/tini-static",
)


def find_init(requested: str | None = None) -> str:
    """The host path of the init ``--init`` binds in: ``requested``, else the first of
    :data:`INIT_CANDIDATES` installed; :class:`RunError` (125) when there is none."""
    for path in (requested,) if requested else INIT_CANDIDATES:
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return os.path.abspath(path)
    looked = requested or ", ".join(INIT_CANDIDATES)
    raise RunError(
        f"--init: no init program found (looked for {looked}): install catatonit or tini", 125
    )


def _set_env(env: list[str], entry: str) -> None:
    name = entry.partition("=")[0]
    for i, old in enumerate(env):
        if old.partition("=")[0] == name:
            env[i] = entry
            return
    env.append(entry)


def _command(config: ImageConfig, options: RunOptions) -> list[str]:
    cc = config.config
    if options.entrypoint is not None:
        entrypoint = list(options.entrypoint)
        cmd = list(options.args)
    else:
        entrypoint = list(cc.entrypoint or ())
        cmd = list(options.args) or list(cc.cmd or ())
    args = entrypoint + cmd
    if not args:
        raise UsageError("no command specified: the image has no Entrypoint or Cmd; give one")
    return args


def capability_name(name: str) -> str:
    """``sys_admin``, ``CAP_SYS_ADMIN`` → ``CAP_SYS_ADMIN``; :class:`UsageError` when the name
    is no Linux capability."""
    full = name.upper() if name.upper().startswith("CAP_") else f"CAP_{name.upper()}"
    if full not in CAPABILITY_NUMBERS:
        raise UsageError(f"unknown capability {name!r}")
    return full


def _capabilities(options: RunOptions, uid: int) -> dict[str, list[str]]:
    names = DEFAULT_CAPABILITIES if options.capabilities is None else options.capabilities
    caps: list[str] = []
    for name in names:
        full = capability_name(name)
        if full not in caps:
            caps.append(full)
    granted = caps if uid == 0 else []
    return {"bounding": caps, "effective": granted, "permitted": granted, "ambient": []}


def bind_mount(source: str | Path, destination: str, *, read_only: bool = False) -> dict[str, Any]:
    """A runtime-spec bind mount of host path ``source`` at ``destination``."""
    options = ["rbind", "rprivate"] + (["ro"] if read_only else [])
    return {"destination": destination, "type": "bind", "source": str(source), "options": options}


def _volume(mount: Mount) -> dict[str, Any]:
    if mount.named:
        raise UsageError(
            f"volume {mount.source!r} is a named volume: named volumes belong to containers "
            "of the store (boxwright run)"
        )
    source = os.path.abspath(mount.source)
    if not os.path.exists(source):
        raise UsageError(f"volume source {mount.source!r} does not exist")
    if not mount.destination.startswith("/"):
        raise UsageError(f"volume destination {mount.destination!r} must be an absolute path")
    return bind_mount(source, mount.destination, read_only=mount.read_only)


def generate_spec(
    rootfs: Path | str,
    image_config: ImageConfig,
    options: RunOptions,
    *,
    rootless: bool,
    id_map: IDMapping | None = None,
) -> dict[str, Any]:
    """The runtime spec that runs ``options`` in ``rootfs`` (an absolute ``root.path``).

    ``rootless`` asks for a user namespace mapped by ``id_map`` (default: the caller's own
    IDs only). Raises :class:`UsageError` for contradictory options and
    :class:`~boxwright.errors.UnpackError` for a user or group the image does not define.
    """
    rootfs = Path(rootfs).absolute()
    cc = image_config.config
    user_spec = cc.user if options.user is None else options.user
    exec_user = resolve_user(rootfs, user_spec, "image User" if options.user is None else "user")
    if rootless and id_map is None:
        id_map = IDMapping((IDRange(0, os.geteuid(), 1),), (IDRange(0, os.getegid(), 1),))
    if rootless and id_map is not None:
        _check_mapped(id_map, exec_user, user_spec)
    spec = runtime_spec(
        image_config,
        rootfs=str(rootfs),
        uid=exec_user.uid,
        gid=exec_user.gid,
        additional_gids=exec_user.additional_gids,
        terminal=options.terminal,
        rootless=rootless,
        hostname=options.hostname or DEFAULT_HOSTNAME,
        home=exec_user.home,
    )
    spec["root"] = {"path": str(rootfs), "readonly": options.read_only}
    _apply_process_options(spec["process"], image_config, options, exec_user.uid)
    spec["mounts"] = _mounts(spec["mounts"], cc.volumes, options)
    _chown_volumes(spec, options, exec_user)
    resources = resource_limits(memory=options.memory, cpus=options.cpus, pids=options.pids_limit)
    if resources:
        spec["linux"]["resources"] = {**(spec["linux"].get("resources") or {}), **resources}
    if options.privileged:
        _privileged(spec, rootless)
    if rootless and id_map is not None:
        # runtime_spec maps the process's own uid onto the caller; a run maps root (and more).
        spec["linux"].update(id_map.to_spec())
        if not id_map.single and exec_user.additional_gids:
            spec["process"]["user"]["additionalGids"] = list(exec_user.additional_gids)
    _set_namespaces(spec, options)
    return spec


#: The annotation listing the mount destinations the container gets to own (``-v ...:U``),
#: as ``UID:GID DEST...``; the native runner chowns them before it enters the rootfs.
CHOWN_ANNOTATION = "org.boxwright.chown"


def _chown_volumes(spec: dict[str, Any], options: RunOptions, user: ExecUser) -> None:
    owned = [v.destination for v in options.volumes if v.chown]
    if owned:
        value = json.dumps([user.uid, user.gid, owned])
        spec.setdefault("annotations", {})[CHOWN_ANNOTATION] = value


def _privileged(spec: dict[str, Any], rootless: bool) -> None:
    """podman's ``--privileged``: every capability the kernel knows (outside a user namespace
    of its own, every one this process holds), the host's ``/dev`` bound in place of the
    tmpfs, ``/sys`` writable, nothing masked or read-only."""
    try:
        last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        last = max(CAPABILITY_NUMBERS.values())
    held = -1 if rootless else _held_capabilities()
    every = [n for n, number in CAPABILITY_NUMBERS.items() if number <= last and held >> number & 1]
    caps = spec["process"]["capabilities"]
    granted = every if caps["effective"] else []
    caps.update(bounding=every, effective=granted, permitted=granted)
    spec["process"]["noNewPrivileges"] = False
    linux = spec["linux"]
    linux["maskedPaths"] = []
    linux["readonlyPaths"] = []
    for mount in spec["mounts"]:
        if mount["destination"] == "/dev" and mount["type"] == "tmpfs":
            mount.update(type="bind", source="/dev", options=["rbind", "nosuid"])
        elif mount["destination"] == "/sys":
            mount["options"] = [o for o in mount.get("options") or () if o != "ro"]


def _held_capabilities() -> int:
    """This process's permitted capabilities (``CapPrm``); every one when unreadable."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapPrm:"):
                return int(line.split()[1], 16)
    except (OSError, ValueError):
        pass
    return -1


def _check_mapped(id_map: IDMapping, exec_user: ExecUser, user_spec: str) -> None:
    """Refuse a user or group the user namespace of ``id_map`` cannot hold."""
    for what, number, ok in (
        ("uid", exec_user.uid, id_map.maps_uid(exec_user.uid)),
        ("gid", exec_user.gid, id_map.maps_gid(exec_user.gid)),
    ):
        if not ok:
            raise RunError(
                f"{what} {number} (user {user_spec!r}) is not mapped in the user namespace: "
                "configure subordinate IDs in /etc/subuid and /etc/subgid for this user"
            )


def _apply_process_options(
    process: dict[str, Any], image_config: ImageConfig, options: RunOptions, uid: int
) -> None:
    """Set in the spec's ``process`` what the run's options change: command, environment,
    working directory, capabilities, no-new-privileges and resource limits."""
    process["args"] = _command(image_config, options)
    if options.init:
        process["args"] = [INIT_DESTINATION, "--", *process["args"]]
    env: list[str] = process["env"]
    for entry in options.env:
        name, sep, _ = entry.partition("=")
        if not name:
            raise UsageError(f"invalid environment variable {entry!r}: expected NAME=VALUE")
        if sep:
            _set_env(env, entry)
        elif name in os.environ:
            _set_env(env, f"{name}={os.environ[name]}")
    if options.workdir is not None:
        if not options.workdir.startswith("/"):
            raise UsageError(f"working directory {options.workdir!r} must be an absolute path")
        process["cwd"] = options.workdir
    process["capabilities"] = _capabilities(options, uid)
    process["noNewPrivileges"] = options.no_new_privileges
    rlimits = []
    for name, soft, hard in options.rlimits:
        if name not in RLIMIT_NAMES or soft > hard:
            raise UsageError(f"invalid rlimit {name}={soft}:{hard}")
        rlimits.append({"type": name, "soft": soft, "hard": hard})
    if rlimits:
        process["rlimits"] = rlimits
    else:
        process.pop("rlimits", None)


def _mounts(
    mounts: list[dict[str, Any]], image_volumes: Iterable[str], options: RunOptions
) -> list[dict[str, Any]]:
    """The spec's mounts without the image volumes' anonymous tmpfs, then the run's volumes
    and extra mounts."""
    volumes = set(image_volumes)
    kept = [
        m
        for m in mounts
        if not (m["type"] == "tmpfs" and m["source"] == "none" and m["destination"] in volumes)
    ]
    kept += [_volume(v) for v in options.volumes]
    if options.init:
        kept.append(bind_mount(find_init(options.init_path), INIT_DESTINATION, read_only=True))
    kept += [dict(m) for m in options.extra_mounts]
    return kept


def _set_namespaces(spec: dict[str, Any], options: RunOptions) -> None:
    """Leave out the network or IPC namespace the run shares with the host (and with the IPC
    namespace, the mqueue mount); otherwise give the container its own network."""
    linux = spec["linux"]
    kinds = [ns["type"] for ns in linux["namespaces"]]
    if options.network == "host":
        kinds = [k for k in kinds if k != "network"]
    elif "network" not in kinds:
        kinds.insert(1, "network")
    if options.ipc == "host":  # no IPC namespace of its own: no mqueue of its own either
        kinds = [k for k in kinds if k != "ipc"]
        spec["mounts"] = [m for m in spec["mounts"] if m.get("type") != "mqueue"]
    linux["namespaces"] = [{"type": k} for k in kinds]
    if options.network.startswith("ns:"):  # join that network namespace (and its owner's)
        _join_network(linux, options.network[3:])


def _join_network(linux: dict[str, Any], path: str) -> None:
    """Give the spec's network namespace ``path``; for ``/proc/PID/ns/net`` of a process in
    another user namespace, join that user namespace too (its owner holds the network)."""
    import re

    for ns in linux["namespaces"]:
        if ns["type"] == "network":
            ns["path"] = path
    found = re.fullmatch(r"/proc/(\d+)/ns/net", path)
    if found is None or not any(ns["type"] == "user" for ns in linux["namespaces"]):
        return
    user = f"/proc/{found.group(1)}/ns/user"
    try:
        same = os.stat(user).st_ino == os.stat("/proc/self/ns/user").st_ino
    except OSError as error:
        raise RunError(f"cannot join the network of process {found.group(1)}: {error}") from None
    if not same:
        for ns in linux["namespaces"]:
            if ns["type"] == "user":
                ns["path"] = user
        linux.pop("uidMappings", None)
        linux.pop("gidMappings", None)


def spec_mapping(spec: Mapping[str, Any]) -> IDMapping | None:
    """The ID mapping a spec asks for, or ``None`` when it has no user namespace."""
    linux = spec.get("linux") or {}
    if not any(ns.get("type") == "user" for ns in linux.get("namespaces") or ()):
        return None
    return IDMapping.from_spec(linux)


__all__ = [
    "CAPABILITY_NUMBERS",
    "DEFAULT_CAPABILITIES",
    "INIT_CANDIDATES",
    "INIT_DESTINATION",
    "Mount",
    "RunOptions",
    "bind_mount",
    "capability_name",
    "find_init",
    "generate_spec",
    "spec_mapping",
]
