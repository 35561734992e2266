"""Detached containers end to end, as root and as an unprivileged user: ``run -d`` returns
while the container keeps running under its monitor, and every later command is a new
process that finds it through the store (``ps``, ``logs``, ``exec``, ``stop``, ``wait``,
``container inspect``, ``rm``)."""

from __future__ import annotations

import json
import os
import re
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from boxwright_testing.cliproc import exit_code, spawn_cli
from cli.conftest import Caller


def cli(caller: Caller, *args: str) -> tuple[int, str, str]:
    """``boxwright --root ROOT ARGS`` in a new child process: exit code, stdout, stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        pid = spawn_cli(["--root", str(caller.root), *args], user=caller.user, env=caller.env,
                        stdout=out.fileno(), stderr=err.fileno())  # fmt: skip
        code = exit_code(pid)
        out.seek(0)
        err.seek(0)
        return code, out.read().decode(), err.read().decode()


def ok(caller: Caller, *args: str) -> str:
    code, out, err = cli(caller, *args)
    assert code == 0, f"{args}: {code} {err}"
    return out


def until(check: Callable[[], bool], timeout: float = 20, what: Callable[[], object] = str) -> None:
    """Wait for ``check()``; on time out, fail showing ``what()``."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out: {what()}"
        time.sleep(0.05)


SERVICE = (
    'echo started; echo warn >&2; echo kept > /tmp/marker; trap "echo bye; exit 3" TERM; '
    "while :; do busybox sleep 0.05; done"
)


def test_detached_container_outlives_the_cli(caller: Caller) -> None:
    out = ok(caller, "run", "-d", "--name", "web", caller.image, SERVICE)
    assert re.fullmatch(r"[0-9a-f]{64}\n", out), out
    cid = out.strip()
    # A second process reads the state the monitor keeps.
    state = json.loads(ok(caller, "container", "inspect", "web"))["State"]
    assert (state["Status"], state["Running"], state["ExitCode"]) == ("running", True, 0)
    pid = state["Pid"]
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2] == [b"/bin/sh", b"-c"]
    table = ok(caller, "ps").splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "IMAGE", "COMMAND", "CREATED", "STATUS",
                                "PORTS", "NAMES"]  # fmt: skip
    assert len(table) == 2 and table[1].startswith(cid[:12]) and table[1].endswith("  web")
    assert re.search(r"  Up \d+ seconds?  ", table[1]), table[1]
    assert (
        ok(caller, "ps", "--format", "{{.Names}} {{.State}} {{.ID}}") == f"web running {cid[:12]}\n"
    )
    assert ok(caller, "ps", "--noheading", "--format", "table {{.Names}}") == "web\n"
    until(lambda: cli(caller, "logs", "web")[1] == "started\n")
    assert cli(caller, "logs", "web") == (0, "started\n", "warn\n")

    # exec: the same PID namespace (PID 1 is the container's command) and the same files.
    script = 'cat /tmp/marker; pwd; echo "$X"; busybox tr "\\0" " " < /proc/1/cmdline; exit 4'
    code, out, _ = cli(caller, "exec", "-e", "X=1", "-w", "/tmp", "web", "sh", "-c", script)
    assert code == 4
    assert out.splitlines()[:3] == ["kept", "/tmp", "1"]
    assert out.splitlines()[3].startswith("/bin/sh -c echo started;")

    with tempfile.TemporaryFile() as follower_out:
        argv = ["--root", str(caller.root), "logs", "-f", "web"]
        out_fd = follower_out.fileno()
        follower = spawn_cli(argv, user=caller.user, env=caller.env, stdout=out_fd)
        assert ok(caller, "stop", "web") == "web\n"
        assert exit_code(follower) == 0  # -f ends when the container does
        follower_out.seek(0)
        assert follower_out.read() == b"started\nbye\n"
    state = json.loads(ok(caller, "container", "inspect", "web"))["State"]
    assert (state["Status"], state["Pid"], state["ExitCode"]) == ("exited", 0, 3)
    assert state["StartedAt"] < state["FinishedAt"]
    assert not os.path.exists(f"/proc/{pid}")
    assert ok(caller, "ps", "-q") == ""
    assert re.search(r"  Exited \(3\) \d+ seconds? ago  ", ok(caller, "ps", "-a").splitlines()[1])
    assert ok(caller, "wait", "web") == "3\n"
    assert ok(caller, "rm", "web") == "web\n"
    assert ok(caller, "ps", "-a").splitlines()[1:] == []


