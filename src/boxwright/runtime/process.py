"""What a container process and its caller share between the native runner
(:mod:`boxwright.runtime.native`) and ``exec`` (:mod:`boxwright.runtime.nsexec`): the plan
the forked children follow (:class:`Plan`), the last steps of the process (its rlimits,
bounding set, groups, IDs, capabilities, working directory, then the exec), the report pipe
from child to caller and its errors with podman's codes, and the caller's signal forwarding
and terminal relay.

A module of its own so that ``exec`` loads none of the runner's mount, ID-map, cgroup,
network and spec machinery: it joins namespaces that exist and makes none.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import select
import signal
import sys
import termios
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from boxwright._log import Logger
from boxwright.errors import RunError
from boxwright.runtime import linux
from boxwright.runtime.sigproxy import FORWARDED_SIGNALS, Handler, handling

if TYPE_CHECKING:
    from boxwright.runtime.idmap import IDMapping
    from boxwright.runtime.network import HelperPlan

_log = Logger("boxwright.runtime")


def _warn(text: str) -> None:
    """Log a set-up warning on ``boxwright.runtime``."""
    _log.warning("%s", text)


@dataclass
class Plan:
    """Everything the children need, computed before the fork."""

    rootfs: str
    args: list[str]
    env: dict[str, str]
    cwd: str
    uid: int
    gid: int
    groups: list[int]
    hostname: str | None
    clone_flags: int
    new_network: bool
    mapping: IDMapping | None
    mounts: list[dict[str, Any]]
    masked: list[str]
    readonly: list[str]
    bounding: int
    granted: int
    rlimits: list[tuple[int, int, int]]
    no_new_privileges: bool
    readonly_root: bool
    terminal: bool
    warnings: list[str] = field(default_factory=list)
    joined: dict[str, str] = field(default_factory=dict)
    """Namespaces joined by path (``kind`` → path) instead of made."""
    network: HelperPlan | None = None
    """The helper the caller starts once the keeper's network namespace exists."""
    resources: dict[str, Any] = field(default_factory=dict)
    """The spec's ``linux.resources``: the caller puts the keeper in a cgroup with them."""
    chown: tuple[int, int, list[str]] | None = None
    """``(uid, gid, destinations)``: mounts the container's user gets to own (``-v :U``)."""


class Report:
    """The child → caller channel: warnings and the one error, as lines on a pipe."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def warn(self, text: str) -> None:
        os.write(self.fd, f"W {text}\n".encode(errors="replace"))

    def fail(self, code: int, text: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self.fd, f"E {code} {text}\n".encode(errors="replace"))


class SetupError(Exception):
    def __init__(self, code: int, text: str) -> None:
        super().__init__(text)
        self.code = code


def setgroups_allowed() -> bool:
    try:
        with open("/proc/self/setgroups", "rb") as f:
            return f.read().strip() != b"deny"
    except OSError:
        return True


def _become_user(plan: Plan, groups_allowed: bool) -> None:
    for number, soft, hard in plan.rlimits:
        resource.setrlimit(number, (soft, hard))
    for cap in range(linux.last_capability() + 1):
        if not plan.bounding & (1 << cap):
            with contextlib.suppress(OSError):
                linux.drop_bounding_capability(cap)
    try:
        if groups_allowed:
            os.setgroups(plan.groups)
        os.setresgid(plan.gid, plan.gid, plan.gid)
        os.setresuid(plan.uid, plan.uid, plan.uid)
    except OSError as error:
        raise SetupError(
            125,
            f"cannot switch to uid {plan.uid} gid {plan.gid}: {error.strerror} "
            "(an ID the user namespace does not map?)",
        ) from error
    if plan.uid == 0:
        linux.capset(plan.granted, plan.granted, plan.granted & plan.bounding)
    if plan.no_new_privileges:
        linux.set_no_new_privs()


def _exec(plan: Plan) -> None:
    program = plan.args[0]
    try:
        os.execvpe(program, plan.args, plan.env)
    except OSError as error:
        if error.errno == errno.ENOENT:
            where = "" if "/" in program else " in $PATH"
            raise SetupError(127, f"executable file `{program}` not found{where}") from error
        raise SetupError(126, f"cannot execute `{program}`: {error.strerror}") from error


def become_and_exec(plan: Plan, groups_allowed: bool) -> None:
    """The last steps of a container process (and of ``exec`` into one): its user, its
    working directory, its command."""
    _become_user(plan, groups_allowed)
    try:
        os.chdir(plan.cwd)
    except OSError as error:
        raise SetupError(125, f"cannot enter {plan.cwd}: {error.strerror}") from error
    _exec(plan)


def fail_setup(report: Report, error: BaseException) -> NoReturn:
    """End a forked setup process that failed, telling the caller why through ``report``."""
    if isinstance(error, SetupError):
        report.fail(error.code, str(error))
        os._exit(error.code)
    report.fail(125, f"setting up the container failed: {error}")
    os._exit(125)


def exit_code(status: int) -> int:
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


@contextlib.contextmanager
def forwarding_signals(pid: int, master: int | None = None) -> Iterator[None]:
    """Pass the caller's :data:`~boxwright.runtime.sigproxy.FORWARDED_SIGNALS` to ``pid``
    while the container runs (main thread only), and with a terminal ``master``, the
    caller's window size changes to it."""

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    handlers: dict[int, Handler] = dict.fromkeys(FORWARDED_SIGNALS, forward)
    if master is not None:
        terminal = master
        handlers[signal.SIGWINCH] = lambda _s, _f: copy_window_size(terminal)
    with handling(handlers):
        yield


