"""The two small protocols every place images live implements: a source and a destination,
and the optional capabilities some of them add.

Shaped after containers/image: a reference opens a source (read the top manifest, a child
manifest by digest, a blob by descriptor) or a destination (say what it accepts, then take
blobs and manifests, then commit). A copy between any two transports needs nothing else.

What only some transports offer is a small protocol of its own (containers/image's optional
interfaces, whose stubs say "not supported"): :class:`KnowsCurrentManifest`,
:class:`HasBlobInfoCache`, :class:`PutsConfigWithLayers`, :class:`ListsRepositoryTags`,
:class:`NamesItsImage`, :class:`HoldsSignatures`, :class:`StoresSignatures`,
:class:`HoldsReferrers` and :class:`StoresReferrers`.
They are runtime-checkable; a caller asks once, when it takes the source or destination in
hand, and keeps the typed answer (None: the capability is absent).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Final, Protocol, runtime_checkable

from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.readers import Reader, VerifyingStream

if TYPE_CHECKING:
    from boxwright.transport.blobinfocache import BlobInfoCache

MAX_CONFIG_SIZE: Final = 4 << 20
"""Largest image config read from a source into memory (containers/image's limit too)."""
MAX_INDEX_DEPTH: Final = 8
"""Indexes nested deeper than this in a source are refused rather than followed."""


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

    def get_blob(self, descriptor: Descriptor) -> VerifyingStream:
        """A stream of the blob's bytes, verified against ``descriptor`` as it is read.

        Its ``verifies`` is ``descriptor.digest``. The stream raises
        :class:`~boxwright.errors.DigestMismatchError` at EOF when content or size differ, and
        :class:`~boxwright.errors.BlobNotFoundError` is raised at once when the blob is
        missing.
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

    What only some destinations offer is a protocol of its own, asked once by the copy
    pipeline: :class:`KnowsCurrentManifest`, :class:`HasBlobInfoCache`,
    :class:`PutsConfigWithLayers`, :class:`StoresOnePlatform`.
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

    def put_blob(self, stream: Reader, descriptor: Descriptor | None = None) -> Descriptor:
        """Store a blob from ``stream`` and return its descriptor.

        With a descriptor, the content is verified against its digest and size while it is
        written. Without one, the digest and size are computed while writing (the media type
        of the returned descriptor is then ``application/octet-stream``; callers replace it).
        If the stream fails or does not verify, put_blob MUST fail and leave nothing behind.
        A stream that is a :class:`~boxwright.oci.readers.VerifyingStream` of the expected
        digest may be trusted instead of hashed again.
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


@runtime_checkable
class KnowsCurrentManifest(Protocol):
    """A destination that can say what its reference names now, cheaply (a registry: one
    HEAD; the store: its records), so that a copy of what is already there does nothing."""

    def current_manifest(self) -> Descriptor | None:
        """The descriptor the reference names now, or None when it names nothing."""
        ...


@runtime_checkable
class HasBlobInfoCache(Protocol):
    """A source or destination that keeps a blob-info cache of its own (a registry: where
    blobs live, for cross-repository mounts); the copy records in it and reuses from it."""

    @property
    def blob_info_cache(self) -> BlobInfoCache:
        """The cache of blob locations and digest pairs this side records in."""
        ...


@runtime_checkable
class PutsConfigWithLayers(Protocol):
    """A destination that wants the config blob put while the layers still move (from
    another thread) instead of after them: where every blob costs requests, they overlap.
    A copy that fails then leaves an unreferenced config, as it may leave layers."""

    @property
    def config_with_layers(self) -> bool:
        """True: put the config beside the layers."""
        ...


@runtime_checkable
class StoresOnePlatform(Protocol):
    """A destination that keeps one image per name and no index (podman's store), where a
    copy of every platform (``--all``) stores the image of the platform asked for (the
    host's by default) instead of being refused."""

    @property
    def one_platform_of_all(self) -> bool:
        """True: ``--all`` copies the one platform a plain copy would choose."""
        ...


@runtime_checkable
class ListsRepositoryTags(Protocol):
    """A source whose repository can list its tags (a registry), for ``inspect``'s
    RepoTags."""

    def registry_tags(self) -> list[str]:
        """Every tag of the repository the source reads from."""
        ...


@runtime_checkable
class NamesItsImage(Protocol):
    """A source whose own metadata names the image it reads: a docker archive's ``RepoTags``,
    the ref name annotation of an OCI layout's index entry. A pull into the local store names
    the image after them where podman does (:mod:`boxwright.store.pulling`)."""

    def image_names(self) -> list[str]:
        """The names the source gives its image, as written there (not normalized)."""
        ...


def image_names_of(source: ImageSource) -> list[str]:
    """The names ``source`` gives its image (none when it cannot say)."""
    return source.image_names() if isinstance(source, NamesItsImage) else []


@runtime_checkable
class HoldsSignatures(Protocol):
    """A source that keeps signatures beside its images (``dir:``, a registry's lookaside
    and sigstore attachments, the store). Signatures are the blobs containers/image stores
    (:func:`boxwright.trust.signature.from_blob` reads them); they are untrusted until a
    policy verifies them."""

    def get_signatures(self, digest: Digest | None = None) -> list[bytes]:
        """The signatures of the top manifest, or of the manifest ``digest`` ([] if none)."""
        ...


@runtime_checkable
class StoresSignatures(Protocol):
    """A destination that keeps signatures beside its images. The copy pipeline puts the
    signatures of each manifest it wrote after the manifest and before :meth:`commit`; a
    destination that is closed without a commit keeps none of them."""

    def put_signatures(self, digest: Digest, signatures: Sequence[bytes]) -> None:
        """Keep ``signatures`` (blobs, in order) as those of the manifest ``digest``,
        replacing any it had."""
        ...


@runtime_checkable
class HoldsReferrers(Protocol):
    """A source that can list the OCI 1.1 referrers of a manifest: the manifests whose
    ``subject`` names it (a registry's referrers API or tag schema, an OCI layout's
    ``index.json``, the store's referrers index)."""

    def get_referrers(self, digest: Digest) -> list[Descriptor]:
        """The descriptors (with ``artifactType`` and annotations) of the manifests whose
        subject is the manifest ``digest`` ([] if none)."""
        ...


@runtime_checkable
class StoresReferrers(Protocol):
    """A destination that keeps referrers: artifact manifests whose blobs were put first
    (:meth:`ImageDestination.put_blob`), stored and indexed under their subject at once,
    independently of :meth:`ImageDestination.commit`."""

    def put_referrer(self, subject: Digest, raw: bytes, descriptor: Descriptor) -> None:
        """Store the manifest ``raw`` (``descriptor`` describes it, with its
        ``artifactType`` and annotations) and list it as a referrer of ``subject``."""
        ...


def referrers_of(source: ImageSource) -> HoldsReferrers | None:
    """``source`` as a :class:`HoldsReferrers`, or None when it keeps no referrers."""
    return source if isinstance(source, HoldsReferrers) else None


def referrer_store_of(dest: ImageDestination) -> StoresReferrers | None:
    """``dest`` as a :class:`StoresReferrers`, or None when it cannot keep referrers."""
    return dest if isinstance(dest, StoresReferrers) else None


def signatures_of(source: ImageSource) -> HoldsSignatures | None:
    """``source`` as a :class:`HoldsSignatures`, or None when it keeps no signatures."""
    return source if isinstance(source, HoldsSignatures) else None


def signature_store_of(dest: ImageDestination) -> StoresSignatures | None:
    """``dest`` as a :class:`StoresSignatures`, or None when it cannot keep signatures."""
    return dest if isinstance(dest, StoresSignatures) else None


def current_manifest_of(dest: ImageDestination) -> KnowsCurrentManifest | None:
    """``dest`` as a :class:`KnowsCurrentManifest`, or None when it cannot say."""
    return dest if isinstance(dest, KnowsCurrentManifest) else None


def blob_info_cache_of(side: ImageSource | ImageDestination) -> BlobInfoCache | None:
    """The blob-info cache ``side`` keeps, or None when it keeps none."""
    return side.blob_info_cache if isinstance(side, HasBlobInfoCache) else None


def stores_one_platform(dest: ImageDestination) -> bool:
    """Whether ``dest`` takes ``--all`` as a copy of the one platform chosen."""
    return isinstance(dest, StoresOnePlatform) and dest.one_platform_of_all


def puts_config_with_layers(dest: ImageDestination) -> bool:
    """Whether ``dest`` wants the config put beside the layers."""
    return isinstance(dest, PutsConfigWithLayers) and dest.config_with_layers


__all__ = [
    "MAX_CONFIG_SIZE",
    "MAX_INDEX_DEPTH",
    "HasBlobInfoCache",
    "HoldsReferrers",
    "HoldsSignatures",
    "ImageDestination",
    "ImageSource",
    "KnowsCurrentManifest",
    "ListsRepositoryTags",
    "NamesItsImage",
    "PutsConfigWithLayers",
    "StoresOnePlatform",
    "StoresReferrers",
    "StoresSignatures",
    "blob_info_cache_of",
    "current_manifest_of",
    "image_names_of",
    "puts_config_with_layers",
    "referrer_store_of",
    "referrers_of",
    "signature_store_of",
    "signatures_of",
    "stores_one_platform",
]
