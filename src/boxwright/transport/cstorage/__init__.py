"""The ``containers-storage:`` transport: podman's and buildah's own image store.

``containers-storage:[[DRIVER@]ROOT[+RUNROOT][:OPTIONS]]NAME`` names an image of a
containers/storage store (see :mod:`.location` for the store a reference without a
specifier means, :mod:`.naming` for the image part). :mod:`.source` reads an image,
:mod:`.destination` writes one; :mod:`.records` knows the store's files, :mod:`.lockfile`
its locks, :mod:`.tarsplit` the tar-split records that keep each layer's digest. The overlay
and vfs drivers are read and written (:mod:`.drivers` lays a layer out for each).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# This package is the containers-storage: transport module itself (transport.reference's
# TRANSPORTS names it, and only a containers-storage: reference imports it), so it imports
# what open_source and open_destination use, as every transport module does; the packages
# that only re-export names do it through boxwright._lazy.
from boxwright.transport.cstorage.destination import ContainersStorageDestination
from boxwright.transport.cstorage.location import resolve
from boxwright.transport.cstorage.naming import StorageReference, parse
from boxwright.transport.cstorage.source import ContainersStorageSource

if TYPE_CHECKING:
    from boxwright.transport.options import TransportOptions
    from boxwright.transport.reference import TransportReference


def storage_reference(ref: TransportReference) -> StorageReference:
    """The parsed image part and store specifier of a ``containers-storage:`` reference."""
    return parse(ref.path, str(ref))


# open_source and open_destination: the TransportModule signature every transport module
# offers (transport.reference dispatches to them by transport name).
def open_source(
    ref: TransportReference, options: TransportOptions | None = None
) -> ContainersStorageSource:
    """Open a ``containers-storage:`` reference for reading (``options``: nothing applies)."""
    parsed = storage_reference(ref)
    return ContainersStorageSource(parsed, resolve(parsed.spec))


def open_destination(
    ref: TransportReference, options: TransportOptions | None = None
) -> ContainersStorageDestination:
    """Open a ``containers-storage:`` reference for writing (``options``: nothing applies)."""
    parsed = storage_reference(ref)
    return ContainersStorageDestination(parsed, resolve(parsed.spec))


__all__ = ["StorageReference", "open_destination", "open_source", "parse", "storage_reference"]
