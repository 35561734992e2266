"""One layer blob applied as a snapshot diff: the unpacking half of
:mod:`boxwright.store.snapshots`.

The layer readers and the applier load only when a snapshot is missing; a run of a stored
image opens the snapshot store and applies nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from boxwright.layer.apply import ApplyOptions, apply_layer
from boxwright.layer.ownership import OwnershipRecord
from boxwright.layer.streams import LayerReader
from boxwright.oci.digest import Digest
from boxwright.oci.readers import Reader


def apply_blob(
    stream: Reader,
    diff_id: Digest,
    diff: Path,
    lowers: Sequence[tuple[Path, OwnershipRecord | None]],
    ownership: OwnershipRecord,
) -> tuple[int, int]:
    """Apply the layer read from ``stream`` (compressed or not; its uncompressed digest must
    be ``diff_id``) in overlay format into ``diff``, over ``lowers`` (top first), recording
    what cannot be written in ``ownership``. Returns the bytes of file content and the bytes
    of the layer's tar."""
    options = ApplyOptions(overlay=True, overlay_lowers=lowers, ownership=ownership)
    reader = LayerReader(stream, None, diff_id, threaded=True)
    try:
        result = apply_layer(diff, reader, options)
    finally:
        reader.close()
    return result.bytes, reader.uncompressed_size
