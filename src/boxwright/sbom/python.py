"""Python distributions: the ``METADATA`` of ``*.dist-info`` directories (wheels, pip) and the
``PKG-INFO`` of ``*.egg-info`` directories or files (setuptools, distutils, Debian's
python3-* packages), wherever they are in the image.

The core metadata fields (``Name``, ``Version``, ``License-Expression`` or ``License``,
``Author``) are RFC 822 headers, read with the standard library's email parser.
"""

from __future__ import annotations

from email.parser import HeaderParser

from boxwright.sbom.model import Package
from boxwright.sbom.purl import purl


def is_metadata(path: str) -> bool:
    """Whether ``path`` is the metadata file of an installed distribution."""
    parent, _, base = path.rpartition("/")
    directory = parent.rpartition("/")[2]
    if base == "METADATA":
        return directory.endswith(".dist-info")
    if base == "PKG-INFO":
        return directory.endswith(".egg-info")
    return base.endswith(".egg-info")


def parse_metadata(data: bytes, location: str) -> list[Package]:
    """The one distribution a metadata file describes (none when it names no version)."""
    headers = HeaderParser().parsestr(data.decode("utf-8", "replace"), headersonly=True)
    name = (headers.get("Name") or "").strip()
    version = (headers.get("Version") or "").strip()
    if not name or not version:
        return []
    license_text = (headers.get("License-Expression") or headers.get("License") or "").strip()
    licenses = (license_text,) if license_text and "\n" not in license_text else ()
    if license_text == "UNKNOWN":
        licenses = ()
    author = (headers.get("Author") or headers.get("Author-email") or "").strip()
    return [
        Package(
            name=name,
            version=version,
            type="python",
            purl=purl("pypi", name, version),
            location="/" + location,
            licenses=licenses,
            supplier=author,
        )
    ]


__all__ = ["is_metadata", "parse_metadata"]
