"""Where boxwright and the container tools keep things on disk: store, config, cache, runtime.

Every function reads the environment when it is called (never at import time), so a program or
a test that changes ``$XDG_*`` or ``$HOME`` sees the change. The rules are those of
podman and containers/image, so boxwright finds the files users already have:

* store root: ``$BOXWRIGHT_ROOT``, else ``/var/lib/boxwright`` for root, else
  ``$XDG_DATA_HOME/boxwright`` (``~/.local/share/boxwright``);
* boxwright's own config: ``$XDG_CONFIG_HOME/boxwright`` (``~/.config/boxwright``);
* cache: ``$XDG_CACHE_HOME/boxwright`` (``~/.cache/boxwright``);
* runtime: ``$XDG_RUNTIME_DIR/boxwright``, else ``/run/boxwright`` for root, else
  ``/tmp/boxwright-run-UID`` (podman's fallback shape);
* the containers auth file written by ``login``: ``$REGISTRY_AUTH_FILE``, else
  ``RUNTIME/containers/auth.json`` with podman's runtime directory (:func:`containers_runtime_dir`:
  ``$XDG_RUNTIME_DIR``, else for a user other than root ``/run/user/UID``, else
  ``$TMPDIR/podman-run-UID``, else ``~/rundir``), and for root without ``$XDG_RUNTIME_DIR``
  ``/run/containers/0/auth.json`` (containers/image's default).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from boxwright._idmaps import own_uid_map
from boxwright.errors import ConfigError

ROOT_ENV = "BOXWRIGHT_ROOT"
AUTH_FILE_ENV = "REGISTRY_AUTH_FILE"
REGISTRIES_CONF_ENV = "CONTAINERS_REGISTRIES_CONF"

AUTHFILE_HINT = "(use another auth file with --authfile FILE or $REGISTRY_AUTH_FILE)"
"""What every error about an auth file ends with: the way to name another one."""

SYSTEM_CONTAINERS_DIR = Path("/etc/containers")
"""Where the system-wide containers configuration lives (registries.conf, certs.d)."""

SYSTEM_DOCKER_CERTS_DIR = Path("/etc/docker/certs.d")


ROOTLESS_UID_ENV = "BOXWRIGHT_ROOTLESS_UID"
"""Set by :mod:`boxwright.rootless.namespace` when this process joins the store's user
namespace: the caller's uid outside it, where it is uid 0."""


def _joined_uid() -> int | None:
    """The host uid of a process that joined the store's user namespace, else None.

    The variable counts only inside a user namespace (``/proc/self/uid_map`` is not the
    identity map), so a stray setting cannot make real root look rootless.
    """
    value = os.environ.get(ROOTLESS_UID_ENV, "")
    if not value.isascii() or not value.isdigit() or os.geteuid() != 0:
        return None
    rows = own_uid_map()
    # Its own question of the map (layer.ownership asks whether it maps a single ID): does
    # uid 0 here stand for the host's uid 0?
    if rows is None or (rows and rows[0][:2] == (0, 0)):
        return None
    return int(value)


def host_uid() -> int:
    """The caller's uid as the host sees it (outside the store's user namespace)."""
    joined = _joined_uid()
    return os.geteuid() if joined is None else joined


def is_rootless() -> bool:
    """Whether this process runs without root on the host: its effective uid is not 0, or it
    is uid 0 only of the store's user namespace (see ``docs/rootless.md``)."""
    return os.geteuid() != 0 or _joined_uid() is not None


def home_dir() -> Path:
    """``$HOME``, else the password database's home of the effective user."""
    home = os.environ.get("HOME")
    if home:
        return Path(home)
    return Path.home()


def _xdg(variable: str, default: str) -> Path:
    """An XDG base directory: the variable when set to an absolute path, else ``~/default``."""
    value = os.environ.get(variable, "")
    if value and os.path.isabs(value):
        return Path(value)
    return home_dir() / default


def xdg_config_home() -> Path:
    """``$XDG_CONFIG_HOME``, else ``~/.config``."""
    return _xdg("XDG_CONFIG_HOME", ".config")


def xdg_data_home() -> Path:
    """``$XDG_DATA_HOME``, else ``~/.local/share``."""
    return _xdg("XDG_DATA_HOME", ".local/share")


def xdg_cache_home() -> Path:
    """``$XDG_CACHE_HOME``, else ``~/.cache``."""
    return _xdg("XDG_CACHE_HOME", ".cache")


def xdg_runtime_dir() -> Path | None:
    """``$XDG_RUNTIME_DIR`` when it is set to an absolute path, else None."""
    value = os.environ.get("XDG_RUNTIME_DIR", "")
    return Path(value) if value and os.path.isabs(value) else None


def store_root() -> Path:
    """The local store: ``$BOXWRIGHT_ROOT``, ``/var/lib/boxwright`` (root), or the XDG data dir."""
    explicit = os.environ.get(ROOT_ENV, "")
    if explicit:
        return Path(explicit)
    if not is_rootless():
        return Path("/var/lib/boxwright")
    return xdg_data_home() / "boxwright"


def config_dir() -> Path:
    """boxwright's own configuration directory: ``$XDG_CONFIG_HOME/boxwright``."""
    return xdg_config_home() / "boxwright"


def cache_dir() -> Path:
    """boxwright's cache directory (the blob-location cache): ``$XDG_CACHE_HOME/boxwright``."""
    return xdg_cache_home() / "boxwright"


