"""Decisions of the copy pipeline: which manifest type to write and how to compress each layer.

Each decision is a small pure function, so it can be read and tested on its own, following
containers/image: the manifest type is the source's when the destination stores it (or what
``--format`` asks for), else the destination's preferred one; a layer is recompressed when
``--dest-compress`` or the destination asks for another compression than it has, or when its
compression cannot be expressed in the target manifest type (zstd in Docker schema 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from boxwright.errors import UsageError
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.mediatype import COMPRESSIONS
from boxwright.oci.mediatype import MANIFEST_FORMATS as FORMATS

_CONFIG_TYPE: Final = {mt.OCI_MANIFEST: mt.OCI_CONFIG, mt.DOCKER_MANIFEST: mt.DOCKER_CONFIG}
_INDEX_TYPE: Final = {mt.OCI_MANIFEST: mt.OCI_INDEX, mt.DOCKER_MANIFEST: mt.DOCKER_LIST}


def choose_manifest_type(source_type: str, supported: Sequence[str], fmt: str | None) -> str:
    """The media type the destination gets for an image whose manifest is ``source_type``.

    ``fmt`` (a name of :data:`FORMATS` or None) is ``--format``, which wins over what the
    destination says it prefers (as in containers/image, where a forced type replaces the
    destination's list). Without it the source's type is kept when the destination stores
    it, else the destination's first (preferred) type is used.
    """
    if fmt is not None:
        wanted = FORMATS.get(fmt)
        if wanted is None:
            expected = ", ".join(FORMATS)
            raise UsageError(f"unknown manifest format {fmt!r}: expected one of {expected}")
        return wanted
    image_types = [t for t in supported if t in _CONFIG_TYPE] or [mt.OCI_MANIFEST]
    if source_type in image_types:
        return source_type
    return image_types[0]


def index_type_for(source_index_type: str, fmt: str | None, supported: Sequence[str]) -> str:
    """The index media type to write.

    It follows ``--format`` when given (an OCI index for ``oci``, a Docker manifest list for
    ``v2s2``), else stays the source's unless the destination cannot store that type.
    """
    if fmt is not None:
        return _INDEX_TYPE[FORMATS[fmt]]
    if source_index_type in supported or not supported:
        return source_index_type
    other = mt.DOCKER_LIST if source_index_type == mt.OCI_INDEX else mt.OCI_INDEX
    return other if other in supported else source_index_type


def layer_target_compression(
    layer: Descriptor,
    manifest_type: str,
    dest_compress: str | None,
    required: str | None,
) -> str | None:
    """The compression a layer must be rewritten to, or None to copy its bytes unchanged.

    ``dest_compress`` (``--dest-compress``) wins over the destination's ``required``
    compression. Layers of unknown media types (artifacts) are never rewritten. A zstd layer
    going into a Docker schema 2 manifest, which has no zstd layer type, is recompressed to
    gzip as skopeo does; asking for zstd in schema 2 explicitly is an error.
    """
    current = mt.layer_compression(layer.media_type)
    if current is None:
        return None
    want = dest_compress if dest_compress is not None else required
    if want is not None and want not in COMPRESSIONS:
        raise UsageError(f"unknown compression {want!r}: expected one of gzip, zstd, none")
    if manifest_type == mt.DOCKER_MANIFEST:
        if want == "zstd":
            raise UsageError(
                "Docker schema 2 manifests cannot hold zstd layers: use --format oci "
                "or another --dest-compress"
            )
        if want is None and current == "zstd":
            want = "gzip"
    if want is None or want == current:
        return None
    return want


def recompressed_layer_type(source_type: str, manifest_type: str, compression: str) -> str:
    """The media type of a layer recompressed to ``compression``, named for ``manifest_type``.

    Non-distributable (foreign) layers stay non-distributable; the manifest conversion that
    follows (:meth:`ImageManifest.convert`) accepts names of either family.
    """
    special = mt.is_nondistributable(source_type)
    if manifest_type == mt.DOCKER_MANIFEST:
        return mt.docker_layer_type(compression, foreign=special and compression != "zstd")
    return mt.oci_layer_type(compression, nondistributable=special)


__all__ = [
    "COMPRESSIONS",
    "FORMATS",
    "choose_manifest_type",
    "index_type_for",
    "layer_target_compression",
    "recompressed_layer_type",
]
