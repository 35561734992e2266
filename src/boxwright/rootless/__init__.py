"""Rootless modes: subordinate ID ranges, the store's user namespace, and entering it.

See :mod:`boxwright.rootless.namespace` and ``docs/rootless.md``. This package sits below
``transport/`` so every layer (the store, the runtime, podman's containers-storage) uses the
one reader of ``/etc/subuid`` and the one runner of ``newuidmap``/``newgidmap``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

__all__ = [
    "IDMapping",
    "IDRange",
    "StoreMode",
    "choose_mode",
    "current_mode",
    "ensure_store_namespace",
    "enter_store_namespace",
    "ranges_mapping",
    "read_store_mode",
    "rootless_mapping",
    "single_mapping",
    "stop_pause_process",
    "subordinate_ranges",
    "write_mapping_with_helpers",
]

__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:
    from boxwright.rootless.namespace import (
        StoreMode,
        choose_mode,
        current_mode,
        ensure_store_namespace,
        enter_store_namespace,
        read_store_mode,
        stop_pause_process,
    )
    from boxwright.rootless.ranges import (
        IDMapping,
        IDRange,
        ranges_mapping,
        rootless_mapping,
        single_mapping,
        subordinate_ranges,
        write_mapping_with_helpers,
    )
