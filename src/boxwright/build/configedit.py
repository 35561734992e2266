"""Changes to a working container's image config: every option of ``buildah config``.

:class:`ConfigChanges` holds what the user asked for, in buildah's own notation, and
:func:`apply_changes` turns it into a new :class:`~boxwright.oci.config.ImageConfig` (a pure
function, the edit made by ``ImageConfig.with_changes``: unknown fields survive, key order is
kept). The rules are buildah's:

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

import json
import re
import shlex
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from boxwright._durations import DurationError, parse_go_duration
from boxwright._numbers import ascii_int
from boxwright.errors import UsageError
from boxwright.oci.config import ConfigFields, ContainerConfig, ImageConfig
from boxwright.oci.ids import parse_user_spec

#: Fields holding several ``K=V`` / ``X`` / ``X-`` items.
_LIST_FIELDS = ("env", "port", "volume", "label", "annotation", "os_feature", "onbuild")

_VAR_RE = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
_PORT_RE = re.compile(r"^[0-9]+(?:-[0-9]+)?(?:/(?:tcp|udp|sctp))?$", re.IGNORECASE)
DEFAULT_HEALTHCHECK_INTERVAL = "30s"
DEFAULT_HEALTHCHECK_TIMEOUT = "30s"
DEFAULT_HEALTHCHECK_RETRIES = 3


# One field per `container config` option (buildah config's), so the optional fields
# repeat one shape; TransportOptions has the same shape for the transport flags.
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
    config: ImageConfig,
    changes: ConfigChanges,
    *,
    environ: Mapping[str, str] | None = None,
) -> ImageConfig:
    """A new image config: ``config`` with ``changes`` applied (made by
    :meth:`ImageConfig.with_changes`; unknown fields and key order kept).

    ``environ`` supplies the value of an ``env`` item given as a bare name (buildah reads the
    process environment); without it such an item is a :class:`UsageError`. A field whose
    new value is empty (``""``, no items) is removed; the result always has a ``config``
    object, as buildah writes it.
    """
    fields = _container_fields(config.config, changes, environ)
    fields.update(_top_fields(config, changes))
    if not isinstance(config.data.get("config"), dict):
        # buildah's config always has its config object: naming a field of the missing
        # object (here removing one it cannot hold yet) makes it, before any new top key
        config = config.with_changes(onbuild=None)
    return config.with_changes(**fields)


def _top_fields(config: ImageConfig, changes: ConfigChanges) -> ConfigFields:
    """The new values of the top-level fields ``changes`` names (None: remove)."""
    fields: ConfigFields = {}
    if changes.arch is not None:
        fields["architecture"] = changes.arch or None
    if changes.os is not None:
        fields["os"] = changes.os or None
    if changes.variant is not None:
        fields["variant"] = changes.variant or None
    if changes.os_version is not None:
        fields["os_version"] = changes.os_version or None
    if changes.author is not None:
        fields["author"] = changes.author or None
    if changes.comment is not None:
        fields["comment"] = changes.comment or None
    if changes.os_feature:
        fields["os_features"] = _edit_set(list(config.os_features), changes.os_feature) or None
    return fields


def _container_fields(
    current: ContainerConfig, changes: ConfigChanges, environ: Mapping[str, str] | None
) -> ConfigFields:
    """The new values of the ``config`` object's fields ``changes`` names (None: remove)."""
    fields: ConfigFields = {}
    if changes.env:
        fields["env"] = _edit_env(list(current.env), changes.env, environ) or None
    if changes.cmd is not None:
        fields["cmd"] = _command(changes.cmd, "cmd") or None
    if changes.entrypoint is not None:
        fields["entrypoint"] = _entrypoint(changes.entrypoint) or None
    if changes.shell is not None:
        fields["shell"] = _command(changes.shell, "shell") or None
    if changes.user:
        parse_user_spec(changes.user, "--user")
    if changes.workingdir is not None:
        fields["working_dir"] = changes.workingdir or None
    if changes.user is not None:
        fields["user"] = changes.user or None
    if changes.domainname is not None:
        fields["domainname"] = changes.domainname or None
    if changes.hostname is not None:
        fields["hostname"] = changes.hostname or None
    if changes.stop_signal is not None:
        fields["stop_signal"] = check_signal(changes.stop_signal) or None
    if changes.port:
        ports = [_port(p) for p in changes.port]
        fields["exposed_ports"] = _edit_set(list(current.exposed_ports), ports) or None
    if changes.volume:
        fields["volumes"] = _edit_set(list(current.volumes), changes.volume) or None
    if changes.label:
        fields["labels"] = _edit_mapping(dict(current.labels), changes.label, "label") or None
    if changes.onbuild:
        fields["onbuild"] = [*current.onbuild, *changes.onbuild]
    if _touches_healthcheck(changes):
        fields["healthcheck"] = _healthcheck(current.healthcheck, changes)
    return fields


