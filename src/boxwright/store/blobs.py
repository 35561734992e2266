"""The store's content-addressed blobs: ``R/blobs/ALG/HEX``, written atomically, read verified.

Writes go through :class:`~boxwright.transport.atomic.BlobWriter`: the bytes land in a
temporary file under ``R/tmp`` (same filesystem), are hashed while they are copied, and are
renamed to their digest only when complete and verified. A blob under its name is therefore
always whole and right; a process killed mid-write leaves only a ``R/tmp/.tmp-*`` file, which
``prune`` removes. Renames are made durable in batches: :meth:`BlobStore.sync` fsyncs the blob
directories, and every record that names a blob is written only after it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from boxwright.errors import BlobNotFoundError, DigestError, ManifestError
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest, VerifyingReader
from boxwright.oci.readers import Reader, VerifyingStream
from boxwright.store.layout import StoreLayout
from boxwright.transport.atomic import TEMP_PREFIX, BlobWriter
from boxwright.transport.regular import open_regular


class BlobStore:
    """Blobs of one store; every method is safe to call from several threads and processes."""

    def __init__(self, layout: StoreLayout) -> None:
        self.layout = layout
        self._writer = BlobWriter(
            layout.blobs_dir, layout.blob_path, temp_dir=layout.tmp_dir, defer_dir_sync=True
        )

    def path(self, digest: Digest) -> Path:
        """Where the blob lives (for readers that want a path; never modify the file)."""
        return self.layout.blob_path(digest)

    def has(self, digest: Digest, size: int | None = None) -> bool:
        """Whether the blob is present (and, with ``size``, has that size)."""
        try:
            st = self.path(digest).stat()
        except FileNotFoundError:
            return False
        return size is None or size < 0 or st.st_size == size

    def size(self, digest: Digest) -> int:
        """The blob's size in bytes; :class:`BlobNotFoundError` when it is missing."""
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise BlobNotFoundError(f"blob {digest} is not in the store") from None

    def open(self, blob: Descriptor | Digest, size: int | None = None) -> VerifyingStream:
        """A reader of the blob that raises DigestMismatchError at EOF if the content is wrong.

        ``blob`` is a descriptor (its size is checked too) or a digest (then ``size`` if given).
        """
        if isinstance(blob, Descriptor):
            digest = blob.digest
            size = blob.size if blob.size >= 0 else size
        else:
            digest = blob
        try:
            f = open_regular(self.path(digest))
        except FileNotFoundError:
            raise BlobNotFoundError(
                f"blob {digest} is missing from the store at {self.layout.root}"
            ) from None
        return VerifyingReader(f, digest, size)

    def read(self, blob: Descriptor | Digest, limit: int = 4 << 20) -> bytes:
        """A small blob (a manifest or config) read whole and verified."""
        with self.open(blob) as f:
            data = f.read(limit + 1)
            if len(data) > limit:
                digest = blob.digest if isinstance(blob, Descriptor) else blob
                raise ManifestError(
                    f"blob {digest} is larger than {limit} bytes; it is not a manifest or config"
                )
            f.read()  # reach EOF so the reader checks the digest
        return data

    def put(self, stream: Reader, descriptor: Descriptor | None = None) -> Descriptor:
        """Store a blob from ``stream``; return its descriptor.

        With a descriptor the content is verified against it; a blob already present with that
        digest and size is not rewritten (the stream is not read). Without one the digest and
        size are measured (media type ``application/octet-stream``). On failure nothing is left
        under a blob name.
        """
        if descriptor is not None and self.has(descriptor.digest, descriptor.size):
            return descriptor
        return self._writer.write(stream, descriptor)

    def adopt(self, path: Path, descriptor: Descriptor) -> Descriptor:
        """Store the file at ``path`` (under ``R/tmp``), written, hashed and fsynced by the
        caller in one pass (a commit's layer), as the blob ``descriptor`` by renaming it; the
        file is consumed (deleted when the blob is already present)."""
        if self.has(descriptor.digest, descriptor.size):
            path.unlink()
            return descriptor
        return self._writer.adopt(path, descriptor)

    def put_bytes(self, data: bytes, descriptor: Descriptor | None = None) -> Descriptor:
        """Store a small in-memory document (a manifest or config) as a blob."""
        if descriptor is not None and self.has(descriptor.digest, descriptor.size):
            return descriptor
        return self._writer.write_bytes(data, descriptor)

    def sync(self) -> None:
        """Make every blob written so far durable (before a record names it)."""
        self._writer.sync()

    def delete(self, digest: Digest) -> int:
        """Remove the blob; return the bytes freed (0 when it was not there)."""
        path = self.path(digest)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size

    def iter_digests(self) -> Iterator[Digest]:
        """Every blob present (temporary files and foreign names are skipped)."""
        root = self.layout.blobs_dir
        try:
            algorithms = sorted(os.listdir(root))
        except FileNotFoundError:
            return
        for algorithm in algorithms:
            try:
                names = sorted(os.listdir(root / algorithm))
            except (NotADirectoryError, FileNotFoundError):
                continue
            for name in names:
                if name.startswith(TEMP_PREFIX):
                    continue
                try:
                    yield Digest.parse(f"{algorithm}:{name}")
                except DigestError:
                    continue


__all__ = ["BlobStore"]
