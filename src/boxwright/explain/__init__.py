"""Reports on images: what each layer holds, how history maps to layers, what is wasted.

:mod:`boxwright.explain.layerfiles` reads layers entry by entry and merges them into the
final filesystem; :func:`explain_image` builds the report ``boxwright explain`` prints.
"""

from __future__ import annotations

from boxwright.explain.ci import CiResult, CiRules, evaluate
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

__all__ = [
    "CiResult",
    "CiRules",
    "ConfigSummary",
    "ExplainReport",
    "FileEntry",
    "FileSystemView",
    "HistoryRow",
    "LayerChanges",
    "LayerFileReport",
    "LayerFiles",
    "LayerInfo",
    "Offender",
    "PathStep",
    "Shadowed",
    "Waste",
    "clean_instruction",
    "evaluate",
    "explain",
    "explain_image",
    "image_layer_files",
    "read_layer_files",
]
