"""Container networks: podman's ``--network`` modes, ``-p``/``-P`` and the user-mode helpers.

A container that does not share the host's network gets a network namespace of its own.
``none`` leaves it with a loopback interface only; ``slirp4netns`` and ``pasta`` (Debian's
``slirp4netns`` and ``passt``) connect it to the outside world from user space, with no bridge,
no daemon and no privilege, and publish its ports on the host. ``private`` is the default of
``boxwright run``: slirp4netns when installed, else pasta (podman 4's order; see
``docs/runtime.md``). ``ns:PATH`` and ``container:NAME`` join a namespace that exists.

The runner creates the namespace; :func:`start_helper` then connects it from outside, given
the pid of a process inside it, before the container's command starts. What a helper needs
travels in the runtime spec as one annotation (:data:`ANNOTATION`, :class:`HelperPlan`), so
the spec stays the whole description of a run.

Helpers as podman runs them:

* slirp4netns: ``--configure --mtu=65520 --disable-host-loopback`` (``allow_host_loopback=true``
  drops the last: ``10.0.2.2`` then reaches the host's 127.0.0.1), the container at
  ``10.0.2.100``, the gateway ``10.0.2.2``, the built-in DNS forwarder ``10.0.2.3``; published
  ports through its API socket (``add_hostfwd``), no user-space proxy;
* pasta: ``--config-net`` with the host's addresses and routes copied in, no automatic port
  forwarding in either direction (``-t none -u none -T none -U none``), ``--no-map-gw`` unless
  the options say ``--map-gw`` (then the gateway address reaches the host's loopback);
  published ports as ``-t``/``-u`` specs. As root, pasta is pointed at a bind mount of the
  namespace (in a mount namespace of its own) and told ``--runas 0``: Debian 12's pasta can
  neither join a root process's namespace by pid nor open it as ``nobody``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from boxwright.errors import RunError, UsageError
from boxwright.runtime import linux
from boxwright.runtime.ports import (
    PortMapping,
    check_network,
    describe_ports,
    exposed_ports,
    inspect_ports,
    parse_publish,
    ps_ports,
    requested_ports,
)

#: The spec annotation that carries a :class:`HelperPlan` to the runner.
ANNOTATION = "org.boxwright.network"
#: The user-mode helpers, in the order ``private`` picks them.
HELPERS = ("slirp4netns", "pasta")
#: Where each helper is packaged on Debian (for the error that says what to install).
PACKAGES = {"slirp4netns": "slirp4netns", "pasta": "passt"}
SLIRP_ADDRESS = "10.0.2.100"
SLIRP_GATEWAY = "10.0.2.2"
SLIRP_DNS = "10.0.2.3"
#: The name podman gives the host in a container's ``/etc/hosts``.
HOST_NAME = "host.containers.internal"
_READY_TIMEOUT = 10.0


def assign_host_ports(ports: Iterable[PortMapping]) -> tuple[PortMapping, ...]:
    """``ports`` with every host port 0 replaced by one the kernel says is free now."""
    out = []
    for port in ports:
        if port.host_port == 0:
            family = socket.AF_INET6 if ":" in port.host_ip else socket.AF_INET
            kind = socket.SOCK_DGRAM if port.protocol == "udp" else socket.SOCK_STREAM
            with socket.socket(family, kind) as probe:
                probe.bind((port.host_ip, 0))
                port = PortMapping(
                    port.host_ip, probe.getsockname()[1], port.container_port, port.protocol
                )
        out.append(port)
    return tuple(out)


def find_helper(name: str) -> str:
    """The path of helper ``name``; :class:`RunError` (125) saying what to install."""
    path = shutil.which(name)
    if path is None:
        raise RunError(
            f"--network {name}: {name} is not installed (Debian package {PACKAGES[name]})", 125
        )
    return path


def default_helper() -> str:
    """The helper ``private`` uses: the first of :data:`HELPERS` installed."""
    for name in HELPERS:
        if shutil.which(name):
            return name
    raise RunError(
        "a private network needs slirp4netns or pasta and neither is installed (Debian "
        "packages slirp4netns, passt): install one, or run with --network host or none",
        125,
    )


@dataclass(frozen=True)
class HelperPlan:
    """What the runner needs to connect a new network namespace (:data:`ANNOTATION`)."""

    helper: str
    options: tuple[str, ...]
    ports: tuple[str, ...]
    run_dir: str

    def to_annotation(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> HelperPlan | None:
        """The plan in a spec's annotations; ``None`` when it has none."""
        text = (spec.get("annotations") or {}).get(ANNOTATION)
        if not text:
            return None
        data = json.loads(text)
        return cls(data["helper"], tuple(data["options"]), tuple(data["ports"]), data["run_dir"])

    def port_mappings(self) -> tuple[PortMapping, ...]:
        return tuple(p for text in self.ports for p in parse_publish(text))


