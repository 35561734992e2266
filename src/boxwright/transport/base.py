"""The two small protocols every place images live implements: a source and a destination.

Shaped after containers/image: a reference opens a source (read the top manifest, a child
manifest by digest, a blob by descriptor) or a destination (say what it accepts, then take
blobs and manifests, then commit). A copy between any two transports needs nothing else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Protocol, runtime_checkable

from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest


@runtime_checkable
class ImageSource(Protocol):
    """Read side of a transport. Every byte it hands out is verified against its digest."""

    @property
    def name(self) -> str:
        """The reference this source was opened from, for messages."""
        ...

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        """Raw bytes and media type of the top manifest, or of the manifest ``digest``.

        The top manifest is what the reference names (an index or an image manifest). A
        manifest asked for by digest is verified against that digest before it is returned.
        """
        ...

    def get_blob(self, descriptor: Descriptor) -> IO[bytes]:
        """A stream of the blob's bytes, verified against ``descriptor`` as it is read.

        The stream raises :class:`~boxwright.errors.DigestMismatchError` at EOF when content
        or size differ, and :class:`~boxwright.errors.BlobNotFoundError` is raised at once
        when the blob is missing.
        """
        ...

    def close(self) -> None:
        """Release whatever the source holds open (files, temporary directories)."""
        ...


@runtime_checkable
class ImageDestination(Protocol):
    """Write side of a transport.

    The copy pipeline asks first what the destination accepts, then puts every blob, then
    every manifest (children before the index that names them), then commits. Nothing is
    visible under the reference before :meth:`commit`; a destination that is closed without
    a commit leaves no trace of the image (blobs may stay, as unreferenced content).

    Optional, looked up with ``getattr`` by the copy pipeline: ``current_manifest()`` (what
    the reference names now, so an unchanged copy does nothing), ``blob_info_cache``, and
    ``config_with_layers`` (true: put the config blob while the layers still move, from
    another thread, instead of after them; for destinations where every blob costs requests).
    """

    @property
    def name(self) -> str:
        """The reference this destination was opened for, for messages."""
        ...

    @property
    def supported_manifest_types(self) -> Sequence[str]:
        """Manifest media types this destination stores, the preferred one first."""
        ...

    @property
    def supports_index(self) -> bool:
        """Whether an index (a multi-platform image) can be stored here."""
        ...

    @property
    def required_compression(self) -> str | None:
        """A layer compression ("gzip", "zstd", "none") the destination insists on, if any."""
        ...

    @property
    def desired_compression(self) -> str | None:
        """The compression for layers that arrive uncompressed, if the destination wants one.

        Like containers/image's ``DesiredLayerCompression = Compress``: OCI layouts and
        archives gzip uncompressed layers (a docker archive's, say); compressed layers are
        kept as they are unless ``--dest-compress`` asks otherwise.
        """
        ...

    def has_blob(self, descriptor: Descriptor) -> bool:
        """Whether the blob is already present (and so need not be put again)."""
        ...

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor | None = None) -> Descriptor:
        """Store a blob from ``stream`` and return its descriptor.

        With a descriptor, the content is verified against its digest and size while it is
        written. Without one, the digest and size are computed while writing (the media type
        of the returned descriptor is then ``application/octet-stream``; callers replace it).
        If the stream fails or does not verify, put_blob MUST fail and leave nothing behind.
        """
        ...

    def put_manifest(self, raw: bytes, media_type: str) -> Descriptor:
        """Store a manifest or index exactly as ``raw`` and return its descriptor."""
        ...

    def commit(self, top: Descriptor) -> None:
        """Make ``top`` (an image manifest or index) visible under the reference, atomically."""
        ...

    def close(self) -> None:
        """Release resources; without a prior commit, discard what was staged."""
        ...
