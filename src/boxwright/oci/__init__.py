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

from boxwright._lazy import lazy_package

# The public names, each imported once in the TYPE_CHECKING block below, where lazy_package
# (boxwright._lazy) finds its module; the two lists, and this file's shape, are the one way
# every package here re-exports lazily.
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


__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:  # what type checkers and IDEs see; nothing of this runs at import time
    from boxwright.oci import mediatype, runtime_spec
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
    from boxwright.oci.schema1 import Schema1Manifest
