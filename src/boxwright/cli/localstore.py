"""The local store as the commands open it: ``--root`` (``$BOXWRIGHT_ROOT``), else the user's
default. The store package is imported when a command first opens the store, so no
command's ``--help`` loads it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright.config.paths import store_root

if TYPE_CHECKING:
    from boxwright.store.store import Store


def open_store(*, create: bool = False) -> Store:
    """The configured store; with ``create`` it is made when missing, else a missing store is
    :class:`~boxwright.errors.ImageNotFoundError`."""
    from boxwright.store.store import Store

    return Store(create=create)


def existing_store() -> Store | None:
    """The configured store, or None when it was never created: a command that lists, counts
    or prunes has nothing to do then, and creates no store to say so."""
    from boxwright.store.layout import StoreLayout

    if not StoreLayout(store_root()).exists():
        return None
    return open_store()


__all__ = ["existing_store", "open_store"]
