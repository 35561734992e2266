"""An OCI runtime spec (a bundle's ``config.json``) derived from an image config.

This follows umoci (``oci/config/convert``): its default spec (runc's ``spec`` example with
a cgroup namespace), then the image's entrypoint, command, environment, working directory
and user, and the image facts that have no runtime field kept as ``org.opencontainers.image.*``
annotations. ``rootless=True`` applies the changes of ``runc spec --rootless`` / umoci's
``ToRootless``: a user namespace mapping the caller's IDs, no network namespace, no cgroup
resources, ``/sys`` bind-mounted instead of mounted, and no ``uid=``/``gid=`` mount options.

User names are not resolved here (that reads the rootfs' ``/etc/passwd`` safely, a job for
the caller): pass numeric ``uid``/``gid``. They are checked with
:func:`boxwright.oci.ids.check_id` (4294967295 is ``(uid_t)-1`` and would leave the process
root); :func:`boxwright.oci.ids.parse_user_spec` parses the config's ``User``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from boxwright.errors import ManifestError
from boxwright.oci._json import GO_ZERO_TIME, go_time
from boxwright.oci.config import ContainerConfig, ImageConfig
from boxwright.oci.ids import check_id

OCI_VERSION = "1.0.2"
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""The ``PATH`` a process gets when its image sets none (podman's and buildah's)."""
DEFAULT_PATH = f"PATH={SEARCH_PATH}"
DEFAULT_HOSTNAME = "boxwright"

ANNOTATION_OS = "org.opencontainers.image.os"
ANNOTATION_ARCH = "org.opencontainers.image.architecture"
ANNOTATION_AUTHOR = "org.opencontainers.image.author"
ANNOTATION_CREATED = "org.opencontainers.image.created"
ANNOTATION_STOP_SIGNAL = "org.opencontainers.image.stopSignal"
ANNOTATION_EXPOSED_PORTS = "org.opencontainers.image.exposedPorts"

_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]


def _default_mounts() -> list[dict[str, Any]]:
    return [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/sys/fs/cgroup",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"],
        },
    ]


def _set_env(env: list[str], name: str, value: str) -> None:
    """Set ``name`` in ``env``, replacing an earlier value in place (umoci's appendEnv)."""
    entry = f"{name}={value}"
    for i, old in enumerate(env):
        if old.startswith(name + "="):
            env[i] = entry
            return
    env.append(entry)


def runtime_spec(
    config: ImageConfig,
    *,
    rootfs: str = "rootfs",
    uid: int = 0,
    gid: int = 0,
    additional_gids: Sequence[int] = (),
    terminal: bool = False,
    rootless: bool = False,
    hostname: str = DEFAULT_HOSTNAME,
    home: str | None = None,
    host_uid: int | None = None,
    host_gid: int | None = None,
) -> dict[str, Any]:
    """The runtime spec for a container of ``config`` (a JSON-able dict).

    ``home`` (when the caller resolved the user's home directory) sets ``HOME`` unless the
    image's own ``Env`` sets it, as podman and Docker do. For ``rootless``,
    ``host_uid``/``host_gid`` default to this process's effective IDs; the container's
    ``uid``/``gid`` is mapped onto them.
    """
    if config.os and config.os != "linux":
        raise ManifestError(f"unsupported OS {config.os!r}: only linux images can be run")
    for what, number in (("uid", uid), ("gid", gid), *(("gid", g) for g in additional_gids)):
        check_id(number, what)
    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": _process(config.config, uid, gid, additional_gids, terminal, rootless, home),
        "root": {"path": os.path.basename(rootfs.rstrip("/")) or rootfs, "readonly": False},
        "hostname": hostname,
        "mounts": _mounts(config.config),
        "annotations": _annotations(config),
        "linux": _linux(),
    }
    if rootless:
        _to_rootless(
            spec,
            uid,
            gid,
            os.geteuid() if host_uid is None else host_uid,
            os.getegid() if host_gid is None else host_gid,
        )
    return spec


