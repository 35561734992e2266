"""The pure OCI/Docker image model: bytes in, objects out, no I/O.

Digests, media types, descriptors, platforms, image manifests (OCI and Docker schema 2),
indexes (OCI index and Docker manifest list), Docker schema 1, image configs, image
references and runtime specs. Every parsed document keeps its exact raw bytes, and its
digest is the digest of those bytes.

Names are re-exported lazily (PEP 562): importing one module of this package (say
``boxwright.oci.digest`` on the copy path) does not load the others (configs, schema 1,
references, runtime specs), so the command line starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_exports

#: Public name → module that defines it.
_EXPORTS: dict[str, str] = {
    "AnyManifest": "boxwright.oci.parse",
    "ContainerConfig": "boxwright.oci.config",
    "Descriptor": "boxwright.oci.descriptor",
    "Digest": "boxwright.oci.digest",
    "HashingReader": "boxwright.oci.digest",
    "HistoryEntry": "boxwright.oci.config",
    "ImageConfig": "boxwright.oci.config",
    "ImageIndex": "boxwright.oci.index",
    "ImageManifest": "boxwright.oci.manifest",
    "Platform": "boxwright.oci.platform",
    "Reference": "boxwright.oci.reference",
    "Schema1Manifest": "boxwright.oci.schema1",
    "UserSpec": "boxwright.oci.ids",
    "VerifyingReader": "boxwright.oci.digest",
    "check_id": "boxwright.oci.ids",
    "digest_of_stream": "boxwright.oci.digest",
    "guess_media_type": "boxwright.oci.parse",
    "parse_manifest": "boxwright.oci.parse",
    "parse_normalized": "boxwright.oci.reference",
    "parse_user_spec": "boxwright.oci.ids",
    "runtime_spec": "boxwright.oci.runtime_spec",
    "verify_bytes": "boxwright.oci.digest",
}

#: Submodules offered as attributes (``boxwright.oci.mediatype.OCI_INDEX``).
_SUBMODULES = frozenset({"mediatype"})

__all__ = [
    "AnyManifest",
    "ContainerConfig",
    "Descriptor",
    "Digest",
    "HashingReader",
    "HistoryEntry",
    "ImageConfig",
    "ImageIndex",
    "ImageManifest",
    "Platform",
    "Reference",
    "Schema1Manifest",
    "UserSpec",
    "VerifyingReader",
    "check_id",
    "digest_of_stream",
    "guess_media_type",
    "mediatype",
    "parse_manifest",
    "parse_normalized",
    "parse_user_spec",
    "runtime_spec",
    "verify_bytes",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals(), submodules=_SUBMODULES)


if TYPE_CHECKING:  # what type checkers and IDEs see; nothing of this runs at import time
    from boxwright.oci import mediatype
    from boxwright.oci.config import ContainerConfig, HistoryEntry, ImageConfig
    from boxwright.oci.descriptor import Descriptor
    from boxwright.oci.digest import (
        Digest,
        HashingReader,
        VerifyingReader,
        digest_of_stream,
        verify_bytes,
    )
    from boxwright.oci.ids import UserSpec, check_id, parse_user_spec
    from boxwright.oci.index import ImageIndex
    from boxwright.oci.manifest import ImageManifest
    from boxwright.oci.parse import AnyManifest, guess_media_type, parse_manifest
    from boxwright.oci.platform import Platform
    from boxwright.oci.reference import Reference, parse_normalized
    from boxwright.oci.runtime_spec import runtime_spec
    from boxwright.oci.schema1 import Schema1Manifest
