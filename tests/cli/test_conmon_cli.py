"""``run -d --isolation oci``: the container under Debian's conmon and runc, as podman runs
it, reached by the same commands as a native one (``ps``, ``logs``, ``exec`` through ``runc
exec``, ``stop``, ``wait``, ``inspect``, ``attach`` through conmon's socket), as root and as an
unprivileged user."""

from __future__ import annotations

import json
import os
import re
import shutil
import termios
from pathlib import Path

import pytest

from cli.conftest import Caller
from cli.test_attach_cli import spawn
from cli.test_lifecycle_cli import cli, ok, until

pytestmark = pytest.mark.skipif(
    not (shutil.which("conmon") and shutil.which("runc")), reason="conmon and runc needed"
)

SERVICE = (
    'echo started; echo warn >&2; echo kept > /tmp/marker; trap "echo bye; exit 3" TERM; '
    "while :; do busybox sleep 0.05; done"
)


#: These tests are about conmon, not networks: the containers have none. (A network helper is
#: started from a runc hook running this interpreter, which the tests' unprivileged user
#: cannot execute here: it lives under root's 0700 home.)
OCI = ("--isolation", "oci", "--network", "none")


def _conmon_of(pid: int) -> str:
    """The program name of ``pid``'s parent."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    parent = int(stat.rpartition(")")[2].split()[1])
    return Path(f"/proc/{parent}/comm").read_text().strip()


def test_detached_oci_container_under_conmon(caller: Caller) -> None:
    out = ok(caller, "run", "-d", *OCI, "--name", "oc", caller.image, SERVICE)
    assert re.fullmatch(r"[0-9a-f]{64}\n", out), out
    cid = out.strip()
    state = json.loads(ok(caller, "container", "inspect", "oc"))
    assert state["State"]["Status"] == "running"
    pid = state["State"]["Pid"]
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2] == [b"/bin/sh", b"-c"]
    assert _conmon_of(pid) == "conmon"  # conmon is the container's parent, as with podman
    userdata = caller.root / "containers" / cid / "userdata"
    assert (userdata / "runc" / cid / "state.json").is_file()
    assert ok(caller, "ps", "--format", "{{.Names}} {{.State}}") == "oc running\n"
    until(lambda: cli(caller, "logs", "oc")[1:] == ("started\n", "warn\n"))
    # conmon wrote the log, in the k8s-file format the native monitor writes
    first = (userdata / "ctr.log").read_text().splitlines()[0]
    assert re.fullmatch(r"\S+ (stdout|stderr) F (started|warn)", first), first
    assert ok(caller, "logs", "--since", "10m", "oc") == "started\n"

    script = 'cat /tmp/marker; pwd; echo "$X"; busybox tr "\\0" " " < /proc/1/cmdline; exit 4'
    code, out, _ = cli(caller, "exec", "-e", "X=1", "-w", "/tmp", "oc", "sh", "-c", script)
    assert code == 4
    assert out.splitlines()[:3] == ["kept", "/tmp", "1"]
    assert out.splitlines()[3].startswith("/bin/sh -c echo started;")

    assert ok(caller, "stop", "oc") == "oc\n"
    assert ok(caller, "wait", "oc") == "3\n"
    state = json.loads(ok(caller, "container", "inspect", "oc"))["State"]
    assert (state["Status"], state["Pid"], state["ExitCode"]) == ("exited", 0, 3)
    assert not os.path.exists(f"/proc/{pid}")
    assert not (userdata / "runc" / cid).exists()  # runc's state deleted after the end
    assert cli(caller, "logs", "oc")[1] == "started\nbye\n"
    code, out, err = cli(caller, "start", "oc")
    assert (code, out) == (0, "oc\n"), err
    until(lambda: cli(caller, "logs", "oc")[1] == "started\nbye\nstarted\n")
    ok(caller, "rm", "-f", "oc")


def test_oci_start_failure_codes(caller: Caller) -> None:
    code, out, err = cli(caller, "run", "-d", *OCI, "--entrypoint", "",
                         caller.image, "nothere")  # fmt: skip
    assert (code, out) == (127, "")
    assert err.startswith("Error: ") and "executable file not found" in err, err


def test_oci_terminal_and_stdin_through_conmons_attach_socket(caller: Caller) -> None:
    ok(caller, "run", "-dit", *OCI, "--name", "ot", caller.image, "exec sh")
    session = spawn(caller, "attach", "ot", size=(30, 90))
    session.type(b"stty size\r")
    session.expect(rb"\r\n30 90\r\n")
    termios.tcsetwinsize(session.master, (41, 123))  # SIGWINCH: the size through conmon's ctl
    until(lambda: (session.type(b"stty size\r"), session.expect(rb"stty size\r\n(\d+ \d+)\r\n"))[1]
          .group(1) == b"41 123")  # fmt: skip
    session.type(b"echo one\x10\x11")  # detached; what came before the keys was passed on
    assert session.end() == 0
    assert ok(caller, "ps", "--format", "{{.Names}} {{.State}}") == "ot running\n"
    again = spawn(caller, "attach", "ot")
    again.type(b"\rexit 6\r")
    assert again.end() == 6
    assert ok(caller, "wait", "ot") == "6\n"
    assert "41 123\r\n" in cli(caller, "logs", "ot")[1]  # conmon logged the terminal
    ok(caller, "rm", "ot")


def _children(pid: int) -> list[int]:
    """The processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry))
    return found


def _monitor_side(pid: int) -> list[int]:
    """``pid`` and its descendants down to conmon (the monitor, its run child and, for a
    rootless store, the child that entered the store's namespace: each holds monitor.lock)."""
    if Path(f"/proc/{pid}/comm").read_text().strip() == "conmon":
        return []
    return [pid, *(p for child in _children(pid) for p in _monitor_side(child))]


def test_start_clears_what_a_killed_monitor_left_to_runc(caller: Caller) -> None:
    """A monitor killed with its run child leaves conmon, the container and runc's state
    behind; the next ``start`` has runc delete them (the old process ends) and runs anew."""
    cid = ok(caller, "run", "-d", *OCI, "--name", "left", caller.image, SERVICE).strip()
    userdata = caller.root / "containers" / cid / "userdata"
    old = json.loads(ok(caller, "container", "inspect", "left"))["State"]["Pid"]
    monitor = int((userdata / "monitor.lock").read_text())
    for pid in _monitor_side(monitor):
        os.kill(pid, 9)
    until(lambda: cli(caller, "ps", "-q")[1] == "")  # a dead monitor's container is exited
    assert (userdata / "runc" / cid / "state.json").is_file()
    assert os.path.exists(f"/proc/{old}")
    code, out, err = cli(caller, "start", "left")
    assert (code, out) == (0, "left\n"), err
    new = json.loads(ok(caller, "container", "inspect", "left"))["State"]
    assert (new["Status"], new["Pid"] != old) == ("running", True)
    until(lambda: not os.path.exists(f"/proc/{old}"))
    ok(caller, "rm", "-f", "left")
