"""Media types of OCI and Docker manifests, configs and layers, and how they relate."""

from __future__ import annotations

from typing import Final

from boxwright.errors import UsageError

OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY: Final = "application/vnd.oci.empty.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_ND: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_ND_GZIP: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_ND_ZSTD: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_SCHEMA1: Final = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED: Final = "application/vnd.docker.distribution.manifest.v1+prettyjws"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER: Final = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_ZSTD: Final = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_FOREIGN_LAYER: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_FOREIGN_LAYER_TAR: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar"

INDEX_TYPES: Final = (OCI_INDEX, DOCKER_LIST)
"""The index types: an OCI index and a Docker manifest list."""
SCHEMA2_MANIFEST_TYPES: Final = (OCI_MANIFEST, DOCKER_MANIFEST)
"""The image manifests boxwright writes, the ones :class:`~.manifest.ImageManifest` models."""
IMAGE_MANIFEST_TYPES: Final = (*SCHEMA2_MANIFEST_TYPES, DOCKER_SCHEMA1, DOCKER_SCHEMA1_SIGNED)
"""Every image manifest read, Docker schema 1 included."""
MANIFEST_TYPES: Final = (*INDEX_TYPES, *IMAGE_MANIFEST_TYPES)
"""Everything a registry may return for a manifest request (the Accept list)."""

MANIFEST_FORMATS: Final = {"oci": OCI_MANIFEST, "docker": DOCKER_MANIFEST, "v2s2": DOCKER_MANIFEST}
"""Format names (``--format``) and the image manifest type each asks for: ``docker`` is
buildah's and podman's name for Docker schema 2, ``v2s2`` skopeo's."""


def format_name(name: str) -> str:
    """The name an image record keeps for format ``name`` (one of :data:`MANIFEST_FORMATS`):
    ``oci`` or ``docker`` (``v2s2`` too is ``docker``); :class:`UsageError` for another name."""
    manifest_type = MANIFEST_FORMATS.get(name)
    if manifest_type is None:
        expected = ", ".join(MANIFEST_FORMATS)
        raise UsageError(f"unknown image format {name!r}: expected one of {expected}")
    return "docker" if manifest_type == DOCKER_MANIFEST else "oci"


OCTET_STREAM: Final = "application/octet-stream"
"""The type of bytes with no more specific type (a blob whose kind is not known)."""

COMPRESSIONS: Final = ("gzip", "zstd", "none")
"""The compression names used across boxwright (``--dest-compress``, a layer's compression)."""

_LAYER_COMPRESSION: Final = {
    OCI_LAYER: "none",
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_ND: "none",
    OCI_LAYER_ND_GZIP: "gzip",
    OCI_LAYER_ND_ZSTD: "zstd",
    DOCKER_LAYER: "none",
    DOCKER_LAYER_GZIP: "gzip",
    DOCKER_LAYER_ZSTD: "zstd",
    DOCKER_FOREIGN_LAYER: "gzip",
    DOCKER_FOREIGN_LAYER_TAR: "none",
}

LAYER_TYPES: Final = frozenset(_LAYER_COMPRESSION)


def is_index(media_type: str) -> bool:
    """True for an OCI index or a Docker manifest list."""
    return media_type in INDEX_TYPES


def layer_compression(media_type: str) -> str | None:
    """The compression ("gzip", "zstd", "none") a layer media type declares, if it is known."""
    return _LAYER_COMPRESSION.get(media_type)


def oci_layer_type(compression: str, nondistributable: bool = False) -> str:
    """The OCI layer media type for ``compression``."""
    if nondistributable:
        return {"none": OCI_LAYER_ND, "gzip": OCI_LAYER_ND_GZIP, "zstd": OCI_LAYER_ND_ZSTD}[
            compression
        ]
    return {"none": OCI_LAYER, "gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD}[compression]


def docker_layer_type(compression: str, foreign: bool = False) -> str:
    """The Docker schema 2 layer media type for ``compression``."""
    if foreign:
        return {"none": DOCKER_FOREIGN_LAYER_TAR, "gzip": DOCKER_FOREIGN_LAYER}[compression]
    return {"none": DOCKER_LAYER, "gzip": DOCKER_LAYER_GZIP, "zstd": DOCKER_LAYER_ZSTD}[compression]


def is_nondistributable(media_type: str) -> bool:
    """True for OCI non-distributable and Docker foreign layers."""
    return media_type in (
        OCI_LAYER_ND,
        OCI_LAYER_ND_GZIP,
        OCI_LAYER_ND_ZSTD,
        DOCKER_FOREIGN_LAYER,
        DOCKER_FOREIGN_LAYER_TAR,
    )
