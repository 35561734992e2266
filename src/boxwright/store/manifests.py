"""Manifest lists of the local store: ``R/manifests.json``, names, lookup, edits.

A manifest list is what ``podman manifest create`` makes: a named, editable image index whose
entries (*instances*) are images of the store or of any other reference. The store keeps, per
list, its own ID (random, as podman's, so it stays while the list changes), its names, the
index type it is written as (a Docker manifest list by default, as podman 4 makes it, or an OCI
index), its annotations and its instances. Each instance is its descriptor (media type,
digest, size, platform, annotations), the reference it came from (empty for an image of this
store) and the blobs the store holds for it: every instance's manifest is stored, and an image
of the store also keeps its config and layers, so removing the image and pruning never breaks
the list. :func:`~boxwright.store.gc.prune` keeps every blob a list names.

Names are normalized as image names are, and one name is held by one image or one list: a list
is never created under a name an image or another list holds; ``tag`` of an image or a list,
``pull`` and ``build -t`` move the name off the list or image that held it (which stays,
maybe with no name: a *dangling* list, which ``prune`` removes), as podman's store does.
The record file is replaced whole under the store's metadata lock, as ``images.json`` is.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final

from boxwright.errors import (
    AmbiguousImageError,
    BoxwrightError,
    ImageNotFoundError,
    InvalidReferenceError,
    StoreError,
    UsageError,
)
from boxwright.oci import mediatype as mt
from boxwright.oci.config import created_time
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.index import ImageIndex
from boxwright.oci.manifest import read_descriptor
from boxwright.store.metadata import read_records, write_records
from boxwright.store.names import (
    name_or_none,
    new_tags,
    normalize_name,
    parse_name,
    short_name_matches,
    without_names,
)

if TYPE_CHECKING:
    from boxwright.store.store import Store

FILE_FORMAT: Final = "boxwright-manifests"
FILE_VERSION: Final = 1
LIST_FORMATS: Final = {"oci": mt.OCI_INDEX, "v2s2": mt.DOCKER_LIST, "docker": mt.DOCKER_LIST}
"""``--format`` names of the two index types a list is written as."""
_MIN_PREFIX: Final = 3


def list_media_type(fmt: str | None, default: str = mt.DOCKER_LIST) -> str:
    """The index media type ``--format`` names (``oci``, ``v2s2``/``docker``); None: ``default``."""
    if fmt is None:
        return default
    try:
        return LIST_FORMATS[fmt]
    except KeyError:
        raise UsageError(f"unknown manifest list format {fmt!r}: expected oci or v2s2") from None


@dataclass(frozen=True)
class ListInstance:
    """One entry of a manifest list: its descriptor, where it came from, what the store keeps."""

    descriptor: Descriptor
    #: The transport reference the instance is read from when it is pushed ("" for an image
    #: of this store, whose blobs are all in :attr:`blobs`).
    source: str = ""
    #: The store's blobs this instance needs: its manifest, and for a stored image its config
    #: and layers too.
    blobs: tuple[Digest, ...] = ()

    @property
    def digest(self) -> Digest:
        """The instance's manifest digest."""
        return self.descriptor.digest

    def to_json(self) -> dict[str, Any]:
        """The instance as stored in ``manifests.json``."""
        return {
            "descriptor": self.descriptor.to_dict(),
            "source": self.source,
            "blobs": [str(d) for d in self.blobs],
        }

    @classmethod
    def from_json(cls, obj: Any) -> ListInstance:
        """Read :meth:`to_json`'s object (errors are the caller's to name)."""
        return cls(
            read_descriptor(obj["descriptor"], "manifest list instance"),
            str(obj["source"]),
            tuple(Digest.parse(d) for d in obj["blobs"]),
        )


