"""Terminals of containers that keep running, driven through a pty as a person types, as
root and as an unprivileged user: keys typed before the container starts reach it, the
detach keys leave it running, ``attach`` takes it up again (window size followed), ``exec
-it`` gives a process a terminal of its own, and ``run -di`` keeps stdin for ``attach``."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

from boxwright_testing.cliproc import exit_code, spawn_cli, spawn_cli_pty
from cli.conftest import Caller
from cli.test_lifecycle_cli import cli, ok, until


class Pty:
    """The master side of a child's terminal: what it printed so far, read with deadlines."""

    def __init__(self, pid: int, master: int) -> None:
        self.pid = pid
        self.master = master
        self.seen = b""

    def expect(self, pattern: bytes, timeout: float = 30) -> re.Match[bytes]:
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.seen)
            if found:
                self.seen = self.seen[found.end() :]
                return found
            left = deadline - time.monotonic()
            assert left > 0, f"{pattern!r} not seen; so far {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    chunk = b""
                assert chunk, f"{pattern!r} not seen before the end; got {self.seen!r}"
                self.seen += chunk

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def end(self) -> int:
        """Wait for the child, reading what it still prints; its exit code."""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(self.master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                self.seen += chunk
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                os.close(self.master)
                return os.waitstatus_to_exitcode(status)
        code = exit_code(self.pid)
        os.close(self.master)
        return code


def spawn(caller: Caller, *args: str, size: tuple[int, int] = (24, 80)) -> Pty:
    pid, master = spawn_cli_pty(["--root", str(caller.root), *args], user=caller.user,
                                env=caller.env, size=size)  # fmt: skip
    return Pty(pid, master)


def test_early_keys_detach_and_attach(caller: Caller) -> None:
    session = spawn(caller, "run", "-it", "--name", "shell", caller.image, "exec sh")
    # typed at once, before the image is even unpacked: nothing is lost
    session.type(b"echo early-$((40+2))\r")
    session.expect(rb"early-42\r\n")
    session.type(b"\x10\x11")  # ctrl-p, ctrl-q
    assert session.end() == 0
    assert ok(caller, "ps", "--format", "{{.Names}} {{.State}}") == "shell running\n"

    again = spawn(caller, "attach", "shell", size=(30, 90))
    again.type(b"stty size\r")
    again.expect(rb"\r\n30 90\r\n")
    termios.tcsetwinsize(again.master, (41, 123))  # the kernel sends SIGWINCH to the client
    until(lambda: (again.type(b"stty size\r"), again.expect(rb"stty size\r\n(\d+ \d+)\r\n"))[1]
          .group(1) == b"41 123")  # fmt: skip
    again.type(b"exit 3\r")
    assert again.end() == 3
    assert ok(caller, "wait", "shell") == "3\n"
    log = cli(caller, "logs", "shell")[1]
    assert "early-42\r\n" in log and "41 123\r\n" in log


def test_custom_detach_keys_and_ctrl_p_passed_on(caller: Caller) -> None:
    ok(caller, "run", "-dit", "--name", "box", caller.image, "exec sh")
    session = spawn(caller, "attach", "--detach-keys", "ctrl-x,x", "box")
    # ctrl-p alone reaches the shell (no detach); ctrl-x then y is passed on too
    session.type(b"echo one\x10\r")
    session.expect(rb"one")
    session.type(b"\x18yecho two\r")
    session.expect(rb"two\r\n")
    session.type(b"\x18x")
    assert session.end() == 0
    assert ok(caller, "ps", "--format", "{{.Names}}") == "box\n"
    ok(caller, "rm", "-f", "box")


def test_exec_it_gets_a_terminal(caller: Caller) -> None:
    ok(caller, "run", "-d", "--name", "svc", caller.image, "while :; do busybox sleep 0.05; done")
    script = '[ -t 0 ] && echo tty-in; stty size; read x; echo "got:$x"; exit 4'
    session = spawn(caller, "exec", "-it", "svc", "sh", "-c", script, size=(27, 99))
    session.type(b"hello\r")  # typed before the exec'd shell reads: kept
    session.expect(rb"tty-in\r\n")  # (the typed line is echoed where the terminal was cooked)
    session.expect(rb"27 99\r\n")
    session.expect(rb"got:hello\r\n")
    assert session.end() == 4
    ok(caller, "rm", "-f", "svc")


def _input(data: bytes) -> int:
    """A descriptor reading ``data`` then the end of input (a file: no pipe's writing end
    can stay open in a forked child)."""
    with tempfile.TemporaryFile() as handle:
        handle.write(data)
        handle.seek(0)
        return os.dup(handle.fileno())


def test_run_di_keeps_stdin_for_attach(caller: Caller) -> None:
    ok(caller, "run", "-di", "--name", "cat", caller.image, "busybox tr a-z A-Z")
    stdin = _input(b"hello\n")
    with tempfile.TemporaryFile() as out:
        pid = spawn_cli(["--root", str(caller.root), "attach", "cat"], user=caller.user,
                        env=caller.env, stdin=stdin, stdout=out.fileno())  # fmt: skip
        os.close(stdin)
        # the end of the input closes the container's stdin: tr ends, and so the attach
        assert exit_code(pid) == 0
        out.seek(0)
        assert out.read() == b"HELLO\n"
    assert cli(caller, "logs", "cat") == (0, "HELLO\n", "")


def test_foreground_run_i_passes_stdin_and_signals(caller: Caller) -> None:
    read_out, write_out = os.pipe()
    stdin = _input(b"abc\n")
    script = (
        'trap "echo term; exit 9" TERM; read x; echo "in:$x"; while :; do busybox sleep 0.05; done'
    )
    pid = spawn_cli(["--root", str(caller.root), "run", "-i", "--name", "fg", caller.image,
                     script], user=caller.user, env=caller.env, stdin=stdin,
                    stdout=write_out)  # fmt: skip
    os.close(stdin)
    os.close(write_out)
    buffer = b""
    while b"in:abc\n" not in buffer:
        chunk = os.read(read_out, 4096)
        assert chunk, buffer
        buffer += chunk
    os.kill(pid, signal.SIGTERM)  # the CLI passes it to the container's process
    assert exit_code(pid) == 9
    with os.fdopen(read_out, "rb") as out:
        assert buffer + out.read() == b"in:abc\nterm\n"


def test_run_rm_it_detached_is_removed_at_its_end(caller: Caller) -> None:
    session = spawn(caller, "run", "--rm", "-it", "--name", "gone", caller.image, "exec sh")
    session.type(b"echo in-$((6*7))\r")
    session.expect(rb"in-42\r\n")
    session.type(b"\x10\x11")
    assert session.end() == 0
    assert ok(caller, "ps", "--format", "{{.Names}}") == "gone\n"
    again = spawn(caller, "attach", "--detach-keys", "", "gone")
    again.type(b"\x10\x11echo still\r")  # detaching is off: the keys reach the shell
    again.expect(rb"still\r\n")
    again.type(b"exit 5\r")
    assert again.end() == 5
    until(lambda: ok(caller, "container", "ls", "-q") == "")  # its monitor removed it


def test_detach_keys_need_a_monitor(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "boxwright", "--root", str(tmp_path), "run", "--rm",
         "--detach-keys", "ctrl-x", "oci:/nonexistent:1", "true"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (done.returncode, done.stderr.splitlines()[-1:]) == (
        2,
        ["Error: --detach-keys needs -t or a kept container (without --rm)"],
    )
