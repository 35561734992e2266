"""One interface over the runners, and the one call that runs a command in a rootfs.

:func:`run_in_rootfs` is what ``container run``, ``boxwright run`` and a build's ``RUN`` use:
it generates the spec (:mod:`boxwright.runtime.spec`), writes the container's ``/etc/hosts``
and ``/etc/resolv.conf`` into a private run directory and binds them in, creates the mount
points the rootfs lacks (and removes those it created, while still the empty entries made,
afterwards: a committed layer never gains an empty ``/proc`` or ``/etc/hosts`` it did not
have; :mod:`boxwright.runtime.stubs` makes and removes them through directory handles, so a
container cannot redirect either onto the host), then hands the spec to the chosen runner.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

from boxwright.errors import RunError, UsageError
from boxwright.oci.config import ImageConfig
from boxwright.runtime import linux
from boxwright.runtime.cgroups import check_delegation, has_limits
from boxwright.runtime.idmap import default_mapping
from boxwright.runtime.native import NativeRunner
from boxwright.runtime.network import (
    ANNOTATION,
    HelperPlan,
    NetworkSettings,
    network_settings,
    resolv_text,
)
from boxwright.runtime.ocirunner import OCIRunner
from boxwright.runtime.spec import CAPABILITY_NUMBERS, RunOptions, bind_mount, generate_spec
from boxwright.runtime.stubs import MountStubs

ISOLATIONS = ("native", "oci")
_RESOLV_STUB = "nameserver 127.0.0.53"
_SYSTEMD_RESOLV = Path("/run/systemd/resolve/resolv.conf")


class Runner(Protocol):
    """Runs a runtime spec's process to its end."""

    name: str

    # NativeRunner, OCIRunner and ConmonRunner implement this method, so its signature
    # stands in each.
    def run(
        self,
        spec: dict[str, Any],
        *,
        output: tuple[int, int] | None = None,
        stdin: int | None = None,
        started: Callable[[int], None] | None = None,
        console: int | None = None,
    ) -> int:
        """Run it and return its exit code (128+N when killed by signal N); ``output`` is the
        ``(stdout, stderr)`` descriptors the process writes to instead of the caller's,
        ``stdin`` the descriptor it reads instead of the caller's, ``started`` is called
        with the pid of the process that stands for the container once it runs, and
        ``console`` (a terminal spec) is a pty slave made the container's terminal, whose
        master the caller serves (nothing is relayed then)."""
        ...


def get_runner(isolation: str = "native") -> Runner:
    """The runner for ``isolation`` (``native`` or ``oci``)."""
    if isolation == "native":
        return NativeRunner()
    if isolation == "oci":
        return OCIRunner()
    raise UsageError(f"unknown isolation {isolation!r}: expected one of {', '.join(ISOLATIONS)}")


def hosts_file(hostname: str, network: str, add_hosts: tuple[tuple[str, str], ...] = ()) -> str:
    """The container's ``/etc/hosts``: the ``add_hosts`` lines first (the first match wins, so
    they override, as podman writes them), then the host's with ``network=host``, else
    loopback only."""
    lines = ["127.0.0.1\tlocalhost localhost.localdomain", "::1\tlocalhost ip6-localhost"]
    if network == "host":
        with suppress(OSError):
            lines = Path("/etc/hosts").read_text(encoding="utf-8", errors="replace").splitlines()
    lines = [f"{address}\t{name}" for name, address in add_hosts] + lines
    if not any(hostname in line.split()[1:] for line in lines if line.strip()):
        lines.append(f"127.0.1.1\t{hostname}")
    return "\n".join(lines) + "\n"


def _permitted_capabilities() -> int:
    """This process's permitted capability set (``CapPrm`` of ``/proc/self/status``)."""
    with (
        suppress(OSError, ValueError),
        open("/proc/self/status", encoding="ascii", errors="replace") as status,
    ):
        for line in status:
            if line.startswith("CapPrm:"):
                return int(line.split()[1], 16)
    return (1 << (linux.last_capability() + 1)) - 1


def check_capabilities(spec: dict[str, Any], user_namespace: bool) -> None:
    """Refuse, before anything starts, a capability the container's root cannot be given: one
    the running kernel does not know, or, without a user namespace of its own (where root
    holds every capability anew), one this process does not hold itself."""
    last = linux.last_capability()
    held = -1 if user_namespace else _permitted_capabilities()
    for name in (spec["process"].get("capabilities") or {}).get("effective") or ():
        number = CAPABILITY_NUMBERS[name]
        if number > last:
            raise RunError(f"{name} is not known to this kernel (its last is number {last})", 125)
        if not held & (1 << number):
            raise RunError(
                f"cannot give the container {name}: boxwright runs without it, and a "
                "container outside a user namespace gets only capabilities its runner holds",
                125,
            )


def resolv_conf() -> str:
    """The host's resolver configuration (systemd-resolved's upstream file for its stub)."""
    text = ""
    for path in (Path("/etc/resolv.conf"), _SYSTEMD_RESOLV):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if _RESOLV_STUB not in text:
            break
    return text


