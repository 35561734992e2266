"""The config instructions of a Containerfile as edits of an image config, Docker's rules.

Each function takes the image config and the already expanded values and returns the new
config (a pure function: :meth:`ImageConfig.with_changes` makes it): ENV, LABEL, CMD,
ENTRYPOINT, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK, SHELL, MAINTAINER and
ONBUILD. The shell form of CMD, ENTRYPOINT and HEALTHCHECK runs through the stage's SHELL
(default ``/bin/sh -c``), as Docker and buildah write it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from typing import Any

from boxwright._numbers import ascii_int
from boxwright.build.configedit import check_signal, json_words, parse_duration
from boxwright.errors import UsageError
from boxwright.oci.config import ImageConfig
from boxwright.oci.ids import parse_user_spec

MAX_PORT = 65535

DEFAULT_SHELL = ("/bin/sh", "-c")


def shell_of(config: ImageConfig) -> list[str]:
    """The SHELL a shell-form instruction runs through."""
    return list(config.config.shell or DEFAULT_SHELL)


def env_list(config: ImageConfig) -> list[str]:
    """The config's ``Env`` entries."""
    return list(config.config.env)


def env_map(config: ImageConfig) -> dict[str, str]:
    """The config's ``Env`` as a mapping (later entries win)."""
    out: dict[str, str] = {}
    for entry in config.config.env:
        key, _, value = entry.partition("=")
        out[key] = value
    return out


def set_env(config: ImageConfig, pairs: Sequence[tuple[str, str]]) -> ImageConfig:
    """ENV: set or replace each ``KEY=VALUE``, keeping the order of first appearance."""
    env = env_list(config)
    for key, value in pairs:
        entry = f"{key}={value}"
        for i, old in enumerate(env):
            if old.partition("=")[0] == key:
                env[i] = entry
                break
        else:
            env.append(entry)
    return config.with_changes(env=env)


def set_labels(config: ImageConfig, pairs: Sequence[tuple[str, str]]) -> ImageConfig:
    """LABEL: set each label."""
    return config.with_changes(labels={**config.config.labels, **dict(pairs)})


def command(config: ImageConfig, args: Sequence[str], json_form: bool) -> list[str]:
    """The argv of CMD/ENTRYPOINT/RUN: the exec form as is, the shell form through SHELL."""
    if json_form:
        return list(args)
    return [*shell_of(config), " ".join(args)]


def set_cmd(config: ImageConfig, argv: list[str]) -> ImageConfig:
    """CMD."""
    return config.with_changes(cmd=argv)


def set_entrypoint(config: ImageConfig, argv: list[str], cmd_set_in_stage: bool) -> ImageConfig:
    """ENTRYPOINT; it drops an inherited CMD unless CMD was set earlier in this stage."""
    if cmd_set_in_stage:
        return config.with_changes(entrypoint=argv)
    return config.with_changes(entrypoint=argv, cmd=None)


def workdir_path(config: ImageConfig, path: str) -> str:
    """WORKDIR's new directory: absolute, or relative to the current one; cleaned."""
    base = config.config.working_dir or "/"
    joined = path if path.startswith("/") else posixpath.join(base, path)
    return posixpath.normpath(joined).replace("//", "/")


def set_workdir(config: ImageConfig, path: str) -> ImageConfig:
    """WORKDIR (the path from :func:`workdir_path`)."""
    return config.with_changes(working_dir=path)


def set_user(config: ImageConfig, user: str) -> ImageConfig:
    """USER: ``USER[:GROUP]``, refused (:class:`~boxwright.errors.InvalidIDError`) when a side
    is neither a valid ID nor a name (:func:`boxwright.oci.ids.parse_user_spec`)."""
    parse_user_spec(user, "USER")
    return config.with_changes(user=user)


def add_ports(config: ImageConfig, ports: Sequence[str]) -> ImageConfig:
    """EXPOSE: ``80``, ``80/udp``, ``8000-8002`` become ExposedPorts keys."""
    keys = [key for port in ports for key in _port_keys(port)]
    return config.with_changes(exposed_ports=dict.fromkeys([*config.config.exposed_ports, *keys]))


def _port_keys(port: str) -> list[str]:
    """The ExposedPorts keys of one EXPOSE word (a range gives one key per port)."""
    number, _, proto = port.partition("/")
    proto = (proto or "tcp").lower()
    if proto not in ("tcp", "udp", "sctp"):
        raise UsageError(f"EXPOSE {port}: the protocol must be tcp, udp or sctp")
    low_text, dash, high_text = number.partition("-")
    low, high = ascii_int(low_text, 5), ascii_int(high_text, 5) if dash else None
    if low is None or (dash and high is None):
        raise UsageError(f"EXPOSE {port}: not a port number or range")
    high = low if high is None else high
    if not low <= high <= MAX_PORT:
        raise UsageError(f"EXPOSE {port}: ports are 0 to {MAX_PORT}, the lower one first")
    return [f"{value}/{proto}" for value in range(low, high + 1)]


