"""RUN up to its cache key: the command line, its environment, its ``--mount``s and
``--network``, checked and read as the key reads them (:func:`run_key`); running it is
:mod:`boxwright.build.runexec`'s, which a rebuild whose every RUN is cached never loads.

* the command is the exec form as written, or the shell form through SHELL; a heredoc
  (``RUN <<EOF``) is the script itself when it is the whole command, else the shell reads it
  as a heredoc of the command line, as BuildKit runs them;
* the environment is the config's Env, then the stage's ARGs, then the proxy ARGs;
* ``--mount=type=bind`` (``source`` in the context, or in ``from=`` a stage or image, its
  links followed inside that root;
  read-only unless ``rw``, and then what the command writes there is thrown away after it,
  as BuildKit does: an overlay whose upper directory is a throwaway one, or a throwaway copy
  where no overlay can be mounted, so the context on the host never changes),
  ``type=cache`` (a directory of the store kept between builds, by ``id`` or ``target``;
  with ``from=``, one per ``id``, stage or image and ``source``, seeded on first use with a
  copy of that stage's or image's ``source`` directory, owners kept, as BuildKit makes the
  cache a mutable layer on top of the ``from`` state; without it, ``source`` is a directory
  that must exist in the cache),
  ``type=tmpfs`` (``size``), ``type=secret`` (``id``, from the build's secrets, a file or a
  variable of the build's environment, at ``/run/secrets/<id>``, read-only, or in the variable
  ``env=`` names), ``type=ssh`` (``id``, default ``default``: a socket of the build's ``--ssh``
  agent made for this RUN alone, at ``target`` or ``/run/buildkit/ssh_agent.<N>``, the first
  one also in ``SSH_AUTH_SOCK`` unless the environment has it, as BuildKit does;
  :mod:`boxwright.build.sshagent`); none of them ends up in the layer, and no secret's or
  agent's content in the cache key. Each type's options are BuildKit's
  (:data:`MOUNT_OPTIONS`); any other, or a malformed value, is refused, so nothing unchecked
  (a propagation mode) reaches a mount;
* ``--network=host|none`` (``default`` is the build's ``--network``, else ``host``, as
  buildah's chroot isolation);
* what the build gives every RUN: its ``-v`` volumes, ``--add-host`` lines, ``--no-hosts``
  and capabilities (:mod:`boxwright.build.runsettings`); they are in the cache key, a
  volume by its paths and options, not its content.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from boxwright.build import instructions as ins
from boxwright.build.context import content_hash
from boxwright.build.runsettings import SecretSource, check_network
from boxwright.build.step import StepKey
from boxwright.errors import InvalidIDError, UsageError
from boxwright.layer.pathsafe import clean_entry_name, resolve_in_root
from boxwright.oci.ids import parse_id

if TYPE_CHECKING:
    from boxwright.build.containerfile.model import Instruction
    from boxwright.build.runsettings import SshSource
    from boxwright.build.step import StepContext
    from boxwright.oci.config import ImageConfig


def command_line(config: ImageConfig, instruction: Instruction) -> list[str]:
    """The argv of ``instruction`` in a stage whose config is ``config`` (module docstring)."""
    if instruction.heredocs:
        text = " ".join(instruction.args).strip()
        first = instruction.heredocs[0]
        if len(instruction.heredocs) == 1 and text.lstrip("<-").strip("'\"") == first.name:
            return [*ins.shell_of(config), first.content]
        script = text
        for doc in instruction.heredocs:
            script += "\n" + doc.content.rstrip("\n") + "\n" + doc.name
        return [*ins.shell_of(config), script]
    if instruction.json_form:
        return list(instruction.args)
    return ins.command(config, instruction.args, False)


def _flag_values(instruction: Instruction, name: str) -> list[str]:
    return [f.value or "" for f in instruction.flags if f.name == name]


_TARGET = ("target", "dst", "destination")
#: The options each ``--mount`` type takes (BuildKit's lists); anything else is refused.
MOUNT_OPTIONS: dict[str, frozenset[str]] = {
    kind: frozenset(("type", *_TARGET, *names))
    for kind, names in (
        ("bind", ("source", "src", "from", "rw", "readwrite", "ro", "readonly")),
        ("cache", ("id", "ro", "readonly", "rw", "readwrite", "sharing", "from", "source", "src",
                   "mode", "uid", "gid")),
        ("tmpfs", ("size",)),
        ("secret", ("id", "required", "mode", "uid", "gid", "env")),
        ("ssh", ("id", "required", "mode", "uid", "gid")),
    )
}  # fmt: skip
_BOOLEANS = frozenset(("rw", "readwrite", "ro", "readonly", "required"))
_TRUE = frozenset(("true", "1"))
_FALSE = frozenset(("false", "0"))
_SHARING = ("shared", "private", "locked")
_KINDS = "bind, cache, tmpfs, secret or ssh"
_SIZE = re.compile(r"(\d+)\s*(|b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)", re.IGNORECASE)


def _options(spec: str) -> dict[str, str]:
    """The ``key=value`` options of a ``--mount`` flag, checked against :data:`MOUNT_OPTIONS`.

    A boolean given alone (``rw``) is ``true``; booleans, ``sharing``, ``mode``, ``uid``,
    ``gid`` and ``size`` must be well formed. Raises :class:`UsageError` naming the flag.
    """
    out: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.strip().partition("=")
        if key:
            out[key.lower()] = value if sep else "true"
    kind = out.get("type", "bind")
    allowed = MOUNT_OPTIONS.get(kind)
    if allowed is None:
        raise UsageError(f"RUN --mount type={kind}: expected {_KINDS}")
    for key, value in out.items():
        problem = _option_problem(key, value, allowed)
        if problem is not None:
            if problem.startswith("unknown option"):
                problem += f" for type={kind} (expected one of {', '.join(sorted(allowed))})"
            raise UsageError(f"RUN --mount={spec}: {problem}")
        if key in _BOOLEANS:
            out[key] = "true" if value.lower() in _TRUE else "false"
    return out


def _option_problem(key: str, value: str, allowed: frozenset[str]) -> str | None:
    if key not in allowed:
        return f"unknown option {key!r}"
    if key in _BOOLEANS and value.lower() not in _TRUE | _FALSE:
        return f"{key} must be true or false, not {value!r}"
    if key == "sharing" and value not in _SHARING:
        return f"sharing must be one of {', '.join(_SHARING)}, not {value!r}"
    if key == "mode" and not re.fullmatch(r"[0-7]{1,4}", value):
        return f"mode must be an octal number, not {value!r}"
    if key in ("uid", "gid"):
        try:
            parse_id(value, key)
        except InvalidIDError as e:
            return str(e)
    if key == "size" and not _SIZE.fullmatch(value):
        return f"size must be a number of bytes with an optional unit (k, m, g), not {value!r}"
    return None


_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def tmpfs_size(value: str) -> int:
    """``64m`` → 67108864 (units are powers of 1024, as BuildKit reads them)."""
    match = _SIZE.fullmatch(value)
    assert match is not None  # checked by _options
    return int(match.group(1)) * _UNITS[match.group(2).lower()[:1]]


def _network(ctx: StepContext, instruction: Instruction) -> str:
    """The RUN's own ``--network``, else the build's (``default`` names the build's)."""
    values = _flag_values(instruction, "network")
    network = values[-1] if values else "default"
    if network == "default":
        return check_network(ctx.options.network)
    if network in ("host", "none"):
        return network
    raise UsageError(f"RUN --network={network}: expected default, host or none")


# A parsed RUN --mount flag; StepContext's header is alike by convention.
@dataclass(frozen=True)
class MountSpec:
    """One ``--mount`` flag, its options checked."""

    spec: str
    opts: dict[str, str]
    kind: str
    target: str


def mount_specs(ctx: StepContext, instruction: Instruction) -> Iterator[MountSpec]:
    """The ``--mount`` flags of ``instruction`` in order, each checked as it comes (so the
    first bad flag is the one reported, also when an earlier flag fails a later check).
    A ``from=`` value is expanded as a COPY's ``--from`` is (``StepContext.from_expander``),
    so it names the stage the build planned to run first."""
    for spec in _flag_values(instruction, "mount"):
        opts = _options(spec)
        if opts.get("from"):
            opts["from"] = ctx.from_expander().word(opts["from"])
        kind = opts.get("type", "bind")
        target = next((opts[k] for k in _TARGET if opts.get(k)), "")
        if not target.startswith("/") and (kind not in ("secret", "ssh") or target):
            raise UsageError(f"RUN --mount={spec}: target must be an absolute path")
        yield MountSpec(spec, opts, kind, target)


def mount_key(ctx: StepContext, instruction: Instruction) -> str:
    """The cache-key text of the ``--mount`` flags: a bind's target and the content hash of its
    source, a cache's or tmpfs's target, an ssh mount's id and target; a secret adds nothing
    (its content never reaches the layer) and neither an agent's keys nor its socket do, but a
    required secret or agent that was not given fails here, before the cache is asked."""

    key = ""
    for mount in mount_specs(ctx, instruction):
        if mount.kind == "bind":
            key += f"bind:{mount.target}:{content_hash([bind_source(ctx, mount.opts)])};"
        elif mount.kind == "cache" and mount.opts.get("from"):
            origin = ctx.workspace.origin_id(mount.opts["from"])
            key += f"cache:{mount.target}:from={origin}:{cache_source(mount.opts)};"
        elif mount.kind in ("cache", "tmpfs"):
            key += f"{mount.kind}:{mount.target};"
        elif mount.kind == "ssh":
            ssh_source(ctx, mount)
            key += f"ssh:{ssh_id(mount)}:{mount.target};"
        else:
            secret_source(ctx, mount)
    return key


def _settings_key(ctx: StepContext) -> str:
    """The cache-key text of what the build gives every RUN (empty when it gives nothing)."""
    options = ctx.options
    key = "".join(volume.key() for volume in options.volumes)
    key += "".join(f"host:{name}:{address};" for name, address in options.add_hosts)
    if options.no_hosts:
        key += "no-hosts;"
    if options.capabilities is not None:
        key += "caps:" + ",".join(options.capabilities) + ";"
    return key


def cache_source(opts: dict[str, str]) -> str:
    """A cache mount's ``source``, cleaned (``""`` for the root)."""
    return clean_entry_name(opts.get("source") or opts.get("src") or "/", allow_root=True)


def secret_source(ctx: StepContext, mount: MountSpec) -> SecretSource | None:
    """Where a secret mount's secret is read; None when not given and not required."""
    ident = mount.opts.get("id") or os.path.basename(mount.target)
    given = ctx.options.secrets.get(ident)
    if given is None and mount.opts.get("required") == "true":
        raise UsageError(
            f"RUN --mount=type=secret: no secret {ident!r}: give --secret id={ident},src=FILE"
        )
    if given is None or isinstance(given, SecretSource):
        return given
    return SecretSource("file", str(given))


def ssh_id(mount: MountSpec) -> str:
    return mount.opts.get("id") or "default"


def ssh_source(ctx: StepContext, mount: MountSpec) -> SshSource | None:
    """The build's agent for an ssh mount; None when not given and not required."""
    ident = ssh_id(mount)
    source = ctx.options.ssh.get(ident)
    if source is None and mount.opts.get("required") == "true":
        raise UsageError(
            f"RUN --mount=type=ssh: no SSH agent {ident!r}: give --ssh {ident}[=SOCKET|KEY[,KEY]]"
        )
    return source


def bind_source(ctx: StepContext, opts: dict[str, str]) -> Path:
    """The host path a bind mount's ``source`` names in its root (the context, or the stage
    or image ``from=`` names), its links followed inside that root (``..`` stops at it)."""
    rel = clean_entry_name(opts.get("source") or opts.get("src") or "/", allow_root=True)
    origin = opts.get("from")
    root = Path(os.path.realpath(ctx.workspace.mounted_image(origin) if origin else ctx.context))
    real = resolve_in_root(root, rel, follow_last=True) if rel else root
    if not real.exists():
        raise UsageError(f"RUN --mount source {rel!r} does not exist")
    return real


def command(ctx: StepContext, instruction: Instruction) -> tuple[list[str], str, list[str]]:
    """The argv, network and whole environment of a RUN."""
    return command_line(ctx.config, instruction), _network(ctx, instruction), ctx.run_env()


def run_key(ctx: StepContext, instruction: Instruction) -> StepKey:
    """What the cache key of a RUN reads: its argv, network and environment, the
    ``--mount`` flags (:func:`mount_key`) and what the build gives every RUN."""
    argv, network, env = command(ctx, instruction)
    text = "RUN " + "\0".join(argv) + "\0" + network + "\0" + "\0".join(env)
    settings = _settings_key(ctx)
    if settings:
        text += "\0" + settings
    return StepKey(text, mount_key(ctx, instruction))


def run_created_by(ctx: StepContext, instruction: Instruction) -> str:
    """The ``created_by`` of a RUN's layer: the build args prefix
    (:meth:`~boxwright.build.step.StepContext.build_args_prefix`) and the command as written."""
    return ctx.build_args_prefix() + "/bin/sh -c " + _rest_of(instruction)


def _rest_of(instruction: Instruction) -> str:
    parts = instruction.original.strip().split(None, 1)
    return parts[1] if len(parts) > 1 else ""


__all__ = [
    "MOUNT_OPTIONS",
    "MountSpec",
    "bind_source",
    "cache_source",
    "command",
    "command_line",
    "mount_key",
    "mount_specs",
    "run_created_by",
    "run_key",
    "secret_source",
    "ssh_id",
    "ssh_source",
    "tmpfs_size",
]
