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


def runtime_command(runtime: str, state: Path | str) -> list[str]:
    """The runtime's command line up to its subcommand: ``--root STATE`` (and ``--rootless
    true`` for runc started by an unprivileged user)."""
    args = [runtime, "--root", str(state)]
    if os.geteuid() != 0 and os.path.basename(runtime) == "runc":
        args[1:1] = ["--rootless", "true"]
    return args


def _gid_mapped(gid: int) -> bool:
    """Whether ``gid`` exists in this process's user namespace (``/proc/self/gid_map``)."""
    try:
        with open("/proc/self/gid_map", encoding="ascii") as f:
            for line in f:
                inside, _, count = (int(word) for word in line.split())
                if inside <= gid < inside + count:
                    return True
    except (OSError, ValueError):
        return True
    return False


def _in_user_namespace() -> bool:
    """Whether this process runs in a user namespace other than the initial one."""
    try:
        with open("/proc/self/uid_map", encoding="ascii") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


def spec_for_runtime(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` as the runtime takes it: runc refuses supplementary groups in any rootless
    container, so an unprivileged caller's spec loses ``additionalGids``; a mount's
    ``gid=N`` option (devpts' ``gid=5``) naming a group this user namespace lacks (a
    single-ID one) is dropped, as podman drops it, since the kernel refuses the mount. Run
    from inside a user namespace (a rootless store's) that does not own the network
    namespace, sysfs cannot be mounted: ``/sys`` is bound read-only instead (runc's rootless
    spec)."""
    spec = json.loads(json.dumps(spec))
    if os.geteuid() != 0 and spec["process"].get("user", {}).get("additionalGids"):
        del spec["process"]["user"]["additionalGids"]
    namespaces = {ns.get("type") for ns in spec.get("linux", {}).get("namespaces") or ()}
    if _in_user_namespace() and "network" not in namespaces and "user" not in namespaces:
        spec["mounts"] = [
            m for m in spec.get("mounts") or () if not m["destination"].startswith("/sys")
        ] + [
            {
                "destination": "/sys",
                "type": "none",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
            }
        ]
    for mount in spec.get("mounts") or ():
        options = mount.get("options") or []
        kept = [
            o for o in options if not (o.startswith("gid=") and not _gid_mapped(int(o[4:] or 0)))
        ]
        if kept != options:
            mount["options"] = kept
    return spec


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
        spec = spec_for_runtime(spec)
        with tempfile.TemporaryDirectory(prefix="boxwright-bundle-", dir=base) as bundle:
            Path(bundle, "config.json").write_text(json.dumps(spec), encoding="utf-8")
            state = Path(bundle, "state")
            state.mkdir(mode=0o700)
            name = f"boxwright-{secrets.token_hex(8)}"
            args = [*runtime_command(self.runtime, state), "run", "--bundle", bundle, name]
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


__all__ = [
    "CANDIDATES",
    "RUNTIME_ENV",
    "OCIRunner",
    "find_oci_runtime",
    "runtime_command",
    "spec_for_runtime",
]
