"""Switching a store between the rootless modes (``boxwright system migrate --userns MODE``).

A store's mode decides who owns its unpacked files on disk (:mod:`boxwright.rootless.namespace`):
the subordinate IDs in ranges mode, the user with a side record in single mode. Blobs and
records are the user's own in both, so switching keeps every image: it removes what was
unpacked in the old mode (the snapshots, rebuilt from the verified blobs on next use, and
the staging directory), from inside the old mode's namespace where those files can be
removed, then records the new mode. Working containers hold changes no blob has: switching
refuses while there are any, unless ``force`` removes them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from boxwright.errors import StoreError
from boxwright.layer.pathsafe import remove_tree
from boxwright.rootless.namespace import (
    StoreMode,
    choose_mode,
    enter_store_namespace,
    write_store_mode,
)
from boxwright.store.store import Store


@dataclass(frozen=True)
class Migration:
    """What a switch did: the modes, and how many containers and snapshots it removed."""

    old: str
    new: str
    containers: int
    snapshots: int


def switch_mode(root: Path | str | None, mode: str, *, force: bool = False) -> Migration:
    """Make the store at ``root`` use ``mode`` (``ranges`` or ``single``); see the module doc."""
    if mode not in ("ranges", "single"):
        raise StoreError(f"a store can be switched to ranges or single, not {mode!r}")
    store = Store(root)
    old = enter_store_namespace(store.root, "auto")
    if old == "root":
        raise StoreError("root's store has no rootless mode to switch")
    target = choose_mode_for(store.root, mode)
    records = store.containers.list()
    if records and not force:
        raise StoreError(
            f"the store at {store.root} has {len(records)} working container(s), whose "
            "changes switching would lose: commit or remove them, or pass --force"
        )
    with store.writing():
        for record in records:
            store.containers.remove(record.id)
        snapshots = 0
        with os.scandir(store.layout.snapshots_dir) as entries:
            for entry in list(entries):
                remove_tree(entry.path)
                snapshots += 1
        with os.scandir(store.layout.tmp_dir) as entries:
            for entry in list(entries):
                remove_tree(entry.path)
        (store.root / "overlay-probe.json").unlink(missing_ok=True)
        write_store_mode(store.root, target)
    return Migration(old, mode, len(records), snapshots)


def choose_mode_for(root: Path, mode: str) -> StoreMode:
    """The record for ``mode`` as a new store would get it (ranges: the user's mapping now)."""
    probe = root / ".mode-probe"  # a path with no store: choose_mode's choice for a new one
    return choose_mode(probe, mode)


__all__ = ["Migration", "choose_mode_for", "switch_mode"]
