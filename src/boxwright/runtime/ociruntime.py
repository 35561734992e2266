"""The OCI runtime (``runc`` or ``crun``) as every caller starts it: which one
(:func:`find_oci_runtime`), its command line up to the subcommand, with the options that tell
it it runs rootless (:func:`runtime_command`), and ``runc exec`` into a container conmon
keeps (:func:`runc_exec`, podman's exec of such a container).

A module of its own so that ``exec`` loads none of the bundle, spec, network and conmon
machinery of :mod:`boxwright.runtime.ocirunner` and :mod:`boxwright.runtime.conmon`, which
import what they share from here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from boxwright.errors import RunError
from boxwright.rootless.ranges import in_initial_user_namespace
from boxwright.runtime import linux
from boxwright.runtime.process import forwarding_signals
from boxwright.unpack.users import resolve_user

if TYPE_CHECKING:
    from boxwright.runtime.state import StateFiles

RUNTIME_ENV = "BOXWRIGHT_OCI_RUNTIME"
CANDIDATES = ("runc", "crun")


def find_oci_runtime(requested: str | None = None) -> str:
    """The path of the OCI runtime to use; :class:`RunError` when none is installed."""
    wanted = requested or os.environ.get(RUNTIME_ENV)
    names = (wanted,) if wanted else CANDIDATES
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    raise RunError(
        f"no OCI runtime found (looked for {', '.join(names)}): install runc or crun, "
        "or use --isolation native",
        125,
    )


def runs_rootless() -> bool:
    """Whether this process is not root of the initial user namespace (an OCI runtime it
    starts is rootless)."""
    return os.geteuid() != 0 or not in_initial_user_namespace()


def cgroup_delegated() -> bool:
    """Whether this process may manage its own cgroup: cgroup v2 (the unified hierarchy) and
    its cgroup directory writable (what systemd's delegation gives a user session)."""
    if not os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return False
    try:
        with open("/proc/self/cgroup", encoding="ascii", errors="replace") as handle:
            path = next((line[3:].strip() for line in handle if line.startswith("0::")), None)
    except OSError:
        return False
    return path is not None and os.access(f"/sys/fs/cgroup{path}", os.W_OK)


def runtime_command(runtime: str, state: Path | str) -> list[str]:
    """The runtime's command line up to its subcommand: ``--root STATE``, and the options
    that tell it it runs rootless (:func:`_rootless_options`) when it does."""
    args = [runtime, "--root", str(state)]
    if runs_rootless():
        args[1:1] = _rootless_options(os.path.basename(runtime))
    return args


def _rootless_options(runtime: str) -> list[str]:
    """The global options that tell ``runtime`` it runs rootless: runc's ``--rootless true``;
    crun's ``--cgroup-manager disabled`` when the cgroup is not delegated (crun refuses the
    hybrid cgroup layout otherwise)."""
    if runtime == "runc":
        return ["--rootless", "true"]
    if runtime == "crun" and not cgroup_delegated():
        return ["--cgroup-manager", "disabled"]
    return []


def _user_namespace_of(pid: int) -> int | None:
    """A handle on ``pid``'s user namespace when it is not this process's (a rootless
    store's: runc created the container inside it, and ``runc exec`` must run there too)."""
    theirs = f"/proc/{pid}/ns/user"
    try:
        if os.stat(theirs).st_ino == os.stat("/proc/self/ns/user").st_ino:
            return None
        return os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as error:
        message = f"cannot reach the container's process {pid}: {error.strerror}"
        raise RunError(message, 125) from error


def runc_exec(
    files: StateFiles,
    container_id: str,
    pid: int,
    args: Sequence[str],
    *,
    env: Sequence[str] = (),
    user: str = "",
    workdir: str | None = None,
    terminal: bool = False,
    stdin: int | None = None,
) -> int:
    """``runc exec`` of ``args`` in the container conmon keeps (podman's exec of such a
    container): the container's environment plus ``env``, ``user`` resolved in the
    container's own ``/etc/passwd`` (through ``/proc/PID/root``), ``workdir``; with
    ``terminal`` runc gives it a terminal relayed to this process's. Returns its exit code."""
    if not args:
        raise RunError("exec needs a command", 125)
    who = resolve_user(Path(f"/proc/{pid}/root"), user, "user")
    command = [*runtime_command(find_oci_runtime(), files.runtime_root), "exec"]
    command += ["--user", f"{who.uid}:{who.gid}"]
    if os.geteuid() == 0:
        for gid in who.additional_gids:
            command += ["--additional-gids", str(gid)]
    if user:
        command += ["--env", f"HOME={who.home}"]
    for entry in env:
        name, sep, _ = entry.partition("=")
        if not name:
            raise RunError(f"invalid environment variable {entry!r}", 125)
        if sep:
            command += ["--env", entry]
        elif name in os.environ:
            command += ["--env", f"{name}={os.environ[name]}"]
    if workdir:
        command += ["--cwd", workdir]
    if terminal:
        command.append("--tty")
    command += [container_id, *args]
    null = None if stdin is not None or terminal else subprocess.DEVNULL
    userns = _user_namespace_of(pid)
    try:
        process = subprocess.Popen(
            command,
            stdin=stdin if stdin is not None else null,
            pass_fds=() if userns is None else (userns,),
            # in the forked child, before runc executes: one thread, so setns(user) works
            preexec_fn=None if userns is None else lambda: linux.setns(userns),
        )
    finally:
        if userns is not None:
            os.close(userns)
    with forwarding_signals(process.pid):
        status = process.wait()
    return 128 - status if status < 0 else status


__all__ = [
    "CANDIDATES",
    "RUNTIME_ENV",
    "cgroup_delegated",
    "find_oci_runtime",
    "runc_exec",
    "runs_rootless",
    "runtime_command",
]
