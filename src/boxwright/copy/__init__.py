"""The copy pipeline: move an image from any source to any destination.

:func:`copy_image` is the entry point; :class:`CopyOptions` says how, :class:`CopyResult`
says what happened, and :class:`ProgressEvent` values report progress along the way. The
steps are documented in :mod:`boxwright.copy.pipeline`.

Names are re-exported lazily (PEP 562): ``boxwright copy --help``, or a caller that needs only
the progress events, does not load the pipeline (its thread pool, blob mover and models).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

# The public names, each imported once in the TYPE_CHECKING block below, where lazy_package
# (boxwright._lazy) finds its module; the two lists, and this file's shape, are the one way
# every package here re-exports lazily.
__all__ = [
    "DEFAULT_PARALLEL",
    "CopiedImage",
    "CopyOptions",
    "CopyResult",
    "ProgressCallback",
    "ProgressEvent",
    "copy_image",
]

__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:
    from boxwright.copy.pipeline import (
        DEFAULT_PARALLEL,
        CopiedImage,
        CopyOptions,
        CopyResult,
        copy_image,
    )
    from boxwright.copy.progress import ProgressCallback, ProgressEvent
