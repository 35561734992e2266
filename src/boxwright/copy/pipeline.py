"""The one copy pipeline: any image source to any image destination.

The steps, in order, each a method of :class:`_Pipeline`:

1. **resolve** the source's top manifest (an index, an image manifest, or Docker schema 1);
2. **choose images**: with ``all_platforms`` every image of an index (then the index itself),
   else the one image for the wanted platform (default: this machine's);
3. for each image, **plan**: the manifest type to write (the source's when the destination
   stores it, else ``format`` or the destination's preferred) and each layer's compression
   (``dest_compress``, the destination's required compression, zstd never in Docker schema 2);
4. **blobs**, in parallel: skip what the destination has, else stream the verified source
   blob, recompressing when planned; every layer that is decompressed on the way is checked
   against its ``rootfs.diff_ids`` entry of the config as the uncompressed bytes pass, and a
   mismatch fails the copy before anything refers to the blob;
5. **config**, converted as containers/image does when Docker schema 2 becomes OCI: read
   beside the layers, stored after them (or beside them for a registry,
   ``config_with_layers``);
6. **manifest**: the ORIGINAL raw bytes when nothing changed, so the digest is unchanged,
   else a converted manifest; then the index, rebuilt only when one of its images changed;
7. **commit** the top manifest under the destination reference.

A failure anywhere (a corrupt blob, a missing platform, an unsupported conversion) raises the
typed error and nothing is committed: the destination shows no image under its reference.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from boxwright._log import Logger
from boxwright.copy.accepting import AcceptEverything, Admits
from boxwright.copy.blobs import BlobCopier, BlobOutcome, ExpectedDiffId
from boxwright.copy.convert import (
    COMPRESSIONS,
    FORMATS,
    choose_manifest_type,
    index_type_for,
    layer_target_compression,
    recompressed_layer_type,
)
from boxwright.copy.progress import MANIFEST, ProgressCallback, ProgressEvent
from boxwright.copy.referrers import carry_referrers
from boxwright.errors import (
    InvalidReferenceError,
    ManifestError,
    SignatureError,
    UnsupportedMediaTypeError,
    UsageError,
)
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.index import ImageIndex, choose_instance
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.parse import parse_manifest
from boxwright.oci.platform import Platform
from boxwright.transport.base import (
    MAX_CONFIG_SIZE,
    MAX_INDEX_DEPTH,
    ImageDestination,
    ImageSource,
    blob_info_cache_of,
    current_manifest_of,
    puts_config_with_layers,
    referrer_store_of,
    signature_store_of,
    stores_one_platform,
)
from boxwright.transport.blobinfocache import shared_cache
from boxwright.transport.reference import (
    TransportReference,
    open_reference,
    parse_transport_reference,
)
from boxwright.trust.policyfile import accepts_every_image

if TYPE_CHECKING:
    from boxwright.oci.config import ImageConfig
    from boxwright.transport.blobinfocache import BlobInfoCache
    from boxwright.transport.options import TransportOptions
    from boxwright.trust.policy import Policy
    from boxwright.trust.signing import Signer

DEFAULT_PARALLEL: Final = 4
"""Blobs moved at once by default (containers/image uses 6 for registries; local disks
gain little beyond 4 on two cores)."""


_log = Logger(__name__)
_NO_SIGNATURES: Final = "it does not store signatures (dir:, docker:// and the store do)"

_Stored = tuple[Descriptor, bool]
"""A blob as stored, and whether it was transferred (False: the destination had it)."""


# One field per `copy` flag, each with its default; TransportOptions looks alike, for the
# transport flags of each side.
@dataclass(frozen=True, slots=True)
class CopyOptions:
    """How :func:`copy_image` copies.

    ``all_platforms``: copy every image of an index, and the index (``--all``).
    ``platform``: the image to pick out of an index (default: this machine's platform).
    ``format``: ``"oci"`` or ``"v2s2"`` manifests; None keeps the source's when the
    destination stores it, else uses the destination's preferred type.
    ``dest_compress``: ``"gzip"``, ``"zstd"`` or ``"none"`` to recompress every layer (diff_ids
    stay, digests, sizes and media types change); None keeps each layer as it is unless the
    destination requires a compression. ``compression_level``: gzip 0-9 (0-3 ISA-L, default 1),
    zstd 1-22 (default 3). ``parallel``: blobs moved at once. ``on_progress``: receives a
    :class:`~boxwright.copy.progress.ProgressEvent` per step, possibly from several threads.
    ``src_options``/``dest_options``: credentials, TLS and tuning for a registry source or
    destination (:class:`~boxwright.transport.options.TransportOptions`; other transports
    ignore them). ``preserve_digests`` (skopeo's ``--preserve-digests``): write every manifest
    byte for byte, so every digest stays, or fail before any blob moves when the format,
    ``dest_compress`` or the destination needs a change (uncompressed layers then stay
    uncompressed, where a destination would otherwise compress them).
    ignore them).
    ``policy``: the signature policy every image read from the source must satisfy (None:
    the policy.json in force, see :func:`~boxwright.trust.policy.default_policy`).
    ``remove_signatures``: do not copy the source's signatures (``--remove-signatures``).
    ``signers``: add a signature of the written top manifest by each
    (:mod:`boxwright.trust.signing`), for ``sign_identity`` (a Docker reference; None: the
    destination's own).
    ``referrers``: also copy the OCI 1.1 referrers (SBOMs, provenance, artifacts) of every
    manifest written byte for byte, and theirs (:mod:`boxwright.copy.referrers`).
    """

    all_platforms: bool = False
    platform: Platform | None = None
    format: str | None = None
    dest_compress: str | None = None
    compression_level: int | None = None
    parallel: int = DEFAULT_PARALLEL
    on_progress: ProgressCallback | None = None
    src_options: TransportOptions | None = None
    dest_options: TransportOptions | None = None
    compress_uncompressed: bool = False
    preserve_digests: bool = False
    policy: Policy | None = None
    remove_signatures: bool = False
    signers: tuple[Signer, ...] = ()
    sign_identity: str | None = None
    referrers: bool = False

    def check(self) -> None:
        """Raise :class:`UsageError` for options that contradict each other or are unknown."""
        if self.format is not None and self.format not in FORMATS:
            raise UsageError(f"unknown manifest format {self.format!r}: expected oci or v2s2")
        if self.dest_compress is not None and self.dest_compress not in COMPRESSIONS:
            raise UsageError(
                f"unknown compression {self.dest_compress!r}: expected gzip, zstd or none"
            )
        if self.all_platforms and self.platform is not None:
            raise UsageError("--all copies every platform: drop --platform, or drop --all")
        if self.parallel < 1:
            raise UsageError(f"parallel must be at least 1, not {self.parallel}")
        level = self.compression_level
        if level is not None:
            algorithm = self.dest_compress or ("gzip" if self.compress_uncompressed else None)
            if algorithm is None or algorithm == "none":
                raise UsageError(
                    "a compression level needs --dest-compress or --dest-compress-format"
                )
            low, high = (0, 9) if algorithm == "gzip" else (1, 22)
            if not low <= level <= high:
                raise UsageError(
                    f"{algorithm} compression level {level} is out of range {low}-{high}"
                )


@dataclass(frozen=True, slots=True)
class CopiedImage:
    """One image manifest as written to the destination."""

    source_digest: Digest
    descriptor: Descriptor
    config: Descriptor
    layers: tuple[Descriptor, ...]
    platform: Platform | None

    @property
    def converted(self) -> bool:
        """Whether the manifest was rewritten (its digest differs from the source's)."""
        return self.descriptor.digest != self.source_digest


@dataclass(frozen=True, slots=True)
class CopyResult:
    """What :func:`copy_image` did.

    ``descriptor`` is the committed top manifest (an index with ``all_platforms``), ``images``
    every image manifest written, ``blobs_written``/``blobs_skipped`` the blobs that were
    transferred or already present (layers and configs, each once, in order of first use).
    ``unchanged`` is true when the destination already held exactly this image under its
    reference, so nothing was written (a registry destination checks that with one request).
    """

    descriptor: Descriptor
    images: tuple[CopiedImage, ...]
    blobs_written: tuple[Digest, ...]
    blobs_skipped: tuple[Digest, ...]
    unchanged: bool = False
    referrers: tuple[Digest, ...] = ()
    """The referrer manifests carried along (``CopyOptions.referrers``)."""

    # The committed top manifest's descriptor, taken apart for callers: property accessors
    # alike in shape to other records' (containers-storage's paths).
    @property
    def digest(self) -> Digest:
        """The digest of the committed top manifest (what skopeo's ``--digestfile`` holds)."""
        return self.descriptor.digest

    @property
    def media_type(self) -> str:
        """The media type of the committed top manifest."""
        return self.descriptor.media_type


def copy_image(
    src: str | TransportReference | ImageSource,
    dst: str | TransportReference | ImageDestination,
    options: CopyOptions | None = None,
) -> CopyResult:
    """Copy an image (or with ``all_platforms`` a whole index) from ``src`` to ``dst``.

    ``src`` and ``dst`` are reference strings (``oci:DIR:TAG``, ``docker-archive:FILE``, ...),
    parsed references, or already opened sources and destinations (which are then left open
    for the caller to close). Blobs are streamed and verified, never held whole in memory.
    Raises a :class:`~boxwright.errors.BoxwrightError` subclass on failure, and then nothing
    is committed at the destination.
    """
    options = options or CopyOptions()
    options.check()
    if options.preserve_digests:
        options = _preserving(options)
    src_ref, source, own_source = open_reference(src, options.src_options)
    try:
        admission = _admission(src_ref, source, options)
        dest, own_dest, dst_ref = _open_destination(dst, options.dest_options)
        try:
            with ThreadPoolExecutor(options.parallel, thread_name_prefix="boxwright-copy") as pool:
                pipeline = _Pipeline(source, dest, options, pool, admission)
                top = pipeline.run()
            pipeline.put_signatures(top, _new_signatures(top, dest, dst_ref, options))
            dest.commit(top)
            carried = pipeline.carry_referrers(top) if options.referrers else ()
            if pipeline.blobs_cache is not None:
                pipeline.blobs_cache.flush()
            return dataclasses.replace(pipeline.result(top), referrers=carried)
        finally:
            if own_dest:
                dest.close()
    finally:
        if own_source:
            source.close()


def _preserving(options: CopyOptions) -> CopyOptions:
    """``options`` without what would change a digest: preserved digests win, as in skopeo."""
    ignored = [
        flag
        for flag, value in (
            ("format", options.format),
            ("dest_compress", options.dest_compress),
            ("compress_uncompressed", options.compress_uncompressed),
        )
        if value
    ]
    if not ignored:
        return options
    _log.warning("preserving digests: %s ignored (as skopeo ignores them)", ", ".join(ignored))
    return dataclasses.replace(
        options,
        format=None,
        dest_compress=None,
        compress_uncompressed=False,
        compression_level=None,
    )


def _compress_plain(options: CopyOptions, dest: ImageDestination) -> str | None:
    """The compression uncompressed layers get on the way (gzip when asked, else the
    destination's wish), or None to keep them as they are (``dest_compress`` decides for
    every layer; preserved digests change no layer)."""
    if options.dest_compress or options.preserve_digests:
        return None
    if options.compress_uncompressed:
        return "gzip"
    return dest.desired_compression


def _open_destination(
    dst: str | TransportReference | ImageDestination, options: TransportOptions | None = None
) -> tuple[ImageDestination, bool, TransportReference | None]:
    """The destination ``dst`` names, whether this copy opened it (and so closes it), and
    its reference (that of its name when it was given open, None when that does not parse)."""
    if isinstance(dst, str):
        dst = parse_transport_reference(dst)
    if isinstance(dst, TransportReference):
        return dst.open_destination(options), True, dst
    try:
        return dst, False, parse_transport_reference(dst.name)
    except InvalidReferenceError:
        return dst, False, None


def _admission(ref: TransportReference | None, source: ImageSource, options: CopyOptions) -> Admits:
    """The policy this copy applies to what it reads from ``source``: the policy in force
    accepting every image is known from its file alone, and then nothing of the policy model
    or the signature formats is loaded (``docs/performance.md``, "What the mount push
    spends")."""
    if options.policy is None and accepts_every_image():
        return AcceptEverything(source)
    from boxwright.copy.admission import Admission

    return Admission.of(options.policy, ref, source)


def _new_signatures(
    top: Descriptor,
    dest: ImageDestination,
    dst_ref: TransportReference | None,
    options: CopyOptions,
) -> list[bytes]:
    """The signatures ``options.signers`` make of the written top manifest, for the
    ``sign_identity`` or else the destination's own Docker reference."""
    if not options.signers:
        return []
    identity = _sign_identity(dest, dst_ref, options.sign_identity)
    return [signer.sign(top.digest, identity) for signer in options.signers]


def _sign_identity(
    dest: ImageDestination, dst_ref: TransportReference | None, explicit: str | None
) -> str:
    """The Docker reference new signatures vouch for, as containers/image chooses it."""
    from boxwright.oci.reference import Reference

    if explicit is not None:
        ref = Reference.parse_normalized(explicit)
        if not ref.tag and ref.digest is None:
            raise UsageError(f"Sign identity must be a fully specified reference {explicit}")
        return str(ref)
    from boxwright.copy.admission import docker_reference_of

    docker = docker_reference_of(dst_ref) if dst_ref is not None else None
    if docker is None:
        raise UsageError(
            f"Cannot determine canonical Docker reference for destination {dest.name}: "
            "give one with --sign-identity"
        )
    return str(docker)


def _blob_info_cache(
    source: ImageSource, dest: ImageDestination, options: CopyOptions
) -> BlobInfoCache:
    """The blob-info cache of this copy: a registry side's own, else the one the options name
    (the default file unless ``use_blob_info_cache`` is off), as containers/image uses its
    default cache for every transport."""
    for side in (dest, source):
        cache = blob_info_cache_of(side)
        if cache is not None:
            return cache
    opts = options.dest_options or options.src_options
    if opts is not None and not opts.use_blob_info_cache:
        return shared_cache(None, use_default=False)
    return shared_cache(opts.blob_info_cache if opts is not None else None)


class _Pipeline:
    """The steps of one copy; holds what was done so far for the :class:`CopyResult`."""

    def __init__(
        self,
        source: ImageSource,
        dest: ImageDestination,
        options: CopyOptions,
        pool: ThreadPoolExecutor,
        admission: Admits,
    ) -> None:
        # One run of the pipeline: its inputs kept as given, its state built below.
        self.source = source
        self.dest = dest
        self.options = options
        self.pool = pool
        self.admission = admission
        # The optional capabilities of the destination, asked once.
        self.current = current_manifest_of(dest)
        self.signature_store = signature_store_of(dest)
        if options.signers and self.signature_store is None:
            raise SignatureError(f"Cannot sign {dest.name}: {_NO_SIGNATURES}")
        if options.referrers and referrer_store_of(dest) is None:
            raise UsageError(
                f"{dest.name} cannot keep referrers (docker://, oci: and the store do): "
                "drop --referrers"
            )
        self.config_with_layers = puts_config_with_layers(dest)
        self.blobs = BlobCopier(
            source,
            dest,
            level=options.compression_level,
            on_progress=options.on_progress,
            compress_plain=_compress_plain(options, dest),
            cache=_blob_info_cache(source, dest, options),
        )
        self.blobs_cache = self.blobs.cache
        self.images: list[CopiedImage] = []
        self.written: dict[Digest, None] = {}
        self.skipped: dict[Digest, None] = {}
        self.unchanged = False
        self.carried: dict[Digest, list[bytes]] = {}
        """The source's signatures of each manifest written unchanged, by digest."""
        self.source_top: Digest | None = None

    # -- signatures ----------------------------------------------------------------------------

    def carry(self, digest: Digest, unchanged: Callable[[], bool]) -> None:
        """Note the source's signatures of manifest ``digest`` for the destination, unless
        ``remove_signatures``. A manifest with signatures must reach the destination byte for
        byte (``unchanged()``), and the destination must keep signatures: else the copy
        stops here, before anything of the image is written, as containers/image's does."""
        if self.options.remove_signatures:
            return
        signatures = self.admission.signatures(digest)
        if not signatures:
            return
        if self.signature_store is None:
            raise SignatureError(
                f"Can not copy signatures to {self.dest.name}: {_NO_SIGNATURES}; copy with "
                "--remove-signatures"
            )
        if not unchanged():
            raise SignatureError(
                f"Can not copy {digest} to {self.dest.name} with its signatures: the manifest "
                "must be converted, which would invalidate them; copy with --remove-signatures"
            )
        self.carried[digest] = list(signatures)

    def put_signatures(self, top: Descriptor, new: Sequence[bytes]) -> None:
        """Hand the carried signatures, and ``new`` ones of ``top``, to the destination."""
        if new:
            self.carried[top.digest] = [*self.carried.get(top.digest, []), *new]
        if self.signature_store is None:
            return
        for digest, signatures in self.carried.items():
            self.signature_store.put_signatures(digest, signatures)

    def carry_referrers(self, top: Descriptor) -> tuple[Digest, ...]:
        """Copy the referrers of every manifest written byte for byte (the top and each
        image); those of a converted manifest stay behind, with a warning."""
        pairs = [(self.source_top, top.digest)]
        pairs += [(image.source_digest, image.descriptor.digest) for image in self.images]
        subjects: dict[Digest, None] = {}
        for source, written in pairs:
            if source is None:
                continue
            if source != written:
                _log.warning("the referrers of %s stay behind: it was converted", source)
                continue
            subjects[source] = None
        return tuple(carry_referrers(self.source, self.dest, subjects))

    def result(self, top: Descriptor) -> CopyResult:
        return CopyResult(
            top, tuple(self.images), tuple(self.written), tuple(self.skipped), self.unchanged
        )

    # -- 1. resolve and 2. choose images ---------------------------------------------------

    def run(self) -> Descriptor:
        """Copy what the source reference names; return the descriptor to commit."""
        raw, media_type = self.source.get_manifest()
        self.source_top = Digest.from_bytes(raw)
        top = parse_manifest(raw, media_type)
        already = self.already_there(top)
        if already is not None:
            self.unchanged = True
            return already
        if isinstance(top, ImageIndex):
            if self.options.all_platforms and not stores_one_platform(self.dest):
                if not self.dest.supports_index:
                    raise UsageError(
                        f"{self.dest.name} cannot store a multi-platform image: "
                        "drop --all to copy one platform (see --platform)"
                    )
                return self.copy_index(top, 0)
            return self.copy_selected(top, 0)
        if isinstance(top, ImageManifest):
            return self.copy_manifest(top, None)
        return self.copy_schema1()

    # -- 1b. nothing to do ----------------------------------------------------------------

    def already_there(self, top: object) -> Descriptor | None:
        """The descriptor to commit when the destination already holds exactly what this copy
        would write under its reference, else None.

        Only destinations that can say what their reference names now take part (a registry:
        ``current_manifest()``, one HEAD). The copy would write the source's bytes unchanged
        when no conversion or recompression is planned; then equal digests mean equal images,
        and nothing else is read or written.
        """
        if self.current is None:
            return None
        images: list[tuple[ImageManifest, Platform | None]] = []

        def unchanged(node: object, platform: Platform | None, depth: int) -> Descriptor | None:
            if isinstance(node, ImageManifest):
                self.admission.admit(node.digest)
                if not self._keeps_bytes(node):
                    return None
                images.append((node, platform))
                return Descriptor(node.media_type, node.digest, len(node.raw))
            if not isinstance(node, ImageIndex):
                return None
            if depth + 1 >= MAX_INDEX_DEPTH:
                return None
            if not self.options.all_platforms:
                entry = choose_instance(node, self.options.platform)
                child = parse_manifest(*self.source.get_manifest(entry.digest))
                return unchanged(child, entry.platform, depth + 1)
            index_type = index_type_for(
                node.media_type, self.options.format, self.dest.supported_manifest_types
            )
            if index_type != node.media_type or not self.dest.supports_index:
                return None
            for entry in node.manifests:
                child = parse_manifest(*self.source.get_manifest(entry.digest))
                if unchanged(child, entry.platform, depth + 1) is None:
                    return None
            return Descriptor(node.media_type, node.digest, len(node.raw))

        wanted = unchanged(top, None, 0)
        if wanted is None:
            return None
        current = self.current.current_manifest()
        if current is None or current.digest != wanted.digest:
            return None
        self._record_unchanged(wanted, images)
        return wanted

    def _record_unchanged(
        self, wanted: Descriptor, images: list[tuple[ImageManifest, Platform | None]]
    ) -> None:
        """Record what the destination already holds as this copy's result: each image (its
        blobs noted as not written), and the signatures of the top and of each image to carry."""
        if wanted.digest not in {manifest.digest for manifest, _ in images}:
            self.carry(wanted.digest, lambda: True)
        for manifest, platform in images:
            self.carry(manifest.digest, lambda: True)
            self.images.append(
                CopiedImage(
                    manifest.digest,
                    Descriptor(manifest.media_type, manifest.digest, len(manifest.raw)),
                    manifest.config,
                    manifest.layers,
                    platform,
                )
            )
            for blob in (*manifest.layers, manifest.config):
                self._note(blob.digest, False)

    def _keeps_bytes(self, manifest: ImageManifest) -> bool:
        """Whether copying ``manifest`` would write it byte for byte (no conversion planned)."""
        opts = self.options
        target = choose_manifest_type(
            manifest.media_type, self.dest.supported_manifest_types, opts.format
        )
        if target != manifest.media_type:
            return False
        compress_plain = _compress_plain(opts, self.dest)
        for layer in manifest.layers:
            plan = layer_target_compression(
                layer, target, opts.dest_compress, self.dest.required_compression
            )
            if plan is not None:
                return False
            if mt.layer_compression(layer.media_type) == "none" and compress_plain not in (
                None,
                "none",
            ):
                return False
        return True

    def copy_selected(self, index: ImageIndex, depth: int) -> Descriptor:
        """Copy the one image of ``index`` for the wanted platform."""
        entry = choose_instance(index, self.options.platform)
        child = parse_manifest(*self.source.get_manifest(entry.digest))
        if isinstance(child, ImageIndex):
            self._check_depth(depth)
            return self.copy_selected(child, depth + 1)
        if not isinstance(child, ImageManifest):
            raise UnsupportedMediaTypeError(
                f"index entry {entry.digest} is a Docker schema 1 manifest, "
                "which cannot be part of an index"
            )
        return self.copy_manifest(child, entry.platform)

    def copy_index(self, index: ImageIndex, depth: int) -> Descriptor:
        """Copy every image of ``index`` (nested indexes too), then the index itself."""
        children: list[Descriptor] = []
        index_type = index_type_for(
            index.media_type, self.options.format, self.dest.supported_manifest_types
        )
        self.carry(index.digest, lambda: index_type == index.media_type)
        for entry in index.manifests:
            child = parse_manifest(*self.source.get_manifest(entry.digest))
            if isinstance(child, ImageIndex):
                self._check_depth(depth)
                written = self.copy_index(child, depth + 1)
            elif isinstance(child, ImageManifest):
                written = self.copy_manifest(child, entry.platform)
            else:
                raise UnsupportedMediaTypeError(
                    f"index entry {entry.digest} is a Docker schema 1 manifest, "
                    "which cannot be part of an index"
                )
            children.append(
                entry.with_(media_type=written.media_type, digest=written.digest, size=written.size)
            )
        if tuple(children) == index.manifests and index_type == index.media_type:
            return self.put_manifest(index.raw, index.media_type)
        if self.options.preserve_digests:
            raise UsageError(
                f"cannot preserve the digest of the index of {self.source.name} copying to "
                f"{self.dest.name}: the destination needs another format (drop "
                "--preserve-digests)"
            )
        if index.digest in self.carried:
            raise SignatureError(
                f"Can not copy {index.digest} to {self.dest.name} with its signatures: an "
                "image of the index must be converted, which would invalidate them; copy "
                "with --remove-signatures"
            )
        rebuilt = index.with_manifests(children).convert(index_type)
        return self.put_manifest(rebuilt.raw, rebuilt.media_type)

    def copy_schema1(self) -> Descriptor:
        """Copy a Docker schema 1 image as the schema 2/OCI image it converts to."""
        from boxwright.transport.image import open_image

        if self.options.preserve_digests:
            raise UsageError(
                f"cannot preserve the digest of {self.source.name}: a Docker schema 1 image "
                "is converted to schema 2 or OCI on the way (drop --preserve-digests)"
            )
        raw, _ = self.source.get_manifest()
        digest = Digest.from_bytes(raw)
        self.admission.admit(digest)
        self.carry(digest, lambda: False)
        image = open_image(self.source, self.options.platform)
        return self.copy_manifest(
            image.manifest, image.config.platform(), config_bytes=image.config_bytes
        )

    @staticmethod
    def _check_depth(depth: int) -> None:
        if depth + 1 >= MAX_INDEX_DEPTH:
            raise ManifestError(f"indexes are nested more than {MAX_INDEX_DEPTH} deep")

    # -- 3. plan, 4. blobs, 5. config, 6. manifest -------------------------------------------

    def copy_manifest(
        self,
        manifest: ImageManifest,
        platform: Platform | None,
        *,
        config_bytes: bytes | None = None,
    ) -> Descriptor:
        """Copy one image: its layers, its config, then its (possibly converted) manifest.

        ``config_bytes`` is given when the config does not come from the source (a schema 1
        image, whose manifest and config ``open_image`` synthesized).
        """
        opts = self.options
        if opts.preserve_digests and not self._keeps_bytes(manifest):
            raise UsageError(
                f"cannot preserve the digest of {manifest.digest} copying to {self.dest.name}: "
                "the destination needs another manifest format or layer compression (drop "
                "--preserve-digests)"
            )
        if config_bytes is None:
            self.admission.admit(manifest.digest)
            self.carry(manifest.digest, lambda: self._keeps_bytes(manifest))
        target = choose_manifest_type(
            manifest.media_type, self.dest.supported_manifest_types, opts.format
        )
        plans = [
            layer_target_compression(
                layer, target, opts.dest_compress, self.dest.required_compression
            )
            for layer in manifest.layers
        ]
        config = _ConfigOnce(self.source, manifest, config_bytes)
        if any(plan is not None for plan in plans):
            config.diff_ids()  # a recompression needs them: a bad config fails before any blob
        expected = [
            ExpectedDiffId(i, config.diff_id(i), config.may_list) for i in range(len(plans))
        ]
        convert = target == mt.OCI_MANIFEST and manifest.media_type == mt.DOCKER_MANIFEST
        outcomes, config_desc = self._copy_blobs(manifest, plans, expected, config, convert)

        actual = [outcome.compression for outcome in outcomes]
        if target != manifest.media_type or any(c is not None for c in actual):
            layer_types = [
                layer.media_type
                if compression is None
                else recompressed_layer_type(layer.media_type, target, compression)
                for layer, compression in zip(manifest.layers, actual, strict=True)
            ]
            stored = tuple(outcome.stored for outcome in outcomes)
            new = dataclasses.replace(manifest, layers=stored).convert(
                target, layer_types, config=config_desc
            )
            written = self.put_manifest(new.raw, new.media_type)
            layers = new.layers
        else:
            written = self.put_manifest(manifest.raw, manifest.media_type)
            layers = manifest.layers
        self.images.append(CopiedImage(manifest.digest, written, config_desc, layers, platform))
        return written

    def _store_config(self, manifest: ImageManifest, config: _ConfigOnce, convert: bool) -> _Stored:
        """Put the config blob (converted to OCI first when ``convert``); its descriptor and
        whether it was transferred."""
        descriptor, data = manifest.config, config.data()
        if convert:
            converted = config.parsed().to_oci()
            data, descriptor = converted.raw, converted.descriptor(mt.OCI_CONFIG)
        return descriptor, self.blobs.put_small(descriptor, data)

    def _copy_blobs(
        self,
        manifest: ImageManifest,
        plans: Sequence[str | None],
        expected: Sequence[ExpectedDiffId],
        config: _ConfigOnce,
        convert: bool,
    ) -> tuple[list[BlobOutcome], Descriptor]:
        """Move the layer blobs on the thread pool, and the config; the layer outcomes in
        layer order and the config as stored.

        The largest layer is started first: the copy takes at least as long as its largest
        blob, so that one must never wait in the queue behind small ones. The config job goes
        right after it, so its requests overlap with the layers instead of coming before or
        after them: for a destination whose ``config_with_layers`` is true (a registry, where
        each blob costs requests) the whole job, read and put; for the others only the read
        from the source (when not in hand already), and the put once every layer is stored,
        so a failed layer leaves no config behind. A layer job that needs the config's
        diff_ids before the config job has read it reads it itself (:class:`_ConfigOnce`).
        Every blob is stored when this returns (the manifest, written next, names them all);
        the written and skipped blobs are noted layers first, then the config.
        """
        jobs = list(zip(manifest.layers, plans, expected, strict=True))
        biggest_first = sorted(range(len(jobs)), key=lambda i: -jobs[i][0].size)
        overlap = self.config_with_layers
        read = config.data

        def read_and_store() -> _Stored:
            return self._store_config(manifest, config, convert)

        submit = self.pool.submit
        by_layer: dict[int, Future[BlobOutcome]] = {}
        stored: Future[_Stored] | None = None
        fetched: Future[bytes] | None = None
        for i in [*biggest_first[:1], -1, *biggest_first[1:]]:  # -1: the config job
            if i >= 0:
                by_layer[i] = submit(self.blobs.copy, *jobs[i])
            elif overlap:
                stored = submit(read_and_store)
            elif not config.in_hand:
                fetched = submit(read)
        futures = [by_layer[i] for i in range(len(jobs))]
        try:
            outcomes = [future.result() for future in futures]
            if stored is None:
                if fetched is not None:
                    fetched.result()
                config_desc, written = self._store_config(manifest, config, convert)
            else:
                config_desc, written = stored.result()
        except BaseException:
            for future in (*futures, stored, fetched):
                if future is not None:
                    future.cancel()
            raise
        for outcome in outcomes:
            self._note(outcome.stored.digest, outcome.transferred)
        self._note(config_desc.digest, written)
        return outcomes, config_desc

    def _note(self, digest: Digest, transferred: bool) -> None:
        if digest in self.written or digest in self.skipped:
            return
        (self.written if transferred else self.skipped)[digest] = None

    def put_manifest(self, raw: bytes, media_type: str) -> Descriptor:
        """Store a manifest or index exactly as ``raw`` and report it."""
        descriptor = self.dest.put_manifest(raw, media_type)
        if self.options.on_progress is not None:
            self.options.on_progress(
                ProgressEvent(MANIFEST, descriptor.digest, media_type, len(raw), len(raw))
            )
        return descriptor


class _ConfigOnce:
    """An image's config bytes, read from the source at most once, by whichever thread needs
    them first (the config job, or a layer job that checks a diff_id), and its diff_ids.

    Configs are small (at most :data:`MAX_CONFIG_SIZE`), so they may live in memory; the
    source's reader verifies them against their digest.
    """

    def __init__(
        self, source: ImageSource, manifest: ImageManifest, data: bytes | None = None
    ) -> None:
        self._source = source
        self._manifest = manifest
        self._data = data
        self._parsed: ImageConfig | None = None
        self._diff_ids: tuple[Digest, ...] | None = None
        self._lock = threading.Lock()

    @property
    def in_hand(self) -> bool:
        """Whether the bytes are already read (or were given)."""
        return self._data is not None

    def data(self) -> bytes:
        """The config bytes, verified."""
        with self._lock:
            if self._data is None:
                self._data = self._read()
            return self._data

    def _read(self) -> bytes:
        descriptor = self._manifest.config
        if descriptor.size > MAX_CONFIG_SIZE:
            raise ManifestError(
                f"config {descriptor.digest} is {descriptor.size} bytes, more than the limit "
                f"of {MAX_CONFIG_SIZE}"
            )
        stream = self._source.get_blob(descriptor)
        try:
            return stream.read()
        finally:
            stream.close()

    def parsed(self) -> ImageConfig:
        """The config parsed, once (the config model is imported here, when a copy first
        needs it: to check diff_ids or to convert the config; a plain copy never does)."""
        if self._parsed is None:
            from boxwright.oci.config import ImageConfig

            self._parsed = ImageConfig.parse(self.data())
        return self._parsed

    def diff_ids(self) -> tuple[Digest, ...]:
        """``rootfs.diff_ids``, one per layer of the manifest (else :class:`ManifestError`)."""
        if self._diff_ids is None:
            diff_ids = self.parsed().diff_ids
            layers = self._manifest.layers
            if len(diff_ids) != len(layers):
                raise ManifestError(
                    f"image {self._manifest.digest} has {len(layers)} layers but its config "
                    f"lists {len(diff_ids)} diff_ids"
                )
            self._diff_ids = diff_ids
        return self._diff_ids

    def may_list(self, digest: Digest) -> bool:
        """Whether ``digest`` could be one of the diff_ids, told from the config's UTF-8 text
        without parsing it: a digest is written out whole in a JSON string, or spelled with
        ``\\u`` escapes; a config holding neither cannot list it."""
        data = self.data()
        return str(digest).encode() in data or b"\\u" in data

    def diff_id(self, index: int) -> Callable[[], Digest]:
        """A function returning ``rootfs.diff_ids[index]`` (read when first called)."""
        return lambda: self.diff_ids()[index]


__all__ = [
    "DEFAULT_PARALLEL",
    "CopiedImage",
    "CopyOptions",
    "CopyResult",
    "copy_image",
]
