"""A Docker schema 1 image presented as Docker schema 2, as
:func:`boxwright.transport.image.open_image` presents one: each layer is measured once for its
size, compression and diff_id, and a config is generated from the schema 1 history.

Schema 1 comes only from old registries, so this module, with the layer streams it measures
with, is imported only when such a manifest is met.
"""

from __future__ import annotations

from typing import Final

from boxwright.errors import UnsupportedMediaTypeError
from boxwright.layer.streams import LayerReader
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.schema1 import Schema1Manifest
from boxwright.transport.base import ImageSource

UNKNOWN_SIZE: Final = -1
"""The size of a descriptor whose size is not known (schema 1 does not record sizes)."""


def as_schema2(source: ImageSource, parsed: object) -> tuple[Schema1Manifest, ImageManifest, bytes]:
    """The schema 1 manifest ``parsed`` (read from ``source``), its Docker schema 2
    manifest and the config that manifest names; :class:`UnsupportedMediaTypeError` when
    ``parsed`` is no schema 1 manifest either (then it is no image manifest at all)."""
    if not isinstance(parsed, Schema1Manifest):
        raise UnsupportedMediaTypeError(f"{source.name}: not an image manifest")
    measured: dict[Digest, tuple[Descriptor, Digest]] = {}
    layers: list[Descriptor] = []
    diff_ids: list[Digest] = []
    for digest in parsed.non_empty_layers():
        if digest not in measured:
            measured[digest] = _measure(source, digest)
        desc, diff_id = measured[digest]
        layers.append(desc)
        diff_ids.append(diff_id)
    config = parsed.to_config(diff_ids)
    config_desc = Descriptor(mt.DOCKER_CONFIG, Digest.from_bytes(config), len(config))
    return parsed, parsed.to_manifest(config_desc, layers, mt.DOCKER_MANIFEST), config


def _measure(source: ImageSource, digest: Digest) -> tuple[Descriptor, Digest]:
    """The descriptor (media type from the compression found, size) and diff_id of the
    layer blob ``digest``, read once."""
    probe = Descriptor(mt.DOCKER_LAYER_GZIP, digest, UNKNOWN_SIZE)
    with source.get_blob(probe) as blob:
        reader = LayerReader(blob)
        result = reader.result()
        reader.close()
    media_type = mt.docker_layer_type(result.compression)
    if result.compression == "zstd":
        raise UnsupportedMediaTypeError(
            f"schema 1 layer {digest} is zstd-compressed, which Docker images cannot carry"
        )
    return Descriptor(media_type, digest, result.size), result.diff_id


__all__ = ["as_schema2"]
