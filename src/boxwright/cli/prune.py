"""The work of ``prune`` (:mod:`boxwright.cli.store` declares its flags): the images it
removes, their build cache entries, then what the store's garbage collection reclaims.
Imported when the command runs, with :mod:`boxwright.store.gc`.
"""

from __future__ import annotations

import sys

import click

from boxwright.build.cache import BuildCache
from boxwright.cli.localstore import existing_store
from boxwright.cli.output import emit_json, human_size
from boxwright.cli.sanitize import echo
from boxwright.store.gc import PruneResult, prune
from boxwright.store.removal import prune_images

PRUNE_WARNING = "WARNING! This command removes all dangling images."
PRUNE_ALL_WARNING = (
    "WARNING! This command removes all images without at least one container associated with them."
)


def prune_store(*, prune_all: bool, force: bool, fmt: str) -> None:
    """Remove dangling images (every image no container uses with ``prune_all``), their build
    cache entries, then what nothing references; print what went and the space it freed."""
    if not force and sys.stdin.isatty():
        click.echo(PRUNE_ALL_WARNING if prune_all else PRUNE_WARNING)
        if not click.confirm("Are you sure you want to continue?", default=False):
            return
    store = existing_store()
    removed: list[str] = []
    cache_entries = 0
    if store is None:
        result = PruneResult(blobs=0, snapshots=0, bytes=0, tmp=0)
    else:
        removed = prune_images(store, all=prune_all)
        cache_entries = BuildCache(store).prune()
        result = prune(store)
    if fmt == "json":
        emit_json(
            {
                "images": removed,
                "cache_entries": cache_entries,
                "blobs": result.blobs,
                "snapshots": result.snapshots,
                "tmp": result.tmp,
                "containers": result.containers,
                "bytes": result.bytes,
            }
        )
        return
    for image_id in removed:
        echo(image_id)
    echo(
        f"Removed {result.blobs} blobs, {result.snapshots} snapshots, "
        f"{result.tmp} temporary entries"
        + (f", {result.containers} orphaned container directories" if result.containers else "")
    )
    echo(f"Total reclaimed space: {human_size(result.bytes)}")


__all__ = ["PRUNE_ALL_WARNING", "PRUNE_WARNING", "prune_store"]