def add_volumes(config: ImageConfig, paths: Sequence[str]) -> ImageConfig:
    """VOLUME."""
    if not all(paths):
        raise UsageError("VOLUME needs a non-empty path")
    return config.with_changes(volumes=dict.fromkeys([*config.config.volumes, *paths]))


def set_stop_signal(config: ImageConfig, signal: str) -> ImageConfig:
    """STOPSIGNAL (checked as ``container config --stop-signal`` checks it)."""
    return config.with_changes(stop_signal=check_signal(signal))


_HEALTH_FLAGS = {
    "interval": "Interval",
    "timeout": "Timeout",
    "start-period": "StartPeriod",
    "start-interval": "StartInterval",
}


def set_healthcheck(
    config: ImageConfig,
    args: Sequence[str],
    json_form: bool,
    flags: Sequence[tuple[str, str | None]],
) -> ImageConfig:
    """HEALTHCHECK NONE, or HEALTHCHECK [--interval ...] CMD command (exec or shell form)."""
    return config.with_changes(healthcheck=healthcheck(args, json_form, flags))


def healthcheck(
    args: Sequence[str], json_form: bool, flags: Sequence[tuple[str, str | None]]
) -> dict[str, Any]:
    """The ``Healthcheck`` object HEALTHCHECK sets."""
    words = list(args)
    if not json_form and words:
        first, _, rest = words[0].strip().partition(" ")
        words = [first, rest.strip()] if rest.strip() else [first]
    if not words:
        raise UsageError("HEALTHCHECK needs NONE or CMD")
    kind = words[0].upper()
    if kind == "NONE":
        if len(words) > 1 or flags:
            raise UsageError("HEALTHCHECK NONE takes no arguments or flags")
        return {"Test": ["NONE"]}
    if kind != "CMD":
        raise UsageError(f"HEALTHCHECK: unknown type {words[0]!r}: expected CMD or NONE")
    check: dict[str, Any] = {}
    command_words = words[1:]
    exec_form = json_words(command_words[0]) if len(command_words) == 1 else None
    if exec_form is not None:
        check["Test"] = ["CMD", *exec_form]
    elif json_form:
        check["Test"] = ["CMD", *command_words]
    else:
        check["Test"] = ["CMD-SHELL", " ".join(command_words)]
    for name, value in flags:
        if name in _HEALTH_FLAGS:
            duration = parse_duration(value or "", f"--{name}")
            if duration:
                check[_HEALTH_FLAGS[name]] = duration
        elif name == "retries":
            retries = ascii_int(value or "", 9)
            if retries is None:
                raise UsageError(f"HEALTHCHECK --retries={value!r} is not a number")
            if retries:
                check["Retries"] = retries
        else:
            raise UsageError(f"HEALTHCHECK: unknown flag --{name}")
    return check


def set_shell(config: ImageConfig, argv: Sequence[str], json_form: bool) -> ImageConfig:
    """SHELL (JSON form only, as Docker requires)."""
    if not json_form or not argv:
        raise UsageError('SHELL needs a JSON array, such as SHELL ["/bin/bash", "-c"]')
    return config.with_changes(shell=list(argv))


def set_maintainer(config: ImageConfig, author: str) -> ImageConfig:
    """MAINTAINER (deprecated; sets the author)."""
    return config.with_changes(author=author)


def add_onbuild(config: ImageConfig, trigger: str) -> ImageConfig:
    """ONBUILD: store the trigger, run in a child build."""
    return config.with_changes(onbuild=[*config.config.onbuild, trigger])


def take_onbuild(config: ImageConfig) -> tuple[ImageConfig, list[str]]:
    """The base image's ONBUILD triggers (they run once) and the config without them; the
    config always has its ``config`` object afterwards, where the steps write."""
    return config.with_changes(onbuild=None), list(config.config.onbuild)


__all__ = [
    "DEFAULT_SHELL",
    "add_onbuild",
    "add_ports",
    "add_volumes",
    "command",
    "env_list",
    "env_map",
    "healthcheck",
    "json_words",
    "set_cmd",
    "set_entrypoint",
    "set_env",
    "set_healthcheck",
    "set_labels",
    "set_maintainer",
    "set_shell",
    "set_stop_signal",
    "set_user",
    "set_workdir",
    "shell_of",
    "take_onbuild",
    "workdir_path",
]
