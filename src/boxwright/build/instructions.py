"""The config instructions of a Containerfile as edits of an image config, Docker's rules.

Each function takes the config JSON (the whole image config, ``config`` inside it edited) and
the already expanded values, and changes it in place: ENV, LABEL, CMD, ENTRYPOINT, WORKDIR,
USER, EXPOSE, VOLUME, STOPSIGNAL, HEALTHCHECK, SHELL, MAINTAINER and ONBUILD. The shell form
of CMD, ENTRYPOINT and HEALTHCHECK runs through the stage's SHELL (default ``/bin/sh -c``),
as Docker and buildah write it.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Sequence
from typing import Any

from boxwright._numbers import ascii_int
from boxwright.errors import UsageError
from boxwright.oci.ids import parse_user_spec

MAX_PORT = 65535

DEFAULT_SHELL = ("/bin/sh", "-c")


def inner(config: dict[str, Any]) -> dict[str, Any]:
    """The ``config`` object of an image config (created when missing)."""
    found = config.get("config")
    if not isinstance(found, dict):
        found = {}
        config["config"] = found
    return found


def shell_of(config: dict[str, Any]) -> list[str]:
    """The SHELL a shell-form instruction runs through."""
    shell = inner(config).get("Shell")
    if isinstance(shell, list) and shell and all(isinstance(s, str) for s in shell):
        return list(shell)
    return list(DEFAULT_SHELL)


def env_list(config: dict[str, Any]) -> list[str]:
    """The config's ``Env`` entries."""
    env = inner(config).get("Env")
    return [e for e in env if isinstance(e, str)] if isinstance(env, list) else []


def env_map(config: dict[str, Any]) -> dict[str, str]:
    """The config's ``Env`` as a mapping (later entries win)."""
    out: dict[str, str] = {}
    for entry in env_list(config):
        key, _, value = entry.partition("=")
        out[key] = value
    return out


def set_env(config: dict[str, Any], pairs: Sequence[tuple[str, str]]) -> None:
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
    inner(config)["Env"] = env


def set_labels(config: dict[str, Any], pairs: Sequence[tuple[str, str]]) -> None:
    """LABEL: set each label."""
    cfg = inner(config)
    labels = cfg.get("Labels") if isinstance(cfg.get("Labels"), dict) else {}
    assert isinstance(labels, dict)
    for key, value in pairs:
        labels[key] = value
    cfg["Labels"] = labels


def command(config: dict[str, Any], args: Sequence[str], json_form: bool) -> list[str]:
    """The argv of CMD/ENTRYPOINT/RUN: the exec form as is, the shell form through SHELL."""
    if json_form:
        return list(args)
    return [*shell_of(config), " ".join(args)]


def set_cmd(config: dict[str, Any], argv: list[str]) -> None:
    """CMD."""
    inner(config)["Cmd"] = argv


def set_entrypoint(config: dict[str, Any], argv: list[str], cmd_set_in_stage: bool) -> None:
    """ENTRYPOINT; it drops an inherited CMD unless CMD was set earlier in this stage."""
    cfg = inner(config)
    cfg["Entrypoint"] = argv
    if not cmd_set_in_stage:
        cfg.pop("Cmd", None)


def workdir_path(config: dict[str, Any], path: str) -> str:
    """WORKDIR's new directory: absolute, or relative to the current one; cleaned."""
    current = inner(config).get("WorkingDir")
    base = current if isinstance(current, str) and current else "/"
    joined = path if path.startswith("/") else posixpath.join(base, path)
    return posixpath.normpath(joined).replace("//", "/")


def set_workdir(config: dict[str, Any], path: str) -> None:
    """WORKDIR (the path from :func:`workdir_path`)."""
    inner(config)["WorkingDir"] = path


def set_user(config: dict[str, Any], user: str) -> None:
    """USER: ``USER[:GROUP]``, refused (:class:`~boxwright.errors.InvalidIDError`) when a side
    is neither a valid ID nor a name (:func:`boxwright.oci.ids.parse_user_spec`)."""
    parse_user_spec(user, "USER")
    inner(config)["User"] = user


def add_ports(config: dict[str, Any], ports: Sequence[str]) -> None:
    """EXPOSE: ``80``, ``80/udp``, ``8000-8002`` become ExposedPorts keys."""
    cfg = inner(config)
    exposed = cfg.get("ExposedPorts") if isinstance(cfg.get("ExposedPorts"), dict) else {}
    assert isinstance(exposed, dict)
    for port in ports:
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
        for value in range(low, high + 1):
            exposed[f"{value}/{proto}"] = {}
    cfg["ExposedPorts"] = exposed


def add_volumes(config: dict[str, Any], paths: Sequence[str]) -> None:
    """VOLUME."""
    cfg = inner(config)
    volumes = cfg.get("Volumes") if isinstance(cfg.get("Volumes"), dict) else {}
    assert isinstance(volumes, dict)
    for path in paths:
        if not path:
            raise UsageError("VOLUME needs a non-empty path")
        volumes[path] = {}
    cfg["Volumes"] = volumes


def set_stop_signal(config: dict[str, Any], signal: str) -> None:
    """STOPSIGNAL (checked as ``container config --stop-signal`` checks it)."""
    from boxwright.build.configedit import check_signal

    inner(config)["StopSignal"] = check_signal(signal)


_HEALTH_FLAGS = {
    "interval": "Interval",
    "timeout": "Timeout",
    "start-period": "StartPeriod",
    "start-interval": "StartInterval",
}


def set_healthcheck(
    config: dict[str, Any],
    args: Sequence[str],
    json_form: bool,
    flags: Sequence[tuple[str, str | None]],
) -> None:
    """HEALTHCHECK NONE, or HEALTHCHECK [--interval ...] CMD command (exec or shell form)."""
    from boxwright.build.configedit import parse_duration

    cfg = inner(config)
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
        cfg["Healthcheck"] = {"Test": ["NONE"]}
        return
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
    cfg["Healthcheck"] = check


def set_shell(config: dict[str, Any], argv: Sequence[str], json_form: bool) -> None:
    """SHELL (JSON form only, as Docker requires)."""
    if not json_form or not argv:
        raise UsageError('SHELL needs a JSON array, such as SHELL ["/bin/bash", "-c"]')
    inner(config)["Shell"] = list(argv)


def set_maintainer(config: dict[str, Any], author: str) -> None:
    """MAINTAINER (deprecated; sets the author)."""
    config["author"] = author


def add_onbuild(config: dict[str, Any], trigger: str) -> None:
    """ONBUILD: store the trigger, run in a child build."""
    cfg = inner(config)
    triggers = cfg.get("OnBuild") if isinstance(cfg.get("OnBuild"), list) else []
    assert isinstance(triggers, list)
    cfg["OnBuild"] = [*triggers, trigger]


def take_onbuild(config: dict[str, Any]) -> list[str]:
    """The base image's ONBUILD triggers, removed from the config (they run once)."""
    cfg = inner(config)
    triggers = cfg.pop("OnBuild", None)
    return [t for t in triggers if isinstance(t, str)] if isinstance(triggers, list) else []


def json_words(text: str) -> list[str] | None:
    """``text`` as a JSON array of strings, or None when it is not one."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


__all__ = [
    "DEFAULT_SHELL",
    "add_onbuild",
    "add_ports",
    "add_volumes",
    "command",
    "env_list",
    "env_map",
    "inner",
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