def _process(
    cc: ContainerConfig,
    uid: int,
    gid: int,
    additional_gids: Sequence[int],
    terminal: bool,
    rootless: bool,
    home: str | None,
) -> dict[str, Any]:
    """The spec's ``process``: the image's command, environment and working directory, run
    as ``uid``/``gid`` with the default capabilities and no new privileges."""
    env = [DEFAULT_PATH, "TERM=xterm"]
    for item in cc.env:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ManifestError(f"invalid environment variable {item!r} in the image config")
        _set_env(env, name, value)
    if home and not any(item.partition("=")[0] == "HOME" for item in cc.env):
        _set_env(env, "HOME", home)
    args = [*(cc.entrypoint or ()), *(cc.cmd or ())] or ["sh"]

    user: dict[str, Any] = {"uid": uid, "gid": gid}
    if additional_gids and not rootless:
        user["additionalGids"] = list(additional_gids)
    return {
        "terminal": terminal,
        "user": user,
        "args": args,
        "env": env,
        "cwd": cc.working_dir or "/",
        # No inheritable set: runc dropped it after CVE-2022-29162.
        "capabilities": {
            key: list(_CAPS) for key in ("bounding", "effective", "permitted", "ambient")
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    }


def _mounts(cc: ContainerConfig) -> list[dict[str, Any]]:
    """The default mounts, then a fresh tmpfs for each of the image's volumes."""
    mounts = _default_mounts()
    for volume in sorted(cc.volumes):
        mounts.append(
            {
                "destination": volume,
                "type": "tmpfs",
                "source": "none",
                "options": ["rw", "nosuid", "nodev", "noexec", "relatime"],
            }
        )
    return mounts


def _linux() -> dict[str, Any]:
    """The spec's ``linux``: new namespaces, no device access, the kernel paths masked or
    read-only as runc's default spec has them."""
    namespaces = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")]
    return {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": namespaces,
        "maskedPaths": [
            "/proc/acpi",
            "/proc/asound",
            "/proc/kcore",
            "/proc/keys",
            "/proc/latency_stats",
            "/proc/timer_list",
            "/proc/timer_stats",
            "/proc/sched_debug",
            "/sys/firmware",
            "/proc/scsi",
        ],
        "readonlyPaths": [
            "/proc/bus",
            "/proc/fs",
            "/proc/irq",
            "/proc/sys",
            "/proc/sysrq-trigger",
        ],
    }


def _annotations(config: ImageConfig) -> dict[str, str]:
    """The image's labels, then the ``org.opencontainers.image.*`` annotations the runtime
    spec's image-config conversion defines."""
    annotations = dict(config.config.labels)
    created = go_time(config.created, "image config created") if config.created else GO_ZERO_TIME
    annotations.update(
        {
            ANNOTATION_OS: config.os,
            ANNOTATION_ARCH: config.architecture,
            ANNOTATION_AUTHOR: config.author,
            ANNOTATION_CREATED: created,
            ANNOTATION_STOP_SIGNAL: config.config.stop_signal,
            ANNOTATION_EXPOSED_PORTS: ",".join(sorted(config.config.exposed_ports)),
        }
    )
    return annotations


def _to_rootless(spec: dict[str, Any], uid: int, gid: int, host_uid: int, host_gid: int) -> None:
    """Adjust ``spec`` for an unprivileged user namespace (runc/umoci ToRootless)."""
    linux = spec["linux"]
    linux["namespaces"] = [
        ns for ns in linux["namespaces"] if ns["type"] not in ("network", "user")
    ] + [{"type": "user"}]
    linux["uidMappings"] = [{"containerID": uid, "hostID": host_uid, "size": 1}]
    linux["gidMappings"] = [{"containerID": gid, "hostID": host_gid, "size": 1}]
    linux.pop("resources", None)
    mounts = []
    for mount in spec["mounts"]:
        if mount["destination"].startswith("/sys"):
            continue  # sysfs and cgroup cannot be mounted without privilege; bound below
        if "options" in mount:
            mount["options"] = [o for o in mount["options"] if not o.startswith(("uid=", "gid="))]
        mounts.append(mount)
    mounts.append(
        {
            "destination": "/sys",
            "type": "none",
            "source": "/sys",
            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
        }
    )
    spec["mounts"] = mounts


__all__ = ["OCI_VERSION", "runtime_spec"]
