"""Layer tar streams: compression, one-pass digests, applying and generating layers.

Read side: :func:`detect_compression`, :func:`decompress`, :func:`auto_decompress`,
:class:`LayerReader` (diff_id verified at EOF) and :func:`apply_layer` (OCI whiteouts, links,
devices, xattrs, owners, modes, mtimes; hostile-input safe; rootless with an
:class:`OwnershipRecord`). Write side: :class:`Snapshot`, :func:`generate_layer` (a
deterministic tar of what changed), :class:`TarWriter`, :class:`LayerWriter` (digest and
diff_id in one pass), :func:`compress_writer` and :class:`CompressingReader`.

Names are re-exported lazily (PEP 562): importing one module of this package (say
``boxwright.layer.compression`` on the copy path) loads neither the others (apply, generate,
snapshot) nor the codecs (isal, zstandard) and tarfile, so the command line starts fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

# The public names, each imported once in the TYPE_CHECKING block below, where lazy_package
# (boxwright._lazy) finds its module; the two lists, and this file's shape, are the one way
# every package here re-exports lazily.
__all__ = [
    "ApplyOptions",
    "ApplyResult",
    "CompressWriter",
    "CompressingReader",
    "GenerateOptions",
    "GenerateResult",
    "Intended",
    "LayerDigests",
    "LayerReader",
    "LayerWriter",
    "OwnershipEntry",
    "OwnershipRecord",
    "RootDir",
    "Snapshot",
    "SnapshotEntry",
    "TarHeader",
    "TarWriter",
    "apply_layer",
    "apply_layers",
    "auto_decompress",
    "clean_entry_name",
    "compress_writer",
    "decompress",
    "detect_compression",
    "generate_layer",
    "mkdir_parents_in_root",
    "remove_tree",
    "resolve_in_root",
    "tree_layer",
]


__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:  # what type checkers and IDEs see; nothing of this runs at import time
    from boxwright.layer.apply import ApplyOptions, ApplyResult, apply_layer, apply_layers
    from boxwright.layer.compression import (
        CompressingReader,
        CompressWriter,
        auto_decompress,
        compress_writer,
        decompress,
        detect_compression,
    )
    from boxwright.layer.generate import (
        GenerateOptions,
        GenerateResult,
        generate_layer,
        tree_layer,
    )
    from boxwright.layer.ownership import Intended, OwnershipEntry, OwnershipRecord
    from boxwright.layer.pathsafe import (
        RootDir,
        clean_entry_name,
        mkdir_parents_in_root,
        remove_tree,
        resolve_in_root,
    )
    from boxwright.layer.snapshot import Snapshot, SnapshotEntry
    from boxwright.layer.streams import LayerDigests, LayerReader, LayerWriter
    from boxwright.layer.tarwriter import TarHeader, TarWriter
