"""What a run changes from an image's defaults: :class:`RunOptions` and its volumes
(:class:`Mount`).

Every process that looks at a container reads them (``run.json``,
:mod:`boxwright.runtime.state`), so they live apart from the runtime spec they are turned
into (:func:`boxwright.runtime.spec.generate_spec`), whose image-config, user and ID-map
modules ``stop``, ``ps`` and ``logs`` never load.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from boxwright.errors import UsageError

#: ``-v``'s options: ``z``/``Z`` relabel for SELinux (nothing to do without it, as here).
_VOLUME_OPTIONS = frozenset({"ro", "rw", "z", "Z", "U"})


@dataclass(frozen=True, slots=True)
class Mount:
    """A host path bound into the container (a volume): ``-v SOURCE:DESTINATION[:OPTIONS]``.

    A ``source`` that is not a path (no ``/`` or ``.`` first) names a volume of the store
    (``boxwright volume``), resolved by :func:`boxwright.runtime.container.run_in_container`.
    """

    source: str
    destination: str
    read_only: bool = False
    chown: bool = False
    """``:U``: give the source to the container's user (its IDs as the host sees them)."""

    @classmethod
    def parse(cls, text: str) -> Mount:
        """``SRC:DST[:ro|rw][,z|Z][,U]`` as ``-v`` takes it (podman's options)."""
        parts = text.split(":")
        options: list[str] = []
        if len(parts) == 3:
            options = parts.pop().split(",")
        if (
            len(parts) != 2
            or not parts[0]
            or not parts[1]
            or not set(options) <= _VOLUME_OPTIONS
            or {"ro", "rw"} <= set(options)
        ):
            raise UsageError(f"invalid volume {text!r}: expected SOURCE:DESTINATION[:ro|rw,z|Z,U]")
        return cls(parts[0], parts[1], "ro" in options, "U" in options)

    @property
    def named(self) -> bool:
        """Whether ``source`` names a volume of the store rather than a host path."""
        return not self.source.startswith(("/", "."))


@dataclass(frozen=True)
class RunOptions:
    """What a run changes from the image's defaults (all optional)."""

    args: tuple[str, ...] = ()
    """The command; replaces the image's ``Cmd`` when non-empty."""
    entrypoint: tuple[str, ...] | None = None
    """Replaces the image's ``Entrypoint`` (and drops its ``Cmd``); ``()`` clears it."""
    env: tuple[str, ...] = ()
    """``K=V`` entries added to (or replacing) the image's; ``K`` alone takes the caller's."""
    workdir: str | None = None
    user: str | None = None
    volumes: tuple[Mount, ...] = ()
    network: str = "host"
    """``host`` shares the caller's network; ``none`` is a loopback-only namespace; the other
    forms of ``--network`` (:func:`boxwright.runtime.network.check_network`) connect a new one
    through a helper or join one that exists."""
    ipc: Literal["private", "host"] = "private"
    """``host`` shares the caller's IPC namespace (fakeroot's daemon talks through it)."""
    add_hosts: tuple[tuple[str, str], ...] = ()
    """``(name, address)`` lines put first in the container's ``/etc/hosts`` (``--add-host``)."""
    no_hosts: bool = False
    """Leave the rootfs's own ``/etc/hosts`` as it is instead of mounting one (``--no-hosts``)."""
    hostname: str | None = None
    terminal: bool = False
    rlimits: tuple[tuple[str, int, int], ...] = ()
    """``(RLIMIT_NAME, soft, hard)`` limits to set."""
    capabilities: tuple[str, ...] | None = None
    """The capabilities root in the container keeps; ``None`` means the default set."""
    no_new_privileges: bool = False
    read_only: bool = False
    """Mount the rootfs read-only."""
    extra_mounts: tuple[dict[str, Any], ...] = field(default=())
    """Runtime-spec mount objects appended after the volumes (``/etc/hosts`` and the like)."""
    init: bool = False
    """Run a minimal init as PID 1 (catatonit, else tini) that forwards signals to the command
    and reaps zombies (``--init``)."""
    init_path: str | None = None
    """The init program on the host (``--init-path``); default: :func:`find_init`'s."""
    stdin: int | None = None
    """The descriptor the process reads as stdin (with ``terminal``, what is relayed to the
    terminal); ``None`` inherits the caller's."""
    console: int | None = None
    """With ``terminal``: a pty's slave side whose master the caller holds (a monitor's), made
    the container's terminal; the runner then relays nothing (runc's ``--console-socket``)."""
    on_start: Callable[[int], None] | None = field(default=None, compare=False)
    """Called with the container process's pid once it runs (a monitor records it)."""
    # Networking and the container's own files about it (runtime/network.py, runner.py).
    publish: tuple[str, ...] = ()
    """Published ports in ``-p``'s form (``[IP:]HOST:CONTAINER/PROTO``); host port 0 is a
    free one chosen when the run starts."""
    dns: tuple[str, ...] = ()
    """Nameservers of the container's ``/etc/resolv.conf`` (``--dns``), instead of the host's."""
    dns_search: tuple[str, ...] = ()
    """Its search domains (``--dns-search``; ``.`` alone writes none)."""
    dns_options: tuple[str, ...] = ()
    """Its ``options`` line (``--dns-option``)."""
    publish_all: bool = False
    """``-P``: publish every port of the image's ``ExposedPorts`` on a free host port."""
    memory: str | None = None
    """``--memory`` (``512m``); with ``cpus`` and ``pids_limit`` the run's cgroup v2 limits
    (:mod:`boxwright.runtime.cgroups`)."""
    cpus: float | None = None
    pids_limit: int | None = None
    privileged: bool = False
    """podman's ``--privileged``: every capability, the host's devices, no masked or
    read-only paths, ``/sys`` writable."""
    output: int | tuple[int, int] | None = None
    """Where the process writes instead of the caller's standard streams: one file descriptor
    for both stdout and stderr, or a ``(stdout, stderr)`` pair. The descriptors stay the
    caller's (it closes them). ``None`` inherits the caller's; ignored with ``terminal``."""

    def output_fds(self) -> tuple[int, int] | None:
        """``output`` as a ``(stdout, stderr)`` pair; ``None`` when inherited (or a terminal)."""
        if self.output is None or self.terminal:
            return None
        pair = (self.output, self.output) if isinstance(self.output, int) else self.output
        for fd in pair:
            try:
                os.fstat(fd)
            except (OSError, TypeError, ValueError, OverflowError):
                raise UsageError(f"run output: {fd!r} is not an open file descriptor") from None
        return pair

    def stdin_fd(self) -> int | None:
        """``stdin`` checked open; ``None`` when inherited."""
        if self.stdin is None:
            return None
        try:
            os.fstat(self.stdin)
        except (OSError, TypeError, ValueError, OverflowError):
            raise UsageError(f"run stdin: {self.stdin!r} is not an open file descriptor") from None
        return self.stdin


__all__ = ["Mount", "RunOptions"]
