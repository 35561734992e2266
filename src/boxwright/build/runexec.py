"""RUN once the cache lacks the step: its mounts made (:func:`run_step`) and its command run
in the stage's working container. What the flags mean and what the key reads is
:mod:`boxwright.build.runstep`'s.

Each ``--mount`` becomes a runtime mount: a bind read-only, or writable through an overlay
(or a copy) in a scratch directory removed after the RUN; a cache directory of the store,
seeded from its ``from=`` on first use; a tmpfs; a secret's file; an ssh agent's socket made
for this RUN alone (:mod:`boxwright.build.sshagent`).

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
import shutil
import stat
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boxwright.build.files import copy_into
from boxwright.build.runoutput import output_lines
from boxwright.build.runstep import (
    MountSpec,
    bind_source,
    cache_source,
    command,
    mount_specs,
    run_created_by,
    secret_source,
    ssh_id,
    ssh_source,
    tmpfs_size,
)
from boxwright.build.sources import SourceRoot
from boxwright.errors import BuildError, RunError, RunStepError, UsageError
from boxwright.layer.ownership import OwnershipRecord
from boxwright.layer.pathsafe import remove_tree, resolve_in_root
from boxwright.oci.ids import parse_id
from boxwright.oci.platform import Platform
from boxwright.runtime.container import run_in_container
from boxwright.runtime.emulation import check_can_run
from boxwright.runtime.idmap import default_mapping
from boxwright.runtime.spec import Mount, RunOptions
from boxwright.store.rootfs import overlay_works

if TYPE_CHECKING:
    from boxwright.build.containerfile.model import Instruction
    from boxwright.build.step import StepContext
    from boxwright.store.store import Store


def check_platform(ctx: StepContext) -> None:
    """Refuse a RUN for a foreign architecture the kernel cannot execute (module docstring):
    :func:`boxwright.runtime.emulation.check_can_run` on the stage's platform."""
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
    for mount in mount_specs(ctx, instruction):
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


def _bind_mount(ctx: StepContext, mount: MountSpec, scratch: _Scratch) -> Mount | dict[str, Any]:
    opts = mount.opts
    source = bind_source(ctx, opts)
    writable = opts.get("rw", opts.get("readwrite", "false")) == "true"
    writable = writable and opts.get("ro", opts.get("readonly", "false")) != "true"
    if not writable:
        return Mount(str(source), mount.target, True)
    return _writable_bind(ctx.store, source, mount.target, scratch)


def _cache_mount(ctx: StepContext, mount: MountSpec) -> Mount:
    """A directory of the store kept between builds (module docstring): by ``id`` (else the
    target), and with ``from=`` by the image it names and ``source`` too."""
    opts = mount.opts
    name = opts.get("id") or mount.target
    origin = opts.get("from")
    source = cache_source(opts)
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


def _tmpfs_mount(mount: MountSpec) -> dict[str, Any]:
    options = ["nosuid", "nodev"]
    if "size" in mount.opts:
        options.append(f"size={tmpfs_size(mount.opts['size'])}")
    return {"destination": mount.target, "type": "tmpfs", "source": "tmpfs", "options": options}


def _secret_mount(
    ctx: StepContext, mount: MountSpec, env: list[str], stack: ExitStack
) -> list[Mount]:
    """A secret's read-only bind (none for ``env=`` alone), its ``env=`` entry into ``env``.
    A secret read from a variable is bound from a file of its own, made for the RUN in a
    private directory and removed after it."""
    source = secret_source(ctx, mount)
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


def _ssh_mount(ctx: StepContext, mount: MountSpec, target: str, stack: ExitStack) -> list[Mount]:
    """The agent socket of an ssh mount, made for this RUN (none when no agent was given)."""
    source = ssh_source(ctx, mount)
    if source is None:
        return []
    mode = int(mount.opts.get("mode", "600"), 8)
    uid, gid = (parse_id(mount.opts.get(k, "0"), k) for k in ("uid", "gid"))
    # Root outside a user namespace sees host IDs; otherwise the socket stays the caller's,
    # which is the container's root (an unprivileged user cannot give away a file).
    from boxwright.build.sshagent import agent_socket  # sockets and a thread: only for ssh

    owner = (uid, gid) if os.geteuid() == 0 and default_mapping() is None else None
    path = stack.enter_context(agent_socket(ssh_id(mount), source, mode=mode, owner=owner))
    return [Mount(str(path), target, False)]


def run_step(ctx: StepContext, instruction: Instruction) -> str:
    """Run ``instruction`` in the stage's working container; return the ``created_by`` of its
    layer (:func:`run_created_by`). Raises :class:`RunStepError` when the command exits
    non-zero.

    The command runs with the container's config (the stage's, in its record): RunOptions
    add only what the RUN adds, the command, the ARGs Env lacks, secrets and mounts."""
    argv, network, _env = command(ctx, instruction)
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


__all__ = ["check_platform", "run_step"]
