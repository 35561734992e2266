"""RUN: the command line, its environment, its ``--mount``s and ``--network``, and running it.

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

With a build's ``on_event``, the command's stdout and stderr go through pipes
(:mod:`boxwright.build.runoutput`): every line is an ``"output"`` event of the step, all of
them delivered before a failure is raised; without one, the command writes to the caller's
own stdout and stderr.

A command for a foreign ``--platform`` runs through qemu user emulation when the kernel has a
binfmt_misc entry for its architecture (:mod:`boxwright.runtime.emulation`); without one it
fails with a :class:`BuildError` naming the packages to install, before anything runs.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boxwright.build import instructions as ins
from boxwright.build.context import content_hash
from boxwright.build.files import SourceRoot, copy_into
from boxwright.build.runoutput import output_lines
from boxwright.build.runsettings import SecretSource, check_network
from boxwright.build.step import StepKey
from boxwright.errors import BuildError, InvalidIDError, RunError, RunStepError, UsageError
from boxwright.layer.ownership import OwnershipRecord
from boxwright.layer.pathsafe import clean_entry_name, remove_tree, resolve_in_root
from boxwright.oci.ids import parse_id
from boxwright.oci.platform import Platform
from boxwright.runtime.idmap import default_mapping
from boxwright.runtime.spec import Mount, RunOptions
from boxwright.store.rootfs import overlay_works

if TYPE_CHECKING:
    from boxwright.build.containerfile.model import Instruction
    from boxwright.build.runsettings import SshSource
    from boxwright.build.step import StepContext
    from boxwright.oci.config import ImageConfig
    from boxwright.store.store import Store


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


def _tmpfs_size(value: str) -> int:
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


def check_platform(ctx: StepContext) -> None:
    """Refuse a RUN for a foreign architecture the kernel cannot execute (module docstring):
    :func:`boxwright.runtime.emulation.check_can_run` on the stage's platform."""
    from boxwright.runtime.emulation import check_can_run

    arch = ctx.config.architecture or ctx.target.architecture
    variant = ctx.config.variant if ctx.config.architecture else ctx.target.variant
    try:
        check_can_run(Platform(ctx.config.os or ctx.target.os, arch, variant or ""))
    except RunError as error:
        raise BuildError(f"RUN: {error}") from None


