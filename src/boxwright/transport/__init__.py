"""Transports: the places images live, each a source/destination pair (see ``base.py``).

Importing this package is cheap: the transport modules load when a reference of their kind is
opened (:func:`parse_transport_reference` → :meth:`TransportReference.open_source`). The names
below are re-exported lazily for library users.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

# The public names, each imported once in the TYPE_CHECKING block below, where lazy_package
# (boxwright._lazy) finds its module; the two lists, and this file's shape, are the one way
# every package here re-exports lazily.
__all__ = [
    "AtomicFile",
    "BlobWriter",
    "DirDestination",
    "DirSource",
    "DockerArchiveDestination",
    "DockerArchiveSource",
    "Image",
    "ImageDestination",
    "ImageSource",
    "OCIArchiveDestination",
    "OCILayoutDestination",
    "OCILayoutSource",
    "TransportReference",
    "atomic_write",
    "open_image",
    "parse_transport_reference",
]


__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:
    from boxwright.transport.atomic import AtomicFile, BlobWriter, atomic_write
    from boxwright.transport.base import ImageDestination, ImageSource
    from boxwright.transport.dir import DirDestination, DirSource
    from boxwright.transport.docker_archive import DockerArchiveDestination, DockerArchiveSource
    from boxwright.transport.image import Image, open_image
    from boxwright.transport.oci_archive import OCIArchiveDestination
    from boxwright.transport.oci_layout import OCILayoutDestination, OCILayoutSource
    from boxwright.transport.reference import TransportReference, parse_transport_reference
