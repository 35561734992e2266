"""The store's image source and destination: :class:`StoreSource` reads one image of the
store, :class:`StoreDestination` adds one (the rules are the ``store:`` transport's, see
:mod:`boxwright.store.transport`). Both take an open :class:`~boxwright.store.store.Store`, so
anything that holds a store (pulling into a working container's store, the ``store:``
transport) uses them without opening one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Final

from boxwright._atomic import replace_file
from boxwright.errors import BlobNotFoundError, ImageNotFoundError, StoreError
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.parse import parse_manifest
from boxwright.oci.readers import Reader, VerifyingStream
from boxwright.store.images import ImageRecord, normalize_name
from boxwright.store.referrers import add_referrer, read_referrers
from boxwright.transport.base import HoldsReferrers, KnowsCurrentManifest, StoresReferrers

if TYPE_CHECKING:
    from boxwright.store.store import Store


class StoreSource(HoldsReferrers):
    """An :class:`~boxwright.transport.base.ImageSource` reading one image of the store."""

    def __init__(self, store: Store, name_or_id: str, name: str = "") -> None:
        self.store = store
        self.record: ImageRecord = store.images.get(name_or_id)
        self._name = name or f"store:{name_or_id}"
        self._raw = store.images.manifest(self.record)

    @property
    def name(self) -> str:
        return self._name

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        if digest is None or digest == self.record.manifest:
            return self._raw, self.record.manifest_media_type
        try:
            raw = self.store.blobs.read(digest)
        except BlobNotFoundError:
            raise ImageNotFoundError(f"manifest {digest} is not in {self._name}") from None
        return raw, parse_manifest(raw).media_type

    def get_blob(self, descriptor: Descriptor) -> VerifyingStream:
        return self.store.blobs.open(descriptor)

    def get_signatures(self, digest: Digest | None = None) -> list[bytes]:
        """The signatures kept with the image's manifest (``signatures/ALG/HEX/signature-N``)."""
        return read_signatures(self.store, digest or self.record.manifest)

    def get_referrers(self, digest: Digest) -> list[Descriptor]:
        """The referrers the store lists for ``digest`` (:mod:`boxwright.store.referrers`)."""
        return read_referrers(self.store, digest)

    def close(self) -> None:
        """Nothing to release: every blob reader owns its file."""


_MAX_SIGNATURE_SIZE: Final = 4 << 20


def read_signatures(store: Store, digest: Digest) -> list[bytes]:
    """The ``signature-N`` files of manifest ``digest`` in ``store``, up to the first missing."""
    directory = store.layout.signatures_dir(digest)
    found: list[bytes] = []
    while True:
        try:
            with open(directory / f"signature-{len(found) + 1}", "rb") as f:
                data = f.read(_MAX_SIGNATURE_SIZE + 1)
        except (FileNotFoundError, NotADirectoryError):
            return found
        if len(data) > _MAX_SIGNATURE_SIZE:
            raise StoreError(f"a signature of {digest} in the store is too large")
        found.append(data)


def write_signatures(store: Store, digest: Digest, signatures: Sequence[bytes]) -> None:
    """Replace the signatures kept with manifest ``digest`` (atomically, file by file)."""
    directory = store.layout.signatures_dir(digest)
    directory.mkdir(parents=True, exist_ok=True)
    for index, blob in enumerate(signatures):
        replace_file(directory / f"signature-{index + 1}", blob, 0o644)
    index = len(signatures)
    while True:
        try:
            (directory / f"signature-{index + 1}").unlink()
        except FileNotFoundError:
            break
        index += 1


# name and the capability attributes are ImageDestination's members (transport.base),
# with the store's values.
class StoreDestination(KnowsCurrentManifest, StoresReferrers):
    """An :class:`~boxwright.transport.base.ImageDestination` adding an image to the store.

    ``names`` are recorded for the image at commit (none: an untagged image); an image the
    store holds already keeps its stored manifest and gains the names. The store's
    writer lock is held from construction to :meth:`close`. After commit, :attr:`record`
    is the image's record.
    """

    def __init__(self, store: Store, names: Sequence[str] = (), name: str = "") -> None:
        self.store = store
        self.names = tuple(normalize_name(n) for n in names)
        self._name = name or "store:" + (self.names[0] if self.names else "<none>")
        self._manifests: dict[Digest, tuple[bytes, str]] = {}
        self._signatures: dict[Digest, list[bytes]] = {}
        self.record: ImageRecord | None = None
        self._stack = contextlib.ExitStack()
        self._stack.enter_context(store.writing())

    @property
    def name(self) -> str:
        return self._name

    supported_manifest_types: Final[Sequence[str]] = (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST)
    supports_index: Final[bool] = False
    required_compression: Final[str | None] = None
    desired_compression: Final[str | None] = None

    def current_manifest(self) -> Descriptor | None:
        """What the destination name names now (so a repeated pull does nothing), or None."""
        if not self.names:
            return None
        for record in self.store.images.list():
            if self.names[0] in record.names:
                size = self.store.blobs.size(record.manifest)
                return Descriptor(record.manifest_media_type, record.manifest, size)
        return None

    def has_blob(self, descriptor: Descriptor) -> bool:
        return self.store.blobs.has(descriptor.digest, descriptor.size)

    def put_blob(self, stream: Reader, descriptor: Descriptor | None = None) -> Descriptor:
        return self.store.blobs.put(stream, descriptor)

    def put_manifest(self, raw: bytes, media_type: str) -> Descriptor:
        stored = self.store.blobs.put_bytes(raw)
        self._manifests[stored.digest] = (raw, media_type)
        return stored.with_(media_type=media_type)

    def put_signatures(self, digest: Digest, signatures: Sequence[bytes]) -> None:
        """Keep the signatures of ``digest``; written at :meth:`commit`."""
        self._signatures[digest] = list(signatures)

    def put_referrer(self, subject: Digest, raw: bytes, descriptor: Descriptor) -> None:
        """Store the referrer manifest as a blob and list it under ``subject``."""
        stored = self.store.blobs.put_bytes(raw, descriptor)
        add_referrer(self.store, subject, descriptor.with_(size=stored.size))

    def commit(self, top: Descriptor) -> None:
        for digest, signatures in self._signatures.items():
            write_signatures(self.store, digest, signatures)
        staged = self._manifests.get(top.digest)
        if staged is None:
            raw = self.store.blobs.read(Descriptor(top.media_type, top.digest, top.size))
            staged = (raw, top.media_type)
        self.record = self.store.images.add(staged[0], staged[1], self.names, keep_stored=True)

    def close(self) -> None:
        """Release the writer lock; blobs stored without a commit stay until prune."""
        self._stack.close()


__all__ = ["StoreDestination", "StoreSource", "read_signatures", "write_signatures"]
