"""Image ⇄ directory, as umoci does it: unpack to a rootfs or OCI bundle, repack the changes.

:func:`unpack_image` applies an image's layers onto a new directory and records, beside the
rootfs, what :func:`repack_image` needs to append exactly the changes made since as one new
layer. See ``docs/unpack.md`` for where the state lives and how rootless ownership is kept.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

# The public names, each imported once in the TYPE_CHECKING block below, where lazy_package
# (boxwright._lazy) finds its module; the two lists, and this file's shape, are the one way
# every package here re-exports lazily.
__all__ = [
    "DEFAULT_CREATED_BY",
    "ExecUser",
    "HistoryOptions",
    "RepackResult",
    "UnpackProgress",
    "UnpackResult",
    "UnpackState",
    "locate_rootfs",
    "repack_image",
    "resolve_user",
    "state_dir_for",
    "unpack_image",
]

__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:
    from boxwright.unpack.repack import (
        DEFAULT_CREATED_BY,
        HistoryOptions,
        RepackResult,
        repack_image,
    )
    from boxwright.unpack.state import UnpackState, locate_rootfs, state_dir_for
    from boxwright.unpack.unpack import UnpackProgress, UnpackResult, unpack_image
    from boxwright.unpack.users import ExecUser, resolve_user
