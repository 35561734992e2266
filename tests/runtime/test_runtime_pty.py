"""The terminal path: ``boxwright run -it`` with a real pty as its stdin gives the container a
terminal of its own, relays input and output, copies the window size, and passes the exit
code through."""

from __future__ import annotations

import os
import pty
import select
import sys
import termios
import time
from pathlib import Path
from typing import Any

SCRIPT = (
    '[ -t 0 ] && echo tty-in; [ -t 1 ] && echo tty-out; echo "size $(stty size)"; '
    'read line; echo "got:$line"; exit 5'
)


def _read_until_eof(master: int, deadline: float, sent: list[bytes]) -> bytes:
    out = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child side closed
            break
        if not chunk:
            break
        out += chunk
        if sent and b"size " in out:  # the container waits for its line now
            os.write(master, sent.pop())
    return out


def test_run_it_gives_a_terminal(peer_images: Any, tmp_path: Path) -> None:
    root = tmp_path / "store"
    argv = [sys.executable, "-m", "boxwright", "--root", str(root), "run", "--rm", "-it",
            peer_images.refs["oci"], SCRIPT]  # fmt: skip
    pid, master = pty.fork()
    if pid == 0:  # the child: stdin, stdout and stderr are the pty
        try:
            termios.tcsetwinsize(0, (33, 101))
            os.execv(sys.executable, argv)
        finally:
            os._exit(127)
    out = _read_until_eof(master, time.monotonic() + 60, [b"hello\r"])
    _, status = os.waitpid(pid, 0)
    os.close(master)
    text = out.decode(errors="replace").replace("\r\n", "\n")
    assert os.waitstatus_to_exitcode(status) == 5, text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines[:3] == ["tty-in", "tty-out", "size 33 101"], text
    assert lines[-1] == "got:hello", text
