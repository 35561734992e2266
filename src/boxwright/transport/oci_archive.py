"""The ``oci-archive:FILE[:NAME | :@N]`` transport: a tar of an OCI image layout.

Reading never extracts: the archive is scanned once for its headers and ``index.json``,
manifests and blobs are read in place (:class:`~boxwright.transport.tarindex.TarIndex`), with
every blob verified as it streams. Image choice is that of ``oci:``.

Writing stages an OCI layout in a temporary directory next to the target and, on commit,
writes the tar to a temporary name and renames it over the target. As with skopeo (whose
``oci-archive:`` destination re-creates the file), an existing archive is replaced: the new
archive holds only the image just written. Closing without commit removes the staging area.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final

from boxwright.errors import TransportError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.readers import Reader
from boxwright.transport.atomic import TEMP_PREFIX, AtomicFile, staging_directory
from boxwright.transport.oci_layout import (
    BLOBS_DIR,
    INDEX_FILE,
    LAYOUT_FILE,
    LOCK_FILE,
    LayoutReader,
    OCILayoutDestination,
    OCILayoutSource,
)
from boxwright.transport.tarindex import TarIndex

if TYPE_CHECKING:
    from boxwright.transport.options import TransportOptions
    from boxwright.transport.reference import TransportReference


class ArchiveFiles:
    """:class:`~boxwright.transport.oci_layout.LayoutFiles` over the members of a tar."""

    def __init__(self, index: TarIndex) -> None:
        self._index = index

    def open(self, name: str) -> Reader:
        return self._index.open(name)

    def read(self, name: str, limit: int) -> bytes:
        return self._index.read(name, limit)


def open_archive_source(
    path: str | os.PathLike[str], image: str = "", source_index: int = -1
) -> OCILayoutSource:
    """Open ``oci-archive:PATH[:IMAGE]`` for reading, in place."""
    index = TarIndex(path)
    reader = LayoutReader(ArchiveFiles(index), str(path))
    name = f"oci-archive:{path}" + (f":{image}" if image else "")
    return OCILayoutSource(reader, image, source_index, name=name)


def write_layout_tar(layout: Path, out: IO[bytes]) -> None:
    """Write the OCI layout directory ``layout`` as an uncompressed tar to ``out``.

    ``oci-layout`` and ``index.json`` come first (readers that stream find them early), then
    the blobs in sorted order; file contents stream from disk.
    """

    def add(tar: tarfile.TarFile, path: Path, arcname: str) -> None:
        info = tarfile.TarInfo(arcname)
        st = path.stat()
        info.mtime = int(st.st_mtime)
        if path.is_dir():
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
            return
        info.mode = 0o644
        info.size = st.st_size
        with open(path, "rb") as f:
            tar.addfile(info, f)

    with tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as tar:
        add(tar, layout / LAYOUT_FILE, LAYOUT_FILE)
        add(tar, layout / INDEX_FILE, INDEX_FILE)
        blobs = layout / BLOBS_DIR
        add(tar, blobs, BLOBS_DIR)
        for alg_dir in sorted(p for p in blobs.iterdir() if p.is_dir()):
            add(tar, alg_dir, f"{BLOBS_DIR}/{alg_dir.name}")
            for blob in sorted(alg_dir.iterdir()):
                if blob.is_file() and not blob.name.startswith(TEMP_PREFIX):
                    add(tar, blob, f"{BLOBS_DIR}/{alg_dir.name}/{blob.name}")


class OCIArchiveDestination:
    """An :class:`~boxwright.transport.base.ImageDestination` writing an ``oci-archive:``."""

    def __init__(self, path: str | os.PathLike[str], image: str = "") -> None:
        self.path = Path(path)
        self._name = f"oci-archive:{self.path}" + (f":{image}" if image else "")
        if self.path.is_dir():
            raise TransportError(f"{self.path} is a directory; oci-archive: needs a file path")
        self._stage = staging_directory(self.path, self._name)
        self._layout = OCILayoutDestination(self._stage, image, name=self._name)

    @property
    def name(self) -> str:
        return self._name

    @property
    def supported_manifest_types(self) -> Sequence[str]:
        return self._layout.supported_manifest_types

    supports_index: Final[bool] = True
    required_compression: Final[str | None] = None
    desired_compression: Final[str | None] = "gzip"

    def has_blob(self, descriptor: Descriptor) -> bool:
        return self._layout.has_blob(descriptor)

    def put_blob(self, stream: Reader, descriptor: Descriptor | None = None) -> Descriptor:
        return self._layout.put_blob(stream, descriptor)

    def put_manifest(self, raw: bytes, media_type: str) -> Descriptor:
        return self._layout.put_manifest(raw, media_type)

    def commit(self, top: Descriptor) -> None:
        self._layout.commit(top)
        (self._stage / LOCK_FILE).unlink(missing_ok=True)
        with AtomicFile(self.path) as out:
            write_layout_tar(self._stage, out)

    def close(self) -> None:
        shutil.rmtree(self._stage, ignore_errors=True)


# open_source and open_destination: the TransportModule signature every transport module
# offers (transport.reference dispatches to them by transport name).
def open_source(
    ref: TransportReference, options: TransportOptions | None = None
) -> OCILayoutSource:
    """Open an ``oci-archive:`` reference for reading (``options``: nothing applies here)."""
    return open_archive_source(ref.path, ref.image, ref.source_index)


def open_destination(
    ref: TransportReference, options: TransportOptions | None = None
) -> OCIArchiveDestination:
    """Open an ``oci-archive:`` reference for writing (``options``: nothing applies here)."""
    return OCIArchiveDestination(ref.path, ref.image)


__all__ = [
    "ArchiveFiles",
    "OCIArchiveDestination",
    "open_archive_source",
    "open_destination",
    "open_source",
    "write_layout_tar",
]