class _Scratch:
    """Throwaway directories of one RUN (the upper layers of its writable binds), made on first
    use under the store's ``tmp/`` and removed after the RUN."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.path: Path | None = None

    def new(self) -> Path:
        """A fresh, empty directory for one mount."""
        if self.path is None:
            tmp = self._store.layout.tmp_dir
            tmp.mkdir(parents=True, exist_ok=True)
            self.path = Path(tempfile.mkdtemp(prefix="run-mounts-", dir=tmp))
        return Path(tempfile.mkdtemp(dir=self.path))

    def remove(self) -> None:
        if self.path is not None:
            remove_tree(self.path)
            self.path = None


def _writable_bind(
    store: Store, source: Path, target: str, scratch: _Scratch
) -> Mount | dict[str, Any]:
    """A mount of ``source`` at ``target`` whose writes are thrown away after the RUN, as
    BuildKit's ``rw`` binds are: an overlay with ``source`` as its lower directory and an
    upper one in ``scratch``; a copy in ``scratch`` where no overlay can be mounted (a file
    source, or a kernel or user that cannot mount overlays)."""
    work = scratch.new()
    if source.is_dir() and overlay_works(store):
        for part in ("upper", "work"):
            (work / part).mkdir()
        # A link keeps the context's own path (its ``,`` or ``:``) out of the option string.
        (work / "lower").symlink_to(source)
        options = [f"lowerdir={work}/lower", f"upperdir={work}/upper", f"workdir={work}/work"]
        if not any(c in str(work) for c in ",:\\"):
            return {"destination": target, "type": "overlay", "source": "overlay",
                    "options": [*options, "userxattr"]}  # fmt: skip
    copy = work / "copy"
    _copy_source(source, copy)
    return Mount(str(copy), target, False)


def _copy_source(source: Path, dest: Path) -> None:
    """Copy ``source`` (a file, or a tree with its links as links) to the new path ``dest``."""
    if source.is_dir():
        shutil.copytree(source, dest, symlinks=True, copy_function=_copy_regular)
    else:
        _copy_regular(str(source), str(dest))


def _copy_regular(source: str, dest: str) -> None:
    """Copy a regular file; any other kind (a FIFO, a device, a socket) is left out."""
    if stat.S_ISREG(os.lstat(source).st_mode):
        shutil.copy2(source, dest)


# A parsed RUN --mount flag, runstep's alone; StepContext's header is alike by convention.
@dataclass(frozen=True)
class _MountSpec:
    """One ``--mount`` flag, its options checked."""

    spec: str
    opts: dict[str, str]
    kind: str
    target: str


def _mount_specs(ctx: StepContext, instruction: Instruction) -> Iterator[_MountSpec]:
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
        yield _MountSpec(spec, opts, kind, target)


def mount_key(ctx: StepContext, instruction: Instruction) -> str:
    """The cache-key text of the ``--mount`` flags: a bind's target and the content hash of its
    source, a cache's or tmpfs's target, an ssh mount's id and target; a secret adds nothing
    (its content never reaches the layer) and neither an agent's keys nor its socket do, but a
    required secret or agent that was not given fails here, before the cache is asked."""

    key = ""
    for mount in _mount_specs(ctx, instruction):
        if mount.kind == "bind":
            key += f"bind:{mount.target}:{content_hash([_bind_source(ctx, mount.opts)])};"
        elif mount.kind == "cache" and mount.opts.get("from"):
            origin = ctx.workspace.origin_id(mount.opts["from"])
            key += f"cache:{mount.target}:from={origin}:{_cache_source(mount.opts)};"
        elif mount.kind in ("cache", "tmpfs"):
            key += f"{mount.kind}:{mount.target};"
        elif mount.kind == "ssh":
            _ssh_source(ctx, mount)
            key += f"ssh:{_ssh_id(mount)}:{mount.target};"
        else:
            _secret_source(ctx, mount)
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


def _mounts(
    ctx: StepContext, instruction: Instruction, scratch: _Scratch, stack: ExitStack
) -> tuple[list[Mount], list[dict[str, Any]], list[str]]:
    """The volumes and extra runtime mounts of the build's ``-v`` and of the ``--mount``
    flags, and the environment entries of secrets given with ``env=`` and of the first ssh
    mount; what they need while the RUN runs (agents, secret files) ends with ``stack``."""
    volumes: list[Mount] = []
    extra: list[dict[str, Any]] = []
    env: list[str] = []

    def add(made: Mount | dict[str, Any]) -> None:
        if isinstance(made, dict):
            extra.append(made)
        else:
            volumes.append(made)

    for volume in ctx.options.volumes:
        if volume.overlay:
            add(_writable_bind(ctx.store, volume.source, volume.destination, scratch))
        else:
            volumes.append(Mount(str(volume.source), volume.destination, volume.read_only))
    ssh_count = 0
    for mount in _mount_specs(ctx, instruction):
        if mount.kind == "bind":
            add(_bind_mount(ctx, mount, scratch))
        elif mount.kind == "cache":
            volumes.append(_cache_mount(ctx, mount))
        elif mount.kind == "tmpfs":
            extra.append(_tmpfs_mount(mount))
        elif mount.kind == "ssh":
            target = mount.target or f"/run/buildkit/ssh_agent.{ssh_count}"
            if ssh_count == 0 and not any(e.startswith("SSH_AUTH_SOCK=") for e in ctx.run_env()):
                env.append(f"SSH_AUTH_SOCK={target}")
            ssh_count += 1
            volumes.extend(_ssh_mount(ctx, mount, target, stack))
        else:
            volumes.extend(_secret_mount(ctx, mount, env, stack))
    return volumes, extra, env


def _bind_mount(ctx: StepContext, mount: _MountSpec, scratch: _Scratch) -> Mount | dict[str, Any]:
    opts = mount.opts
    source = _bind_source(ctx, opts)
    writable = opts.get("rw", opts.get("readwrite", "false")) == "true"
    writable = writable and opts.get("ro", opts.get("readonly", "false")) != "true"
    if not writable:
        return Mount(str(source), mount.target, True)
    return _writable_bind(ctx.store, source, mount.target, scratch)


def _cache_source(opts: dict[str, str]) -> str:
    """A cache mount's ``source``, cleaned (``""`` for the root)."""
    return clean_entry_name(opts.get("source") or opts.get("src") or "/", allow_root=True)


