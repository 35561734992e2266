"""One set of forwarded signals: every place that forwards the caller's signals (the native
runner's caller, a run in a forked child, the attach client) installs a handler for exactly
:data:`FORWARDED_SIGNALS`, SIGCONT among them, puts the previous ones back, and the attach
client passes each one to the process its target names."""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from boxwright.runtime.attach import Attachment
from boxwright.runtime.native import forwarding_signals, forwarding_to_children
from boxwright.runtime.sigproxy import FORWARDED_SIGNALS

_CATCHABLE = sorted(signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP})


def _handlers() -> dict[int, Any]:
    return {signum: signal.getsignal(signum) for signum in _CATCHABLE}


def _installed(block: AbstractContextManager[None]) -> set[int]:
    """The signals whose handler ``block`` changes while it runs (checking it puts every
    handler back after it)."""
    before = _handlers()
    with block:
        inside = _handlers()
    assert _handlers() == before
    return {signum for signum in _CATCHABLE if inside[signum] != before[signum]}


@pytest.fixture
def attachment() -> Iterator[Attachment]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    with theirs, ours:
        yield Attachment(ours)


def test_the_set_is_podmans_ending_reloading_and_resuming_signals() -> None:
    # written out: the set is a decision docs/runtime.md states, not whatever the module holds
    assert FORWARDED_SIGNALS == (
        signal.SIGHUP,
        signal.SIGINT,
        signal.SIGQUIT,
        signal.SIGTERM,
        signal.SIGUSR1,
        signal.SIGUSR2,
        signal.SIGCONT,
    )


def test_every_forwarding_place_installs_the_one_set(attachment: Attachment) -> None:
    pid = os.getpid()
    assert _installed(forwarding_signals(pid)) == set(FORWARDED_SIGNALS)
    assert _installed(forwarding_to_children()) == set(FORWARDED_SIGNALS)
    assert _installed(attachment._forwarding(None, lambda: pid)) == set(FORWARDED_SIGNALS)
    # a terminal adds SIGWINCH (its size follows); no target, no forwarding
    master, slave = os.openpty()
    try:
        with_terminal = {*FORWARDED_SIGNALS, signal.SIGWINCH}
        assert _installed(forwarding_signals(pid, master)) == with_terminal
        assert _installed(attachment._forwarding(slave, lambda: pid)) == with_terminal
        assert _installed(attachment._forwarding(slave, None)) == {signal.SIGWINCH}
    finally:
        os.close(master)
        os.close(slave)
    assert _installed(attachment._forwarding(None, None)) == set()


_REPORTER = """
import os, signal, sys
for signum in map(int, sys.argv[1:]):
    signal.signal(signum, lambda n, _f: os.write(1, b"%d\\n" % n))
os.write(1, b"ready\\n")
while True:
    signal.pause()
"""


def _line(fd: int) -> bytes:
    """One line from pipe ``fd`` (read a byte at a time: nothing after it is consumed)."""
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], 10)
        assert ready, f"no line in time; so far {line!r}"
        byte = os.read(fd, 1)
        assert byte, f"end of output; so far {line!r}"
        line += byte
    return line


def test_an_attach_client_forwards_each_signal_of_the_set(attachment: Attachment) -> None:
    numbers = [str(int(s)) for s in FORWARDED_SIGNALS]
    command = [sys.executable, "-c", _REPORTER, *numbers]
    with subprocess.Popen(command, stdout=subprocess.PIPE) as child:
        try:
            assert child.stdout is not None
            out = child.stdout.fileno()
            assert _line(out) == b"ready\n"
            with attachment._forwarding(None, lambda: child.pid):
                for signum in FORWARDED_SIGNALS:
                    os.kill(os.getpid(), signum)  # its handler runs before the next line
                    assert _line(out) == b"%d\n" % signum
        finally:
            child.kill()
