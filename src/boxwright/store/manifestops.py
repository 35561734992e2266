"""What ``boxwright manifest`` does to the store's manifest lists: add, remove, annotate, push.

An instance is added from an image of the store (a bare name or ``store:`` reference that
names one) or from any transport reference (``docker://``, ``oci:``, archives, ``dir:``); a
bare name the store does not hold is a registry reference, as for ``pull``. The instance's
manifest is stored; its platform is the one the image's config says (or the index entry's,
when several instances come from an index with ``all``), then changed by the caller's
:class:`PlatformEdit`.

:func:`push_list` writes the list through the one copy pipeline: :class:`ManifestListSource`
presents the list as an index whose manifests and blobs come from the store, or, for an
instance added from elsewhere, from the reference it came from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from boxwright.errors import (
    BlobNotFoundError,
    ImageNotFoundError,
    ManifestError,
    UsageError,
)
from boxwright.oci import mediatype as mt
from boxwright.oci.config import ImageConfig
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.index import ImageIndex, choose_instance
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.parse import parse_manifest
from boxwright.oci.platform import Platform
from boxwright.oci.readers import VerifyingStream
from boxwright.store.manifests import (
    ListInstance,
    ManifestListRecord,
    list_media_type,
    with_instances,
)
from boxwright.store.referrers import read_referrers
from boxwright.transport.base import MAX_CONFIG_SIZE, ImageSource
from boxwright.transport.reference import parse_transport_reference

if TYPE_CHECKING:
    from boxwright.copy.pipeline import CopyResult
    from boxwright.copy.progress import ProgressCallback
    from boxwright.store.store import Store
    from boxwright.transport.options import TransportOptions
    from boxwright.trust.signing import Signer


@dataclass(frozen=True)
class PlatformEdit:
    """The platform fields ``manifest add``/``annotate`` set (None: keep what is there)."""

    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] | None = None
    features: tuple[str, ...] | None = None

    def apply(self, platform: Platform | None) -> Platform | None:
        """``platform`` with the given fields replaced; None stays None if nothing is given."""
        if platform is None:
            if self.os is None and self.architecture is None and not self._any_detail():
                return None
            platform = Platform(os="", architecture="")
        return Platform(
            os=platform.os if self.os is None else self.os,
            architecture=platform.architecture if self.architecture is None else self.architecture,
            variant=platform.variant if self.variant is None else self.variant,
            os_version=platform.os_version if self.os_version is None else self.os_version,
            os_features=platform.os_features if self.os_features is None else self.os_features,
            features=platform.features if self.features is None else self.features,
        )

    def _any_detail(self) -> bool:
        return any(
            v is not None for v in (self.variant, self.os_version, self.os_features, self.features)
        )


def _store_image_instance(store: Store, name_or_id: str) -> ListInstance:
    record = store.images.get(name_or_id)
    config = store.images.config(record)
    size = store.blobs.size(record.manifest)
    desc = Descriptor(record.manifest_media_type, record.manifest, size, platform=config.platform())
    return ListInstance(desc, "", record.digests)


def _config_platform(source: ImageSource, manifest: ImageManifest) -> Platform:
    if manifest.config.size > MAX_CONFIG_SIZE:
        raise ManifestError(f"the config of {source.name} is larger than {MAX_CONFIG_SIZE} bytes")
    with source.get_blob(manifest.config) as stream:
        raw = stream.read(manifest.config.size + 1)
    return ImageConfig.parse(raw).platform()


def _stored_manifest(store: Store, raw: bytes, media_type: str) -> Descriptor:
    return store.blobs.put_bytes(raw).with_(media_type=media_type)


def _instances_from_source(
    store: Store, source: ImageSource, ref: str, *, all: bool, platform: Platform | None
) -> list[ListInstance]:
    raw, media_type = source.get_manifest()
    top = parse_manifest(raw, media_type)
    if isinstance(top, ImageIndex):
        entries = list(top.manifests) if all else [choose_instance(top, platform)]
        out = []
        for entry in entries:
            child_raw, child_type = source.get_manifest(entry.digest)
            child = parse_manifest(child_raw, child_type)
            if not isinstance(child, ImageManifest):
                raise UsageError(
                    f"{ref}: instance {entry.digest} is not an image manifest; "
                    "a manifest list holds images only"
                )
            desc = _stored_manifest(store, child_raw, child.media_type)
            plat = entry.platform or _config_platform(source, child)
            out.append(ListInstance(desc.with_(platform=plat, annotations={}), ref, (desc.digest,)))
        return out
    if not isinstance(top, ImageManifest):
        raise UsageError(f"{ref} is a Docker schema 1 image, which a manifest list cannot hold")
    desc = _stored_manifest(store, raw, top.media_type)
    plat = _config_platform(source, top)
    return [ListInstance(desc.with_(platform=plat), ref, (desc.digest,))]


def resolve_instances(
    store: Store,
    reference: str,
    *,
    all: bool = False,
    platform: Platform | None = None,
    src_options: TransportOptions | None = None,
) -> list[ListInstance]:
    """The instances ``reference`` gives a list (see the module docstring).

    ``all``: every image of an index; else the one for ``platform`` (default: this machine's).
    """
    ref = parse_transport_reference(reference)
    if ref.transport == "store":
        if not ref.implicit or store.images.exists(ref.path):
            return [_store_image_instance(store, ref.path)]
        ref = parse_transport_reference(f"docker://{reference}")
    source = ref.open_source(src_options)
    try:
        return _instances_from_source(store, source, str(ref), all=all, platform=platform)
    finally:
        source.close()


def add_to_list(
    store: Store,
    list_name: str,
    reference: str,
    *,
    all: bool = False,
    edit: PlatformEdit | None = None,
    annotations: Mapping[str, str] | None = None,
    src_options: TransportOptions | None = None,
) -> tuple[ManifestListRecord, list[Digest]]:
    """Add what ``reference`` names to the list; return the list and the digests added."""
    store.manifest_lists.get(list_name)  # fails before anything is fetched
    with store.writing():
        found = resolve_instances(store, reference, all=all, src_options=src_options)
        added = [_edited(i, edit, annotations) for i in found]
        record = store.manifest_lists.update(list_name, lambda r: with_instances(r, added))
    return record, [i.digest for i in added]


def _edited(
    inst: ListInstance, edit: PlatformEdit | None, annotations: Mapping[str, str] | None
) -> ListInstance:
    desc = inst.descriptor
    if edit is not None:
        desc = desc.with_(platform=edit.apply(desc.platform))
    if annotations:
        desc = desc.with_(annotations={**desc.annotations, **annotations})
    return replace(inst, descriptor=desc)


# The store, the list, one instance and what changes: a keyword list alike in shape to
# layer and build helpers' signatures, nothing shared.
def annotate_instance(
    store: Store,
    list_name: str,
    digest: str,
    *,
    edit: PlatformEdit | None = None,
    annotations: Mapping[str, str] | None = None,
) -> ManifestListRecord:
    """Change the platform fields and annotations of one instance of the list."""

    def change(record: ManifestListRecord) -> ManifestListRecord:
        target = record.instance(digest)
        new = _edited(target, edit, annotations)
        return replace(
            record,
            instances=tuple(new if i.digest == target.digest else i for i in record.instances),
        )

    return store.manifest_lists.update(list_name, change)


def remove_instance(store: Store, list_name: str, digest: str) -> ManifestListRecord:
    """Take the instance ``digest`` out of the list (the image itself stays)."""

    def change(record: ManifestListRecord) -> ManifestListRecord:
        target = record.instance(digest)
        return replace(
            record, instances=tuple(i for i in record.instances if i.digest != target.digest)
        )

    return store.manifest_lists.update(list_name, change)


# An ImageSource over a stored list; its constructor's keywords look like copy's BlobCopier's
# only in shape.
class ManifestListSource:
    """An :class:`~boxwright.transport.base.ImageSource` presenting a list as an index.

    Manifests come from the store; a blob comes from the store when it is there, else from the
    reference of the instance that names it (opened on first use, closed with this source).
    """

    def __init__(
        self,
        store: Store,
        record: ManifestListRecord,
        media_type: str | None = None,
        src_options: TransportOptions | None = None,
    ) -> None:
        self.store = store
        self.record = record
        self.index = record.index(media_type)
        self.src_options = src_options
        self._opened: dict[str, ImageSource] = {}
        self._blob_sources: dict[Digest, str] | None = None

    @property
    def name(self) -> str:
        return f"manifest list {self.record.names[0] if self.record.names else self.record.id}"

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        """The index; an instance's manifest; or another manifest the store keeps (a
        referrer of an instance)."""
        if digest is None:
            return self.index.raw, self.index.media_type
        listed = {i.digest: i for i in self.record.instances}.get(digest)
        try:
            raw = self.store.blobs.read(digest)
        except BlobNotFoundError:
            raise ImageNotFoundError(f"manifest {digest} of {self.name} is not stored") from None
        if listed is not None:
            return raw, listed.descriptor.media_type
        return raw, parse_manifest(raw).media_type

    def get_referrers(self, digest: Digest) -> list[Descriptor]:
        """The referrers (SBOM, provenance) the store keeps for an instance ``digest``."""
        return read_referrers(self.store, digest)

    def _source_of(self, digest: Digest) -> ImageSource | None:
        if self._blob_sources is None:
            where: dict[Digest, str] = {}
            for inst in self.record.instances:
                if not inst.source:
                    continue
                manifest = parse_manifest(*self.get_manifest(inst.digest))
                if isinstance(manifest, ImageManifest):
                    for blob in (manifest.config, *manifest.layers):
                        where.setdefault(blob.digest, inst.source)
            self._blob_sources = where
        ref = self._blob_sources.get(digest)
        if ref is None:
            return None
        if ref not in self._opened:
            self._opened[ref] = parse_transport_reference(ref).open_source(self.src_options)
        return self._opened[ref]

    def get_blob(self, descriptor: Descriptor) -> VerifyingStream:
        if self.store.blobs.has(descriptor.digest, descriptor.size):
            return self.store.blobs.open(descriptor)
        source = self._source_of(descriptor.digest)
        if source is None:
            raise BlobNotFoundError(f"blob {descriptor.digest} of {self.name} is not stored")
        return source.get_blob(descriptor)

    def close(self) -> None:
        """Close the references opened for instances added from elsewhere."""
        for source in self._opened.values():
            source.close()
        self._opened.clear()


# push_list starts with add_to_list's parameters (the store, the list, a reference) and takes
# copy's options after them: the same first words, other operations.
def push_list(
    store: Store,
    list_name: str,
    destination: str,
    *,
    all: bool = True,
    format: str | None = None,
    src_options: TransportOptions | None = None,
    dest_options: TransportOptions | None = None,
    dest_compress: str | None = None,
    on_progress: ProgressCallback | None = None,
    signers: tuple[Signer, ...] = (),
    sign_identity: str | None = None,
    referrers: bool = False,
) -> CopyResult | Descriptor:
    """Write the list to ``destination``: with ``all`` its images and then the index (through
    the copy pipeline), without it the index alone. ``format`` (``oci``, ``v2s2``) converts
    the index and every image; None writes the list in its own type and each image as stored.
    ``signers`` sign the index (for ``sign_identity``); ``referrers`` carries the images'
    referrers the store keeps (a build's SBOM and provenance).
    """
    record = store.manifest_lists.get(list_name)
    if not record.instances:
        raise UsageError(f"manifest list {list_name} lists no images: nothing to push")
    media_type = list_media_type(format, record.media_type)
    copy_format = None if format is None else ("oci" if media_type == mt.OCI_INDEX else "v2s2")
    source = ManifestListSource(store, record, media_type, src_options)
    try:
        if not all:
            dest = parse_transport_reference(destination).open_destination(dest_options)
            try:
                top = dest.put_manifest(source.index.raw, source.index.media_type)
                dest.commit(top)
            finally:
                dest.close()
            return top
        # The copy pipeline only for a push: a lookup (image_for_platform, every container's
        # creation, a cached rebuild) must not load it.
        from boxwright.copy.pipeline import CopyOptions, copy_image

        options = CopyOptions(
            all_platforms=True,
            format=copy_format,
            dest_compress=dest_compress,
            src_options=src_options,
            dest_options=dest_options,
            on_progress=on_progress,
            signers=signers,
            sign_identity=sign_identity,
            referrers=referrers,
        )
        return copy_image(source, destination, options)
    finally:
        source.close()


def tag(store: Store, name_or_id: str, *new: str) -> None:
    """``tag``: give the image ``name_or_id`` names, or the manifest list it names when no
    image has that name or ID (a name moves off whatever image or list held it)."""
    if not store.images.exists(name_or_id) and store.manifest_lists.find(name_or_id):
        store.manifest_lists.tag(name_or_id, *new)
    else:
        store.images.tag(name_or_id, *new)


__all__ = [
    "ManifestListSource",
    "PlatformEdit",
    "add_to_list",
    "annotate_instance",
    "push_list",
    "remove_instance",
    "resolve_instances",
    "tag",
]