def _cache_mount(ctx: StepContext, mount: _MountSpec) -> Mount:
    """A directory of the store kept between builds (module docstring): by ``id`` (else the
    target), and with ``from=`` by the image it names and ``source`` too."""
    opts = mount.opts
    name = opts.get("id") or mount.target
    origin = opts.get("from")
    source = _cache_source(opts)
    key = name if origin is None else f"{name}\0{ctx.workspace.origin_id(origin)}\0{source}"
    caches = ctx.store.layout.root / "build-cache-mounts"
    directory = caches / hashlib.sha256(key.encode()).hexdigest()[:32]
    path = directory
    if origin is not None:
        if not directory.is_dir():
            _seed_cache(ctx, origin, source, directory)
    else:
        directory.mkdir(parents=True, exist_ok=True, mode=0o755)
        if source:
            path = resolve_in_root(directory, source, follow_last=True)
            if not path.is_dir():
                raise UsageError(
                    f"RUN --mount={mount.spec}: source {source!r} is no directory of the cache"
                )
    read_only = opts.get("ro", opts.get("readonly", "false")) == "true"
    return Mount(str(path), mount.target, read_only)


def _seed_cache(ctx: StepContext, origin: str, source: str, directory: Path) -> None:
    """Make the cache ``directory``: a copy of ``source`` in the stage or image ``origin``
    (links followed inside it, owners kept), made beside it and renamed into place (a stage
    that seeded it first wins)."""
    root = Path(os.path.realpath(ctx.workspace.mounted_image(origin)))
    top = resolve_in_root(root, source, follow_last=True) if source else root
    if not top.is_dir():
        raise UsageError(f"RUN --mount source {source!r} is no directory in {origin!r}")
    directory.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".seed-", dir=directory.parent))
    try:
        ownership = ctx.workspace.mounted_ownership(origin)
        tree = SourceRoot(root, ownership, keep_owners=ownership is not None)
        copy_into(work, OwnershipRecord(), [top], "/", source_root=tree)
        work.chmod(0o755)
        try:
            work.rename(directory)
        except OSError:
            if not directory.is_dir():
                raise
    finally:
        if work.exists():
            remove_tree(work)


def _tmpfs_mount(mount: _MountSpec) -> dict[str, Any]:
    options = ["nosuid", "nodev"]
    if "size" in mount.opts:
        options.append(f"size={_tmpfs_size(mount.opts['size'])}")
    return {"destination": mount.target, "type": "tmpfs", "source": "tmpfs", "options": options}


def _secret_source(ctx: StepContext, mount: _MountSpec) -> SecretSource | None:
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


def _secret_mount(
    ctx: StepContext, mount: _MountSpec, env: list[str], stack: ExitStack
) -> list[Mount]:
    """A secret's read-only bind (none for ``env=`` alone), its ``env=`` entry into ``env``.
    A secret read from a variable is bound from a file of its own, made for the RUN in a
    private directory and removed after it."""
    source = _secret_source(ctx, mount)
    if source is None:
        return []
    ident = mount.opts.get("id") or os.path.basename(mount.target)
    if mount.opts.get("env"):
        env.append(f"{mount.opts['env']}={_secret_text(source.read(ident), ident)}")
        if not mount.target:
            return []
    path = source.source
    if source.kind == "env":
        directory = stack.enter_context(tempfile.TemporaryDirectory(prefix="bw-secret-"))
        path = os.path.join(directory, "secret")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o400)
        with os.fdopen(fd, "wb") as out:
            out.write(source.read(ident))
    return [Mount(path, mount.target or f"/run/secrets/{ident}", True)]


def _secret_text(data: bytes, ident: str) -> str:
    """A secret's value for ``env=`` (text; the message never holds the value)."""
    text = data.decode("utf-8", errors="replace")
    if "\0" in text:
        raise UsageError(f"secret {ident!r}: a NUL byte cannot be in an environment variable")
    return text


def _ssh_id(mount: _MountSpec) -> str:
    return mount.opts.get("id") or "default"


def _ssh_source(ctx: StepContext, mount: _MountSpec) -> SshSource | None:
    """The build's agent for an ssh mount; None when not given and not required."""
    ident = _ssh_id(mount)
    source = ctx.options.ssh.get(ident)
    if source is None and mount.opts.get("required") == "true":
        raise UsageError(
            f"RUN --mount=type=ssh: no SSH agent {ident!r}: give --ssh {ident}[=SOCKET|KEY[,KEY]]"
        )
    return source


def _ssh_mount(ctx: StepContext, mount: _MountSpec, target: str, stack: ExitStack) -> list[Mount]:
    """The agent socket of an ssh mount, made for this RUN (none when no agent was given)."""
    source = _ssh_source(ctx, mount)
    if source is None:
        return []
    mode = int(mount.opts.get("mode", "600"), 8)
    uid, gid = (parse_id(mount.opts.get(k, "0"), k) for k in ("uid", "gid"))
    # Root outside a user namespace sees host IDs; otherwise the socket stays the caller's,
    # which is the container's root (an unprivileged user cannot give away a file).
    from boxwright.build.sshagent import agent_socket  # sockets and a thread: only for ssh

    owner = (uid, gid) if os.geteuid() == 0 and default_mapping() is None else None
    path = stack.enter_context(agent_socket(_ssh_id(mount), source, mode=mode, owner=owner))
    return [Mount(str(path), target, False)]


