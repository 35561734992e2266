"""Changes to a working container's image config: every option of ``buildah config``.

:class:`ConfigChanges` holds what the user asked for, in buildah's own notation, and
:func:`apply_changes` turns it into a new config object (a pure function: the input is never
modified, unknown fields survive, key order is kept). The rules are buildah's:

* ``env``: ``K=V`` sets ``K`` (the old value is removed and the new one appended; ``$VAR`` and
  ``${VAR}`` in ``V`` are expanded from the config's current environment, unknown names giving
  the empty string), ``K-`` removes it, ``-`` clears the environment, and a bare ``K`` takes its
  value from ``environ`` (the caller's process environment; the command line passes it).
* ``label``, ``annotation``: ``K=V`` sets, a bare ``K`` sets an empty value, ``K-`` removes,
  ``-`` clears all.
* ``port``, ``volume``, ``os_feature``: ``X`` adds, ``X-`` removes, ``-`` clears all. A port
  without a protocol is stored as ``PORT/tcp``, as a Containerfile ``EXPOSE`` stores it (so
  ``8080-`` removes ``8080/tcp``).
* ``cmd``: a JSON array is taken as it is, any other string is split into words as a shell
  would (buildah's ``shellwords``), and ``""`` removes the command. ``entrypoint``: a JSON
  array is taken as it is, any other string becomes ``["/bin/sh", "-c", STRING]``, and ``""``
  removes the entrypoint. ``shell``: a JSON array or words. A sequence given from Python is
  always used exactly.
* ``healthcheck``: ``NONE``, ``CMD ARGS...`` (a JSON array or words), ``CMD-SHELL COMMAND``,
  or ``""`` to remove; intervals are Go durations (``30s``, ``1m30s``); a new healthcheck gets
  buildah's defaults (interval 30s, timeout 30s, retries 3).
* ``onbuild`` entries are appended; the other fields replace what was there.

Fields the OCI format has no place for (``comment``, ``domainname``, ``hostname``,
``healthcheck``, ``onbuild``, ``shell``) are kept in the Docker positions of the config, where a
Docker-format commit writes them. ``annotation`` changes the manifest's annotations
(:func:`apply_annotations`), and ``created_by`` / ``history_comment`` describe the next
commit's history entry: neither belongs to the config object.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from boxwright._numbers import ascii_int
from boxwright.errors import UsageError
from boxwright.oci.ids import parse_user_spec

#: Fields holding several ``K=V`` / ``X`` / ``X-`` items.
_LIST_FIELDS = ("env", "port", "volume", "label", "annotation", "os_feature", "onbuild")

_VAR_RE = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_PORT_RE = re.compile(r"^[0-9]+(?:-[0-9]+)?(?:/(?:tcp|udp|sctp))?$", re.IGNORECASE)
_DURATION_RE = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
MAX_DURATION = 2**63
"""Nanoseconds a Go ``time.Duration`` (an int64) can hold."""
_DURATION_UNITS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
DEFAULT_HEALTHCHECK_INTERVAL = "30s"
DEFAULT_HEALTHCHECK_TIMEOUT = "30s"
DEFAULT_HEALTHCHECK_RETRIES = 3


@dataclass(frozen=True)
class ConfigChanges:
    """What ``container config`` changes; ``None`` or an empty tuple leaves a field alone.

    List fields accept one string or a sequence of strings (``env="A=1"`` is
    ``env=("A=1",)``); ``cmd``, ``entrypoint`` and ``shell`` accept a string in buildah's
    notation or a sequence used exactly. See the module docstring for every rule.
    """

    env: tuple[str, ...] = ()
    cmd: str | Sequence[str] | None = None
    entrypoint: str | Sequence[str] | None = None
    workingdir: str | None = None
    user: str | None = None
    port: tuple[str, ...] = ()
    volume: tuple[str, ...] = ()
    label: tuple[str, ...] = ()
    annotation: tuple[str, ...] = ()
    stop_signal: str | None = None
    author: str | None = None
    created_by: str | None = None
    arch: str | None = None
    os: str | None = None
    variant: str | None = None
    os_version: str | None = None
    os_feature: tuple[str, ...] = ()
    comment: str | None = None
    history_comment: str | None = None
    shell: str | Sequence[str] | None = None
    onbuild: tuple[str, ...] = ()
    healthcheck: str | None = None
    healthcheck_interval: str | None = None
    healthcheck_timeout: str | None = None
    healthcheck_start_period: str | None = None
    healthcheck_retries: int | None = None
    domainname: str | None = None
    hostname: str | None = None

    def __post_init__(self) -> None:
        for name in _LIST_FIELDS:
            value = getattr(self, name)
            if isinstance(value, str):
                value = (value,)
            value = tuple(value)
            if not all(isinstance(item, str) for item in value):
                raise UsageError(f"config {name} must be strings, not {value!r}")
            object.__setattr__(self, name, value)
        for name in ("cmd", "entrypoint", "shell"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                object.__setattr__(self, name, tuple(str(v) for v in value))
        if self.healthcheck_retries is not None and self.healthcheck_retries < 0:
            raise UsageError("--healthcheck-retries must not be negative")

    @classmethod
    def from_fields(cls, **values: Any) -> ConfigChanges:
        """Build from keyword arguments, naming the unknown ones in a :class:`UsageError`."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise UsageError(
                f"unknown config change {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        return cls(**values)

    def merged(self, other: ConfigChanges) -> ConfigChanges:
        """These changes followed by ``other`` (list fields concatenated, others overridden)."""
        values: dict[str, Any] = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name in _LIST_FIELDS:
                values[f.name] = mine + theirs
            else:
                values[f.name] = theirs if theirs is not None else mine
        return ConfigChanges(**values)

    def is_empty(self) -> bool:
        """Whether nothing at all would change."""
        return all(getattr(self, f.name) in (None, ()) for f in fields(self))

    def changes_config(self) -> bool:
        """Whether :func:`apply_changes` would touch the config object."""
        skip = {"annotation", "created_by", "history_comment"}
        return any(
            getattr(self, f.name) not in (None, ()) for f in fields(self) if f.name not in skip
        )


