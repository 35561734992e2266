"""Platforms (os/architecture/variant) and how a wanted platform matches an index entry."""

from __future__ import annotations

import platform as _host
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from boxwright.errors import ManifestError, UsageError

_ARCH_ALIASES = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
    "i686": "386",
}
# The variant an architecture has when none is written, as containerd normalizes it.
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


def normalize_arch(arch: str, variant: str = "") -> tuple[str, str]:
    """Normalize an architecture name and its variant as containerd's platforms package does."""
    arch = arch.lower()
    variant = variant.lower()
    if arch == "aarch64":
        return "arm64", variant if variant not in ("", "8") else "v8"
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    arch = _ARCH_ALIASES.get(arch, arch)
    if arch == "arm64" and variant in ("8", ""):
        variant = "v8" if variant == "8" else variant
    if arch == "arm" and variant in ("5", "6", "7", "8"):
        variant = "v" + variant
    return arch, variant


@dataclass(frozen=True, slots=True)
class Platform:
    """The platform of an image: ``os``, ``architecture`` and optional ``variant`` etc."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = field(default=())
    features: tuple[str, ...] = field(default=())

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``OS/ARCH[/VARIANT]`` as ``--platform`` takes it."""
        parts = text.strip().split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise UsageError(f"invalid platform {text!r}: expected OS/ARCH[/VARIANT]")
        arch, variant = normalize_arch(parts[1], parts[2] if len(parts) == 3 else "")
        return cls(os=parts[0].lower(), architecture=arch, variant=variant)

    @classmethod
    def host(cls) -> Platform:
        """The platform of the machine boxwright runs on."""
        arch, variant = normalize_arch(_host.machine())
        return cls(os="linux", architecture=arch, variant=variant)

    @classmethod
    def from_dict(cls, data: Any) -> Platform:
        """Read the ``platform`` object of a descriptor or the fields of an image config."""
        if not isinstance(data, dict):
            raise ManifestError("platform must be a JSON object")
        os_ = data.get("os")
        arch = data.get("architecture")
        if not isinstance(os_, str) or not isinstance(arch, str):
            raise ManifestError("platform needs string fields os and architecture")
        variant = data.get("variant") or ""
        os_version = data.get("os.version") or ""
        os_features = data.get("os.features") or ()
        features = data.get("features") or ()
        if not isinstance(variant, str) or not isinstance(os_version, str):
            raise ManifestError("platform variant and os.version must be strings")
        if not isinstance(os_features, list | tuple) or not isinstance(features, list | tuple):
            raise ManifestError("platform os.features and features must be arrays")
        if not all(isinstance(f, str) for f in (*os_features, *features)):
            raise ManifestError("platform os.features and features must hold strings")
        return cls(os_, arch, variant, os_version, tuple(os_features), tuple(features))

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of this platform, with empty fields left out."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        if self.features:
            out["features"] = list(self.features)
        return out

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base

    def runs_natively_on(self, host: Platform) -> bool:
        """Whether programs of this platform run on ``host`` without an emulator: the same
        architecture, or 386 programs on an amd64 machine."""
        arch, _ = normalize_arch(self.architecture)
        return arch == host.architecture or (host.architecture == "amd64" and arch == "386")

    def matches(self, other: Platform) -> bool:
        """Whether an image for ``other`` satisfies a request for ``self``.

        OS and architecture must match after normalization; a wanted variant must match the
        offered one, where an offered image without a variant is taken to have the default.
        An empty wanted variant accepts any.
        """
        want_arch, want_var = normalize_arch(self.architecture, self.variant)
        have_arch, have_var = normalize_arch(other.architecture, other.variant)
        if self.os.lower() != other.os.lower() or want_arch != have_arch:
            return False
        if not want_var:
            return True
        return want_var == (have_var or _DEFAULT_VARIANT.get(have_arch, ""))


def parse_platforms(values: Iterable[str]) -> list[Platform]:
    """``--platform`` values (repeatable, each a comma-separated list), in order, once each."""
    out: list[Platform] = []
    for value in values:
        for item in value.split(","):
            if not item.strip():
                raise UsageError(f"invalid --platform {value!r}: an empty platform")
            platform = Platform.parse(item)
            if platform not in out:
                out.append(platform)
    return out


def wanted_platform(
    platform: str | None = None,
    arch: str | None = None,
    os: str | None = None,
    variant: str | None = None,
) -> Platform | None:
    """The platform ``--platform``, or ``--arch``/``--os``/``--variant``, ask for (None: this
    machine's, left to the caller's default), as podman reads them: ``--platform OS/ARCH[/VAR]``
    alone, or the other three, each replacing one field of this machine's platform (a wanted
    architecture drops the machine's variant, as containers/image does)."""
    if platform is not None:
        if arch is not None or os is not None or variant is not None:
            raise UsageError("--platform cannot be combined with --arch, --os or --variant")
        return Platform.parse(platform)
    if arch is None and os is None and variant is None:
        return None
    host = Platform.host()
    if arch is not None:
        arch_, detected = normalize_arch(arch, variant or "")
        host = Platform(host.os, arch_, detected)
    elif variant is not None:
        host = Platform(host.os, host.architecture, normalize_arch(host.architecture, variant)[1])
    if os is not None:
        host = Platform(os.lower(), host.architecture, host.variant)
    return host