@dataclass(frozen=True)
class NetworkSettings:
    """What one run's network is: the namespace, the helper, and what the container's
    ``/etc/resolv.conf`` and ``/etc/hosts`` say about it."""

    mode: str
    """``host``, ``none``, ``slirp4netns``, ``pasta`` or ``join`` (an existing namespace)."""
    options: tuple[str, ...] = ()
    ports: tuple[PortMapping, ...] = ()
    join_path: str | None = None
    join_user_path: str | None = None

    @property
    def helper(self) -> str | None:
        return self.mode if self.mode in HELPERS else None

    def nameservers(self) -> tuple[str, ...]:
        """The nameservers the helper itself offers, put first in ``resolv.conf``."""
        return (SLIRP_DNS,) if self.mode == "slirp4netns" else ()

    def hosts_entries(self, hostname: str) -> tuple[tuple[str, str], ...]:
        """``(name, address)`` lines podman adds: the container's own address for its
        hostname, and the host (:data:`HOST_NAME`) where the helper lets it be reached."""
        entries: list[tuple[str, str]] = []
        if self.mode == "slirp4netns":
            entries.append((hostname, SLIRP_ADDRESS))
            if self.slirp_option("allow_host_loopback") == "true":
                entries.append((HOST_NAME, SLIRP_GATEWAY))
        elif self.mode == "pasta" and "--map-gw" in self.options:
            gateway = _default_gateway()
            if gateway:
                entries.append((HOST_NAME, gateway))
        return tuple(entries)

    def slirp_option(self, name: str) -> str | None:
        for option in self.options:
            key, _, value = option.partition("=")
            if key == name:
                return value
        return None


def resolve_network(
    text: str, ports: Iterable[PortMapping] = (), container_pid: int | None = None
) -> NetworkSettings:
    """``--network`` (:func:`check_network`'s forms) as :class:`NetworkSettings`: ``private``
    becomes the installed helper; ``container:NAME`` needs ``container_pid``, the pid of a
    process of that container on this host (the caller looks it up)."""
    check_network(text)
    kind, _, rest = text.partition(":")
    ports = tuple(ports)
    if kind in ("host", "none", "ns", "container") and ports:
        raise UsageError(f"--network {kind}: ports cannot be published (-p, -P)")
    if kind == "private":
        kind = default_helper()
    if kind in HELPERS:
        find_helper(kind)
        split = rest.split(",") if kind == "slirp4netns" else rest.replace(",", " ").split()
        return NetworkSettings(kind, tuple(filter(None, split)), assign_host_ports(ports))
    if kind == "ns":
        if not os.path.exists(rest):
            raise UsageError(f"--network ns:{rest}: no such namespace file")
        return NetworkSettings("join", join_path=os.path.abspath(rest))
    if kind == "container":
        if container_pid is None:
            raise RunError(f"--network container:{rest}: the container is not running", 125)
        return NetworkSettings(
            "join",
            join_path=f"/proc/{container_pid}/ns/net",
            join_user_path=f"/proc/{container_pid}/ns/user",
        )
    return NetworkSettings(kind)


