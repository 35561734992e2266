"""Reports on images: what each layer holds, how history maps to layers, what is wasted.

:mod:`boxwright.explain.layerfiles` reads layers entry by entry and merges them into the
final filesystem; :func:`explain_image` builds the report ``boxwright explain`` prints and
:func:`diff_images` the comparison ``boxwright diff`` prints.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

# The public names, each imported once in the TYPE_CHECKING block below, where lazy_package
# (boxwright._lazy) finds its module; the two lists, and this file's shape, are the one way
# every package here re-exports lazily.
__all__ = [
    "CiResult",
    "CiRules",
    "ConfigSummary",
    "ExplainReport",
    "FileChange",
    "FileEntry",
    "FileSystemView",
    "FilesDiff",
    "HistoryRow",
    "ImageDiff",
    "LayerChanges",
    "LayerFileReport",
    "LayerFiles",
    "LayerInfo",
    "Offender",
    "PathStep",
    "Shadowed",
    "Waste",
    "clean_instruction",
    "diff_images",
    "evaluate",
    "explain",
    "explain_image",
    "image_layer_files",
    "read_layer_files",
]

__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:
    from boxwright.explain.ci import CiResult, CiRules, evaluate
    from boxwright.explain.diff import FileChange, FilesDiff, ImageDiff, diff_images
    from boxwright.explain.layerfiles import (
        FileEntry,
        FileSystemView,
        LayerChanges,
        LayerFiles,
        image_layer_files,
        read_layer_files,
    )
    from boxwright.explain.model import (
        ConfigSummary,
        ExplainReport,
        HistoryRow,
        LayerFileReport,
        LayerInfo,
        Offender,
        PathStep,
        Shadowed,
        Waste,
    )
    from boxwright.explain.report import explain, explain_image
    from boxwright.explain.walk import clean_instruction
