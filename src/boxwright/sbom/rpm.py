"""RPM packages: the sqlite rpm database (``var/lib/rpm/rpmdb.sqlite``, or
``usr/lib/sysimage/rpm/rpmdb.sqlite``) that rpm ≥ 4.16 writes (Fedora ≥ 33, RHEL ≥ 9).

Its ``Packages`` table holds one rpm header blob per package: two big-endian 32-bit counts
(index entries, data bytes), the 16-byte index entries (tag, type, offset, count), then the
data. Read with the standard library's :mod:`sqlite3` from a temporary copy of the file.
The Berkeley DB (``Packages``) and ndb (``Packages.db``) formats of older releases are not
read: the SBOM notes that they were seen.
"""

from __future__ import annotations

import sqlite3
import struct
from dataclasses import dataclass

from boxwright.errors import SbomError
from boxwright.sbom.model import Distro, Package
from boxwright.sbom.purl import distro_package

SQLITE_PATHS = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
OTHER_PATHS = (
    "var/lib/rpm/Packages",
    "var/lib/rpm/Packages.db",
    "usr/lib/sysimage/rpm/Packages",
    "usr/lib/sysimage/rpm/Packages.db",
)

_NAME, _VERSION, _RELEASE, _EPOCH, _VENDOR, _LICENSE, _ARCH, _SOURCERPM = (
    1000, 1001, 1002, 1003, 1011, 1014, 1022, 1044,
)  # fmt: skip
_INT32, _STRING, _STRING_ARRAY, _I18NSTRING = 4, 6, 8, 9
_MAX_ENTRIES = 1 << 16


class RpmHeaderError(SbomError):
    """An rpm header blob that is not one."""


@dataclass(frozen=True, slots=True)
class RpmHeader:
    """The fields of one rpm header the SBOM needs."""

    name: str
    version: str
    release: str
    epoch: int | None
    arch: str
    license: str
    vendor: str
    source_rpm: str


def _string(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    if offset >= len(data) or end < 0:
        raise RpmHeaderError("rpm header string runs past its data")
    return data[offset:end].decode("utf-8", "replace")


def parse_header(blob: bytes) -> RpmHeader:
    """The fields of an rpm header blob (as the sqlite database stores it)."""
    if len(blob) < 8:
        raise RpmHeaderError("rpm header blob shorter than its counts")
    entries, size = struct.unpack_from(">II", blob)
    start = 8 + 16 * entries
    if entries > _MAX_ENTRIES or start + size > len(blob):
        raise RpmHeaderError("rpm header counts exceed the blob")
    data = blob[start : start + size]
    strings: dict[int, str] = {}
    ints: dict[int, int] = {}
    for at in range(8, start, 16):
        tag, kind, offset, count = struct.unpack_from(">iIiI", blob, at)
        if offset < 0 or offset >= size or count == 0:
            continue
        if kind in (_STRING, _STRING_ARRAY, _I18NSTRING):
            strings[tag] = _string(data, offset)
        elif kind == _INT32 and offset + 4 <= size:
            ints[tag] = struct.unpack_from(">i", data, offset)[0]
    return RpmHeader(
        name=strings.get(_NAME, ""),
        version=strings.get(_VERSION, ""),
        release=strings.get(_RELEASE, ""),
        epoch=ints.get(_EPOCH),
        arch=strings.get(_ARCH, ""),
        license=strings.get(_LICENSE, ""),
        vendor=strings.get(_VENDOR, ""),
        source_rpm=strings.get(_SOURCERPM, ""),
    )


def read_sqlite_headers(path: str) -> list[RpmHeader]:
    """The packages of the sqlite rpm database file at ``path`` (a private copy: opened read
    only and immutable, so sqlite writes nothing beside it)."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True)
    except sqlite3.Error as exc:
        raise RpmHeaderError(f"the rpm database cannot be opened: {exc}") from None
    try:
        rows = connection.execute("SELECT blob FROM Packages ORDER BY hnum").fetchall()
    except sqlite3.Error as exc:
        raise RpmHeaderError(f"the rpm database has no readable Packages table: {exc}") from None
    finally:
        connection.close()
    return [parse_header(bytes(row[0])) for row in rows]


def packages(headers: list[RpmHeader], location: str, distro: Distro | None) -> list[Package]:
    """The SBOM packages of ``headers`` (rpm's ``gpg-pubkey`` entries, keys and not
    software, left out)."""
    found: list[Package] = []
    for header in headers:
        if not header.name or not header.version or header.name == "gpg-pubkey":
            continue
        full = f"{header.version}-{header.release}" if header.release else header.version
        qualifiers = [
            ("arch", header.arch),
            ("epoch", str(header.epoch) if header.epoch is not None else ""),
            ("upstream", header.source_rpm),
        ]
        found.append(
            distro_package(
                "rpm",
                header.name,
                f"{header.epoch}:{full}" if header.epoch is not None else full,
                qualifiers,
                distro=distro,
                namespace="redhat",
                location=location,
                purl_version=full,
                license=header.license,
                supplier=header.vendor,
                source=header.source_rpm,
                arch=header.arch,
            )
        )
    return found


__all__ = [
    "OTHER_PATHS",
    "SQLITE_PATHS",
    "RpmHeader",
    "RpmHeaderError",
    "packages",
    "parse_header",
    "read_sqlite_headers",
]
