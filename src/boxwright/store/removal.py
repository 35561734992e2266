"""Removing images as podman's ``rmi`` and ``image prune`` do.

:func:`remove_image` is ``podman rmi``: forced, it first removes the working containers made
from the image (their files and records), then the image. :func:`prune_images` is ``podman
image prune``: the dangling images (no name, nothing built on them), again and again until
none is left (removing an image can leave the one below it dangling); with ``all``, every
image no working container was made from. Manifest lists are images to podman, and are
removed by the same rules (a list is dangling when it has no name). Blobs and snapshots stay until
:func:`~boxwright.store.gc.prune`, which the command line runs after these.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from boxwright.store.store import Store


def _container_users(store: Store) -> dict[str, list[str]]:
    """Image ID → names of the working containers made from it."""
    if not store.layout.containers_file.exists():
        return {}
    users: dict[str, list[str]] = {}
    for container in store.containers.list():
        if container.image_id:
            users.setdefault(container.image_id, []).append(container.name)
    return users


def remove_image(store: Store, name_or_id: str, *, force: bool = False) -> list[str]:
    """Remove an image as ``podman rmi`` does; the lines podman prints (``Untagged:``,
    ``Deleted:``). Without ``force`` the rules of :meth:`~boxwright.store.images.ImageStore
    .remove` hold; with it, the containers using the image go first, then the image with
    all its names. A name or ID of a manifest list (and of no image) removes the list the same
    way: by one of several names only that name goes."""
    if not store.images.exists(name_or_id) and store.manifest_lists.find(name_or_id):
        return store.manifest_lists.untag_or_remove(name_or_id)
    if force:
        record, matched = store.images.resolve(name_or_id)
        if matched is None or len(record.names) <= 1:
            for container in _container_users(store).get(record.id, []):
                store.containers.remove(container)
    return store.images.remove(name_or_id, force=force)


def remove_all_images(store: Store, *, force: bool = False) -> list[str]:
    """``podman rmi -a``: every image, each as :func:`remove_image` removes it by ID, then
    every manifest list."""
    lines: list[str] = []
    for record in store.images.list():
        if store.images.exists(record.id):
            lines += remove_image(store, record.id, force=force)
    for listed in store.manifest_lists.list():
        lines += store.manifest_lists.untag_or_remove(listed.id)
    return lines


def prune_images(store: Store, *, all: bool = False) -> list[str]:
    """Remove the dangling images (with ``all``: every image no container uses); return the
    IDs removed, in the order they went. Manifest lists go as podman's prune removes them:
    the dangling ones (no name left), and with ``all`` every list; first, so the images only
    they named are pruned in the same call."""
    removed: list[str] = []
    for listed in store.manifest_lists.list():
        if all or not listed.names:
            store.manifest_lists.untag_or_remove(listed.id)
            removed.append(listed.id)
    while True:
        records = store.images.list()
        used = _container_users(store)
        if all:
            doomed = [r for r in records if r.id not in used]
        else:
            hidden = store.images.intermediate_ids(records)
            doomed = [r for r in records if not r.names and r.id not in hidden and r.id not in used]
        if not doomed:
            return removed
        for record in doomed:
            store.images.remove(record.id, force=True)
            removed.append(record.id)
        if all:
            return removed


__all__ = ["prune_images", "remove_all_images", "remove_image"]
