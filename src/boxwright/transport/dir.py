"""The ``dir:DIR`` transport: skopeo's directory format, read and written.

A ``dir:`` image is a directory holding ``version`` (``Directory Transport Version: 1.1``),
``manifest.json`` (the top manifest: an image manifest or an index), ``HEX.manifest.json`` for
each child manifest of an index, and every blob named by the hex of its digest. Media types
are not stored: manifests are recognized by their content.

Writing replaces the image a directory held, as skopeo does, but more carefully: the old
image stays readable until :meth:`DirDestination.commit` swaps ``manifest.json`` atomically,
and only then are the files of the old image that the new one does not use removed.
A directory that is neither empty nor a ``dir:`` image is refused.

Signatures live beside the image as containers/image keeps them: ``signature-1``,
``signature-2``, ... for the top manifest and ``HEX.signature-N`` for a child manifest of an
index, each holding one signature blob.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

from boxwright.errors import (
    BlobNotFoundError,
    ImageNotFoundError,
    ManifestError,
    TransportError,
)
from boxwright.oci import mediatype as mt
from boxwright.oci._json import MAX_DOCUMENT_SIZE
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest, verify_bytes
from boxwright.oci.parse import guess_media_type
from boxwright.oci.readers import Reader, VerifyingStream
from boxwright.transport.atomic import TEMP_PREFIX, BlobWriter, atomic_write
from boxwright.transport.regular import open_blob, open_regular

MAX_SIGNATURE_SIZE: Final = 4 << 20
"""Largest signature file read (containers/image's limit too)."""

if TYPE_CHECKING:
    from boxwright.transport.options import TransportOptions
    from boxwright.transport.reference import TransportReference

VERSION_FILE = "version"
MANIFEST_FILE = "manifest.json"
VERSION = "Directory Transport Version: 1.1\n"
_READABLE_VERSIONS = (VERSION, "Directory Transport Version: 1.0\n")


def _manifest_name(digest: Digest) -> str:
    return f"{digest.hex}.manifest.json"


def _signature_name(digest: Digest | None, index: int) -> str:
    """``signature-N`` (1-based) for the top manifest, ``HEX.signature-N`` for a child."""
    prefix = "" if digest is None else f"{digest.hex}."
    return f"{prefix}signature-{index + 1}"


def _media_type(raw: bytes, where: str) -> str:
    media_type = guess_media_type(raw)
    if not media_type:
        raise ManifestError(f"{where} is not a recognized manifest")
    return media_type


def _read_small(path: Path, what: str) -> bytes:
    with open_regular(path) as f:
        data = f.read(MAX_DOCUMENT_SIZE + 1)
    if len(data) > MAX_DOCUMENT_SIZE:
        raise ManifestError(f"{what} is larger than the limit of {MAX_DOCUMENT_SIZE} bytes")
    return data


def _version(root: Path) -> bytes | None:
    """The start of the ``version`` file (None when there is none)."""
    try:
        with open_regular(root / VERSION_FILE) as f:
            return f.read(200)
    except FileNotFoundError:
        return None


class DirSource:
    """An :class:`~boxwright.transport.base.ImageSource` reading a ``dir:`` image."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.root = Path(path)
        self._name = f"dir:{self.root}"
        if not self.root.is_dir():
            raise ImageNotFoundError(f"directory {self.root} does not exist")
        version = _version(self.root)
        if version is not None:
            text = version.decode("utf-8", "replace")
            if text not in _READABLE_VERSIONS:
                raise TransportError(
                    f"{self.root}: unsupported dir: format version {text.strip()!r}"
                )
        try:
            self._top = _read_small(self.root / MANIFEST_FILE, f"{self._name} manifest")
        except FileNotFoundError:
            raise ImageNotFoundError(
                f"{self.root} holds no image: it has no {MANIFEST_FILE}"
            ) from None
        self._top_digest = Digest.from_bytes(self._top)

    @property
    def name(self) -> str:
        return self._name

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        if digest is None or digest == self._top_digest:
            return self._top, _media_type(self._top, f"{self._name}/{MANIFEST_FILE}")
        path = self.root / _manifest_name(digest)
        try:
            raw = _read_small(path, str(path))
        except FileNotFoundError:
            raise ImageNotFoundError(f"manifest {digest} is not in {self._name}") from None
        verify_bytes(raw, digest)
        return raw, _media_type(raw, str(path))

    def get_blob(self, descriptor: Descriptor) -> VerifyingStream:
        path = self.root / descriptor.digest.hex
        return open_blob(lambda: open_regular(path), descriptor, self._name)

    def get_signatures(self, digest: Digest | None = None) -> list[bytes]:
        """The ``signature-N`` files of the top manifest (or ``HEX.signature-N`` of a
        child), in order, up to the first that is missing."""
        child = None if digest is None or digest == self._top_digest else digest
        found: list[bytes] = []
        while True:
            path = self.root / _signature_name(child, len(found))
            try:
                with open_regular(path) as f:
                    data = f.read(MAX_SIGNATURE_SIZE + 1)
            except FileNotFoundError:
                return found
            if len(data) > MAX_SIGNATURE_SIZE:
                raise ManifestError(f"{path} is larger than {MAX_SIGNATURE_SIZE} bytes")
            found.append(data)

    def close(self) -> None:
        """Nothing to release."""


class DirDestination:
    """An :class:`~boxwright.transport.base.ImageDestination` writing a ``dir:`` image."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.root = Path(path)
        self._name = f"dir:{self.root}"
        if self.root.exists():
            if not self.root.is_dir():
                raise TransportError(f"{self.root} exists and is not a directory")
            if any(self.root.iterdir()):
                text = _version(self.root) or b""
                if text.decode("utf-8", "replace") not in _READABLE_VERSIONS:
                    raise TransportError(
                        f"{self.root} is not empty and is not a dir: image; refusing to "
                        "overwrite it (choose an empty or new directory)"
                    )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            atomic_write(self.root / VERSION_FILE, VERSION.encode())
        except OSError as e:
            raise TransportError(f"cannot create {self.root}: {e.strerror}") from None
        # Blob renames are made durable together, by one directory fsync in commit().
        self._blobs = BlobWriter(self.root, lambda d: self.root / d.hex, defer_dir_sync=True)
        self._used: set[str] = {VERSION_FILE, MANIFEST_FILE}
        self._manifests: dict[Digest, str] = {}
        self._signatures: dict[Digest, list[bytes]] = {}

    @property
    def name(self) -> str:
        return self._name

    supported_manifest_types: Final[Sequence[str]] = (
        mt.OCI_MANIFEST,
        mt.DOCKER_MANIFEST,
        mt.OCI_INDEX,
        mt.DOCKER_LIST,
    )
    supports_index: Final[bool] = True
    required_compression: Final[str | None] = None
    desired_compression: Final[str | None] = None

    def has_blob(self, descriptor: Descriptor) -> bool:
        path = self._blobs.path_for(descriptor.digest)
        try:
            present = path.stat().st_size == descriptor.size
        except FileNotFoundError:
            return False
        if present:
            self._used.add(path.name)
        return present

    def put_blob(self, stream: Reader, descriptor: Descriptor | None = None) -> Descriptor:
        stored = self._blobs.write(stream, descriptor)
        self._used.add(stored.digest.hex)
        return stored

    def put_manifest(self, raw: bytes, media_type: str) -> Descriptor:
        digest = Digest.from_bytes(raw)
        atomic_write(self.root / _manifest_name(digest), raw)
        self._used.add(_manifest_name(digest))
        self._manifests[digest] = media_type
        return Descriptor(media_type, digest, len(raw))

    def put_signatures(self, digest: Digest, signatures: Sequence[bytes]) -> None:
        """Keep the signatures of ``digest``; written at :meth:`commit`, where the top
        manifest's become ``signature-N``."""
        self._signatures[digest] = list(signatures)

    def _write_signatures(self, top: Digest) -> None:
        for digest, signatures in self._signatures.items():
            child = None if digest == top else digest
            for index, blob in enumerate(signatures):
                name = _signature_name(child, index)
                atomic_write(self.root / name, blob)
                self._used.add(name)

    def commit(self, top: Descriptor) -> None:
        staged = self.root / _manifest_name(top.digest)
        try:
            raw = staged.read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(
                f"cannot commit {self._name}: manifest {top.digest} was not stored first"
            ) from None
        verify_bytes(raw, top.digest, top.size)
        self._blobs.sync()  # every blob is durable before manifest.json names the image
        self._write_signatures(top.digest)
        atomic_write(self.root / MANIFEST_FILE, raw)
        # The top manifest lives in manifest.json only (children keep HEX.manifest.json).
        self._used.discard(staged.name)
        with contextlib.suppress(FileNotFoundError):
            staged.unlink()
        self._remove_stale()

    def _remove_stale(self) -> None:
        """Remove what the previous image left (never temp files of concurrent writers)."""
        for entry in self.root.iterdir():
            if entry.name in self._used or entry.name.startswith(TEMP_PREFIX):
                continue
            if entry.is_file() or entry.is_symlink():
                entry.unlink()

    def close(self) -> None:
        """Nothing staged outside the directory; uncommitted blobs are removed at next commit."""


# open_source and open_destination: the TransportModule signature every transport module
# offers (transport.reference dispatches to them by transport name).
def open_source(ref: TransportReference, options: TransportOptions | None = None) -> DirSource:
    """Open a ``dir:`` reference for reading (``options``: nothing applies here)."""
    return DirSource(ref.path)


def open_destination(
    ref: TransportReference, options: TransportOptions | None = None
) -> DirDestination:
    """Open a ``dir:`` reference for writing (``options``: nothing applies here)."""
    return DirDestination(ref.path)


__all__ = ["DirDestination", "DirSource", "open_destination", "open_source"]