def copy_window_size(master: int) -> None:
    """The caller's window size (its stdin's, when a terminal) onto terminal ``master``."""
    with contextlib.suppress(OSError, ValueError, termios.error):
        termios.tcsetwinsize(master, termios.tcgetwinsize(sys.stdin.fileno()))


def relay_terminal(master: int, source: int | None = None) -> None:
    """Copy ``source`` (default: the caller's stdin) to the terminal and the terminal to
    stdout until it closes.

    A terminal ``source`` is put in raw mode at once (``TCSANOW``), never flushed: what was
    typed before the container started is read and sent, not lost.
    """
    stdin = sys.stdin.fileno() if source is None else source
    stdout = sys.stdout.fileno()
    saved = None
    if os.isatty(stdin):
        saved = termios.tcgetattr(stdin)
        tty.setraw(stdin, termios.TCSANOW)
    with contextlib.suppress(OSError, ValueError):
        if os.isatty(sys.stdin.fileno()):
            copy_window_size(master)
    watched = [master, stdin]
    # Both ways between the terminal and the container's: monitor's log loop selects the same
    # way over other descriptors, one way, into a log.
    try:
        while True:
            try:
                ready, _, _ = select.select(watched, [], [])
            except InterruptedError:
                continue
            if stdin in ready:
                data = os.read(stdin, 65536)
                if data:
                    os.write(master, data)
                else:
                    watched.remove(stdin)
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    return
                os.write(stdout, data)
    finally:
        if saved is not None:
            termios.tcsetattr(stdin, termios.TCSADRAIN, saved)


def raise_reported(text: str) -> None:
    """Log the keeper's warnings (``W`` lines) and raise the last error it reported (an
    ``E CODE MESSAGE`` line) as a :class:`RunError`."""
    error = None
    for line in text.splitlines():
        if line.startswith("W "):
            _warn(line[2:])
        elif line.startswith("E "):
            code, _, message = line[2:].partition(" ")
            error = RunError(message, int(code))
    if error is not None:
        raise error


def read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


__all__ = [
    "Plan",
    "Report",
    "SetupError",
    "become_and_exec",
    "copy_window_size",
    "exit_code",
    "fail_setup",
    "forwarding_signals",
    "raise_reported",
    "read_all",
    "relay_terminal",
    "setgroups_allowed",
]
