"""A detached ``--isolation oci`` container under Debian's ``conmon``, as podman runs it.

:class:`ConmonRunner` is the runner a monitor's run child uses for such a container. It
writes the bundle (``userdata/bundle/config.json``, the rootfs the store mounted) and starts
``conmon --sync`` with podman's command line::

    conmon --api-version 1 -c ID -u ID -n NAME -r RUNC -b BUNDLE -p userdata/pidfile
           -l k8s-file:userdata/ctr.log --exit-dir userdata/exits
           --socket-dir-path userdata/sockets --full-attach --log-level error
           --runtime-arg --root --runtime-arg userdata/runc [--runtime-arg --rootless ...]

conmon runs ``runc create``, writes the container's pid (``{"data": PID}``, or ``{"data": -1,
"message": ...}``) on the pipe named by ``_OCI_SYNCPIPE``, keeps the container's output in
the same ``k8s-file`` log the native monitor writes, and writes its exit code to
``exits/ID`` when it ends; the runner then ``runc start``\\ s it, reports the pid and waits for
conmon (``--sync``: conmon stays its child). The runc state lives in ``userdata/runc``, so a
later process reaches the container with ``runc exec`` (:func:`runc_exec`). With ``-t``
conmon holds the terminal, with ``-i`` (and ``--leave-stdin-open``) the container's stdin; both
are reached through conmon's attach socket and ``ctl`` fifo in the bundle
(:class:`~boxwright.runtime.attach.ConmonAttachment`). A container with a network helper
(:class:`~boxwright.runtime.network.HelperPlan`) gets the ``createRuntime`` hook that starts
it, as under :class:`~boxwright.runtime.ocirunner.OCIRunner`, and the helper is stopped once
conmon ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from boxwright.errors import RunError
from boxwright.runtime.network import HelperPlan, stop_detached
from boxwright.runtime.ocirunner import network_hook, spec_for_runtime
from boxwright.runtime.ociruntime import find_oci_runtime, runc_exec, runtime_command
from boxwright.runtime.process import forwarding_signals
from boxwright.runtime.state import StateFiles


def find_conmon() -> str:
    """The path of ``conmon`` (``$BOXWRIGHT_CONMON``, else on ``PATH``, else podman's
    libexec); :class:`RunError` when it is not installed."""
    wanted = os.environ.get("BOXWRIGHT_CONMON")
    for candidate in (wanted,) if wanted else ("conmon", "/usr/libexec/podman/conmon"):
        path = shutil.which(candidate)
        if path:
            return path
    raise RunError(
        "conmon is not installed (Debian: apt-get install conmon): a detached container "
        "with --isolation oci runs under it; or use --isolation native",
        125,
    )


def start_error_code(message: str) -> int:
    """podman's exit code for a runtime that could not start the process: 127 when the
    command is not found, 126 when it cannot be executed, else 125."""
    lower = message.lower()
    if "executable file not found" in lower or "no such file or directory" in lower:
        return 127
    if "permission denied" in lower:
        return 126
    return 125


class ConmonRunner:
    """Runs a spec as a detached container under conmon (see the module docstring)."""

    name = "oci"

    def __init__(
        self, files: StateFiles, container_id: str, name: str, *, interactive: bool = False
    ) -> None:
        self.userdata = files.dir
        self.state_root = files.runtime_root
        self.bundle = files.bundle_dir
        self.interactive = interactive
        self.id = container_id
        self.container_name = name
        self.conmon = find_conmon()
        self.runtime = find_oci_runtime()

    # runner.Runner's run(): its signature repeats the protocol's.
    def run(
        self,
        spec: dict[str, Any],
        *,
        output: tuple[int, int] | None = None,
        stdin: int | None = None,
        started: Callable[[int], None] | None = None,
        console: int | None = None,
    ) -> int:
        """Run the spec under conmon to its end; return the exit code conmon recorded.
        ``output`` receives conmon's and runc's own messages (the container's output goes
        to the log); conmon holds the terminal (``-t``) and stdin (``-i``) itself, so
        ``stdin`` and ``console`` are not used."""
        del stdin, console
        bundle = self.bundle
        exits = self.userdata / "exits"
        for directory in (bundle, exits, self.state_root):
            directory.mkdir(mode=0o700, exist_ok=True)
        spec = spec_for_runtime(spec)
        plan = HelperPlan.from_spec(spec)
        if plan is not None:  # the network helper starts from a hook, once the netns exists
            spec = json.loads(json.dumps(spec))
            spec.setdefault("hooks", {}).setdefault("createRuntime", []).append(network_hook())
        (bundle / "config.json").write_text(json.dumps(spec), encoding="utf-8")
        if (self.state_root / self.id).exists():  # what a killed run left: runc keeps no other
            self._delete()
        with contextlib.suppress(FileNotFoundError):
            (exits / self.id).unlink()
        sync_r, sync_w = os.pipe()
        stdout, stderr = output if output is not None else (None, None)
        try:
            conmon = subprocess.Popen(
                self._command(bundle, exits, bool(spec["process"].get("terminal"))),
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                pass_fds=(sync_w,),
                env={**os.environ, "_OCI_SYNCPIPE": str(sync_w)},
            )
        except OSError as error:
            raise RunError(f"cannot start {self.conmon}: {error.strerror}", 125) from error
        finally:
            os.close(sync_w)
        try:
            with forwarding_signals(conmon.pid):
                pid = self._created(sync_r, conmon)
                self._start()
                if started is not None:
                    started(pid)
                conmon.wait()
            return self._exit_code(exits)
        finally:
            os.close(sync_r)
            if conmon.poll() is None:
                conmon.kill()
                conmon.wait()
            self._delete()
            if plan is not None:
                stop_detached(plan)
            shutil.rmtree(bundle, ignore_errors=True)

    def _command(self, bundle: Path, exits: Path, terminal: bool) -> list[str]:
        runtime_args = runtime_command(self.runtime, self.state_root)[1:]
        args = [
            self.conmon, "--api-version", "1", "-c", self.id, "-u", self.id,
            "-n", self.container_name, "-r", self.runtime, "-b", str(bundle),
            "-p", str(self.userdata / "pidfile"), "-l", f"k8s-file:{self.userdata / 'ctr.log'}",
            "--exit-dir", str(exits), "--socket-dir-path", str(self.userdata / "sockets"),
            "--full-attach", "--log-level", "error", "--sync",
        ]  # fmt: skip
        for arg in runtime_args:
            args += ["--runtime-arg", arg]
        if terminal:
            args.append("-t")
        if self.interactive:
            args += ["-i", "--leave-stdin-open"]
        return args

    def _created(self, sync: int, conmon: subprocess.Popen[bytes]) -> int:
        """The container's pid from conmon's sync pipe; :class:`RunError` when runc failed."""
        data = b""
        while b"\n" not in data:
            chunk = os.read(sync, 65536)
            if not chunk:
                break
            data += chunk
        try:
            answer = json.loads(data.split(b"\n", 1)[0] or b"{}")
        except ValueError:
            answer = {}
        pid = answer.get("data") if isinstance(answer, dict) else None
        if isinstance(pid, int) and pid > 0:
            return pid
        conmon.wait()
        message = " ".join(str(answer.get("message") or "conmon ended early").split())
        raise RunError(message, start_error_code(message))

    def _start(self) -> None:
        done = subprocess.run(
            [*runtime_command(self.runtime, self.state_root), "start", self.id],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            message = " ".join(done.stderr.decode(errors="replace").split())
            raise RunError(f"runc start: {message}", start_error_code(message))

    def _exit_code(self, exits: Path) -> int:
        try:
            return int((exits / self.id).read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            raise RunError("conmon ended without recording the container's exit", 125) from None

    def _delete(self) -> None:
        subprocess.run(
            [*runtime_command(self.runtime, self.state_root), "delete", "--force", self.id],
            capture_output=True,
            check=False,
        )


__all__ = [
    "ConmonRunner",
    "find_conmon",
    "runc_exec",
    "start_error_code",
]