def apply_annotations(annotations: Mapping[str, str], changes: ConfigChanges) -> dict[str, str]:
    """The manifest annotations after the ``annotation`` items of ``changes``."""
    return _edit_mapping(dict(annotations), changes.annotation, "annotation")


# -- field rules ------------------------------------------------------------------------------


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


def json_words(text: str) -> list[str] | None:
    """``text`` as a JSON array of strings, or None when it is not one (the exec form of
    ``CMD``, ``ENTRYPOINT``, ``SHELL`` and ``HEALTHCHECK``, in a Containerfile and in
    ``container config``)."""
    try:
        value = json.loads(text)
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
    array = json_words(value.strip())
    return array if array is not None else _words(value, what)


def _entrypoint(value: str | Sequence[str]) -> list[str] | None:
    """A sequence as is; a JSON array; any other string runs through ``/bin/sh -c``."""
    if not isinstance(value, str):
        return list(value)
    if not value.strip():
        return None
    array = json_words(value.strip())
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
    try:
        return parse_go_duration(text)
    except DurationError as error:
        if error.reason == "too long":
            raise UsageError(
                f"{what} {text!r} is too long (Go durations end at about 292 years)"
            ) from None
        raise UsageError(f"{what} {text!r} is not a duration such as 30s, 1m30s or 500ms") from None


def parse_healthcheck(text: str) -> list[str] | None:
    """The ``Test`` of a healthcheck from buildah's notation; None for ``""`` (remove it)."""
    stripped = text.strip()
    if not stripped:
        return None
    array = json_words(stripped)
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
        args = json_words(rest.strip())
        return ["CMD", *(args if args is not None else _words(rest, "healthcheck"))]
    raise UsageError(
        f"healthcheck {text!r} must be NONE, 'CMD ARGS...', 'CMD-SHELL COMMAND' or empty"
    )


def _timings(changes: ConfigChanges) -> dict[str, str | None]:
    return {
        "Interval": changes.healthcheck_interval,
        "Timeout": changes.healthcheck_timeout,
        "StartPeriod": changes.healthcheck_start_period,
    }


def _touches_healthcheck(changes: ConfigChanges) -> bool:
    """Whether ``changes`` set, remove or retime the healthcheck."""
    return (
        changes.healthcheck is not None
        or changes.healthcheck_retries is not None
        or any(v is not None for v in _timings(changes).values())
    )


def _healthcheck(current: dict[str, Any] | None, changes: ConfigChanges) -> dict[str, Any] | None:
    """The new ``Healthcheck`` (None: removed) after the healthcheck options of ``changes``."""
    timing = _timings(changes)
    has_timing = any(v is not None for v in timing.values()) or (
        changes.healthcheck_retries is not None
    )
    health: dict[str, Any]
    if changes.healthcheck is not None:
        test = parse_healthcheck(changes.healthcheck)
        if test is None:
            if has_timing:
                raise UsageError("healthcheck timings need a healthcheck; it was just removed")
            return None
        health = {"Test": test}
        if test != ["NONE"]:
            health["Interval"] = parse_duration(DEFAULT_HEALTHCHECK_INTERVAL)
            health["Timeout"] = parse_duration(DEFAULT_HEALTHCHECK_TIMEOUT)
            health["Retries"] = DEFAULT_HEALTHCHECK_RETRIES
    else:
        if current is None or not current.get("Test"):
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
    return health


__all__ = [
    "ConfigChanges",
    "apply_annotations",
    "apply_changes",
    "check_signal",
    "json_words",
    "parse_duration",
    "parse_healthcheck",
]
