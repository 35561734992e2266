"""Parse any manifest document into the right class, sniffing its type when needed.

A manifest read from a file (an OCI layout, ``dir:``, a docker archive) or served with a
generic Content-Type carries no trustworthy media type; :func:`guess_media_type` recovers
it from the content exactly as containers/image's ``manifest.GuessMIMEType`` does.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from boxwright.errors import ManifestError, UnsupportedMediaTypeError
from boxwright.oci import mediatype as mt
from boxwright.oci._json import load_object
from boxwright.oci.index import ImageIndex
from boxwright.oci.manifest import ImageManifest

if TYPE_CHECKING:
    from boxwright.oci.schema1 import Schema1Manifest

    AnyManifest = ImageManifest | ImageIndex | Schema1Manifest
else:

    def __getattr__(name: str) -> Any:
        """``AnyManifest``, built on first use: Docker schema 1 (and the image config it
        converts to) loads only when needed, keeping the copy and inspect start-up short."""
        if name == "AnyManifest":
            from boxwright.oci.schema1 import Schema1Manifest

            union = ImageManifest | ImageIndex | Schema1Manifest
            globals()[name] = union
            return union
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


GENERIC_TYPES = frozenset({"", "application/json", "text/plain", "application/octet-stream"})
"""Content types that say nothing about which manifest format a document is."""

_RECOGNIZED = frozenset({mt.DOCKER_MANIFEST, mt.DOCKER_LIST, mt.OCI_MANIFEST, mt.OCI_INDEX})


def _field(obj: dict[str, Any], key: str, kind: type) -> Any:
    """A field as Go's lenient struct decoding sees it: absent/null → zero value."""
    value = obj.get(key)
    if value is None:
        return kind()
    if not isinstance(value, kind) or isinstance(value, bool):
        raise TypeError(key)
    return value


def guess_media_type(raw: bytes) -> str:
    """The manifest media type ``raw`` appears to have, or ``""`` if it is not recognized."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return ""
    if not isinstance(obj, dict):
        return ""
    try:
        media_type = _field(obj, "mediaType", str)
        version = _field(obj, "schemaVersion", int)
    except TypeError:
        return ""
    if media_type in _RECOGNIZED:
        return str(media_type)
    if version == 1:
        return mt.DOCKER_SCHEMA1_SIGNED if obj.get("signatures") is not None else mt.DOCKER_SCHEMA1
    if version != 2:
        return ""
    try:
        config = _field(obj, "config", dict)
        config_type = _field(config, "mediaType", str)
        manifests = _field(obj, "manifests", list)
    except TypeError:
        return ""
    if config_type == mt.OCI_CONFIG:
        return mt.OCI_MANIFEST
    if config_type == mt.DOCKER_CONFIG:
        return mt.DOCKER_MANIFEST
    if manifests:
        # containers/image returns the config media type here when there is one (sic).
        return mt.OCI_INDEX if not config_type else str(config_type)
    # Most likely an OCI artifact with a custom config media type.
    return mt.OCI_MANIFEST


def parse_manifest(raw: bytes, media_type: str | None = None) -> AnyManifest:
    """Parse ``raw`` as the manifest ``media_type`` names, or as what it looks like.

    A missing or generic ``media_type`` (see :data:`GENERIC_TYPES`) means: sniff the content.
    """
    if media_type is None or media_type.split(";")[0].strip() in GENERIC_TYPES:
        load_object(raw, "manifest")  # a clear error for non-JSON before guessing
        guessed = guess_media_type(raw)
        if not guessed:
            raise ManifestError(
                "document is not a recognized manifest (no known mediaType or schemaVersion)"
            )
        return _parse_as(raw, guessed, explicit=False)
    return _parse_as(raw, media_type.split(";")[0].strip(), explicit=True)


def _parse_as(raw: bytes, media_type: str, *, explicit: bool) -> AnyManifest:
    given = media_type if explicit else None
    if media_type in (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST):
        return ImageManifest.parse(raw, given)
    if media_type in (mt.OCI_INDEX, mt.DOCKER_LIST):
        return ImageIndex.parse(raw, given)
    if media_type in (mt.DOCKER_SCHEMA1, mt.DOCKER_SCHEMA1_SIGNED):
        from boxwright.oci.schema1 import Schema1Manifest

        return Schema1Manifest.parse(raw, given)
    raise UnsupportedMediaTypeError(f"unsupported manifest media type {media_type!r}")


__all__ = ["GENERIC_TYPES", "AnyManifest", "guess_media_type", "parse_manifest"]
