"""What ``--network`` and ``-p``/``-P`` say, read and shown: :class:`PortMapping`,
:func:`parse_publish`, :func:`check_network`, the ports a run's options ask for, and their
forms in ``ps`` and ``inspect``.

A module of its own, without the helpers' processes and sockets
(:mod:`boxwright.runtime.network`, which uses these and names them too): ``run -d`` checks its
flags, and ``ps``, ``port`` and ``inspect`` show a container's ports, with none of that
loaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from boxwright.errors import UsageError

_SLIRP_OPTIONS = frozenset(
    {"allow_host_loopback", "enable_ipv6", "mtu", "cidr", "outbound_addr", "port_handler"}
)


@dataclass(frozen=True)
class PortMapping:
    """One published port: ``host_ip:host_port`` on the host → ``container_port`` inside.

    ``host_ip`` ``""`` means every address; ``host_port`` 0 asks for a free one
    (:func:`boxwright.runtime.network.assign_host_ports`).
    """

    host_ip: str
    host_port: int
    container_port: int
    protocol: str = "tcp"

    def __str__(self) -> str:
        """The canonical ``-p`` form, which :func:`parse_publish` reads back."""
        ip = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        return f"{ip}:{self.host_port}:{self.container_port}/{self.protocol}"

    def describe(self) -> str:
        """podman's ``ps`` form: ``0.0.0.0:8080->80/tcp``."""
        ip = self.host_ip or "0.0.0.0"
        return f"{ip}:{self.host_port}->{self.container_port}/{self.protocol}"


def _port_range(text: str, what: str, spec: str) -> list[int]:
    first, sep, last = text.partition("-")
    try:
        low = int(first)
        high = int(last) if sep else low
    except ValueError:
        raise UsageError(f"invalid port {spec!r}: {what} {text!r} is not a number") from None
    if not (0 < low <= high <= 65535) or (what == "container port" and low == 0):
        raise UsageError(f"invalid port {spec!r}: {what} {text!r} is out of range 1-65535")
    return list(range(low, high + 1))


def parse_publish(text: str) -> tuple[PortMapping, ...]:
    """``-p [IP:][HOST:]CONTAINER[/tcp|udp]`` (podman's forms, ranges as ``8000-8001``).

    ``CONTAINER`` alone or ``IP::CONTAINER`` asks for free host ports. Raises
    :class:`UsageError` for anything else.
    """
    body, _, protocol = text.partition("/")
    protocol = protocol or "tcp"
    if protocol not in ("tcp", "udp"):
        raise UsageError(f"invalid port {text!r}: protocol must be tcp or udp")
    host_ip = ""
    if body.startswith("["):  # [IPv6]:HOST:CONTAINER
        address, sep, body = body[1:].partition("]:")
        if not sep:
            raise UsageError(f"invalid port {text!r}: expected [IPv6]:HOST:CONTAINER")
        host_ip = address
        parts = ["", *body.split(":")] if body.count(":") == 1 else body.split(":")
        parts = parts[-2:]
    else:
        parts = body.split(":")
        if len(parts) == 3:
            host_ip = parts.pop(0)
        if len(parts) > 2 or not parts[-1]:
            raise UsageError(f"invalid port {text!r}: expected [IP:][HOST:]CONTAINER[/PROTO]")
    if host_ip:
        import ipaddress

        try:
            ipaddress.ip_address(host_ip)
        except ValueError:
            raise UsageError(f"invalid port {text!r}: {host_ip!r} is not an IP address") from None
    inside = _port_range(parts[-1], "container port", text)
    host_text = parts[0] if len(parts) == 2 else ""
    outside = _port_range(host_text, "host port", text) if host_text else [0] * len(inside)
    if len(outside) != len(inside):
        raise UsageError(f"invalid port {text!r}: the host and container ranges differ in size")
    return tuple(
        PortMapping(host_ip, host, container, protocol)
        for host, container in zip(outside, inside, strict=True)
    )


def exposed_ports(exposed: Iterable[str]) -> tuple[PortMapping, ...]:
    """``-P``: each of the image's ``ExposedPorts`` (``80/tcp``) on a free host port."""
    ports: list[PortMapping] = []
    for entry in sorted(exposed):
        number, _, protocol = entry.partition("/")
        ports.extend(parse_publish(f"{number}/{protocol or 'tcp'}"))
    return tuple(ports)


def check_network(text: str) -> str:
    """``--network``'s value checked: ``host``, ``none``, ``private``, ``slirp4netns[:OPTS]``,
    ``pasta[:OPTS]``, ``ns:PATH`` or ``container:NAME``; returned as given."""
    kind, sep, rest = text.partition(":")
    if kind in ("host", "none", "private") and not sep:
        return text
    if kind == "slirp4netns":
        for option in filter(None, rest.split(",")):
            name = option.partition("=")[0]
            if name not in _SLIRP_OPTIONS:
                raise UsageError(f"--network slirp4netns: unknown option {name!r}")
        return text
    if kind == "pasta" or (kind in ("ns", "container") and rest):
        return text
    raise UsageError(
        f"invalid --network {text!r}: expected host, none, private, slirp4netns[:OPTIONS], "
        "pasta[:OPTIONS], ns:PATH or container:NAME"
    )


def requested_ports(options: Any, exposed: Iterable[str] = ()) -> tuple[PortMapping, ...]:
    """The ports a run's options ask for: each ``-p``, and with ``-P`` every port of the
    image's ``exposed`` ports that no ``-p`` names (host port 0 where a free one is wanted)."""
    ports = [p for text in options.publish for p in parse_publish(text)]
    if options.publish_all:
        taken = {(p.container_port, p.protocol) for p in ports}
        ports += [p for p in exposed_ports(exposed) if (p.container_port, p.protocol) not in taken]
    return tuple(ports)


def inspect_ports(ports: Iterable[PortMapping]) -> dict[str, list[dict[str, str]]]:
    """podman inspect's ``NetworkSettings.Ports``: ``{"80/tcp": [{"HostIp": "",
    "HostPort": "8080"}]}``."""
    out: dict[str, list[dict[str, str]]] = {}
    for port in ports:
        binding = {"HostIp": port.host_ip, "HostPort": str(port.host_port)}
        out.setdefault(f"{port.container_port}/{port.protocol}", []).append(binding)
    return out


def ps_ports(ports: Iterable[PortMapping]) -> list[dict[str, Any]]:
    """podman ps's JSON ``Ports``: ``host_ip``, ``container_port``, ``host_port``, ``range``,
    ``protocol`` for each port."""
    return [
        {"host_ip": p.host_ip, "container_port": p.container_port, "host_port": p.host_port,
         "range": 1, "protocol": p.protocol}
        for p in ports
    ]  # fmt: skip


def describe_ports(ports: Iterable[PortMapping]) -> str:
    """podman ps's PORTS column: ``0.0.0.0:8080->80/tcp, 127.0.0.1:9090->90/udp``."""
    return ", ".join(port.describe() for port in ports)


__all__ = [
    "PortMapping",
    "check_network",
    "describe_ports",
    "exposed_ports",
    "inspect_ports",
    "parse_publish",
    "ps_ports",
    "requested_ports",
]
