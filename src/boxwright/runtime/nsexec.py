"""``exec``: a new process in a running container's namespaces, as ``podman exec`` starts it.

:func:`exec_in` forks a child that joins, with ``setns``, the namespaces of the container's
process that differ from its own: its user namespace first (a rootless container's: the
caller owns it, so it holds every capability there), then cgroup, IPC, UTS, network, PID and
last the mount namespace, which also makes the container's root its root. The child forks
again (a PID namespace takes effect for children), and the grandchild resolves the user in
the container's own ``/etc/passwd``, sets groups, IDs, the container's bounding set and
capabilities (root keeps the set the container's root has; another user none), changes to
the working directory and executes the command with the environment of the container's
process plus ``env``. The child waits for it, passing signals on, and exits with its status.

Failures before the exec come back as :class:`~boxwright.errors.RunError` with podman's
codes (125, 126, 127), through the same report channel the native runner uses. Everything
the children run is imported before the fork: after joining the mount namespace nothing of
the host's file system is reachable.
"""

from __future__ import annotations

import fcntl
import os
import signal
import sys
import termios
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from boxwright.errors import RunError
from boxwright.runtime import linux
from boxwright.runtime.options import RunOptions

# The process parts exec shares with the native runner: the same list native.py imports.
from boxwright.runtime.process import (
    Plan,
    Report,
    become_and_exec,
    copy_window_size,
    exit_code,
    fail_setup,
    forwarding_signals,
    raise_reported,
    read_all,
    relay_terminal,
    setgroups_allowed,
)
from boxwright.runtime.sigproxy import FORWARDED_SIGNALS
from boxwright.unpack.users import resolve_user

#: Namespaces joined, in nsenter's order (the mount namespace last: it changes the root).
NAMESPACES = ("user", "cgroup", "ipc", "uts", "net", "pid", "mnt")