def network_settings(options: Any, exposed: Iterable[str] = ()) -> NetworkSettings:
    """The :class:`NetworkSettings` of a run's options (``RunOptions``: ``network``,
    ``publish``, ``publish_all`` with the image's ``exposed`` ports); ``container:NAME`` must
    have been turned into ``ns:`` by the caller that knows the container
    (:func:`boxwright.runtime.volumes.joining_container`)."""
    return resolve_network(options.network, requested_ports(options, exposed))


def resolv_text(host: str, settings: NetworkSettings, options: Any) -> str:
    """The container's ``/etc/resolv.conf``, as podman writes it: ``host`` (the host's file)
    with ``--dns`` replacing its nameservers (else the helper's own forwarder first, and
    loopback nameservers dropped when the container has a network of its own, where they
    would not answer), ``--dns-search`` its search line (``.`` clears it) and
    ``--dns-option`` its options."""
    servers: list[str] = []
    search: list[str] = []
    opts: list[str] = []
    for line in host.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            search = words[1:]
        elif words[0] == "options":
            opts += words[1:]
    own_network = settings.mode != "host"
    if own_network:
        servers = [s for s in servers if not _is_loopback(s)]
    servers = list(options.dns) or [*settings.nameservers(), *servers]
    if options.dns_search:
        search = [] if list(options.dns_search) == ["."] else list(options.dns_search)
    if options.dns_options:
        opts = list(options.dns_options)
    lines = [f"search {' '.join(search)}"] if search else []
    lines += [f"nameserver {server}" for server in servers]
    lines += [f"options {' '.join(opts)}"] if opts else []
    return "\n".join(lines) + "\n" if lines else ""


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def _default_gateway() -> str | None:
    """The host's IPv4 default gateway (``/proc/net/route``), which pasta hands on."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/net/route").read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 2 and fields[1] == "00000000":
                return socket.inet_ntoa(int(fields[2], 16).to_bytes(4, "little"))
    return None


# ---------------------------------------------------------------------------------------------
# Running a helper


class NetworkHelper:
    """A helper process that connects one network namespace; :meth:`stop` ends it."""

    def __init__(self, pid: int, exit_fd: int | None = None, child: Any = None) -> None:
        self.pid = pid
        self._exit_fd = exit_fd
        self._child = child

    def stop(self) -> None:
        """End the helper (closing slirp4netns' exit descriptor, else SIGTERM) and reap it."""
        if self._exit_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._exit_fd)
            self._exit_fd = None
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)
        if self._child is not None:
            _await_exit(self._child.pid, 5)
            try:
                self._child.wait(timeout=0.5)
            except Exception:
                self._child.kill()
                self._child.wait()


def _await_exit(pid: int, timeout: float) -> None:
    """Return when process ``pid`` has ended (its pidfd turns readable), or after
    ``timeout`` seconds: the container's end is recorded only after its helper is reaped, and
    ``Popen.wait``'s polling would add up to its growing sleep to that."""
    try:
        fd = os.pidfd_open(pid)
    except OSError:
        return
    try:
        select.select([fd], [], [], timeout)
    finally:
        os.close(fd)


def start_helper(
    plan: HelperPlan, pid: int, *, own_user_namespace: bool, detached: bool = False
) -> NetworkHelper:
    """Connect the network namespace of process ``pid`` with ``plan``'s helper; return once
    the namespace is configured and its ports are published.

    ``own_user_namespace`` says that ``pid`` is in a user namespace of its own (a rootless
    run), which the helper joins to reach the network namespace. ``detached`` leaves the
    helper running after this process ends (an OCI runtime's hook starts it; its pid is in
    ``helper.pid`` of the plan's run directory, for :func:`stop_detached`). Raises
    :class:`RunError` (125) with the helper's own message when it fails.
    """
    if not os.access("/dev/net/tun", os.R_OK | os.W_OK):
        raise RunError(
            f"{plan.helper} needs /dev/net/tun, which uid {os.getuid()} cannot open: make it "
            "mode 0666 (as udev does), or run with --network host or none",
            125,
        )
    if plan.helper == "slirp4netns":
        helper = _start_slirp4netns(plan, pid, own_user_namespace, detached)
    else:
        helper = _start_pasta(plan, pid, own_user_namespace)
    if detached:
        Path(plan.run_dir, "helper.pid").write_text(str(helper.pid))
    return helper


