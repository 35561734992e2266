"""What ``boxwright build`` applies to every RUN step, with podman build's names and meanings.

Each parser takes one flag's value as podman and buildah take it and returns a value of
:class:`~boxwright.build.context.BuildOptions`, or raises :class:`UsageError` naming the flag:

* :func:`parse_volume`: ``-v HOST:CONTAINER[:OPTIONS]``, a host directory or file bound into
  every RUN (read-write unless ``ro``; ``O`` is an overlay whose writes are thrown away after
  the RUN; ``z``/``Z`` ask for an SELinux relabel, which a host without SELinux labels has no
  use for, so they are accepted and change nothing, as podman does there; ``private`` and
  ``rprivate`` are the propagation every bind has). ``U``, ``shared``, ``slave`` and any other
  option are refused: a propagation that lets a RUN's mounts reach the host is never made;
* :func:`parse_add_host`: ``--add-host NAME:IP`` (an IPv4 or IPv6 address);
* :func:`check_network`: ``--network host|none`` (the network namespaces the runners make:
  the host's, or a fresh one with only loopback; a network of its own with a route out needs
  slirp4netns, pasta or CNI, which boxwright does not drive, so ``private``, ``bridge``,
  ``ns:PATH`` and network names are refused with one line saying so);
* :func:`capabilities`: ``--cap-add``/``--cap-drop`` over containers.conf's default set
  (``ALL`` names every capability; a capability in both is dropped, as buildah documents);
* :func:`parse_secret`: ``--secret id=ID[,src=PATH][,env=VAR][,type=file|env]`` as buildah
  parses it;
* :func:`parse_ssh`: ``--ssh default|ID[=SOCKET|KEY[,KEY...]]`` as buildah and BuildKit take it.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from boxwright.errors import UsageError

#: The ``--network`` modes a RUN can have (``default`` is the build's, else ``host``).
NETWORKS = ("host", "none")
#: The ``-v`` options accepted (see the module docstring).
VOLUME_OPTIONS = ("rw", "ro", "O", "z", "Z", "private", "rprivate")


@dataclass(frozen=True)
class BuildVolume:
    """One ``-v``: ``source`` on the host at ``destination`` in every RUN."""

    source: Path
    destination: str
    read_only: bool = False
    overlay: bool = False
    """``O``: the RUN writes to an overlay over ``source``, thrown away after it."""

    def key(self) -> str:
        """What the volume adds to a RUN's cache key (the content is not read, as in buildah:
        a volume is a host directory such as a package cache, not an input)."""
        mode = "O" if self.overlay else "ro" if self.read_only else "rw"
        return f"volume:{self.source}:{self.destination}:{mode};"


def parse_volume(text: str) -> BuildVolume:
    """``HOST:CONTAINER[:OPTIONS]`` as ``podman build -v`` takes it (module docstring)."""
    parts = text.split(":")
    options = parts.pop().split(",") if len(parts) == 3 else []
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise UsageError(f"-v {text!r}: expected HOST-DIR:CONTAINER-DIR[:OPTIONS]")
    source, destination = parts
    if not source.startswith("/"):
        raise UsageError(
            f"-v {text!r}: the host path must be absolute (named volumes are podman's, "
            "not a build's)"
        )
    if not destination.startswith("/") or ".." in destination.split("/"):
        raise UsageError(f"-v {text!r}: the container path must be absolute, without '..'")
    unknown = [o for o in options if o not in VOLUME_OPTIONS]
    if unknown:
        accepted = ", ".join(VOLUME_OPTIONS)
        raise UsageError(f"-v {text!r}: unsupported option {unknown[0]!r} (accepted: {accepted})")
    if "ro" in options and "rw" in options:
        raise UsageError(f"-v {text!r}: ro and rw contradict each other")
    if "O" in options and ({"z", "Z", "ro"} & set(options)):
        raise UsageError(f"-v {text!r}: O cannot be combined with ro, z or Z")
    if not os.path.exists(source):
        raise UsageError(f"-v {text!r}: {source} does not exist")
    return BuildVolume(Path(source), destination, "ro" in options, "O" in options)


def parse_add_host(text: str) -> tuple[str, str]:
    """``NAME:IP`` → ``(NAME, IP)``; the address may be IPv6 (``h:::1``)."""
    name, sep, address = text.partition(":")
    if not sep or not name or any(c.isspace() or c == "#" for c in name):
        raise UsageError(f"--add-host {text!r}: expected HOST:IP")
    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        raise UsageError(f"--add-host {text!r}: {address!r} is not an IP address") from None
    return name, address.strip("[]")


def check_network(value: str) -> str:
    """A build's ``--network``: ``host`` or ``none`` (module docstring)."""
    if value in NETWORKS:
        return value
    raise UsageError(
        f"--network {value}: RUN steps run with the host's network (host) or none (none); "
        "a network of their own needs slirp4netns, pasta or CNI, which boxwright does not drive"
    )