# -- the pure function ----------------------------------------------------------------------


def apply_changes(
    config: Mapping[str, Any],
    changes: ConfigChanges,
    *,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A new image config object: ``config`` with ``changes`` applied (``config`` untouched).

    ``environ`` supplies the value of an ``env`` item given as a bare name (buildah reads the
    process environment); without it such an item is a :class:`UsageError`.
    """
    out: dict[str, Any] = copy.deepcopy(dict(config))
    inner = out.get("config")
    cfg: dict[str, Any] = inner if isinstance(inner, dict) else {}
    out["config"] = cfg

    for key, value in (
        ("architecture", changes.arch),
        ("os", changes.os),
        ("variant", changes.variant),
        ("os.version", changes.os_version),
        ("author", changes.author),
        ("comment", changes.comment),
    ):
        if value is not None:
            _set_or_drop(out, key, value)
    if changes.os_feature:
        features = _edit_set(list(out.get("os.features") or []), changes.os_feature)
        _set_or_drop(out, "os.features", features)

    if changes.env:
        _set_or_drop(cfg, "Env", _edit_env(list(cfg.get("Env") or []), changes.env, environ))
    if changes.cmd is not None:
        _set_or_drop(cfg, "Cmd", _command(changes.cmd, "cmd"))
    if changes.entrypoint is not None:
        _set_or_drop(cfg, "Entrypoint", _entrypoint(changes.entrypoint))
    if changes.shell is not None:
        _set_or_drop(cfg, "Shell", _command(changes.shell, "shell"))
    if changes.user:
        parse_user_spec(changes.user, "--user")
    for key, value in (
        ("WorkingDir", changes.workingdir),
        ("User", changes.user),
        ("Domainname", changes.domainname),
        ("Hostname", changes.hostname),
    ):
        if value is not None:
            _set_or_drop(cfg, key, value)
    if changes.stop_signal is not None:
        _set_or_drop(cfg, "StopSignal", check_signal(changes.stop_signal))
    if changes.port:
        ports = _edit_set(list(cfg.get("ExposedPorts") or {}), [_port(p) for p in changes.port])
        _set_or_drop(cfg, "ExposedPorts", {p: {} for p in ports})
    if changes.volume:
        volumes = _edit_set(list(cfg.get("Volumes") or {}), changes.volume)
        _set_or_drop(cfg, "Volumes", {v: {} for v in volumes})
    if changes.label:
        labels = _edit_mapping(dict(cfg.get("Labels") or {}), changes.label, "label")
        _set_or_drop(cfg, "Labels", labels)
    if changes.onbuild:
        cfg["OnBuild"] = [*(cfg.get("OnBuild") or []), *changes.onbuild]
    _apply_healthcheck(cfg, changes)
    return out


def apply_annotations(annotations: Mapping[str, str], changes: ConfigChanges) -> dict[str, str]:
    """The manifest annotations after the ``annotation`` items of ``changes``."""
    return _edit_mapping(dict(annotations), changes.annotation, "annotation")


# -- field rules ------------------------------------------------------------------------------


def _set_or_drop(obj: dict[str, Any], key: str, value: Any) -> None:
    """Set ``key``; an empty value (``""``, ``[]``, ``{}``, ``None``) removes it instead."""
    if value in (None, "", [], {}):
        obj.pop(key, None)
    else:
        obj[key] = value


def _expand(value: str, env: Sequence[str]) -> str:
    current = dict(item.split("=", 1) for item in env if "=" in item)

    def lookup(match: re.Match[str]) -> str:
        return current.get(match.group(1) if match.group(1) is not None else match.group(2), "")

    return _VAR_RE.sub(lookup, value)


def _edit_env(env: list[str], items: Sequence[str], environ: Mapping[str, str] | None) -> list[str]:
    for item in items:
        if item == "-":
            env = []
            continue
        name, sep, value = item.partition("=")
        if sep:
            value = _expand(value, env)
        elif name.endswith("-"):
            name = name[:-1]
            _check_name(name, "env", item)
            env = [e for e in env if e.partition("=")[0] != name]
            continue
        else:
            if environ is None:
                raise UsageError(
                    f"env {item!r} has no value: write {item}=VALUE (only the command line "
                    "takes a bare name's value from its own environment)"
                )
            value = environ.get(name, "")
        _check_name(name, "env", item)
        env = [e for e in env if e.partition("=")[0] != name]
        env.append(f"{name}={value}")
    return env


def _edit_mapping(mapping: dict[str, str], items: Sequence[str], what: str) -> dict[str, str]:
    for item in items:
        if item == "-":
            mapping = {}
            continue
        name, sep, value = item.partition("=")
        if not sep and name.endswith("-"):
            name = name[:-1]
            _check_name(name, what, item)
            mapping.pop(name, None)
            continue
        _check_name(name, what, item)
        mapping[name] = value
    return mapping


def _edit_set(current: list[str], items: Sequence[str]) -> list[str]:
    for item in items:
        if item == "-":
            current = []
        elif item.endswith("-"):
            current = [c for c in current if c != item[:-1]]
        elif item and item not in current:
            current.append(item)
    return current


def _check_name(name: str, what: str, item: str) -> None:
    if not name:
        raise UsageError(f"{what} {item!r} has no name: write NAME=VALUE")


def _port(spec: str) -> str:
    """``8080`` → ``8080/tcp``; ``8080-`` → ``8080/tcp-``; ``-`` stays; others validated."""
    if spec == "-":
        return spec
    removing = spec.endswith("-") and not spec[:-1].endswith("-")
    body = spec[:-1] if removing else spec
    if not _PORT_RE.match(body):
        raise UsageError(f"port {spec!r} is not PORT[/PROTOCOL] (e.g. 8080 or 53/udp)")
    if "/" not in body:
        body += "/tcp"
    else:
        number, _, proto = body.partition("/")
        body = f"{number}/{proto.lower()}"
    return body + "-" if removing else body


def _json_array(text: str) -> list[str] | None:
    """``text`` as a JSON array of strings, or None when it is not one."""
    stripped = text.strip()
    if not stripped.startswith("["):
        return None
    try:
        value = json.loads(stripped)
    except (ValueError, RecursionError):
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _words(text: str, what: str) -> list[str]:
    try:
        return shlex.split(text)
    except ValueError as error:
        raise UsageError(f"{what} {text!r} cannot be split into words: {error}") from None


def _command(value: str | Sequence[str], what: str) -> list[str] | None:
    """cmd/shell: a sequence as is; a JSON array; words; ``""`` removes (None)."""
    if not isinstance(value, str):
        return list(value)
    if not value.strip():
        return None
    array = _json_array(value)
    return array if array is not None else _words(value, what)


def _entrypoint(value: str | Sequence[str]) -> list[str] | None:
    """A sequence as is; a JSON array; any other string runs through ``/bin/sh -c``."""
    if not isinstance(value, str):
        return list(value)
    if not value.strip():
        return None
    array = _json_array(value)
    return array if array is not None else ["/bin/sh", "-c", value]


def check_signal(value: str) -> str:
    """Validate a stop signal (``SIGTERM``, ``TERM``, ``15``, ``SIGRTMIN+3``); return it as given.

    An empty string is returned as is (it removes the setting).
    """
    if not value:
        return value
    if value.isdigit():
        number = ascii_int(value, 3)
        if number is not None and 1 <= number <= 64:
            return value
    else:
        name = value.upper()
        name = name if name.startswith("SIG") else "SIG" + name
        if name in signal.Signals.__members__:
            return value
        match = re.fullmatch(r"SIGRTM(IN|AX)([+-][0-9]+)?", name)
        if match:
            return value
    raise UsageError(f"stop signal {value!r} is not a signal name or number (e.g. SIGTERM, 15)")


def parse_duration(text: str, what: str = "duration") -> int:
    """A Go duration (``30s``, ``1m30s``, ``500ms``, ``0``) in nanoseconds."""
    text = text.strip()
    if text == "0":
        return 0
    pos, total = 0, 0.0
    while pos < len(text):
        match = _DURATION_RE.match(text, pos)
        if match is None:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(text):
        raise UsageError(f"{what} {text!r} is not a duration such as 30s, 1m30s or 500ms")
    if not total < MAX_DURATION:  # also inf, from a number of hundreds of digits
        raise UsageError(f"{what} {text!r} is too long (Go durations end at about 292 years)")
    return int(total)


def parse_healthcheck(text: str) -> list[str] | None:
    """The ``Test`` of a healthcheck from buildah's notation; None for ``""`` (remove it)."""
    stripped = text.strip()
    if not stripped:
        return None
    array = _json_array(stripped)
    if array is not None:
        if not array or array[0].upper() not in {"NONE", "CMD", "CMD-SHELL"}:
            raise UsageError(f"healthcheck {text!r} must start with NONE, CMD or CMD-SHELL")
        return [array[0].upper(), *array[1:]]
    kind, _, rest = stripped.partition(" ")
    kind, rest = kind.upper(), rest.strip()
    if kind == "NONE" and not rest:
        return ["NONE"]
    if kind == "CMD-SHELL" and rest:
        return ["CMD-SHELL", rest]
    if kind == "CMD" and rest:
        args = _json_array(rest)
        return ["CMD", *(args if args is not None else _words(rest, "healthcheck"))]
    raise UsageError(
        f"healthcheck {text!r} must be NONE, 'CMD ARGS...', 'CMD-SHELL COMMAND' or empty"
    )


def _apply_healthcheck(cfg: dict[str, Any], changes: ConfigChanges) -> None:
    timing = {
        "Interval": changes.healthcheck_interval,
        "Timeout": changes.healthcheck_timeout,
        "StartPeriod": changes.healthcheck_start_period,
    }
    has_timing = any(v is not None for v in timing.values()) or (
        changes.healthcheck_retries is not None
    )
    if changes.healthcheck is None and not has_timing:
        return
    health: dict[str, Any] | None
    if changes.healthcheck is not None:
        test = parse_healthcheck(changes.healthcheck)
        if test is None:
            cfg.pop("Healthcheck", None)
            if has_timing:
                raise UsageError("healthcheck timings need a healthcheck; it was just removed")
            return
        health = {"Test": test}
        if test != ["NONE"]:
            health["Interval"] = parse_duration(DEFAULT_HEALTHCHECK_INTERVAL)
            health["Timeout"] = parse_duration(DEFAULT_HEALTHCHECK_TIMEOUT)
            health["Retries"] = DEFAULT_HEALTHCHECK_RETRIES
    else:
        current = cfg.get("Healthcheck")
        if not isinstance(current, dict) or not current.get("Test"):
            raise UsageError("healthcheck timings need a healthcheck: give --healthcheck too")
        health = dict(current)
    for key, value in timing.items():
        if value is not None:
            nanos = parse_duration(value, f"healthcheck {key.lower()}")
            if nanos:
                health[key] = nanos
            else:
                health.pop(key, None)
    if changes.healthcheck_retries is not None:
        if changes.healthcheck_retries:
            health["Retries"] = changes.healthcheck_retries
        else:
            health.pop("Retries", None)
    cfg["Healthcheck"] = health


__all__ = [
    "ConfigChanges",
    "apply_annotations",
    "apply_changes",
    "check_signal",
    "parse_duration",
    "parse_healthcheck",
]