def stop_detached(plan: HelperPlan) -> None:
    """End the helper :func:`start_helper` left running for ``plan`` (when it did)."""
    with contextlib.suppress(OSError, ValueError):
        pid = int(Path(plan.run_dir, "helper.pid").read_text())
        os.kill(pid, signal.SIGTERM)


def hook_main() -> int:
    """An OCI ``createRuntime`` hook: the container's state on stdin (its pid, the spec's
    annotations), the helper started for good. ``python -m boxwright.runtime.network``."""
    state = json.load(sys.stdin)
    plan = HelperPlan.from_spec(state)
    if plan is None:
        return 0
    pid = int(state["pid"])
    try:
        own = os.stat(f"/proc/{pid}/ns/user").st_ino != os.stat("/proc/self/ns/user").st_ino
        start_helper(plan, pid, own_user_namespace=own, detached=True)
    except RunError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _helper_failed(name: str, detail: bytes | str) -> RunError:
    if isinstance(detail, bytes):
        detail = detail.decode(errors="replace")
    lines = [line for line in detail.splitlines() if line and "to syslog" not in line]
    return RunError(f"{name} could not connect the container: {'; '.join(lines) or '?'}", 125)


def _start_slirp4netns(
    plan: HelperPlan, pid: int, own_user_namespace: bool, detached: bool
) -> NetworkHelper:
    options = dict(o.partition("=")[::2] for o in plan.options)
    socket_path = os.path.join(plan.run_dir, "slirp4netns.sock")
    ready_r, ready_w = os.pipe()
    exit_r, exit_w = os.pipe()
    argv = [find_helper("slirp4netns"), "--configure", f"--mtu={options.get('mtu') or 65520}"]
    argv += [f"--ready-fd={ready_w}", f"--api-socket={socket_path}"]
    argv += [] if detached else [f"--exit-fd={exit_r}"]
    argv += ["--enable-sandbox", "--enable-seccomp"]
    if options.get("allow_host_loopback") != "true":
        argv.append("--disable-host-loopback")
    if options.get("enable_ipv6") == "true":
        argv.append("--enable-ipv6")
    if options.get("cidr"):
        argv.append(f"--cidr={options['cidr']}")
    if options.get("outbound_addr"):
        argv.append(f"--outbound-addr={options['outbound_addr']}")
    if own_user_namespace:
        argv.append(f"--userns-path=/proc/{pid}/ns/user")
    argv += [str(pid), "tap0"]
    log = open(os.path.join(plan.run_dir, "slirp4netns.log"), "w+b")  # noqa: SIM115
    try:
        child = subprocess.Popen(
            argv,
            pass_fds=(ready_w, exit_r),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    finally:
        os.close(ready_w)
        os.close(exit_r)
    if detached:
        os.close(exit_w)
    helper = NetworkHelper(child.pid, None if detached else exit_w, child)
    try:
        ready = _read_ready(ready_r)
        if ready != b"1":
            child.wait(timeout=5)
            log.seek(0)
            raise _helper_failed("slirp4netns", log.read())
        for port in plan.port_mappings():
            _slirp_forward(socket_path, port)
    except BaseException:
        helper.stop()
        raise
    finally:
        os.close(ready_r)
        log.close()
    return helper


def _read_ready(fd: int) -> bytes:
    """One byte from ``fd`` within :data:`_READY_TIMEOUT` (b"" when it closes or times out)."""
    deadline = time.monotonic() + _READY_TIMEOUT
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b""
        try:
            ready, _, _ = select.select([fd], [], [], left)
        except InterruptedError:
            continue
        if ready:
            return os.read(fd, 1)


def _slirp_forward(socket_path: str, port: PortMapping) -> None:
    """Publish ``port`` through slirp4netns' API socket (``add_hostfwd``)."""
    request = {
        "execute": "add_hostfwd",
        "arguments": {
            "proto": port.protocol,
            "host_addr": port.host_ip or "0.0.0.0",
            "host_port": port.host_port,
            "guest_port": port.container_port,
        },
    }
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as api:
        api.settimeout(_READY_TIMEOUT)
        api.connect(socket_path)
        api.sendall(json.dumps(request).encode())
        api.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := api.recv(4096):
            answer += chunk
    reply = json.loads(answer or b"{}")
    if "error" in reply or "return" not in reply:
        why = (reply.get("error") or {}).get("desc") or answer.decode(errors="replace")
        raise RunError(f"cannot publish port {port.describe()}: {why}", 125)


def _pasta_ports(ports: Iterable[PortMapping]) -> list[str]:
    argv: list[str] = []
    for protocol, flag in (("tcp", "-t"), ("udp", "-u")):
        specs = [
            f"{p.host_ip + '/' if p.host_ip else ''}{p.host_port}:{p.container_port}"
            for p in ports
            if p.protocol == protocol
        ]
        argv += [flag, ",".join(specs) if specs else "none"]
    return argv


def _start_pasta(plan: HelperPlan, pid: int, own_user_namespace: bool) -> NetworkHelper:
    ports = plan.port_mappings()
    argv = [find_helper("pasta"), "--config-net", "--quiet", *_pasta_ports(ports), "-T", "none"]
    argv += ["-U", "none"]
    options = list(plan.options)
    if "--map-gw" in options:
        options.remove("--map-gw")
    else:
        argv.append("--no-map-gw")
    argv += options
    pid_file = os.path.join(plan.run_dir, "pasta.pid")
    argv += ["--pid", pid_file]
    setup = None
    if own_user_namespace or os.geteuid() != 0:
        argv.append(str(pid))
    else:
        netns = os.path.join(plan.run_dir, "netns")
        Path(netns).touch()
        argv += ["--runas", "0", "--netns", netns]
        setup = _bind_namespace(f"/proc/{pid}/ns/net", netns)
    done = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, preexec_fn=setup, check=False
    )
    try:
        helper_pid = int(Path(pid_file).read_text().strip())
    except (OSError, ValueError):
        raise _helper_failed("pasta", done.stderr + done.stdout) from None
    if done.returncode != 0:
        NetworkHelper(helper_pid).stop()
        raise _helper_failed("pasta", done.stderr + done.stdout)
    return NetworkHelper(helper_pid)


def _bind_namespace(source: str, target: str) -> Any:
    """A ``preexec_fn`` that binds namespace file ``source`` onto ``target`` in a mount
    namespace of the helper's own (nothing is mounted where the caller's processes see it)."""

    def setup() -> None:
        linux.unshare(linux.CLONE_NEWNS)
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
        linux.mount(source, target, None, linux.MS_BIND)

    return setup


if __name__ == "__main__":
    raise SystemExit(hook_main())


__all__ = [
    "ANNOTATION",
    "HELPERS",
    "HOST_NAME",
    "HelperPlan",
    "NetworkHelper",
    "NetworkSettings",
    "PortMapping",
    "assign_host_ports",
    "check_network",
    "default_helper",
    "describe_ports",
    "exposed_ports",
    "find_helper",
    "inspect_ports",
    "network_settings",
    "parse_publish",
    "ps_ports",
    "requested_ports",
    "resolv_text",
    "resolve_network",
    "start_helper",
    "stop_detached",
]
