"""boxwright: a daemonless, rootless toolkit for OCI container images.

The library face: everything the ``boxwright`` command does is a function or class here. ::

    import boxwright

    image = boxwright.inspect_image("oci:examples/hello:latest")
    boxwright.copy_image("oci:examples/hello:latest", "docker-archive:/tmp/hello.tar")
    boxwright.unpack_image("oci:examples/hello:latest", "/tmp/hello")

Names are re-exported lazily (PEP 562): ``import boxwright`` loads nothing but this file, and
each name imports its module on first access, so the command line starts fast. Every error is a
subclass of :class:`BoxwrightError` (the tree is drawn in :mod:`boxwright.errors`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

# The public names, each imported once in the TYPE_CHECKING block below, where lazy_package
# (boxwright._lazy) finds its module; the two lists, and this file's shape, are the one way
# every package here re-exports lazily.
# boxwright offers every error class at its top, so the names of errors.__all__ stand here too.
__all__ = [
    "AmbiguousImageError",
    "AuthenticationError",
    "BlobNotFoundError",
    "BoxwrightError",
    "BuildContextError",
    "BuildError",
    "CompressionError",
    "ConfigError",
    "ContainerNotFoundError",
    "ContainerfileError",
    "CopyOptions",
    "CopyResult",
    "CredentialsRefusedError",
    "Descriptor",
    "Digest",
    "DigestError",
    "DigestMismatchError",
    "ExplainReport",
    "HistoryOptions",
    "Image",
    "ImageConfig",
    "ImageDestination",
    "ImageDiff",
    "ImageIndex",
    "ImageManifest",
    "ImageNotFoundError",
    "ImageSource",
    "InspectInfo",
    "InvalidIDError",
    "InvalidReferenceError",
    "LayerError",
    "ManifestError",
    "NotRegularFileError",
    "Platform",
    "PlatformNotFoundError",
    "PolicyRejectedError",
    "Reference",
    "RegistryError",
    "RepackResult",
    "RunError",
    "RunOptions",
    "RunStepError",
    "SbomError",
    "Schema1Manifest",
    "SignatureError",
    "StalledTransferError",
    "Store",
    "StoreError",
    "TLSError",
    "TransportError",
    "TransportReference",
    "UnpackError",
    "UnpackResult",
    "UnsafePathError",
    "UnsupportedMediaTypeError",
    "UsageError",
    "VolumeNotFoundError",
    "__version__",
    "apply_layer",
    "copy_image",
    "diff_images",
    "errors",
    "explain_image",
    "generate_layer",
    "inspect_image",
    "open_image",
    "open_store",
    "parse_manifest",
    "parse_transport_reference",
    "repack_image",
    "run_in_rootfs",
    "unpack_image",
]


__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:  # what type checkers and IDEs see; nothing of this runs at import time
    from boxwright import errors
    from boxwright._version import __version__
    from boxwright.copy import CopyOptions, CopyResult, copy_image
    from boxwright.errors import (
        AmbiguousImageError,
        AuthenticationError,
        BlobNotFoundError,
        BoxwrightError,
        BuildContextError,
        BuildError,
        CompressionError,
        ConfigError,
        ContainerfileError,
        ContainerNotFoundError,
        CredentialsRefusedError,
        DigestError,
        DigestMismatchError,
        ImageNotFoundError,
        InvalidIDError,
        InvalidReferenceError,
        LayerError,
        ManifestError,
        NotRegularFileError,
        PlatformNotFoundError,
        PolicyRejectedError,
        RegistryError,
        RunError,
        RunStepError,
        SbomError,
        SignatureError,
        StalledTransferError,
        StoreError,
        TLSError,
        TransportError,
        UnpackError,
        UnsafePathError,
        UnsupportedMediaTypeError,
        UsageError,
        VolumeNotFoundError,
    )
    from boxwright.explain import ExplainReport, ImageDiff, diff_images, explain_image
    from boxwright.inspect import InspectInfo, inspect_image
    from boxwright.layer.apply import apply_layer
    from boxwright.layer.generate import generate_layer
    from boxwright.oci.config import ImageConfig
    from boxwright.oci.descriptor import Descriptor
    from boxwright.oci.digest import Digest
    from boxwright.oci.index import ImageIndex
    from boxwright.oci.manifest import ImageManifest
    from boxwright.oci.parse import parse_manifest
    from boxwright.oci.platform import Platform
    from boxwright.oci.reference import Reference
    from boxwright.oci.schema1 import Schema1Manifest
    from boxwright.runtime import RunOptions, run_in_rootfs
    from boxwright.store.store import Store, open_store
    from boxwright.transport.base import ImageDestination, ImageSource
    from boxwright.transport.image import Image, open_image
    from boxwright.transport.reference import TransportReference, parse_transport_reference
    from boxwright.unpack import (
        HistoryOptions,
        RepackResult,
        UnpackResult,
        repack_image,
        unpack_image,
    )
