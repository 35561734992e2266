"""npm packages: the ``package.json`` of each package installed under a ``node_modules``
directory (``node_modules/NAME/package.json``, ``node_modules/@SCOPE/NAME/package.json``, at
any depth of nesting)."""

from __future__ import annotations

import json

from boxwright.sbom.model import Package
from boxwright.sbom.purl import purl


def is_manifest(path: str) -> bool:
    """Whether ``path`` is the ``package.json`` of a package in a ``node_modules`` tree."""
    parts = path.split("/")
    if len(parts) < 3 or parts[-1] != "package.json":
        return False
    if parts[-3] == "node_modules":
        return not parts[-2].startswith((".", "@"))
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@")


def _license(value: object) -> tuple[str, ...]:
    if isinstance(value, str) and value:
        return (value,)
    if isinstance(value, dict) and isinstance(value.get("type"), str):
        return (value["type"],)
    if isinstance(value, list):
        return tuple(item for entry in value for item in _license(entry))
    return ()


def _author(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("name"), str):
        return str(value["name"])
    return ""


def parse_manifest(data: bytes, location: str) -> list[Package]:
    """The package a ``package.json`` describes (none when it is not JSON or names no
    version)."""
    try:
        doc = json.loads(data)
    except ValueError:
        return []
    if not isinstance(doc, dict):
        return []
    name, version = doc.get("name"), doc.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return []
    scope, _, short = name.rpartition("/")
    return [
        Package(
            name=name,
            version=version,
            type="npm",
            purl=purl("npm", short, version, scope),
            location="/" + location,
            licenses=_license(doc.get("license", doc.get("licenses"))),
            supplier=_author(doc.get("author")),
        )
    ]


__all__ = ["is_manifest", "parse_manifest"]
