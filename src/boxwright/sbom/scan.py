"""Reading an image's packages: one pass over its layers, nothing unpacked.

Each layer streams once through :func:`boxwright.explain.layerfiles.read_layer_files`; the
files package managers leave (dpkg's status, apk's installed database, the sqlite rpm
database, Python ``METADATA``/``PKG-INFO``, ``node_modules`` ``package.json``) are read as
they pass, and every executable ELF file is scanned for Go build info piece by piece. What a
file says is kept per path and replaced when a later layer writes the path again; at the end
the merged view of all layers (whiteouts and opaque directories applied, as ``unpack`` would)
decides which of them are still in the image: a status file a later layer deleted lists
nothing.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Final

from boxwright.explain.layerfiles import FileEntry, FileSystemView, LayerFiles, read_layer_files
from boxwright.oci.platform import Platform
from boxwright.sbom import apk, dpkg, golang, npm, osrelease, python, rpm
from boxwright.sbom.model import Distro, FileDigests, ImageSbom, Package
from boxwright.transport.image import layer_tars, open_image
from boxwright.transport.reference import parse_transport_reference

if TYPE_CHECKING:
    from boxwright.layer.tarread import TarReader
    from boxwright.transport.image import Image
    from boxwright.transport.options import TransportOptions

#: The largest metadata file read into memory (a dpkg status of a large image is a few MB).
MAX_METADATA: Final = 64 << 20
#: Executables smaller than this cannot hold a Go binary and are not scanned.
MIN_BINARY: Final = 1024

_SMALL: Final[tuple[tuple[str, Callable[[str], bool]], ...]] = (
    ("dpkg", dpkg.is_database),
    ("apk", lambda path: path == apk.INSTALLED),
    ("python", python.is_metadata),
    ("npm", npm.is_manifest),
    ("os-release", lambda path: path in osrelease.PATHS),
)


@dataclass
class _Found:
    """What one file of one layer said."""

    layer: int
    kind: str
    digests: FileDigests
    data: bytes = b""
    rpm_headers: list[rpm.RpmHeader] = field(default_factory=list)
    go: golang.BuildInfo | None = None
    note: str = ""


def _digests(path: str, size: int, sha1: hashlib._Hash, sha256: hashlib._Hash) -> FileDigests:
    return FileDigests("/" + path, size, sha1.hexdigest(), sha256.hexdigest())


class _Collector:
    """The ``on_file`` hook of one scan: keeps what each interesting file says."""

    def __init__(self, scratch: str) -> None:
        self.layer = 0
        self.found: dict[str, _Found] = {}
        self._scratch = scratch

    def __call__(self, entry: FileEntry, reader: TarReader) -> None:
        path = entry.path
        for kind, matches in _SMALL:
            if matches(path):
                self._small(kind, entry, reader)
                return
        if path in rpm.SQLITE_PATHS:
            self._rpm(entry, reader)
        elif path in rpm.OTHER_PATHS:
            self._keep(path, "note", entry, note="rpm database in Berkeley DB or ndb format")
        elif entry.mode & 0o111 and entry.size >= MIN_BINARY:
            self._binary(entry, reader)
        else:
            self.found.pop(path, None)

    def _keep(self, path: str, kind: str, entry: FileEntry, **what: object) -> None:
        empty = FileDigests("/" + path, entry.size, "", "")
        digests = what.pop("digests", empty)
        assert isinstance(digests, FileDigests)
        self.found[path] = _Found(self.layer, kind, digests, **what)  # type: ignore[arg-type]

    def _small(self, kind: str, entry: FileEntry, reader: TarReader) -> None:
        if entry.size > MAX_METADATA:
            self._keep(entry.path, "note", entry, note=f"larger than {MAX_METADATA} bytes")
            return
        data = reader.read_content(MAX_METADATA)
        digests = FileDigests(
            "/" + entry.path,
            len(data),
            hashlib.sha1(data, usedforsecurity=False).hexdigest(),
            hashlib.sha256(data).hexdigest(),
        )
        self._keep(entry.path, kind, entry, data=data, digests=digests)

    def _rpm(self, entry: FileEntry, reader: TarReader) -> None:
        sha1, sha256 = hashlib.sha1(usedforsecurity=False), hashlib.sha256()
        fd, name = tempfile.mkstemp(dir=self._scratch, suffix=".sqlite")
        try:
            with os.fdopen(fd, "wb") as out:
                for piece in reader.iter_content():
                    sha1.update(piece)
                    sha256.update(piece)
                    out.write(piece)
            digests = _digests(entry.path, entry.size, sha1, sha256)
            try:
                headers = rpm.read_sqlite_headers(name)
            except rpm.RpmHeaderError as exc:
                self._keep(entry.path, "note", entry, note=str(exc), digests=digests)
                return
            self._keep(entry.path, "rpm", entry, rpm_headers=headers, digests=digests)
        finally:
            os.unlink(name)

    def _binary(self, entry: FileEntry, reader: TarReader) -> None:
        self.found.pop(entry.path, None)
        content = reader.iter_content()
        first = next(content, None)
        if first is None or bytes(first[:4]) != golang.ELF_MAGIC:
            return  # the rest of the content is skipped by the reader
        scanner = golang.BuildInfoScanner()
        sha1, sha256 = hashlib.sha1(usedforsecurity=False), hashlib.sha256()
        for chunk in chain((first,), content):
            sha1.update(chunk)
            sha256.update(chunk)
            scanner.feed(chunk)
        digests = _digests(entry.path, entry.size, sha1, sha256)
        if scanner.result is not None:
            self._keep(entry.path, "go", entry, go=scanner.result, digests=digests)
        elif scanner.old:
            self._keep(entry.path, "note", entry, note="Go binary older than Go 1.18")


def _still_there(view: FileSystemView, path: str, layer: int) -> bool:
    held = view.get(path)
    return held is not None and held[1] == layer and held[0].kind == "file"


def _distro(found: dict[str, _Found]) -> Distro | None:
    for path in osrelease.PATHS:
        item = found.get(path)
        if item is not None and item.kind == "os-release":
            return osrelease.parse_os_release(item.data)
    return None


def _packages(path: str, item: _Found, distro: Distro | None) -> list[Package]:
    if item.kind == "dpkg":
        return dpkg.parse_status(item.data, path, distro)
    if item.kind == "apk":
        return apk.parse_installed(item.data, path, distro)
    if item.kind == "python":
        return python.parse_metadata(item.data, path)
    if item.kind == "npm":
        return npm.parse_manifest(item.data, path)
    if item.kind == "rpm":
        return rpm.packages(item.rpm_headers, path, distro)
    if item.kind == "go" and item.go is not None:
        return golang.packages(item.go, path)
    return []


def scan_image(image: Image, reference: str = "") -> ImageSbom:
    """The packages of ``image`` (``reference`` is what the SBOM names it by).

    Every layer is read once and verified against its blob digest and diff_id.
    """
    count = len(image.layers)
    if count:
        image.diff_ids  # noqa: B018 - checks diff_ids against the layers before any read
    layers: list[LayerFiles] = []
    with tempfile.TemporaryDirectory(prefix="boxwright-sbom-") as scratch:
        collector = _Collector(scratch)
        tars = layer_tars([(image, index) for index in range(count)])
        with closing(tars):
            for index, tar in enumerate(tars):
                collector.layer = index
                layers.append(read_layer_files(tar, index, collector))
    view = FileSystemView.from_layers(layers)
    found = {
        path: item for path, item in collector.found.items() if _still_there(view, path, item.layer)
    }
    distro = _distro(found)
    packages: list[Package] = []
    files: list[FileDigests] = []
    notes: list[str] = []
    for path in sorted(found):
        item = found[path]
        if item.note:
            notes.append(f"/{path}: {item.note}, not read")
            continue
        listed = _packages(path, item, distro)
        packages.extend(listed)
        if listed:
            files.append(item.digests)
    packages.sort(key=lambda p: (p.name, p.version, p.type, p.location))
    return ImageSbom(
        reference=reference or str(image.manifest_digest),
        digest=str(image.manifest_digest),
        config_digest=str(image.manifest.config.digest),
        distro=distro,
        packages=tuple(packages),
        files=tuple(files),
        notes=tuple(notes),
    )


def image_sbom(
    ref: str | Image,
    platform: Platform | str | None = None,
    options: TransportOptions | None = None,
) -> ImageSbom:
    """The packages of the image ``ref`` names (any transport reference, opened with
    ``options``, or an open :class:`~boxwright.transport.image.Image`), for ``platform`` in
    an index."""
    if isinstance(ref, str):
        chosen = Platform.parse(platform) if isinstance(platform, str) else platform
        with closing(parse_transport_reference(ref).open_source(options)) as source:
            return scan_image(open_image(source, chosen), ref)
    return scan_image(ref)


__all__ = ["MAX_METADATA", "image_sbom", "scan_image"]
