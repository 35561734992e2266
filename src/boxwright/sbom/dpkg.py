"""Debian packages: dpkg's status database.

``var/lib/dpkg/status`` (one paragraph per package, RFC 822 fields) and, in distroless
images, ``var/lib/dpkg/status.d/NAME`` (one file per package, same fields, no ``Status``).
A package counts when its ``Status`` ends in ``installed`` (what ``dpkg-query -W`` shows as
``ii``) or has no ``Status`` (status.d).
"""

from __future__ import annotations

from collections.abc import Iterator

from boxwright.sbom.model import Distro, Package
from boxwright.sbom.purl import distro_package

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d/"


def is_database(path: str) -> bool:
    """Whether ``path`` (relative, cleaned) is a dpkg status file."""
    if path == STATUS:
        return True
    return (
        path.startswith(STATUS_D)
        and "/" not in path[len(STATUS_D) :]
        and not path.endswith(".md5sums")
    )


def paragraphs(text: str) -> Iterator[dict[str, str]]:
    """The paragraphs of a deb822 file as field → value (continuation lines joined with
    newlines, field names as written)."""
    fields: dict[str, str] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields, last = {}, ""
        elif line[0] in " \t":
            if last:
                fields[last] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip()
            fields[last] = value.strip()
    if fields:
        yield fields


def _source(fields: dict[str, str]) -> tuple[str, str]:
    """The source package's name and version (``Source: glibc (2.36-9)``), as dpkg writes
    them: only where they differ from the binary package's (else empty)."""
    source = fields.get("Source", "")
    name, _, rest = source.partition(" ")
    return name, rest.strip().strip("()")


def parse_status(data: bytes, location: str, distro: Distro | None) -> list[Package]:
    """The installed packages of one status file, in file order."""
    found: list[Package] = []
    for fields in paragraphs(data.decode("utf-8", "replace")):
        name = fields.get("Package", "")
        version = fields.get("Version", "")
        status = fields.get("Status")
        if not name or not version or (status is not None and not status.endswith(" installed")):
            continue
        arch = fields.get("Architecture", "")
        source, source_version = _source(fields)
        upstream = f"{source}@{source_version}" if source_version else source
        found.append(
            distro_package(
                "deb",
                name,
                version,
                [("arch", arch), ("upstream", upstream)],
                distro=distro,
                namespace="debian",
                location=location,
                supplier=fields.get("Maintainer", ""),
                source=source,
                arch=arch,
            )
        )
    return found


__all__ = ["is_database", "paragraphs", "parse_status"]
