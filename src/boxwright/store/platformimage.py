"""The stored image a name gives for a platform (:func:`image_for_platform`): a FROM's, a
``run``'s and a ``container from``'s one lookup of a store name.

Apart from :mod:`boxwright.store.manifestops` (what ``boxwright manifest`` does to a list),
so a lookup that finds an image loads none of the list machinery: the store's manifest lists
are read only for a name no image has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright.errors import ImageNotFoundError, PlatformNotFoundError
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.index import ImageIndex, choose_instance

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform
    from boxwright.store.store import Store


def image_for_platform(store: Store, name: str, platform: Platform | None) -> str | None:
    """The ID of the stored image ``name`` gives for ``platform``, or None when the store has
    none for it: the one lookup of a store name that a platform is asked of (``run``,
    ``container from``, a build's ``FROM``).

    A manifest list of that name gives its instance for ``platform`` (default: this
    machine's), chosen as out of any index; an instance added from another reference is
    pulled from there. An image gives itself when its config's platform serves ``platform``
    (any platform when none is asked), else None.
    """
    listed = store.manifest_lists.find(name) if not store.images.exists(name) else None
    if listed is not None:
        entry = choose_instance(listed.index(mt.OCI_INDEX), platform)
        inst = listed.instance(entry.digest)
        if not inst.source:
            for record in store.images.list():
                if record.manifest == inst.digest:
                    return record.id
            raise ImageNotFoundError(
                f"the image {inst.digest} of manifest list {name} is no longer in the store"
            )
        from boxwright.store.pulling import pull_into  # the copy pipeline: only for this

        wanted = platform or entry.platform
        return pull_into(store, inst.source, platform=wanted, name="").id
    if not store.images.exists(name):
        return None
    record = store.images.get(name)
    if platform is None:
        return record.id
    config = store.images.config(record)
    one = ImageIndex.build(
        mt.OCI_INDEX,
        [Descriptor(record.manifest_media_type, record.manifest, 1, platform=config.platform())],
    )
    try:
        one.select(platform)
    except PlatformNotFoundError:
        return None
    return record.id


__all__ = ["image_for_platform"]