def _proc_status(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(field.encode() + b":"):
                return int(line.split()[1], 16)
    return 0


def _environment(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        raw = f.read()
    env: dict[str, str] = {}
    for entry in raw.split(b"\0"):
        if entry:
            name, _, value = entry.decode(errors="surrogateescape").partition("=")
            env[name] = value
    return env


def _namespaces_to_join(pid: int) -> list[int]:
    """Open handles on the container's namespaces that differ from this process's."""
    handles = []
    for kind in NAMESPACES:
        theirs = f"/proc/{pid}/ns/{kind}"
        try:
            if os.stat(theirs).st_ino == os.stat(f"/proc/self/ns/{kind}").st_ino:
                continue
            handles.append(os.open(theirs, os.O_RDONLY | os.O_CLOEXEC))
        except FileNotFoundError:
            continue  # a kernel without that kind of namespace
    return handles


def exec_in(
    pid: int,
    container_dir: Path,
    options: RunOptions,
    *,
    args: Sequence[str],
    env: Sequence[str] = (),
    user: str | None = None,
    workdir: str = "/",
    terminal: bool = False,
    stdin: int | None = None,
) -> int:
    """Run ``args`` in the namespaces of container process ``pid``; return its exit code
    (128+N when killed by signal N). See the module docstring."""
    del container_dir  # the state beside it is the caller's; the process is all we need
    if not args:
        raise RunError("exec needs a command", 125)
    environment, bounding, handles = _reach(pid)
    _add_environment(environment, env)
    master = slave = None
    if terminal:
        master, slave = os.openpty()
        copy_window_size(master)  # before the process runs: its first look is right
    report_r, report_w = os.pipe2(os.O_CLOEXEC)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        os.close(report_r)
        if master is not None:
            os.close(master)
        _join(
            handles,
            Report(report_w),
            _Request(
                list(args),
                environment,
                user if user is not None else (options.user or ""),
                workdir,
                bounding,
                options.no_new_privileges,
                slave,
                stdin if stdin is not None else null,
            ),
        )
    for fd in (report_w, null, *handles, *([slave] if slave is not None else [])):
        os.close(fd)
    text, status = _follow(child, report_r, master, stdin)
    raise_reported(text)
    return exit_code(status)


def _reach(pid: int) -> tuple[dict[str, str], int, list[int]]:
    """What an exec takes from container process ``pid``: its environment, its bounding
    capability set, and handles on the namespaces to join; :class:`RunError` when it is
    gone or not this caller's to reach."""
    try:
        return _environment(pid), _proc_status(pid, "CapBnd"), _namespaces_to_join(pid)
    except OSError as error:
        raise RunError(
            f"cannot reach the container's process {pid}: {error.strerror}", 125
        ) from error


def _add_environment(environment: dict[str, str], env: Sequence[str]) -> None:
    """Add exec's ``-e`` entries to ``environment``: ``NAME=VALUE``, or ``NAME`` for the
    caller's value (left out when the caller has none), as podman's ``exec -e``."""
    for entry in env:
        name, sep, value = entry.partition("=")
        if not name:
            raise RunError(f"invalid environment variable {entry!r}", 125)
        if sep:
            environment[name] = value
        elif name in os.environ:
            environment[name] = os.environ[name]


def _follow(child: int, report_r: int, master: int | None, stdin: int | None) -> tuple[str, int]:
    """In the caller: pass signals to ``child`` and relay the terminal ``master`` (from
    ``stdin``) until it ends; what it reported and its wait status. Closes ``report_r`` and
    ``master``."""
    try:
        with forwarding_signals(child, master):
            text = read_all(report_r).decode(errors="replace")
            if master is not None:
                relay_terminal(master, stdin)
            _, status = os.waitpid(child, 0)
    finally:
        os.close(report_r)
        if master is not None:
            os.close(master)
    return text, status


class _Request:
    """What the exec'd process is to be, computed before the fork."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        user: str,
        workdir: str,
        bounding: int,
        no_new_privileges: bool,
        slave: int | None,
        stdin: int,
    ) -> None:
        self.args = args
        self.env = env
        self.user = user
        self.workdir = workdir
        self.bounding = bounding
        self.no_new_privileges = no_new_privileges
        self.slave = slave
        self.stdin = stdin


def _join(handles: list[int], report: Report, request: _Request) -> NoReturn:
    """In the child: join the namespaces, fork the process, wait for it (never returns)."""
    try:
        for fd in handles:
            linux.setns(fd)
            os.close(fd)
        process = os.fork()
        if process == 0:
            _start(report, request)
        os.close(report.fd)
        for signum in FORWARDED_SIGNALS:
            signal.signal(signum, lambda s, _f: os.kill(process, s))
        _, status = os.waitpid(process, 0)
        os._exit(exit_code(status))
    except BaseException as error:
        fail_setup(report, error)


def _start(report: Report, request: _Request) -> NoReturn:
    """In the grandchild (inside every namespace): become the user and execute."""
    try:
        for signum in FORWARDED_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        if request.slave is not None:
            os.setsid()
            fcntl.ioctl(request.slave, getattr(termios, "TIOCSCTTY", 0x540E), 0)
            for fd in (0, 1, 2):
                os.dup2(request.slave, fd)
        else:
            os.dup2(request.stdin, 0)
        exec_user = resolve_user(Path("/"), request.user, "user")
        env = dict(request.env)
        if request.user:
            env["HOME"] = exec_user.home
        plan = Plan(
            rootfs="/",
            args=request.args,
            env=env,
            cwd=request.workdir,
            uid=exec_user.uid,
            gid=exec_user.gid,
            groups=list(exec_user.additional_gids),
            hostname=None,
            clone_flags=0,
            new_network=False,
            mapping=None,
            mounts=[],
            masked=[],
            readonly=[],
            bounding=request.bounding,
            granted=request.bounding,
            rlimits=[],
            no_new_privileges=request.no_new_privileges,
            readonly_root=False,
            terminal=request.slave is not None,
        )
        become_and_exec(plan, setgroups_allowed())
    except BaseException as error:
        fail_setup(report, error)
    os._exit(125)


__all__ = ["NAMESPACES", "exec_in"]
