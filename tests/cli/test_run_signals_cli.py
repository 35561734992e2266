"""A foreground ``boxwright run`` passes the caller's signals to the container (the plain run
and the attached one without ``--rm``), and ``--init`` puts catatonit at PID 1, which forwards
them and reaps zombies; as root and as an unprivileged user (whose container's files are
mounted in a forked child)."""

from __future__ import annotations

import os
import select
import signal
import time
from pathlib import Path

from boxwright.runtime.sigproxy import FORWARDED_SIGNALS
from boxwright_testing.cliproc import exit_code, spawn_cli
from cli.conftest import Caller

#: The forwarded signals but SIGTERM, by the names a shell's ``trap`` takes; SIGTERM comes last.
NAMES = [signal.Signals(s).name[3:] for s in FORWARDED_SIGNALS if s != signal.SIGTERM]
TRAPS = (
    f'for s in {" ".join(NAMES)}; do trap "echo got-$s" $s; done; '
    'trap "echo got-TERM; exit 7" TERM; echo ready; while :; do busybox sleep 0.05; done'
)


class Lines:
    """The lines a child writes on a pipe, read with a deadline."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""

    def next(self, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            assert left > 0, f"no line in time; so far {self.buffer!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                chunk = os.read(self.fd, 4096)
                assert chunk, f"end of output; so far {self.buffer!r}"
                self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()


def _start(caller: Caller, *args: str) -> tuple[int, Lines]:
    read, write = os.pipe()
    pid = spawn_cli(["--root", str(caller.root), *args], user=caller.user, env=caller.env,
                    stdout=write)  # fmt: skip
    os.close(write)
    return pid, Lines(read)


def _forwards_each_signal(pid: int, out: Lines) -> None:
    """Send the CLI at ``pid`` each forwarded signal; the container's shell names each one,
    and SIGTERM (last) ends it with 7."""
    assert out.next() == "ready"
    for name in NAMES:
        os.kill(pid, getattr(signal, f"SIG{name}"))
        assert out.next() == f"got-{name}"
    os.kill(pid, signal.SIGTERM)
    assert out.next() == "got-TERM"
    assert exit_code(pid) == 7


def test_foreground_run_forwards_each_signal(caller: Caller) -> None:
    _forwards_each_signal(*_start(caller, "run", "--rm", caller.image, TRAPS))


def test_foreground_attached_run_forwards_each_signal(caller: Caller) -> None:
    # without --rm a foreground run is create, start and attach: the attach client forwards
    _forwards_each_signal(*_start(caller, "run", "--name", "sig", caller.image, TRAPS))


def _children(pid: int) -> list[tuple[int, str, str]]:
    """``(pid, state, cmdline)`` of ``pid``'s children, from the host's /proc."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{name}/stat").read_text()
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid:
            found.append((int(name), fields[0], cmdline.replace(b"\0", b" ").decode().strip()))
    return found


def _find(cmdline: str, timeout: float = 20) -> int:
    """The pid of the one process whose command line is exactly ``cmdline``."""
    wanted = cmdline.replace(" ", "\0").encode() + b"\0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name in os.listdir("/proc"):
            try:
                if name.isdigit() and Path(f"/proc/{name}/cmdline").read_bytes() == wanted:
                    return int(name)
            except OSError:
                continue
        time.sleep(0.05)
    raise AssertionError(f"no process runs {cmdline!r}")


# An orphan whose parent ends at once: it is reparented to the container's PID 1 and becomes
# a zombie when it ends, unless PID 1 reaps it; PID 1 then execs a program that never waits.
ORPHAN = "(busybox sleep 0.2 &); exec busybox sleep 31.5"


def test_init_reaps_zombies_and_ends_on_sigterm(caller: Caller) -> None:
    pid, _ = _start(caller, "run", "--rm", "--init", caller.image, ORPHAN)
    sleeper = _find("busybox sleep 31.5")
    time.sleep(0.6)
    init = int(Path(f"/proc/{sleeper}/stat").read_text().rpartition(")")[2].split()[1])
    assert Path(f"/proc/{init}/cmdline").read_bytes().split(b"\0")[:2] == [
        b"/run/boxwright-init",
        b"--",
    ]
    assert _children(init) == [(sleeper, "S", "busybox sleep 31.5")]
    os.kill(pid, signal.SIGTERM)  # catatonit passes it on: sleep dies of it
    assert exit_code(pid) == 128 + signal.SIGTERM


def test_without_init_the_zombie_stays(caller: Caller) -> None:
    pid, _ = _start(caller, "run", "--rm", caller.image, ORPHAN)
    sleeper = _find("busybox sleep 31.5")
    time.sleep(0.6)
    assert [state for _, state, _ in _children(sleeper)] == ["Z"]
    os.kill(sleeper, signal.SIGKILL)  # PID 1 ignores SIGTERM: it has no handler
    assert exit_code(pid) == 128 + signal.SIGKILL
