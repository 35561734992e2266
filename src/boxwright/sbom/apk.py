"""Alpine packages: apk's installed database, ``lib/apk/db/installed``.

One paragraph per package of ``X:value`` lines (``P`` name, ``V`` version, ``A`` arch,
``L`` license, ``o`` origin, ``m`` maintainer), paragraphs separated by blank lines.
"""

from __future__ import annotations

from boxwright.sbom.model import Distro, Package
from boxwright.sbom.purl import distro_package

INSTALLED = "lib/apk/db/installed"


def parse_installed(data: bytes, location: str, distro: Distro | None) -> list[Package]:
    """The packages of an apk installed database, in file order."""
    found: list[Package] = []
    fields: dict[str, str] = {}
    for line in [*data.decode("utf-8", "replace").splitlines(), ""]:
        if len(line) >= 2 and line[1] == ":":
            fields.setdefault(line[0], line[2:])
            continue
        if line.strip() or not fields:
            continue
        name, version = fields.get("P", ""), fields.get("V", "")
        if name and version:
            origin = fields.get("o", "")
            found.append(
                distro_package(
                    "apk",
                    name,
                    version,
                    [("arch", fields.get("A", "")), ("upstream", origin if origin != name else "")],
                    distro=distro,
                    namespace="alpine",
                    location=location,
                    license=fields.get("L", ""),
                    supplier=fields.get("m", ""),
                    source=origin,
                    arch=fields.get("A", ""),
                )
            )
        fields = {}
    return found


__all__ = ["INSTALLED", "parse_installed"]
