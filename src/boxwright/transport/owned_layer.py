"""The uncompressed layer stream :meth:`Image.open_layer_uncompressed` hands out.

A module of its own so that :mod:`boxwright.transport.image` need not import
:mod:`boxwright.layer.streams` (and the codecs behind it) at start-up: ``inspect`` and ``copy``
never decompress a layer, ``unpack`` loads this on its first layer.
"""

from __future__ import annotations

from boxwright.layer.streams import LayerReader
from boxwright.oci.digest import Digest
from boxwright.oci.readers import Reader


class OwnedLayerReader(LayerReader):
    """A :class:`LayerReader` that also closes the blob stream it decompresses."""

    def __init__(self, stream: Reader, compression: str | None, diff_id: Digest) -> None:
        super().__init__(stream, compression, diff_id)
        self._owned = stream

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._owned.close()


__all__ = ["OwnedLayerReader"]
