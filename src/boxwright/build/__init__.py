"""Step-by-step builds: the :class:`Builder` (buildah's verbs as a Python object), the config
changes of ``container config`` (:class:`ConfigChanges`, :func:`apply_changes`) and the
copy/add file rules (:mod:`boxwright.build.files`), and Containerfile builds
(:func:`build` with :class:`BuildOptions`, see :mod:`boxwright.build.executor`).

Names are re-exported lazily (PEP 562), so importing this package loads nothing heavy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

# The public names, each imported once in the TYPE_CHECKING block below, where lazy_package
# (boxwright._lazy) finds its module; the two lists, and this file's shape, are the one way
# every package here re-exports lazily.
__all__ = [
    "BuildEvent",
    "BuildOptions",
    "BuildResult",
    "Builder",
    "ConfigChanges",
    "CopyResult",
    "apply_annotations",
    "apply_changes",
    "build",
]

__getattr__, __dir__ = lazy_package(globals())

if TYPE_CHECKING:
    from boxwright.build.builder import Builder
    from boxwright.build.configedit import ConfigChanges, apply_annotations, apply_changes
    from boxwright.build.context import BuildEvent, BuildOptions, BuildResult
    from boxwright.build.executor import build
    from boxwright.build.files import CopyResult