def capabilities(cap_add: tuple[str, ...], cap_drop: tuple[str, ...]) -> tuple[str, ...] | None:
    """The capabilities a RUN's root keeps: the default set, plus ``cap_add``, minus
    ``cap_drop`` (``ALL`` in either names every capability); None when neither is given."""
    if not cap_add and not cap_drop:
        return None
    # The runtime's table loads the runtime's modules (ID maps, the store's namespace): a
    # build without --cap-add/--cap-drop, a cached rebuild among them, never needs it.
    from boxwright.runtime.spec import CAPABILITY_NUMBERS, DEFAULT_CAPABILITIES, capability_name

    def names(values: tuple[str, ...]) -> tuple[str, ...]:
        try:
            return tuple(capability_name(v) for v in values)
        except UsageError as error:
            raise UsageError(f"--cap-add/--cap-drop: {error}") from None

    every = tuple(CAPABILITY_NUMBERS)
    added = every if "ALL" in (c.upper() for c in cap_add) else names(cap_add)
    dropped = every if "ALL" in (c.upper() for c in cap_drop) else names(cap_drop)
    kept = [c for c in (*DEFAULT_CAPABILITIES, *added) if c not in dropped]
    return tuple(dict.fromkeys(kept))


@dataclass(frozen=True)
class SecretSource:
    """Where a ``--secret`` is read, when a RUN asks for it: a file, or a variable of the
    build's own environment (read then, never kept in the options)."""

    kind: Literal["file", "env"]
    source: str

    def read(self, ident: str) -> bytes:
        """The secret's bytes (the message of a failure never holds them)."""
        if self.kind == "env":
            value = os.environ.get(self.source)
            if value is None:
                raise UsageError(f"secret {ident!r}: the variable {self.source} is not set")
            return os.fsencode(value)
        try:
            return Path(self.source).read_bytes()
        except OSError as error:
            raise UsageError(
                f"secret {ident!r}: cannot read {self.source}: {error.strerror}"
            ) from None


def parse_secret(text: str) -> tuple[str, SecretSource]:
    """``id=ID[,src=PATH|VAR][,env=VAR][,type=file|env]`` as buildah parses ``--secret``:
    ``env=VAR`` reads the variable; without a type, ``src`` (default: the id) is a variable
    when the environment has one of the id's name, else a file, which must exist."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or key not in ("id", "src", "source", "env", "type"):
            raise UsageError(
                f"--secret {text!r}: expected id=ID[,src=PATH][,env=VAR][,type=file|env]"
            )
        fields["src" if key == "source" else key] = value
    kind = fields.get("type", "")
    if kind not in ("", "file", "env"):
        raise UsageError(f"--secret {text!r}: type must be file or env")
    source = fields.get("src", "")
    if "env" in fields:
        source, kind = fields["env"], "env"
    ident = fields.get("id") or (source if kind == "env" else "")
    if not ident:
        raise UsageError(f"--secret {text!r}: an id=ID is needed")
    source = source or ident
    if not kind:
        kind = "env" if ident in os.environ and "src" not in fields else "file"
    if kind == "file":
        if not os.path.isfile(source):
            raise UsageError(f"--secret {text!r}: {source} is not a file")
        source = os.path.abspath(source)
    elif not source:
        raise UsageError(f"--secret {text!r}: the variable name is empty")
    return ident, SecretSource("env" if kind == "env" else "file", source)


@dataclass(frozen=True)
class SshSource:
    """What one ``--ssh ID`` gives the RUNs that mount it: an agent ``socket`` that is
    forwarded, or private ``keys`` a boxwright-run ``ssh-agent`` holds."""

    socket: Path | None = None
    keys: tuple[Path, ...] = ()


def parse_ssh(text: str) -> tuple[str, SshSource]:
    """``default|ID[=SOCKET|KEY[,KEY...]]``: the agent at ``$SSH_AUTH_SOCK`` when no path is
    given; one socket; or key files (never a mix)."""
    ident, _, rest = text.partition("=")
    if not ident or "," in ident:
        raise UsageError(f"--ssh {text!r}: expected default|ID[=SOCKET|KEY[,KEY]]")
    paths = [p for p in rest.split(",") if p] if rest else []
    if not paths:
        sock = os.environ.get("SSH_AUTH_SOCK", "")
        if not sock:
            raise UsageError(
                f"--ssh {text}: SSH_AUTH_SOCK is not set; give {ident}=SOCKET or key files"
            )
        paths = [sock]
    kinds = []
    for path in paths:
        try:
            mode = os.stat(path).st_mode
        except OSError as error:
            raise UsageError(f"--ssh {ident}: cannot use {path}: {error.strerror}") from None
        kinds.append("socket" if stat.S_ISSOCK(mode) else "key" if stat.S_ISREG(mode) else "?")
    if "?" in kinds or ("socket" in kinds and len(paths) > 1):
        raise UsageError(
            f"--ssh {ident}: expected one agent socket or regular key files, not {rest!r}"
        )
    if kinds == ["socket"]:
        return ident, SshSource(socket=Path(os.path.abspath(paths[0])))
    return ident, SshSource(keys=tuple(Path(os.path.abspath(p)) for p in paths))


__all__ = [
    "NETWORKS",
    "VOLUME_OPTIONS",
    "BuildVolume",
    "SecretSource",
    "SshSource",
    "capabilities",
    "check_network",
    "parse_add_host",
    "parse_secret",
    "parse_ssh",
    "parse_volume",
]
