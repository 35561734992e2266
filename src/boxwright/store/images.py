"""Image records of the local store: ``R/images.json``, names, tags, lookup and removal.

An image is one single-platform manifest (OCI or Docker schema 2) whose blobs are in the
:class:`~boxwright.store.blobs.BlobStore`; its ID is the hex of its config digest, as in
podman. Names are normalized (:func:`~boxwright.store.names.normalize_name`) and belong to one
image or manifest list at a time: adding or tagging an image with a name moves the name off
any other image or list, which stays, listed as ``<none>`` when it has no name left. The
images are written first, then the lists, so a crash between the two leaves the name on both,
and lookups, which try images first, find the image that was given it.

``images.json`` is only ever replaced whole (temporary file, fsync, rename) while the store's
metadata lock is held exclusively, and every change re-reads it under that lock, so parallel
processes never lose each other's updates; readers read it without a lock (a rename is atomic).

Lookup (:meth:`ImageStore.get`), in podman's order: the exact normalized name (or
``NAME@DIGEST`` against the manifest digests of that repository); a full image ID, bare or
``sha256:``-prefixed; a unique ID prefix of at least 3 hex digits; a short name matching one
image on any host (``busybox`` finds ``docker.io/library/busybox:latest``).

Intermediate images (:func:`intermediate_ids`), which ``boxwright images`` hides unless
``--all`` is given, as ``podman images`` does: an image with no name that another image is
built on (a build's layer cache), and the carrier images a build's ``COPY --link`` makes
(marked with the label :data:`LINK_CARRIER_LABEL`). An image with no name and nothing built
on it is *dangling* and stays listed as ``<none>``.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from boxwright.errors import (
    AmbiguousImageError,
    BlobNotFoundError,
    BoxwrightError,
    ImageNotFoundError,
    InvalidReferenceError,
    ManifestError,
    StoreError,
)
from boxwright.oci import mediatype as mt
from boxwright.oci.config import ImageConfig, chain_ids, created_time
from boxwright.oci.digest import Digest
from boxwright.oci.manifest import ImageManifest
from boxwright.store.metadata import parse_records, read_record_bytes, write_records
from boxwright.store.names import (
    ImageName,
    name_or_none,
    new_tags,
    normalize_name,
    normalized_names,
    parse_name,
    short_name_matches,
    without_names,
)

if TYPE_CHECKING:
    from boxwright.store.store import Store

FILE_FORMAT: Final = "boxwright-images"
FILE_VERSION: Final = 1
MIN_ID_PREFIX: Final = 3
#: The config label (value ``"true"``) of the one-layer images a build's ``COPY --link`` makes
#: to carry a linked layer: build cache, hidden by ``boxwright images`` unless ``--all``.
LINK_CARRIER_LABEL: Final = "io.boxwright.build.link-carrier"
_HEX = re.compile(r"[0-9a-f]+")


@dataclass(frozen=True)
class ImageRecord:
    """One stored image: its manifest, config, layers and names (see the module docstring)."""

    id: str
    manifest: Digest
    manifest_media_type: str
    config: Digest
    names: tuple[str, ...]
    created: str | None
    size: int
    layers: tuple[Digest, ...]
    diff_ids: tuple[Digest, ...]
    added: str
    #: The uncompressed size of each layer (what podman counts); None until all of them are
    #: known (then :meth:`ImageStore.layer_sizes` finds or measures them, and records them).
    layer_sizes: tuple[int, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        """The record as stored in ``images.json``."""
        extra = {} if self.layer_sizes is None else {"layer_sizes": list(self.layer_sizes)}
        return {
            "id": self.id,
            "manifest": str(self.manifest),
            "manifest_media_type": self.manifest_media_type,
            "config": str(self.config),
            "names": list(self.names),
            "created": self.created,
            "size": self.size,
            "layers": [str(d) for d in self.layers],
            "diff_ids": [str(d) for d in self.diff_ids],
            "added": self.added,
            **extra,
        }

    @classmethod
    def from_json(cls, obj: Any) -> ImageRecord:
        """Read a record written by :meth:`to_json`; StoreError if it is damaged."""
        try:
            return cls(
                id=str(obj["id"]),
                manifest=Digest.parse(obj["manifest"]),
                manifest_media_type=str(obj["manifest_media_type"]),
                config=Digest.parse(obj["config"]),
                names=tuple(str(n) for n in obj["names"]),
                created=None if obj["created"] is None else str(obj["created"]),
                size=int(obj["size"]),
                layers=tuple(Digest.parse(d) for d in obj["layers"]),
                diff_ids=tuple(Digest.parse(d) for d in obj["diff_ids"]),
                added=str(obj["added"]),
                layer_sizes=(
                    tuple(int(s) for s in obj["layer_sizes"]) if "layer_sizes" in obj else None
                ),
            )
        except (KeyError, TypeError, ValueError, BoxwrightError) as e:
            raise StoreError(f"damaged image record {obj!r:.100}: {e}") from None

    @property
    def short_id(self) -> str:
        """The first 12 hex digits of the ID, as podman prints it."""
        return self.id[:12]

    @property
    def digests(self) -> tuple[Digest, ...]:
        """Every blob the record references: manifest, config, layers."""
        return (self.manifest, self.config, *self.layers)


class ImageStore:
    """The image records of one :class:`~boxwright.store.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.layout = store.layout
        self._parsed: tuple[bytes | None, tuple[ImageRecord, ...]] | None = None
        """The bytes of ``images.json`` last parsed, and their records."""

    # -- reading -------------------------------------------------------------------------

    def list(self, *, all: bool = True) -> list[ImageRecord]:
        """The images, in the order they were first added: every one, or with ``all=False``
        all but the intermediate ones (:func:`intermediate_ids`), as ``podman images`` lists
        them without ``-a``."""
        records = builtins.list(self._records())
        if all:
            return records
        hidden = self.intermediate_ids(records)
        return [r for r in records if r.id not in hidden]

    def _records(self) -> tuple[ImageRecord, ...]:
        """Every record of ``images.json``, parsed only when its bytes changed since the last
        parse (:mod:`boxwright.store.metadata`)."""
        path = self.layout.images_file
        raw = read_record_bytes(path)
        parsed = self._parsed
        if parsed is not None and parsed[0] == raw:
            return parsed[1]
        try:
            images = parse_records(raw, FILE_FORMAT, FILE_VERSION, "images")
        except ValueError as e:
            raise StoreError(
                f"{path} is damaged ({e}); restore it or remove it to start an empty image list"
            ) from None
        records = tuple(ImageRecord.from_json(obj) for obj in images)
        self._parsed = (raw, records)
        return records

    def intermediate_ids(self, records: Sequence[ImageRecord] | None = None) -> set[str]:
        """The IDs of the intermediate images among ``records`` (default: every image);
        the rule is :func:`intermediate_ids`'. Only the configs of unnamed images and of
        the images that may be built on them are read."""
        records = self.list() if records is None else records
        return intermediate_ids(records, self._config_if_readable)

    def _config_if_readable(self, record: ImageRecord) -> ImageConfig | None:
        """The config of ``record``, or None when its blob is missing, changed or not a
        config: such an image is related to no other and so stays listed, where using it
        reports the damage (a listing does not fail for one damaged image, as podman's)."""
        try:
            return self.config(record)
        except BoxwrightError:
            return None

    def get(self, name_or_id: str) -> ImageRecord:
        """The image ``name_or_id`` names (lookup order in the module docstring)."""
        return self.resolve(name_or_id)[0]

    def resolve(self, name_or_id: str) -> tuple[ImageRecord, str | None]:
        """The image ``name_or_id`` names, and the stored name that matched (None for an ID)."""
        return _resolve(self.list(), name_or_id, str(self.layout.root))

    def exists(self, name_or_id: str) -> bool:
        """Whether :meth:`get` would find an image (ambiguity counts as found)."""
        try:
            self.get(name_or_id)
        except ImageNotFoundError:
            return False
        except AmbiguousImageError:
            return True
        return True

    def manifest(self, record: ImageRecord) -> bytes:
        """The raw manifest bytes, verified against the record's digest."""
        return self.store.blobs.read(record.manifest)

    def config(self, record: ImageRecord) -> ImageConfig:
        """The parsed image config, verified against the record's digest."""
        return ImageConfig.parse(self.store.blobs.read(record.config))

    def layer_sizes(self, record: ImageRecord) -> tuple[int, ...]:
        """The uncompressed size of each of the image's layers: as recorded, else as another
        record or the layer's snapshot knows it, else measured by reading the layer through
        its decompressor (verified); sizes found so are written into the record, so a layer is
        measured at most once (a store this process cannot write to is left as it is)."""
        if record.layer_sizes is not None:
            return record.layer_sizes
        known = self._known_sizes(record.layers, record.diff_ids)
        sizes = tuple(known[d] if d in known else self._unpacked_size(d) for d in record.layers)
        try:
            with self.store.metadata_lock():
                records = self.list()
                if any(r.id == record.id and r.layer_sizes is None for r in records):
                    self._write(
                        [replace(r, layer_sizes=sizes) if r.id == record.id else r for r in records]
                    )
        except (OSError, BoxwrightError):
            pass  # a read-only store: measured again next time
        return sizes

    def podman_size(self, record: ImageRecord) -> int:
        """The SIZE ``podman images`` shows for this image: its layers unpacked, plus its
        config and manifest as containers/storage counts an image's data (the manifest is
        kept twice there, under its digest and as the image's current manifest)."""
        blobs = self.store.blobs
        data = blobs.size(record.config) + 2 * blobs.size(record.manifest)
        return sum(self.layer_sizes(record)) + data

    def _unpacked_size(self, digest: Digest) -> int:
        from boxwright.layer.compression import auto_decompress

        size = 0
        with self.store.blobs.open(digest) as raw:
            plain, _ = auto_decompress(raw, threaded=False)
            try:
                while chunk := plain.read(1 << 20):
                    size += len(chunk)
            finally:
                plain.close()
        return size

    def _known_sizes(
        self,
        layers: Sequence[Digest],
        diff_ids: Sequence[Digest],
        given: Mapping[Digest, int] | None = None,
    ) -> dict[Digest, int]:
        """The unpacked sizes of ``layers`` (of an image with ``diff_ids``) known without
        reading a layer: ``given`` by the caller, recorded by another image with the same
        layer, or by the snapshot of the layer's chain (applying it measured its tar)."""
        known: dict[Digest, int] = dict(given or {})
        if all(d in known for d in layers):
            return known
        for other in self.list():
            if other.layer_sizes is not None:
                known.update(zip(other.layers, other.layer_sizes, strict=False))
        if len(layers) == len(diff_ids) and not all(d in known for d in layers):
            snapshots = self.store.snapshots
            for layer, chain in zip(layers, chain_ids(diff_ids), strict=True):
                if layer not in known and snapshots.has(chain):
                    try:
                        size = snapshots.get(chain).tar_size
                    except StoreError:
                        continue
                    if size is not None:
                        known[layer] = size
        return known

    def _known_layer_sizes(
        self,
        layers: Sequence[Digest],
        diff_ids: Sequence[Digest],
        given: Mapping[Digest, int] | None,
    ) -> tuple[int, ...] | None:
        """The unpacked sizes of ``layers`` when all are known without reading a layer
        (:meth:`_known_sizes`), else None (:meth:`layer_sizes` measures them when asked)."""
        known = self._known_sizes(layers, diff_ids, given)
        if not all(d in known for d in layers):
            return None
        return tuple(known[d] for d in layers)

    # -- writing -------------------------------------------------------------------------

    def add(
        self,
        manifest_raw: bytes,
        media_type: str,
        names: Iterable[str] = (),
        *,
        keep_stored: bool = False,
        unpacked_sizes: Mapping[Digest, int] | None = None,
    ) -> ImageRecord:
        """Record the image of ``manifest_raw`` under ``names`` and return its record.

        The config and layer blobs must be in the blob store already (the manifest is stored
        here). The names move off any other image. Adding an image whose ID is stored already
        merges the names into that record; the new manifest replaces the stored one (a commit
        asked for that format), unless ``keep_stored``: then the stored manifest and digest
        stay, as podman's store keeps them when the same image is pulled or copied in again.
        ``unpacked_sizes``: the uncompressed size of layers the caller has just measured (a
        commit's new layer), by layer digest; no layer is read here to measure it.
        """
        manifest = self._storable(manifest_raw, media_type)
        blobs = self.store.blobs
        config = ImageConfig.parse(blobs.read(manifest.config))
        blobs.put_bytes(manifest_raw, manifest.descriptor())
        blobs.sync()  # every blob the record names is durable before the record
        wanted = normalized_names(names)
        record = ImageRecord(
            id=manifest.config.digest.hex,
            manifest=manifest.digest,
            manifest_media_type=media_type,
            config=manifest.config.digest,
            names=tuple(wanted),
            created=config.created,
            size=manifest.config.size + sum(layer.size for layer in manifest.layers),
            layers=tuple(layer.digest for layer in manifest.layers),
            diff_ids=tuple(config.diff_ids),
            added=created_time(),
            layer_sizes=self._known_layer_sizes(
                [layer.digest for layer in manifest.layers], config.diff_ids, unpacked_sizes
            ),
        )
        with self.store.metadata_lock():
            records = without_names(self.list(), wanted)
            for i, old in enumerate(records):
                if old.id == record.id:
                    merged = (*old.names, *(n for n in wanted if n not in old.names))
                    record = replace(old if keep_stored else record, names=merged)
                    records[i] = record
                    break
            else:
                records.append(record)
            self._write(records)
            self.store.manifest_lists.take_names(wanted)
        return record

    def _storable(self, manifest_raw: bytes, media_type: str) -> ImageManifest:
        """The manifest ``add`` records: a single-platform image's, every blob of it stored."""
        if media_type not in (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST):
            raise ManifestError(
                f"the local store holds single-platform images (OCI or Docker schema 2 "
                f"manifests), not {media_type}"
            )
        manifest = ImageManifest.parse(manifest_raw, media_type)
        for blob in (manifest.config, *manifest.layers):
            if not self.store.blobs.has(blob.digest, blob.size):
                raise BlobNotFoundError(
                    f"cannot record the image {manifest.digest}: blob {blob.digest} is not in "
                    "the store (store every blob before the manifest)"
                )
        return manifest

    def tag(self, name_or_id: str, *new: str) -> ImageRecord:
        """Give the image more names (each moved off any other image); return the new record."""
        wanted = new_tags(new)
        with self.store.metadata_lock():
            record = self.get(name_or_id)
            listed = self.list()
            records = without_names(listed, wanted)
            current = _current(records, record)
            updated = replace(current, names=(*current.names, *wanted))
            tagged = [updated if r.id == record.id else r for r in records]
            # A rebuild's names are often in place already: then no other image and no
            # manifest list holds them (a name moves off lists as it moves off images), and
            # nothing is written or read.
            if tagged != listed:
                self._write(tagged)
                self.store.manifest_lists.take_names(wanted)
        return updated

    def take_names(self, names: Sequence[str]) -> None:
        """Take ``names`` off every image that has them (a manifest list given a name takes
        it from an image). The caller holds the metadata lock."""
        records = self.list()
        kept = without_names(records, names)
        if kept != records:
            self._write(kept)

    def untag(self, name_or_id: str, name: str) -> ImageRecord:
        """Take ``name`` off the image (which stays, maybe with no name); return the record."""
        target = normalize_name(name)
        with self.store.metadata_lock():
            record = self.get(name_or_id)
            if target not in record.names:
                raise ImageNotFoundError(
                    f"image {record.short_id} is not tagged {target} "
                    f"(its names: {', '.join(record.names) or 'none'})"
                )
            updated = replace(record, names=tuple(n for n in record.names if n != target))
            self._write([updated if r.id == record.id else r for r in self.list()])
        return updated

    def remove(self, name_or_id: str, force: bool = False) -> builtins.list[str]:
        """Remove an image as ``podman rmi`` does; return the lines podman prints.

        By a name, when the image has other names too, only that name goes (``Untagged:``).
        Otherwise the record goes (``Untagged:`` each name, then ``Deleted: ID``); this is
        refused with :class:`StoreError` when a working container uses the image, or when an
        ID names an image with several names, unless ``force``. Forced, an image a container
        uses loses its names only (it stays as ``<none>``, so its blobs outlive the container
        that needs them). Blobs and snapshots stay until :func:`~boxwright.store.gc.prune`.
        """
        with self.store.metadata_lock():
            record, matched = self.resolve(name_or_id)
            if matched is not None and len(record.names) > 1:
                updated = replace(record, names=tuple(n for n in record.names if n != matched))
                self._write([updated if r.id == record.id else r for r in self.list()])
                return [f"Untagged: {matched}"]
            users = self._containers_using(record.id)
            if users and force:
                # The containers still need the image's blobs (a commit names its layers):
                # the names go, the record stays as <none> until the containers are gone.
                updated = replace(record, names=())
                self._write([updated if r.id == record.id else r for r in self.list()])
                return [f"Untagged: {n}" for n in record.names]
            if not force:
                if users:
                    raise StoreError(
                        f"image {record.short_id} is in use by container(s) "
                        f"{', '.join(users)}: remove them first, or use --force"
                    )
                if matched is None and len(record.names) > 1:
                    raise StoreError(
                        f"image {record.short_id} has several names ({', '.join(record.names)}):"
                        " remove them one by one, or use --force"
                    )
            self._write([r for r in self.list() if r.id != record.id])
        return [*(f"Untagged: {n}" for n in record.names), f"Deleted: {record.id}"]

    def _containers_using(self, image_id: str) -> builtins.list[str]:
        """Names of working containers made from the image (none when no container exists)."""
        if not self.layout.containers_file.exists():
            return []
        return [c.name for c in self.store.containers.list() if c.image_id == image_id]

    def _write(self, records: Sequence[ImageRecord]) -> None:
        """Replace ``images.json`` atomically (callers hold the metadata lock)."""
        records_json = [r.to_json() for r in records]
        write_records(self.layout.images_file, FILE_FORMAT, FILE_VERSION, "images", records_json)


def intermediate_ids(
    records: Sequence[ImageRecord], config_of: Callable[[ImageRecord], ImageConfig | None]
) -> set[str]:
    """The IDs of the intermediate images among ``records``: images with no name that are

    * the parent of another image of ``records`` (podman's ``IsIntermediate``: an untagged
      image with children), where a child is built on the parent: its diff_ids start with
      the parent's, its history starts with the parent's entries (the same ``created``,
      ``created_by``, ``author``, ``comment`` and ``empty_layer``), and it has more layers
      or, on the same layers, a longer history. podman asks for exactly one more history
      entry; a boxwright build commits ``ENV``, ``LABEL`` and the like with the next layer,
      so one step of its layer cache may add several entries, and any longer history counts;
    * or the carrier image of a linked layer, marked with :data:`LINK_CARRIER_LABEL`.

    An image with no layer is the parent of images with no layer only (podman's rule). An
    image with a name is never intermediate; one with no name and no child is dangling
    (listed). ``config_of`` reads an image's config (None when unreadable: the image is then
    nobody's parent or child); it is called only for unnamed images, for the images whose
    layers start with an unnamed image's layers, and at most once per image.
    """
    unnamed = [r for r in records if not r.names]
    if not unnamed:
        return set()
    # every image under the chain ID of each prefix of its layer stack; images with no layer
    # apart: as in podman, they are parents and children of each other only
    by_prefix: dict[str, builtins.list[ImageRecord]] = {}
    empty = [r for r in records if not r.diff_ids]
    for record in records:
        for chain in chain_ids(record.diff_ids):
            by_prefix.setdefault(str(chain), []).append(record)
    cache: dict[str, ImageConfig | None] = {}

    def config(record: ImageRecord) -> ImageConfig | None:
        if record.id not in cache:
            cache[record.id] = config_of(record)
        return cache[record.id]

    hidden: set[str] = set()
    for parent in unnamed:
        below = config(parent)
        if below is None:
            continue
        if len(parent.diff_ids) <= 1 and below.config.labels.get(LINK_CARRIER_LABEL) == "true":
            hidden.add(parent.id)
            continue
        chains = chain_ids(parent.diff_ids)
        candidates = by_prefix.get(str(chains[-1]), []) if chains else empty
        if any(
            _built_on(below, parent, config(child), child)
            for child in candidates
            if child.id != parent.id
        ):
            hidden.add(parent.id)
    return hidden


def _built_on(
    parent_config: ImageConfig,
    parent: ImageRecord,
    child_config: ImageConfig | None,
    child: ImageRecord,
) -> bool:
    """Whether ``child`` (whose diff_ids start with ``parent``'s) is built on ``parent``:
    the history check of :func:`intermediate_ids`."""
    if child_config is None:
        return False
    above, below = child_config.history, parent_config.history
    if above[: len(below)] != below:
        return False
    return len(child.diff_ids) > len(parent.diff_ids) or len(above) > len(below)


def _current(records: Sequence[ImageRecord], record: ImageRecord) -> ImageRecord:
    return next(r for r in records if r.id == record.id)


def _unique(found: list[ImageRecord], what: str) -> ImageRecord | None:
    unique = list({r.id: r for r in found}.values())
    if len(unique) > 1:
        listed = ", ".join(f"{r.short_id} ({', '.join(r.names) or '<none>'})" for r in unique)
        raise AmbiguousImageError(f"{what} matches several images: {listed}; name one exactly")
    return unique[0] if unique else None


def _resolve(records: list[ImageRecord], text: str, where: str) -> tuple[ImageRecord, str | None]:
    if not isinstance(text, str) or not text:
        raise InvalidReferenceError("an image name or ID must not be empty")
    tried: list[str] = []
    wanted = name_or_none(text)
    if wanted is not None:
        exact = str(wanted)
        tried.append(f"the name {exact}")
        for r in records:
            if exact in r.names:
                return r, exact
        if wanted.digest is not None:
            hit = _by_digest(records, wanted, _same_repository, text)
            if hit is not None:
                return hit, None
    ident = text.removeprefix("sha256:")
    if _HEX.fullmatch(ident) and len(ident) >= MIN_ID_PREFIX:
        tried.append(f"the image ID {ident}" if len(ident) == 64 else f"an ID prefix {ident}")
        hit = _unique([r for r in records if r.id.startswith(ident)], f"the ID prefix {ident}")
        if hit is not None:
            return hit, None
    if wanted is not None and not wanted.qualified:
        tried.append(f"short-name matches of {text}")
        if wanted.digest is not None:
            hit = _by_digest(records, wanted, _same_path, text)
            if hit is not None:
                return hit, None
        else:
            pairs = [(r, n) for r in records for n in r.names if short_name_matches(wanted, n)]
            hit = _unique([r for r, _ in pairs], f"the short name {text}")
            if hit is not None:
                return hit, next(n for r, n in pairs if r.id == hit.id)
    raise ImageNotFoundError(
        f"no image {text!r} in the local store at {where} (tried {'; '.join(tried)}); "
        "see `boxwright images`"
    )


def _by_digest(
    records: list[ImageRecord],
    wanted: ImageName,
    same: Callable[[ImageName, str], bool],
    text: str,
) -> ImageRecord | None:
    """The one image whose manifest is ``wanted``'s digest, under a name ``same`` accepts."""
    found = [
        r for r in records if r.manifest == wanted.digest and any(same(wanted, n) for n in r.names)
    ]
    return _unique(found, text)


def _same_repository(wanted: ImageName, stored: str) -> bool:
    try:
        return parse_name(stored).repository == wanted.repository
    except InvalidReferenceError:
        return False


def _same_path(wanted: ImageName, stored: str) -> bool:
    try:
        path = parse_name(stored).path
    except InvalidReferenceError:
        return False
    return path in (wanted.path, "library/" + wanted.path)


__all__ = [
    "LINK_CARRIER_LABEL",
    "ImageRecord",
    "ImageStore",
    "intermediate_ids",
    "normalize_name",
]