# A stored record: its field list looks like other frozen dataclasses' (build's result).
@dataclass(frozen=True)
class ManifestListRecord:
    """One manifest list of the store (see the module docstring)."""

    id: str
    names: tuple[str, ...]
    media_type: str
    created: str
    instances: tuple[ListInstance, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        """The first 12 hex digits of the ID, as podman prints it."""
        return self.id[:12]

    def index(self, media_type: str | None = None) -> ImageIndex:
        """The list as an index of ``media_type`` (default: its own type).

        A Docker manifest list carries no annotations, so they are left out of one.
        """
        media_type = media_type or self.media_type
        entries = [i.descriptor for i in self.instances]
        if media_type == mt.DOCKER_LIST:
            entries = [d.with_(annotations={}, artifact_type="", data=None) for d in entries]
            return ImageIndex.build(media_type, entries)
        return ImageIndex.build(media_type, entries, self.annotations or None)

    @property
    def digests(self) -> tuple[Digest, ...]:
        """Every blob of the store the list needs (gc keeps them)."""
        return tuple(d for i in self.instances for d in i.blobs)

    def instance(self, digest: Digest | str) -> ListInstance:
        """The instance with manifest ``digest``; ImageNotFoundError when the list has none."""
        wanted = str(digest)
        for inst in self.instances:
            if str(inst.digest) == wanted:
                return inst
        raise ImageNotFoundError(
            f"manifest list {self.names[0] if self.names else self.id} has no instance {wanted}"
        )

    def to_json(self) -> dict[str, Any]:
        """The record as stored in ``manifests.json``."""
        return {
            "id": self.id,
            "names": list(self.names),
            "media_type": self.media_type,
            "created": self.created,
            "annotations": dict(self.annotations),
            "instances": [i.to_json() for i in self.instances],
        }

    @classmethod
    def from_json(cls, obj: Any) -> ManifestListRecord:
        """Read a record written by :meth:`to_json`; StoreError if it is damaged."""
        try:
            annotations = obj["annotations"]
            if not isinstance(annotations, dict):
                raise TypeError("annotations must be an object")
            media_type = str(obj["media_type"])
            if media_type not in mt.INDEX_TYPES:
                raise ValueError(f"unknown list type {media_type!r}")
            return cls(
                id=str(obj["id"]),
                names=tuple(str(n) for n in obj["names"]),
                media_type=media_type,
                created=str(obj["created"]),
                instances=tuple(ListInstance.from_json(i) for i in obj["instances"]),
                annotations={str(k): str(v) for k, v in annotations.items()},
            )
        except (KeyError, TypeError, ValueError, BoxwrightError) as e:
            raise StoreError(f"damaged manifest list record {obj!r:.100}: {e}") from None


class ManifestListStore:
    """The manifest lists of one :class:`~boxwright.store.store.Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.path = store.layout.root / "manifests.json"

    def list(self) -> list[ManifestListRecord]:
        """Every list, in the order they were created."""
        try:
            raw = read_records(self.path, FILE_FORMAT, FILE_VERSION, "lists")
        except ValueError as e:
            raise StoreError(f"{self.path}: {e}") from None
        return [ManifestListRecord.from_json(r) for r in raw]

    def find(self, name_or_id: str) -> ManifestListRecord | None:
        """The list a name, ID, unique ID prefix or short name names, or None."""
        return _resolve(self.list(), name_or_id)

    def get(self, name_or_id: str) -> ManifestListRecord:
        """:meth:`find`, or ImageNotFoundError naming what was looked for."""
        return self._resolved(self.list(), name_or_id)

    def _resolved(
        self, lists: builtins.list[ManifestListRecord], name_or_id: str
    ) -> ManifestListRecord:
        """The list of ``lists`` that ``name_or_id`` names, or ImageNotFoundError."""
        found = _resolve(lists, name_or_id)
        if found is None:
            raise ImageNotFoundError(
                f"no manifest list {name_or_id!r} in the local store at {self.store.root}; "
                "see `boxwright images` (create one with `boxwright manifest create`)"
            )
        return found

    def create(
        self,
        names: Iterable[str],
        media_type: str = mt.DOCKER_LIST,
        annotations: Mapping[str, str] | None = None,
    ) -> ManifestListRecord:
        """A new empty list under ``names``; StoreError when a name is taken."""
        wanted = [normalize_name(n) for n in names]
        if not wanted:
            raise UsageError("a manifest list needs a name")
        for name in wanted:
            if "@" in name:
                raise InvalidReferenceError(f"a manifest list cannot be named {name!r}")
        record = ManifestListRecord(
            id=secrets.token_hex(32),
            names=tuple(dict.fromkeys(wanted)),
            media_type=media_type,
            created=created_time(),
            annotations=dict(annotations or {}),
        )
        with self.store.metadata_lock():
            lists = self.list()
            for name in record.names:
                self._check_free(name, lists)
            self._write([*lists, record])
        return record

    def _check_free(self, name: str, lists: builtins.list[ManifestListRecord]) -> None:
        for other in lists:
            if name in other.names:
                raise StoreError(f"a manifest list named {name} exists already ({other.short_id})")
        for image in self.store.images.list():
            if name in image.names:
                raise StoreError(f"image name {name} is already associated with image {image.id}")

    def update(
        self, name_or_id: str, change: Callable[[ManifestListRecord], ManifestListRecord]
    ) -> ManifestListRecord:
        """Apply ``change`` to the list under the metadata lock; return the new record."""
        with self.store.metadata_lock():
            lists = self.list()
            current = self._resolved(lists, name_or_id)
            new = change(current)
            self._write([new if r.id == current.id else r for r in lists])
        return new

    def remove(self, name_or_id: str) -> ManifestListRecord:
        """Remove a list (the images it names stay); return what was removed."""
        with self.store.metadata_lock():
            lists = self.list()
            current = self._resolved(lists, name_or_id)
            self._write([r for r in lists if r.id != current.id])
        return current

    def tag(self, name_or_id: str, *new: str) -> ManifestListRecord:
        """Give the list more names, as ``podman tag`` gives a list: each name moves off the
        image or other list that held it (which stays, maybe with no name)."""
        wanted = new_tags(new)
        with self.store.metadata_lock():
            lists = self.list()
            current = self._resolved(lists, name_or_id)
            self.store.images.take_names(wanted)
            lists = without_names(lists, wanted)
            mine = next(r for r in lists if r.id == current.id)
            new_record = replace(mine, names=tuple(dict.fromkeys((*mine.names, *wanted))))
            self._write([new_record if r.id == current.id else r for r in lists])
        return new_record

    def take_names(self, names: Iterable[str]) -> None:
        """Take ``names`` off every list that has them: an image given a name takes it from a
        list, as podman's store moves a name. The caller holds the metadata lock."""
        if not self.path.exists():
            return
        lists = self.list()
        kept = without_names(lists, list(names))
        if kept != lists:
            self._write(kept)

    def untag_or_remove(self, name_or_id: str) -> builtins.list[str]:
        """``rmi`` of a list: by a name of a list with other names too, only that name goes;
        otherwise the list goes. The lines podman prints (``Untagged:``, ``Deleted:``)."""
        with self.store.metadata_lock():
            lists = self.list()
            current = self._resolved(lists, name_or_id)
            matched = _matched_name(current, name_or_id)
            if matched is not None and len(current.names) > 1:
                rest = tuple(n for n in current.names if n != matched)
                self._write([replace(r, names=rest) if r.id == current.id else r for r in lists])
                return [f"Untagged: {matched}"]
            self._write([r for r in lists if r.id != current.id])
        return [*(f"Untagged: {n}" for n in current.names), f"Deleted: {current.id}"]

    def _write(self, lists: builtins.list[ManifestListRecord]) -> None:
        write_records(self.path, FILE_FORMAT, FILE_VERSION, "lists", [r.to_json() for r in lists])


def with_instances(record: ManifestListRecord, added: Iterable[ListInstance]) -> ManifestListRecord:
    """``record`` with ``added`` appended; an instance of a digest it lists replaces it."""
    new = list(record.instances)
    for inst in added:
        at = next((i for i, old in enumerate(new) if old.digest == inst.digest), None)
        if at is None:
            new.append(inst)
        else:
            new[at] = inst
    return replace(record, instances=tuple(new))


def _matched_name(record: ManifestListRecord, text: str) -> str | None:
    """The name of ``record`` that ``text`` named (None: an ID named it)."""
    try:
        wanted = parse_name(text)
    except InvalidReferenceError:
        return None
    if str(wanted) in record.names:
        return str(wanted)
    if not wanted.qualified and wanted.digest is None:
        for name in record.names:
            if short_name_matches(wanted, name):
                return name
    return None


def _resolve(lists: list[ManifestListRecord], text: str) -> ManifestListRecord | None:
    """podman's lookup order, as for images: name, ID, unique ID prefix, short name."""
    if not text:
        raise InvalidReferenceError("a manifest list name or ID must not be empty")
    wanted = name_or_none(text)
    if wanted is not None:
        exact = str(wanted)
        for r in lists:
            if exact in r.names:
                return r
    ident = text.removeprefix("sha256:")
    if len(ident) >= _MIN_PREFIX and all(c in "0123456789abcdef" for c in ident):
        hits = [r for r in lists if r.id.startswith(ident)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise AmbiguousImageError(f"the ID prefix {ident} matches several manifest lists")
    if wanted is not None and not wanted.qualified and wanted.digest is None:
        hits = [r for r in lists if any(short_name_matches(wanted, n) for n in r.names)]
        if len(hits) > 1:
            names = ", ".join(r.names[0] for r in hits)
            raise AmbiguousImageError(f"the short name {text} matches several lists: {names}")
        if hits:
            return hits[0]
    return None


__all__ = [
    "LIST_FORMATS",
    "ListInstance",
    "ManifestListRecord",
    "ManifestListStore",
    "list_media_type",
    "with_instances",
]
