"""The copy pipeline: move an image from any source to any destination.

:func:`copy_image` is the entry point; :class:`CopyOptions` says how, :class:`CopyResult`
says what happened, and :class:`ProgressEvent` values report progress along the way. The
steps are documented in :mod:`boxwright.copy.pipeline`.
"""

from __future__ import annotations

from boxwright.copy.pipeline import (
    DEFAULT_PARALLEL,
    CopiedImage,
    CopyOptions,
    CopyResult,
    copy_image,
)
from boxwright.copy.progress import ProgressCallback, ProgressEvent

__all__ = [
    "DEFAULT_PARALLEL",
    "CopiedImage",
    "CopyOptions",
    "CopyResult",
    "ProgressCallback",
    "ProgressEvent",
    "copy_image",
]