def _bind_source(ctx: StepContext, opts: dict[str, str]) -> Path:
    """The host path a bind mount's ``source`` names in its root (the context, or the stage
    or image ``from=`` names), its links followed inside that root (``..`` stops at it)."""
    rel = clean_entry_name(opts.get("source") or opts.get("src") or "/", allow_root=True)
    origin = opts.get("from")
    root = Path(os.path.realpath(ctx.workspace.mounted_image(origin) if origin else ctx.context))
    real = resolve_in_root(root, rel, follow_last=True) if rel else root
    if not real.exists():
        raise UsageError(f"RUN --mount source {rel!r} does not exist")
    return real


def _command(ctx: StepContext, instruction: Instruction) -> tuple[list[str], str, list[str]]:
    """The argv, network and whole environment of a RUN."""
    return command_line(ctx.config, instruction), _network(ctx, instruction), ctx.run_env()


def run_key(ctx: StepContext, instruction: Instruction) -> StepKey:
    """What the cache key of a RUN reads: its argv, network and environment, the
    ``--mount`` flags (:func:`mount_key`) and what the build gives every RUN."""
    argv, network, env = _command(ctx, instruction)
    text = "RUN " + "\0".join(argv) + "\0" + network + "\0" + "\0".join(env)
    settings = _settings_key(ctx)
    if settings:
        text += "\0" + settings
    return StepKey(text, mount_key(ctx, instruction))


def run_created_by(ctx: StepContext, instruction: Instruction) -> str:
    """The ``created_by`` of a RUN's layer: the build args prefix
    (:meth:`~boxwright.build.step.StepContext.build_args_prefix`) and the command as written."""
    return ctx.build_args_prefix() + "/bin/sh -c " + _rest_of(instruction)


def run_step(ctx: StepContext, instruction: Instruction) -> str:
    """Run ``instruction`` in the stage's working container; return the ``created_by`` of its
    layer (:func:`run_created_by`). Raises :class:`RunStepError` when the command exits
    non-zero.

    The command runs with the container's config (the stage's, in its record): RunOptions
    add only what the RUN adds, the command, the ARGs Env lacks, secrets and mounts."""
    argv, network, _env = _command(ctx, instruction)
    check_platform(ctx)
    scratch = _Scratch(ctx.store)
    try:
        with ExitStack() as stack:
            volumes, extra, secret_env = _mounts(ctx, instruction, scratch, stack)
            env = [*ctx.run_only_env(), *secret_env]
            _run(ctx, instruction, argv, network, env, volumes, extra)
    finally:
        scratch.remove()
    return run_created_by(ctx, instruction)


def _run(
    ctx: StepContext,
    instruction: Instruction,
    argv: list[str],
    network: str,
    env: list[str],
    volumes: list[Mount],
    extra: list[dict[str, Any]],
) -> None:
    """Run the command in the stage's container; :class:`BuildError` when it exits non-zero."""
    from boxwright.runtime.container import run_in_container  # not loaded by a cached build

    options = RunOptions(
        args=tuple(argv),
        entrypoint=(),
        env=tuple(env),
        volumes=tuple(volumes),
        network="none" if network == "none" else "host",
        extra_mounts=tuple(extra),
        add_hosts=ctx.options.add_hosts,
        no_hosts=ctx.options.no_hosts,
        capabilities=ctx.options.capabilities,
    )
    container = ctx.workspace.container()
    isolation = ctx.options.isolation
    if ctx.options.on_event is None:  # straight to the caller's terminal
        code = run_in_container(ctx.store, container, options, isolation)
    else:
        with output_lines(ctx.output) as fds:
            code = run_in_container(ctx.store, container, replace(options, output=fds), isolation)
    if code != 0:
        raise RunStepError(
            f"{instruction.location.file}:{instruction.location.line}: "
            f'building at STEP "{instruction.original.strip()}": exit status {code}',
            code,
        )


def _rest_of(instruction: Instruction) -> str:
    parts = instruction.original.strip().split(None, 1)
    return parts[1] if len(parts) > 1 else ""


__all__ = [
    "MOUNT_OPTIONS",
    "check_platform",
    "command_line",
    "mount_key",
    "run_created_by",
    "run_key",
    "run_step",
]
