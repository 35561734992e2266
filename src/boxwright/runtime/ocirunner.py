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

**Rootless.** A runtime started by a process that is not root of the initial user namespace
(an unprivileged user; uid 0 of the store's namespace in ranges mode, or of the single-ID one
a rootless overlay run makes; root of an outer container) cannot do what root does, so
:func:`rootless_spec` changes the spec first, in this one place for every caller: ``devpts``
loses a ``gid=``/``uid=`` option naming an ID the container's user namespace does not map
(``gid=5`` stays with ranges), ``/sys`` is the host's bound read-only when the container
shares the host's network namespace (a new sysfs needs a network namespace of its own), and,
unless the caller's cgroup is delegated to it (cgroup v2 and writable), cgroups are left
alone: no ``resources``, no ``/sys/fs/cgroup`` mount. runc is told it is rootless
(``--rootless true``: inside a user namespace it is uid 0 and would take root's cgroup paths
otherwise), and its state directory and the bundle live in the user's runtime directory
(:func:`boxwright.config.paths.runtime_dir`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from boxwright.config.paths import runtime_dir
from boxwright.errors import RunError
from boxwright.rootless.ranges import IDMapping, read_mapping
from boxwright.runtime.network import HelperPlan, stop_detached
from boxwright.runtime.ociruntime import (
    CANDIDATES,
    RUNTIME_ENV,
    cgroup_delegated,
    find_oci_runtime,
    runs_rootless,
    runtime_command,
)
from boxwright.runtime.process import forwarding_signals


def network_hook() -> dict[str, Any]:
    """The ``createRuntime`` hook that connects the container's network namespace
    (:func:`boxwright.runtime.network.hook_main`, run by this interpreter)."""
    import sys

    source = str(Path(__file__).resolve().parents[2])
    argv = [sys.executable, "-m", "boxwright.runtime.network"]
    env = [f"PYTHONPATH={source}", f"PATH={os.environ.get('PATH', os.defpath)}"]
    return {"path": sys.executable, "args": argv, "env": env, "timeout": 30}


def _container_mapping(spec: dict[str, Any]) -> IDMapping | None:
    """The IDs the container will have: its own user namespace's, else this process's."""
    linux = spec.get("linux") or {}
    if any(ns.get("type") == "user" for ns in linux.get("namespaces") or ()):
        return IDMapping.from_spec(linux)
    try:
        return read_mapping()
    except OSError:
        return None


def _valid_id_option(option: str, mapping: IDMapping | None) -> bool:
    name, sep, value = option.partition("=")
    if not sep or name not in ("uid", "gid") or not value.isdigit():
        return True
    if mapping is None:
        return False
    return mapping.maps_uid(int(value)) if name == "uid" else mapping.maps_gid(int(value))


def rootless_spec(spec: dict[str, Any], *, delegated: bool | None = None) -> dict[str, Any]:
    """A copy of ``spec`` a rootless OCI runtime can run (see the module docstring):
    ``devpts`` ID options the container cannot map dropped, ``/sys`` bound when the
    network namespace is the host's, cgroups left alone unless ``delegated`` (default:
    :func:`cgroup_delegated`)."""
    spec = json.loads(json.dumps(spec))
    linux = spec.setdefault("linux", {})
    mapping = _container_mapping(spec)
    own_network = any(ns.get("type") == "network" for ns in linux.get("namespaces") or ())
    delegated = cgroup_delegated() if delegated is None else delegated
    if not delegated:
        linux.pop("resources", None)
    mounts = []
    for mount in spec.get("mounts") or ():
        kind = mount.get("type")
        if kind == "cgroup" and not delegated:
            continue
        if kind == "devpts":
            options = mount.get("options") or []
            mount["options"] = [o for o in options if _valid_id_option(o, mapping)]
        if kind == "sysfs" and not own_network:
            mount = {
                "destination": mount["destination"],
                "type": "bind",
                "source": "/sys",
                "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
            }
        mounts.append(mount)
    spec["mounts"] = mounts
    return spec


def spec_for_runtime(spec: dict[str, Any]) -> dict[str, Any]:
    """``spec`` as the runtime takes it: :func:`rootless_spec` when it runs rootless, and
    without ``additionalGids`` for an unprivileged caller (runc refuses supplementary groups
    in any rootless container)."""
    if runs_rootless():
        spec = rootless_spec(spec)
    if os.geteuid() != 0 and spec["process"].get("user", {}).get("additionalGids"):
        spec = json.loads(json.dumps(spec))
        del spec["process"]["user"]["additionalGids"]
    return spec


class OCIRunner:
    """Runs a runtime spec with an installed OCI runtime (``runc``/``crun``)."""

    name = "oci"

    def __init__(self, runtime: str | None = None) -> None:
        self.runtime = find_oci_runtime(runtime)

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
        rootless = runs_rootless()
        base = _private_runtime_dir() if rootless else None
        spec = spec_for_runtime(spec)
        plan = HelperPlan.from_spec(spec)
        if plan is not None:  # the network helper starts from a hook, once the netns exists
            spec = json.loads(json.dumps(spec))
            spec.setdefault("hooks", {}).setdefault("createRuntime", []).append(network_hook())
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
                    [*runtime_command(self.runtime, state), "delete", "--force", name],
                    capture_output=True,
                    check=False,
                    timeout=30,
                )
            if plan is not None:
                stop_detached(plan)
        return 128 - status if status < 0 else status


def _private_runtime_dir() -> str | None:
    """The user's runtime directory (made private when missing), where the bundle and runc's
    state live; None (the private temporary directory of :mod:`tempfile`) when this process
    cannot write there (root of a single-ID namespace sees root's ``/run/boxwright``)."""
    path = runtime_dir()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return str(path) if os.access(path, os.W_OK) else None


__all__ = [
    "CANDIDATES",
    "RUNTIME_ENV",
    "OCIRunner",
    "cgroup_delegated",
    "find_oci_runtime",
    "rootless_spec",
    "runs_rootless",
    "runtime_command",
    "spec_for_runtime",
]
