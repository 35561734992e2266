"""RUN: the command line, its environment, its ``--mount``s and ``--network``, and running it.

* the command is the exec form as written, or the shell form through SHELL; a heredoc
  (``RUN <<EOF``) is the script itself when it is the whole command, else the shell reads it
  as a heredoc of the command line, as BuildKit runs them;
* the environment is the config's Env, then the stage's ARGs, then the proxy ARGs;
* ``--mount=type=bind`` (``source`` in the context, or in ``from=`` a stage or image;
  read-only unless ``rw``), ``type=cache`` (a directory of the store kept between builds, by
  ``id`` or ``target``), ``type=tmpfs``, ``type=secret`` (``id``, file from the build's
  secrets, at ``/run/secrets/<id>``, read-only); none of them ends up in the layer;
* ``--network=host|none`` (``default`` is ``host``, as buildah's chroot isolation).

With a build's ``on_event``, the command's stdout and stderr go through pipes
(:mod:`boxwright.build.runoutput`): every line is an ``"output"`` event of the step, all of
them delivered before a failure is raised; without one, the command writes to the caller's
own stdout and stderr.

A command that cannot run for a foreign ``--platform`` (no binfmt handler registered for the
target architecture) fails with a :class:`BuildError` saying so, before anything runs.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boxwright.build import instructions as ins
from boxwright.errors import BuildError, UsageError

if TYPE_CHECKING:
    from boxwright.build.containerfile.model import Instruction
    from boxwright.build.stagerun import StageRun
    from boxwright.runtime.spec import Mount

_BINFMT = Path("/proc/sys/fs/binfmt_misc")
#: OCI architecture → the qemu-user binfmt handler name Debian registers.
_QEMU = {
    "arm64": "aarch64",
    "arm": "arm",
    "386": "i386",
    "amd64": "x86_64",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "mips64le": "mips64el",
}


def command_line(stage: StageRun, instruction: Instruction) -> list[str]:
    """The argv of ``instruction`` (module docstring)."""
    if instruction.heredocs:
        text = " ".join(instruction.args).strip()
        first = instruction.heredocs[0]
        if len(instruction.heredocs) == 1 and text.lstrip("<-").strip("'\"") == first.name:
            return [*ins.shell_of(stage.config), first.content]
        script = text
        for doc in instruction.heredocs:
            script += "\n" + doc.content.rstrip("\n") + "\n" + doc.name
        return [*ins.shell_of(stage.config), script]
    if instruction.json_form:
        return list(instruction.args)
    return ins.command(stage.config, instruction.args, False)


def _flag_values(instruction: Instruction, name: str) -> list[str]:
    return [f.value or "" for f in instruction.flags if f.name == name]


def _options(spec: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.strip().partition("=")
        if key:
            out[key.lower()] = value if sep else "true"
    return out


def _network(instruction: Instruction) -> str:
    values = _flag_values(instruction, "network")
    network = values[-1] if values else "default"
    if network in ("default", "host"):
        return "host"
    if network == "none":
        return "none"
    raise UsageError(f"RUN --network={network}: expected default, host or none")


def check_platform(stage: StageRun) -> None:
    """Refuse a RUN for a foreign architecture the kernel cannot execute (module docstring)."""
    from boxwright.oci.platform import Platform

    host = Platform.host()
    arch = stage.config.get("architecture") or stage.target.architecture
    if not isinstance(arch, str) or arch == host.architecture:
        return
    handler = _QEMU.get(arch, arch)
    if (_BINFMT / f"qemu-{handler}").exists():
        return
    raise BuildError(
        f"RUN cannot execute {arch} programs on this {host.architecture} host: no binfmt_misc "
        f"handler qemu-{handler} is registered (install qemu-user-static and binfmt-support), "
        "or build without RUN steps for this platform"
    )


def _mounts(
    stage: StageRun, instruction: Instruction, dry: bool
) -> tuple[list[Mount], list[dict[str, Any]], str]:
    """The volumes and extra runtime mounts of ``--mount`` flags, and their cache-key text."""
    from boxwright.build.context import content_hash
    from boxwright.runtime.spec import Mount

    volumes: list[Mount] = []
    extra: list[dict[str, Any]] = []
    key = ""
    for spec in _flag_values(instruction, "mount"):
        opts = _options(spec)
        kind = opts.get("type", "bind")
        target = opts.get("target") or opts.get("dst") or opts.get("destination") or ""
        if kind != "secret" and not target.startswith("/"):
            raise UsageError(f"RUN --mount={spec}: target must be an absolute path")
        if kind == "bind":
            source = _bind_source(stage, opts)
            read_only = opts.get("rw", opts.get("readwrite", "false")) != "true"
            key += f"bind:{target}:{content_hash([source])};"
            if not dry:
                volumes.append(Mount(str(source), target, read_only))
        elif kind == "cache":
            name = opts.get("id") or target
            digest = hashlib.sha256(name.encode()).hexdigest()[:32]
            directory = stage.store.layout.root / "build-cache-mounts" / digest
            key += f"cache:{target};"
            if not dry:
                directory.mkdir(parents=True, exist_ok=True, mode=0o755)
                volumes.append(Mount(str(directory), target, opts.get("ro") == "true"))
        elif kind == "tmpfs":
            key += f"tmpfs:{target};"
            options = ["nosuid", "nodev"]
            if "size" in opts:
                options.append(f"size={opts['size']}")
            extra.append(
                {"destination": target, "type": "tmpfs", "source": "tmpfs", "options": options}
            )
        elif kind == "secret":
            ident = opts.get("id") or os.path.basename(target)
            secrets = stage.shared.options.secrets
            path = secrets.get(ident)
            if path is None:
                if opts.get("required") == "true":
                    raise UsageError(
                        f"RUN --mount=type=secret: no secret {ident!r}: "
                        f"give --secret id={ident},src=FILE"
                    )
                continue
            destination = target or f"/run/secrets/{ident}"
            if not dry:
                volumes.append(Mount(str(path), destination, True))
        else:
            raise UsageError(f"RUN --mount type={kind}: expected bind, cache, tmpfs or secret")
    return volumes, extra, key


def _bind_source(stage: StageRun, opts: dict[str, str]) -> Path:
    from boxwright.layer.pathsafe import clean_entry_name

    rel = clean_entry_name(opts.get("source") or opts.get("src") or "/", allow_root=True)
    origin = opts.get("from")
    root = stage.mounted_image(origin) if origin else stage.shared.context
    path = root / rel if rel else root
    real = Path(os.path.realpath(path))
    if not (
        real == Path(os.path.realpath(root))
        or str(real).startswith(os.path.realpath(root) + os.sep)
    ):
        raise UsageError(f"RUN --mount source {rel!r} leaves its root")
    if not real.exists():
        raise UsageError(f"RUN --mount source {rel!r} does not exist")
    return real


def run_instruction(
    stage: StageRun, instruction: Instruction, *, dry: bool
) -> tuple[str, str, str]:
    """``created_by``, the cache key text and the mounts' content key of a RUN; run it unless
    ``dry``. Raises :class:`BuildError` when the command exits non-zero."""
    from boxwright.runtime.container import run_in_container
    from boxwright.runtime.spec import RunOptions

    argv = command_line(stage, instruction)
    network = _network(instruction)
    volumes, extra, mount_key = _mounts(stage, instruction, dry)
    created_by = stage.build_args_prefix() + "/bin/sh -c " + _rest_of(instruction)
    env = stage.run_env()
    key_text = "RUN " + "\0".join(argv) + "\0" + network + "\0" + "\0".join(env)
    if dry:
        return created_by, key_text, mount_key
    check_platform(stage)
    cfg = ins.inner(stage.config)
    workdir = cfg.get("WorkingDir") if isinstance(cfg.get("WorkingDir"), str) else None
    user = cfg.get("User") if isinstance(cfg.get("User"), str) and cfg.get("User") else None
    options = RunOptions(
        args=tuple(argv),
        entrypoint=(),
        env=tuple(env),
        workdir=workdir or "/",
        user=user,
        volumes=tuple(volumes),
        network="none" if network == "none" else "host",
        extra_mounts=tuple(extra),
    )
    container = stage.container()
    isolation = stage.shared.options.isolation
    if stage.shared.options.on_event is None:  # straight to the caller's terminal
        code = run_in_container(stage.store, container, options, isolation)
    else:
        from dataclasses import replace

        from boxwright.build.runoutput import output_lines

        with output_lines(stage.output) as fds:
            code = run_in_container(stage.store, container, replace(options, output=fds), isolation)
    if code != 0:
        raise BuildError(
            f"{instruction.location.file}:{instruction.location.line}: "
            f'building at STEP "{instruction.original.strip()}": exit status {code}'
        )
    return created_by, key_text, mount_key


def _rest_of(instruction: Instruction) -> str:
    parts = instruction.original.strip().split(None, 1)
    return parts[1] if len(parts) > 1 else ""


__all__ = ["check_platform", "command_line", "run_instruction"]
