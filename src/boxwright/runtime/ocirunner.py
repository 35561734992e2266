"""The ``oci`` runner: the generated bundle handed to ``runc`` or ``crun``, as podman does.

The runtime is ``$BOXWRIGHT_OCI_RUNTIME`` (a name or a path) when set, else the first of
``runc`` and ``crun`` found on ``PATH`` (runc first: Debian 12's crun refuses hosts with the
hybrid cgroup layout). The bundle (``config.json`` whose ``root.path`` is the rootfs itself)
and the runtime's state directory live in a private temporary directory removed afterwards.
``runc run`` runs in the foreground: the container inherits the standard streams runc is
started with (the caller's, or the ``output`` descriptors a build's RUN reads lines from),
the caller's signals are passed to the runtime (which forwards them), and its exit status is
the container's. runc refuses supplementary groups in a rootless container, so an unprivileged
caller's spec loses ``additionalGids`` here (the native runner keeps them).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from boxwright.errors import RunError
from boxwright.runtime.native import forwarding_signals

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


class OCIRunner:
    """Runs a runtime spec with an installed OCI runtime (``runc``/``crun``)."""

    name = "oci"

    def __init__(self, runtime: str | None = None) -> None:
        self.runtime = find_oci_runtime(runtime)

    def run(
        self,
        spec: dict[str, Any],
        *,
        output: tuple[int, int] | None = None,
        stdin: int | None = None,
        started: Callable[[int], None] | None = None,
        console: int | None = None,
    ) -> int:
        """Run the spec's process to its end and return its exit code (128+N for signal N).

        ``output`` (``(stdout, stderr)`` descriptors) receives the process's output, and the
        runtime's own messages, instead of the caller's streams, and the process reads
        ``stdin`` instead of the caller's; a terminal spec ignores both, and relays the
        runtime's terminal to ``console`` (a pty slave) when given, else to the caller's
        streams. ``started`` is called with the runtime's pid (runc stays the container's
        parent in the foreground).
        """
        if spec["process"].get("terminal"):
            output = (console, console) if console is not None else None
            stdin = console
        stdout, stderr = output if output is not None else (None, None)
        root = spec["root"]["path"]
        if not os.path.isabs(root) or not os.path.isdir(root):
            raise RunError(f"rootfs {root} is not an absolute path to a directory")
        base = os.environ.get("XDG_RUNTIME_DIR") if os.geteuid() != 0 else None
        if base and not os.access(base, os.W_OK):
            base = None
        if os.geteuid() != 0 and spec["process"].get("user", {}).get("additionalGids"):
            # runc refuses supplementary groups in any rootless container.
            spec = json.loads(json.dumps(spec))
            del spec["process"]["user"]["additionalGids"]
        with tempfile.TemporaryDirectory(prefix="boxwright-bundle-", dir=base) as bundle:
            Path(bundle, "config.json").write_text(json.dumps(spec), encoding="utf-8")
            state = Path(bundle, "state")
            state.mkdir(mode=0o700)
            name = f"boxwright-{secrets.token_hex(8)}"
            args = [self.runtime, "--root", str(state), "run", "--bundle", bundle, name]
            if os.geteuid() != 0 and os.path.basename(self.runtime) == "runc":
                args[1:1] = ["--rootless", "true"]
            try:
                process = subprocess.Popen(
                    args, close_fds=True, stdin=stdin, stdout=stdout, stderr=stderr
                )
            except OSError as error:
                raise RunError(f"cannot start {self.runtime}: {error.strerror}", 125) from error
            if started is not None:
                started(process.pid)
            with forwarding_signals(process.pid):
                status = process.wait()
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    [self.runtime, "--root", str(state), "delete", "--force", name],
                    capture_output=True,
                    check=False,
                    timeout=30,
                )
        return 128 - status if status < 0 else status


__all__ = ["CANDIDATES", "RUNTIME_ENV", "OCIRunner", "find_oci_runtime"]
