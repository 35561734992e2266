"""Software bills of materials: the packages an image holds, read from the data package
managers leave in it (dpkg, apk, rpm's sqlite database, Python ``METADATA``, npm
``package.json``, Go build info), as boxwright's JSON, SPDX 2.3 JSON or CycloneDX 1.6 JSON.

:func:`image_sbom` reads an image in one pass over its layers (:mod:`boxwright.sbom.scan`);
:func:`render_sbom` writes one of the formats. The document libraries are imported only by
the writers that need them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

__all__ = [
    "FORMATS",
    "Distro",
    "FileDigests",
    "ImageSbom",
    "Package",
    "SbomFormatError",
    "image_sbom",
    "render_sbom",
    "scan_image",
]

__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:
    from boxwright.errors import SbomFormatError
    from boxwright.sbom.formats import FORMATS, render_sbom
    from boxwright.sbom.model import Distro, FileDigests, ImageSbom, Package
    from boxwright.sbom.scan import image_sbom, scan_image