def runtime_dir() -> Path:
    """Where boxwright keeps files that must not outlive a boot (locks, mounts)."""
    runtime = xdg_runtime_dir()
    if runtime is not None:
        return runtime / "boxwright"
    if not is_rootless():
        return Path("/run/boxwright")
    return Path(f"/tmp/boxwright-run-{host_uid()}")


def _private_dir(path: Path, uid: int) -> bool:
    """Whether ``path`` is a directory of ``uid`` with rwx for its owner (podman's test)."""
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid and st.st_mode & 0o700 == 0o700


def containers_runtime_dir() -> Path | None:
    """The runtime directory podman uses, for the auth file in it; None for root without
    ``$XDG_RUNTIME_DIR`` (containers/image then uses ``/run/containers/0``).

    ``$XDG_RUNTIME_DIR``; else, for a user other than root (``su``, ``runuser``, CI jobs,
    where nothing set it), podman's own fallback: ``/run/user/UID`` when it is the user's
    private directory, else ``$TMPDIR/podman-run-UID`` (``/tmp`` by default) when it is missing
    or is the user's private directory, else ``$HOME/rundir``. A directory someone else owns
    is never used.
    """
    runtime = xdg_runtime_dir()
    if runtime is not None:
        return runtime
    if not is_rootless():
        return None
    # The names carry the host's uid; the owner test sees files as this process sees them
    # (uid 0 inside the store's user namespace owns what the user owns outside it).
    uid, owner = host_uid(), os.geteuid()
    run_user = Path(f"/run/user/{uid}")
    if _private_dir(run_user, owner):
        return run_user
    tmp = Path(os.environ.get("TMPDIR") or "/tmp") / f"podman-run-{uid}"
    if not os.path.lexists(tmp) or _private_dir(tmp, owner):
        return tmp
    return home_dir() / "rundir"


def _runtime_auth_file() -> Path:
    runtime = containers_runtime_dir()
    if runtime is not None:
        return runtime / "containers" / "auth.json"
    return Path(f"/run/containers/{host_uid()}/auth.json")


def default_auth_file() -> Path:
    """The auth file ``login`` writes and every lookup reads first (as podman chooses it)."""
    explicit = os.environ.get(AUTH_FILE_ENV, "")
    if explicit:
        return Path(explicit)
    return _runtime_auth_file()


def docker_config_file() -> Path:
    """Docker's client config: ``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    docker_config = os.environ.get("DOCKER_CONFIG", "")
    if docker_config:
        return Path(docker_config) / "config.json"
    return home_dir() / ".docker" / "config.json"


def auth_file_chain() -> list[Path]:
    """The default auth files, read in this order (the first that knows a host wins).

    ``RUNTIME/containers/auth.json`` (:func:`containers_runtime_dir`, or
    ``/run/containers/0/auth.json`` for root), ``$XDG_CONFIG_HOME/containers/auth.json``,
    Docker's ``config.json`` and the legacy ``~/.dockercfg``. An explicit ``--authfile`` or
    ``$REGISTRY_AUTH_FILE`` replaces the whole chain, as in podman and skopeo.
    """
    return [
        _runtime_auth_file(),
        xdg_config_home() / "containers" / "auth.json",
        docker_config_file(),
        home_dir() / ".dockercfg",
    ]


def certs_dirs() -> list[Path]:
    """The base directories searched for ``HOST[:PORT]/`` certificate folders, in order."""
    dirs = [SYSTEM_CONTAINERS_DIR / "certs.d", SYSTEM_DOCKER_CERTS_DIR]
    if is_rootless():
        dirs.insert(0, xdg_config_home() / "containers" / "certs.d")
    return dirs


def user_registries_conf() -> Path:
    """The per-user registries.conf: ``$XDG_CONFIG_HOME/containers/registries.conf``."""
    return xdg_config_home() / "containers" / "registries.conf"


def unreadable(what: str, path: Path, error: OSError) -> ConfigError:
    """The one-line error for a configuration file or folder (``what``, e.g. ``"auth file"``)
    that could not be opened, saying why in words rather than an errno."""
    if isinstance(error, FileNotFoundError):
        reason = "does not exist"
    elif isinstance(error, NotADirectoryError):
        reason = "is not a directory"
    elif isinstance(error, IsADirectoryError):
        reason = "is a directory"
    elif isinstance(error, PermissionError):
        reason = "cannot be read: permission denied"
    else:
        reason = f"cannot be read: {error.strerror or error}"
    hint = f" {AUTHFILE_HINT}" if what == "auth file" else ""
    return ConfigError(f"{what} {path} {reason}{hint}")


__all__ = [
    "AUTH_FILE_ENV",
    "REGISTRIES_CONF_ENV",
    "ROOTLESS_UID_ENV",
    "ROOT_ENV",
    "SYSTEM_CONTAINERS_DIR",
    "SYSTEM_DOCKER_CERTS_DIR",
    "auth_file_chain",
    "cache_dir",
    "certs_dirs",
    "config_dir",
    "default_auth_file",
    "docker_config_file",
    "home_dir",
    "host_uid",
    "is_rootless",
    "runtime_dir",
    "store_root",
    "unreadable",
    "user_registries_conf",
    "xdg_cache_home",
    "xdg_config_home",
    "xdg_data_home",
    "xdg_runtime_dir",
]
