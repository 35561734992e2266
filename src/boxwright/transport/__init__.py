"""Transports: the places images live, each a source/destination pair (see ``base.py``).

Importing this package is cheap: the transport modules load when a reference of their kind is
opened (:func:`parse_transport_reference` → :meth:`TransportReference.open_source`). The names
below are re-exported lazily for library users.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "AtomicFile": "boxwright.transport.atomic",
    "BlobWriter": "boxwright.transport.atomic",
    "DirDestination": "boxwright.transport.dir",
    "DirSource": "boxwright.transport.dir",
    "DockerArchiveDestination": "boxwright.transport.docker_archive",
    "DockerArchiveSource": "boxwright.transport.docker_archive",
    "Image": "boxwright.transport.image",
    "ImageDestination": "boxwright.transport.base",
    "ImageSource": "boxwright.transport.base",
    "OCIArchiveDestination": "boxwright.transport.oci_archive",
    "OCILayoutDestination": "boxwright.transport.oci_layout",
    "OCILayoutSource": "boxwright.transport.oci_layout",
    "TransportReference": "boxwright.transport.reference",
    "atomic_write": "boxwright.transport.atomic",
    "open_image": "boxwright.transport.image",
    "parse_transport_reference": "boxwright.transport.reference",
}

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:
    from boxwright.transport.atomic import AtomicFile, BlobWriter, atomic_write
    from boxwright.transport.base import ImageDestination, ImageSource
    from boxwright.transport.dir import DirDestination, DirSource
    from boxwright.transport.docker_archive import DockerArchiveDestination, DockerArchiveSource
    from boxwright.transport.image import Image, open_image
    from boxwright.transport.oci_archive import OCIArchiveDestination
    from boxwright.transport.oci_layout import OCILayoutDestination, OCILayoutSource
    from boxwright.transport.reference import TransportReference, parse_transport_reference
