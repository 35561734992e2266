"""The distribution an image is: ``etc/os-release`` (else ``usr/lib/os-release``), the
shell-like ``KEY=value`` file systemd documents in os-release(5)."""

from __future__ import annotations

import shlex

from boxwright.sbom.model import Distro

PATHS = ("etc/os-release", "usr/lib/os-release")


def parse_os_release(data: bytes) -> Distro | None:
    """The distribution ``data`` names; None without an ``ID``."""
    values: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, sep, raw = line.strip().partition("=")
        if not sep or key.startswith("#"):
            continue
        try:
            words = shlex.split(raw)
        except ValueError:
            continue
        values[key] = words[0] if words else ""
    if not values.get("ID"):
        return None
    return Distro(values["ID"], values.get("VERSION_ID", ""), values.get("PRETTY_NAME", ""))


__all__ = ["PATHS", "parse_os_release"]
