"""Which containers/storage store a reference names, and podman's default one.

A ``containers-storage:`` reference may start with a store specifier, as
containers-transports(5) defines it: ``[[DRIVER@]ROOT[+RUNROOT][:OPTIONS]]`` (ROOT absolute,
OPTIONS comma-separated driver options). What it leaves out comes from ``storage.conf`` as
podman reads it: ``$CONTAINERS_STORAGE_CONF`` alone when set; otherwise, for root,
``/etc/containers/storage.conf`` (or ``/usr/share/containers/storage.conf`` when there is
none); for other users ``$XDG_CONFIG_HOME/containers/storage.conf`` (``~/.config/...``) when
it exists, else the system file. The first file found is the only one read (containers/storage
does not merge them). Without a value there, podman's defaults apply: graphroot
``/var/lib/containers/storage`` and runroot ``/run/containers/storage`` for root;
``rootless_storage_path`` or ``$XDG_DATA_HOME/containers/storage``
(``~/.local/share/containers/storage``) and ``$XDG_RUNTIME_DIR/containers``
(``/tmp/containers-user-UID/containers`` without it) otherwise. The driver is the one named,
else the one whose ``DRIVER-layers`` directory the graphroot already has, else ``overlay``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from boxwright.config.paths import host_uid, is_rootless
from boxwright.errors import ConfigError, InvalidReferenceError
from boxwright.transport.cstorage.rootless import in_user_namespace

DRIVERS: Final = ("overlay", "vfs")
"""The drivers boxwright reads and writes."""

SYSTEM_CONF: Final = (
    Path("/etc/containers/storage.conf"),
    Path("/usr/share/containers/storage.conf"),
)


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """A store specifier as written in a reference (empty fields: not given)."""

    driver: str = ""
    graphroot: str = ""
    runroot: str = ""
    options: tuple[str, ...] = ()

    def __str__(self) -> str:
        if not (self.driver or self.graphroot or self.runroot or self.options):
            return ""
        out = f"{self.driver}@" if self.driver else ""
        out += self.graphroot
        if self.runroot:
            out += f"+{self.runroot}"
        if self.options:
            out += ":" + ",".join(self.options)
        return f"[{out}]"


# A value type: its field list looks like other frozen dataclasses' (oci.Descriptor's).
@dataclass(frozen=True, slots=True)
class StoreLocation:
    """A store resolved: its driver, graph root and run root, and the driver options."""

    driver: str
    graphroot: Path
    runroot: Path
    options: tuple[str, ...] = ()

    @property
    def rootless_xattrs(self) -> bool:
        """Whether overlay's markers use the ``user.`` namespace (an unprivileged writer)."""
        return os.geteuid() != 0 or in_user_namespace()


def parse_spec(text: str, whole: str) -> tuple[StoreSpec, str]:
    """Split ``[SPEC]REST`` into the specifier and the rest (no ``[``: an empty spec)."""
    if not text.startswith("["):
        return StoreSpec(), text
    close = text.find("]")
    if close < 1:
        raise InvalidReferenceError(f"{whole!r}: the store specifier does not end with ]")
    spec, rest = text[1:close], text[close + 1 :]
    driver = ""
    if "@" in spec:
        driver, spec = spec.split("@", 1)
        if not driver:
            raise InvalidReferenceError(f"{whole!r}: no storage driver before @")
    spec, _, options = spec.partition(":")
    graphroot, _, runroot = spec.partition("+")
    for what, path in (("root", graphroot), ("run root", runroot)):
        if path and not path.startswith("/"):
            raise InvalidReferenceError(f"{whole!r}: the store's {what} {path!r} is not absolute")
    return (
        StoreSpec(driver, graphroot, runroot, tuple(o for o in options.split(",") if o)),
        rest,
    )


def _conf_file(env: dict[str, str]) -> tuple[Path | None, bool]:
    """The one storage.conf read, and whether it is the user's own (not a system file)."""
    named = env.get("CONTAINERS_STORAGE_CONF")
    if named:
        return Path(named), True
    if is_rootless():
        config_home = env.get("XDG_CONFIG_HOME") or os.path.join(_home(env), ".config")
        own = Path(config_home) / "containers" / "storage.conf"
        if own.is_file():
            return own, True
    return next((c for c in SYSTEM_CONF if c.is_file()), None), False


def _home(env: dict[str, str]) -> str:
    return env.get("HOME") or os.path.expanduser("~")


def _expand(value: str, env: dict[str, str]) -> str:
    for name in ("HOME", "UID", "USER"):
        default = {"HOME": _home(env), "UID": str(host_uid())}.get(name, "")
        value = value.replace(f"${name}", env.get(name, default))
    return value


def read_storage_conf(env: dict[str, str] | None = None) -> tuple[dict[str, object], bool]:
    """The ``[storage]`` table of the ``storage.conf`` podman would read ({} when none), and
    whether that file is the user's own (whose ``graphroot`` a rootless user gets)."""
    env = dict(os.environ) if env is None else env
    path, own = _conf_file(env)
    if path is None:
        return {}, False
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        return {}, False
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    table = data.get("storage", {})
    return (table if isinstance(table, dict) else {}), own


def resolve(spec: StoreSpec, env: dict[str, str] | None = None) -> StoreLocation:
    """The store ``spec`` names, completed from ``storage.conf`` and podman's defaults."""
    env = dict(os.environ) if env is None else env
    conf, own = read_storage_conf(env)
    root = not is_rootless()

    def text(key: str) -> str:
        value = conf.get(key, "")
        return _expand(value, env) if isinstance(value, str) else ""

    if spec.graphroot:
        graphroot = spec.graphroot
    elif root:
        graphroot = text("graphroot") or "/var/lib/containers/storage"
    else:
        data_home = env.get("XDG_DATA_HOME") or os.path.join(_home(env), ".local", "share")
        graphroot = (
            (own and text("graphroot"))
            or text("rootless_storage_path")
            or os.path.join(data_home, "containers", "storage")
        )
    if spec.runroot:
        runroot = spec.runroot
    elif root:
        runroot = text("runroot") or "/run/containers/storage"
    else:
        runtime = env.get("XDG_RUNTIME_DIR")
        runroot = (
            os.path.join(runtime, "containers")
            if runtime
            else f"/tmp/containers-user-{host_uid()}/containers"
        )
    driver = spec.driver or text("driver") or _present_driver(Path(graphroot)) or "overlay"
    if driver == "overlay2":
        driver = "overlay"
    if driver not in DRIVERS:
        raise ConfigError(
            f"containers-storage driver {driver!r} is not one boxwright reads or writes "
            f"(it knows {', '.join(DRIVERS)})"
        )
    return StoreLocation(driver, Path(graphroot), Path(runroot), spec.options)


def _present_driver(graphroot: Path) -> str:
    for driver in DRIVERS:
        if (graphroot / f"{driver}-layers").is_dir():
            return driver
    return ""


__all__ = ["DRIVERS", "StoreLocation", "StoreSpec", "parse_spec", "read_storage_conf", "resolve"]