@contextmanager
def mount_points(rootfs: Path, spec: dict[str, Any]) -> Iterator[MountStubs]:
    """Create the missing top-level mount destinations; afterwards remove those that are still
    the empty entries made (:class:`~boxwright.runtime.stubs.MountStubs`: through handles on
    the directories they were made in, never by a path the container could redirect).

    A destination under another mount of the spec (``/dev/pts`` under the ``/dev`` tmpfs) is
    left to the runner: it lands on that mount, not in the rootfs.
    """
    destinations = [m["destination"].rstrip("/") or "/" for m in spec.get("mounts") or ()]
    with MountStubs(rootfs) as stubs:
        for mount in spec.get("mounts") or ():
            dest = mount["destination"].rstrip("/")
            if any(dest.startswith(other + "/") for other in destinations if other != "/"):
                continue
            source = mount.get("source") or ""
            # anything but a directory (a file, a socket) is bound onto a file
            is_file = mount.get("type") == "bind" and os.path.exists(source)
            stubs.ensure(dest, is_file=is_file and not os.path.isdir(source))
        yield stubs


def _etc_mounts(
    run_dir: Path, options: RunOptions, net: NetworkSettings, hostname: str
) -> list[dict[str, Any]]:
    """The options' extra mounts with the container's ``/etc/hosts`` (unless ``no_hosts``),
    ``/etc/resolv.conf`` and ``/etc/hostname`` bound in, written to ``run_dir`` first."""
    resolv = run_dir / "resolv.conf"
    resolv.write_text(resolv_text(resolv_conf(), net, options), encoding="utf-8")
    resolv.chmod(0o644)
    extra = [*options.extra_mounts, bind_mount(resolv, "/etc/resolv.conf")]
    (run_dir / "hostname").write_text(f"{hostname}\n", encoding="utf-8")
    (run_dir / "hostname").chmod(0o644)
    extra.append(bind_mount(run_dir / "hostname", "/etc/hostname"))
    if not options.no_hosts:
        hosts = run_dir / "hosts"
        add_hosts = (*options.add_hosts, *net.hosts_entries(hostname))
        text = hosts_file(hostname, options.network, add_hosts)
        hosts.write_text(text, encoding="utf-8")
        hosts.chmod(0o644)
        extra.insert(len(options.extra_mounts), bind_mount(hosts, "/etc/hosts"))
    return extra


def run_in_rootfs(
    rootfs: Path | str,
    image_config: ImageConfig,
    options: RunOptions | None = None,
    isolation: str | Runner = "native",
) -> int:
    """Run ``options``' command (else the image's) in ``rootfs``; return its exit code.

    ``isolation`` names the runner (``native``, ``oci``), or is a runner itself (a monitor's
    :class:`~boxwright.runtime.conmon.ConmonRunner`).

    Changes the process makes to the rootfs stay there. Its output goes to
    ``options.output`` when set, else to the caller's stdout and stderr. Raises
    :class:`~boxwright.errors.RunError` when the container cannot be started (with podman's
    exit code in ``exit_code``) and :class:`UsageError` for bad options.
    """
    rootfs = Path(rootfs).absolute()
    options = options or RunOptions()
    runner = get_runner(isolation) if isinstance(isolation, str) else isolation
    hostname = options.hostname or "boxwright"
    id_map = default_mapping()
    base = os.environ.get("XDG_RUNTIME_DIR") if os.geteuid() != 0 else None
    if base and not os.access(base, os.W_OK):
        base = None
    run_dir = Path(tempfile.mkdtemp(prefix="boxwright-run-", dir=base))
    try:
        run_dir.chmod(0o755)
        # The network (runtime/network.py): its helper, and what resolv.conf and hosts say.
        net = network_settings(options, image_config.config.exposed_ports or ())
        extra = _etc_mounts(run_dir, options, net, hostname)
        options = replace(options, hostname=hostname, extra_mounts=tuple(extra))
        spec = generate_spec(
            rootfs,
            image_config,
            options,
            rootless=id_map is not None,
            id_map=id_map,
        )
        if net.helper is not None:
            plan = HelperPlan(net.helper, net.options, tuple(map(str, net.ports)), str(run_dir))
            spec.setdefault("annotations", {})[ANNOTATION] = plan.to_annotation()
        if has_limits(spec["linux"].get("resources") or {}):
            check_delegation(spec["linux"]["resources"])
        check_capabilities(spec, user_namespace=id_map is not None)
        output = options.output_fds()
        with mount_points(rootfs, spec):
            return runner.run(
                spec,
                output=output,
                stdin=options.stdin_fd(),
                started=options.on_start,
                console=options.console if options.terminal else None,
            )
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


__all__ = [
    "ISOLATIONS",
    "Runner",
    "check_capabilities",
    "get_runner",
    "hosts_file",
    "resolv_conf",
    "run_in_rootfs",
]