def test_stop_sends_the_stop_signal_then_sigkill_after_the_timeout(caller: Caller) -> None:
    ok(caller, "run", "-d", "--name", "usr1", "--stop-signal", "USR1", caller.image,
       'trap "exit 5" USR1; echo up; while :; do busybox sleep 0.05; done')  # fmt: skip
    ok(caller, "run", "-d", "--name", "deaf", caller.image,
       'trap "" TERM; echo up; while :; do busybox sleep 0.05; done')  # fmt: skip
    until(lambda: cli(caller, "logs", "usr1")[1] == "up\n")
    until(lambda: cli(caller, "logs", "deaf")[1] == "up\n")
    ok(caller, "stop", "usr1")
    assert ok(caller, "wait", "usr1") == "5\n"
    began = time.monotonic()
    ok(caller, "stop", "-t", "1", "deaf")
    took = time.monotonic() - began
    assert 1 <= took < 8, took
    assert ok(caller, "wait", "deaf") == f"{128 + signal.SIGKILL}\n"
    ok(caller, "rm", "usr1", "deaf")


def test_kill_restart_policy_and_rm_force(caller: Caller) -> None:
    ok(caller, "run", "-d", "--name", "flaky", "--restart", "on-failure:2", caller.image,
       "echo try; exit 1")  # fmt: skip
    assert ok(caller, "wait", "flaky") == "1\n"
    state = json.loads(ok(caller, "container", "inspect", "flaky"))["State"]
    assert (state["Status"], state["RestartCount"]) == ("exited", 2)
    assert cli(caller, "logs", "flaky")[1] == "try\ntry\ntry\n"
    ok(caller, "run", "-d", "--name", "svc", caller.image,
       'trap "echo hup" HUP; echo up; while :; do busybox sleep 0.05; done')  # fmt: skip
    until(lambda: cli(caller, "logs", "svc")[1] == "up\n")
    ok(caller, "kill", "-s", "HUP", "svc")
    until(lambda: cli(caller, "logs", "svc")[1] == "up\nhup\n")
    code, _, err = cli(caller, "rm", "svc")
    assert (code, err) == (
        1,
        "Error: container svc is running: stop it first, or remove it with -f\n",
    )
    ok(caller, "restart", "-t", "1", "svc")
    until(lambda: cli(caller, "logs", "svc")[1] == "up\nhup\nup\n",
          what=lambda: (cli(caller, "logs", "svc"), cli(caller, "ps", "-a")))  # fmt: skip
    assert json.loads(ok(caller, "container", "inspect", "svc"))["State"]["Running"] is True
    ok(caller, "rm", "-f", "svc", "flaky")
    assert ok(caller, "container", "ls", "-q") == ""


def test_start_after_exit_and_run_failure_codes(caller: Caller) -> None:
    code, out, err = cli(caller, "run", "-d", "--name", "bad", "--entrypoint", "", caller.image,
                         "nothere")  # fmt: skip
    assert (code, out) == (127, "")
    assert err == "Error: executable file `nothere` not found in $PATH\n"
    assert cli(caller, "run", "--name", "once", caller.image, "echo ran; echo oops >&2") == (
        0,
        "ran\n",
        "oops\n",
    )
    assert re.search(r"  Exited \(0\) ", ok(caller, "ps", "-a", "--no-trunc").splitlines()[-1])
    assert cli(caller, "logs", "once") == (0, "ran\n", "oops\n")  # printed and logged
    code, out, _ = cli(caller, "start", "-a", "once")
    assert (code, out) == (0, "ran\n")
    assert cli(caller, "logs", "once")[1:] == ("ran\nran\n", "oops\noops\n")
    ok(caller, "rm", "once", "bad")
