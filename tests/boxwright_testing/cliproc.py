"""The boxwright command line in a child of the test process: a new interpreter
(:func:`run_cli`), or a fork, as root or as a user.

An unprivileged user cannot start this interpreter anew (it lives under ``/root``), so the
command runs in a fork of the test process: the modules the container commands need are
imported here first, then the child drops its privileges and calls
:func:`boxwright.cli.main.main`. The child's stdin, stdout and stderr are what the caller
gives (files, pipes, or a pty from :func:`spawn_cli_pty`); its exit code is the command's.
"""

from __future__ import annotations

import encodings.ascii
import encodings.latin_1
import encodings.utf_8  # noqa: F401 - codecs a lazily opened file needs, loaded before the drop
import os
import pty
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import boxwright.cli.container
import boxwright.cli.lifecycle
import boxwright.cli.main
import boxwright.cli.output
import boxwright.cli.run
import boxwright.runtime.container
import boxwright.runtime.lifecycle
import boxwright.runtime.monitor
import boxwright.runtime.nsexec
import boxwright.store.pulling
import boxwright.transport.oci_layout
from boxwright_testing.users import User, drop_privileges

_WARM: set[str] = set()


def run_cli(
    root: Path, *args: str, env: Mapping[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``boxwright --root ROOT ARGS...`` in a new interpreter, as root, its stdin not a
    terminal (``stdin`` or nothing) and ``$BOXWRIGHT_ROOT`` unset, ``env`` added."""
    environ = {k: v for k, v in os.environ.items() if k != "BOXWRIGHT_ROOT"} | dict(env or {})
    return subprocess.run(
        [sys.executable, "-m", "boxwright", "--root", str(root), *args],
        input=stdin or "", capture_output=True, text=True, env=environ, timeout=120, check=False,
    )  # fmt: skip


def warm_up(image: str) -> None:
    """Make a working container of ``image`` once, in this process, in a throw-away store:
    every module a pull and an unpack load lazily is then loaded here, before a child drops
    its privileges."""
    import shutil
    import tempfile

    if image in _WARM:
        return
    root = tempfile.mkdtemp(prefix="bx-warm-")
    try:
        for args in (["container", "from", "--name", "warm", image], ["container", "rm", "warm"]):
            try:
                boxwright.cli.main.main(["--root", root, *args], prog_name="boxwright")
            except SystemExit as done:
                assert done.code in (0, None), f"warm-up {args} failed"
    finally:
        shutil.rmtree(root, ignore_errors=True)
    _WARM.add(image)


def _exec_cli(args: Sequence[str], user: User | None, env: Mapping[str, str] | None) -> None:
    """In the child: become ``user``, set the environment, run the command line, exit."""
    code = 125
    try:
        if user is not None:
            drop_privileges(user)
        os.environ.clear()
        os.environ.update(env or {"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - the child's own descriptors
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        try:
            boxwright.cli.main.main(list(args), prog_name="boxwright")
            code = 0
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def spawn_cli(
    args: Sequence[str],
    *,
    user: User | None = None,
    env: Mapping[str, str] | None = None,
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
) -> int:
    """Start ``boxwright ARGS`` in a forked child; return its pid (wait for it yourself).

    ``stdin``/``stdout``/``stderr`` are descriptors the child takes as its own (default:
    ``/dev/null`` for stdin, the test's for the others).
    """
    pid = os.fork()
    if pid == 0:
        try:
            null = os.open(os.devnull, os.O_RDWR)
            for target, fd in enumerate((stdin if stdin is not None else null, stdout, stderr)):
                if fd is not None:
                    os.dup2(fd, target)
        except BaseException:
            os._exit(125)
        _exec_cli(args, user, env)
    return pid


def spawn_cli_pty(
    args: Sequence[str],
    *,
    user: User | None = None,
    env: Mapping[str, str] | None = None,
    size: tuple[int, int] = (24, 80),
) -> tuple[int, int]:
    """Start ``boxwright ARGS`` in a forked child whose stdin, stdout and stderr are a new
    pty of ``size`` rows and columns; return its pid and the pty's master."""
    import termios

    pid, master = pty.fork()
    if pid == 0:
        try:
            termios.tcsetwinsize(0, size)
        except BaseException:
            os._exit(125)
        _exec_cli(args, user, env)
    return pid, master


def exit_code(pid: int) -> int:
    """Wait for child ``pid`` and return its exit code."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


__all__ = ["exit_code", "spawn_cli", "spawn_cli_pty", "warm_up"]
