"""What an SBOM says about an image: its packages, its distribution, the files they came from.

Plain frozen dataclasses, no I/O. The document formats (:mod:`boxwright.sbom.spdx`,
:mod:`boxwright.sbom.cyclonedx`) are written from exactly these.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Distro:
    """The distribution ``/etc/os-release`` names: ``id`` (``"debian"``), ``version_id``
    (``"12"``), ``pretty_name``; empty strings where the file says nothing."""

    id: str
    version_id: str = ""
    pretty_name: str = ""

    @property
    def qualifier(self) -> str:
        """The purl ``distro`` qualifier as syft writes it: ``debian-12`` (``id`` alone when
        there is no version)."""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


@dataclass(frozen=True, slots=True)
class FileDigests:
    """A file of the image a package was read from, with its size and digests (SHA-1 is what
    SPDX 2.3 requires of every file; SHA-256 is what the rest of boxwright speaks)."""

    path: str
    size: int
    sha1: str
    sha256: str


@dataclass(frozen=True, slots=True)
class Package:
    """One package found in the image.

    ``type`` is syft's name for the ecosystem (``"deb"``, ``"apk"``, ``"rpm"``, ``"python"``,
    ``"npm"``, ``"go-module"``); ``purl`` its package URL (:mod:`boxwright.sbom.purl`);
    ``location`` the absolute path, in the image, of the file that lists it (the dpkg status
    file, a ``METADATA``, a ``package.json``, a Go binary). ``licenses`` are the declared
    licenses verbatim, ``supplier`` the maintainer or author, ``source`` the source package
    (deb, apk origin, rpm source rpm), ``arch`` the architecture a native package is built for.
    """

    name: str
    version: str
    type: str
    purl: str
    location: str
    licenses: tuple[str, ...] = ()
    supplier: str = ""
    source: str = ""
    arch: str = ""


@dataclass(frozen=True, slots=True)
class ImageSbom:
    """The packages of one image.

    ``reference`` is the reference it was opened by, ``digest`` its manifest digest,
    ``config_digest`` its image ID; ``files`` the digests of the files the packages were
    read from (by path); ``notes`` what was seen but could not be read, one line each
    (a Berkeley DB rpm database, a Go binary older than Go 1.18, a file over the size cap).
    """

    reference: str
    digest: str
    config_digest: str
    distro: Distro | None
    packages: tuple[Package, ...]
    files: tuple[FileDigests, ...] = ()
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """boxwright's own JSON form (``sbom --format json``)."""
        return {
            "reference": self.reference,
            "digest": self.digest,
            "configDigest": self.config_digest,
            "distro": None
            if self.distro is None
            else {
                "id": self.distro.id,
                "versionId": self.distro.version_id,
                "prettyName": self.distro.pretty_name,
            },
            "packages": [
                {
                    "name": p.name,
                    "version": p.version,
                    "type": p.type,
                    "purl": p.purl,
                    "location": p.location,
                    "licenses": list(p.licenses),
                    "supplier": p.supplier,
                    "source": p.source,
                    "arch": p.arch,
                }
                for p in self.packages
            ],
            "files": [
                {"path": f.path, "size": f.size, "sha1": f.sha1, "sha256": f.sha256}
                for f in self.files
            ],
            "notes": list(self.notes),
        }


__all__ = ["Distro", "FileDigests", "ImageSbom", "Package"]
