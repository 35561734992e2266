"""What differs between two images: config, history, layers and the final filesystems.

:func:`diff_images` compares image A with image B (references on any transport, or opened
:class:`~boxwright.transport.image.Image` objects) and returns an :class:`ImageDiff`:

* ``config``: one :class:`FieldChange` per config field that differs. Every top-level field
  of the config JSON is compared (``architecture``, ``os``, ``variant``, ``os.version``,
  ``created``, ``author``, Docker's ``docker_version`` and ``container``...) except
  ``rootfs`` and ``history``, which have sections of their own; the ``config`` and
  ``container_config`` objects are compared field by field. ``Env`` is compared variable
  by variable (``config.Env[PATH]``), ``Labels`` key by key (``config.Labels[KEY]``);
  ``ExposedPorts`` and ``Volumes`` as sorted lists; every other field (``Cmd``,
  ``Entrypoint``, ``User``, ``WorkingDir``, ``Healthcheck``...) as a whole value. An absent
  field is ``None``.
* ``history``: how many entries the two histories share from the start (entries equal in
  every field, ``created`` included), then the entries after that in A and in B.
* ``layers``: each image's layers, each marked as shared with the other image by blob
  digest, by diff_id only (the same tar compressed differently), or not at all; and how
  many layers the two share from the base up (by diff_id).
* ``files``: the file-level changes between the two final filesystems (after every
  layer, with OCI whiteouts and opaque directories applied as
  :mod:`boxwright.explain.layerfiles` does): paths ``added`` (only in B), ``removed`` (only
  in A), and ``modified``, each with what changed: ``type``, ``size``, ``mode``, ``owner``
  (uid or gid), ``link`` (a symlink's or hardlink's target) or ``content``. Modification
  times are not compared: a rebuild rewrites them without changing anything a container
  sees, and ``container-diff`` ignores them too.

How content changes are detected (the bytes are never held, nor written to disk):

1. Every distinct layer (by diff_id) of both images is streamed once for its headers: a
   layer the two images share is read once and used for both filesystems.
2. A path that is a regular file in both final filesystems is equal without reading its
   content when both entries come from the same layer (the same diff_id: the same tar
   entry). When its sizes differ it is modified (``size``). Only when the sizes are equal
   and the entries come from different layers is the content compared: those layers are
   streamed a second time and just the candidate files are hashed (sha256) as they pass.
   A layer holding no candidate is not read again; in the usual pair (a rebuild with a
   shared base) only the rebuilt layers are.

Every layer read, either pass, is verified against its blob digest and diff_id.
:attr:`ImageDiff.differs` is true when anything but the manifest bytes and layer
compression differ (config, history, the list of diff_ids, or files).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from boxwright.explain.layerfiles import (
    WHITEOUT_PREFIX,
    FileEntry,
    FileSystemView,
    LayerFiles,
    read_layer_files,
)
from boxwright.explain.model import JsonRecord
from boxwright.layer.pathsafe import clean_entry_name
from boxwright.layer.tarread import TarReader
from boxwright.transport.image import layer_tars, open_named_image

if TYPE_CHECKING:
    from boxwright.oci.config import HistoryEntry
    from boxwright.oci.digest import Digest
    from boxwright.oci.platform import Platform
    from boxwright.oci.readers import Reader
    from boxwright.transport.image import Image

#: Config sections compared field by field.
_SECTIONS: Final = ("config", "container_config")
#: Top-level fields that have sections of their own in the diff.
_OWN_SECTIONS: Final = frozenset(("rootfs", "history"))
#: Fields holding a JSON "set" (an object whose values are ``{}``), compared as sorted lists.
_SET_FIELDS: Final = frozenset(("ExposedPorts", "Volumes"))


# -- the result ---------------------------------------------------------------------------------
# Each result object is its fields, written as JSON by JsonRecord, so the small ones look
# alike: each is one part of the diff (a field, a side, the history, the layers).


@dataclass(frozen=True)
class FieldChange(JsonRecord):
    """One config field that differs: its name and its value in A and in B (None: absent)."""

    field: str
    a: Any
    b: Any


@dataclass(frozen=True)
class HistoryDiff(JsonRecord):
    """``common`` entries equal from the start, then what follows in A and in B."""

    common: int
    a: tuple[HistoryEntry, ...]
    b: tuple[HistoryEntry, ...]

    @property
    def differs(self) -> bool:
        return bool(self.a or self.b)


@dataclass(frozen=True)
class LayerRow(JsonRecord):
    """One layer of one image, and where the other image has it.

    ``shared`` is ``"digest"`` (the same blob), ``"diff_id"`` (the same tar, stored
    differently) or ``None``; ``other_index`` is its position in the other image.
    """

    index: int
    digest: Digest
    diff_id: Digest
    size: int
    media_type: str
    shared: str | None = None
    other_index: int | None = None


@dataclass(frozen=True)
class LayersDiff(JsonRecord):
    """Both images' layers; ``common``: how many they share from the base up (by diff_id)."""

    common: int
    a: tuple[LayerRow, ...]
    b: tuple[LayerRow, ...]

    @property
    def differs(self) -> bool:
        return [r.diff_id for r in self.a] != [r.diff_id for r in self.b]


def _entry_dict(entry: FileEntry | None, layer: int | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    out = entry.to_dict()
    out["path"] = "/" + entry.path
    out["layer"] = layer
    return out


@dataclass(frozen=True)
class FileChange:
    """One path that differs. ``a``/``b``: the entry in each image (None where absent, or
    for a directory that exists only because something is under it) and the layer
    (index in its image) that wrote it; ``changes``: what differs, for a modified path;
    ``digests``: the sha256 of the two contents, when they were compared."""

    path: str
    a: FileEntry | None
    b: FileEntry | None
    a_layer: int | None = None
    b_layer: int | None = None
    changes: tuple[str, ...] = ()
    digests: tuple[str, str] | None = None

    @property
    def kind(self) -> str:
        """The kind of the entry in B (in A for a removed path)."""
        entry = self.b if self.b is not None else self.a
        return entry.kind if entry is not None else "dir"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": "/" + self.path}
        if self.changes:
            out["changes"] = list(self.changes)
        out["a"] = _entry_dict(self.a, self.a_layer)
        out["b"] = _entry_dict(self.b, self.b_layer)
        if self.digests is not None:
            out["digests"] = {"a": self.digests[0], "b": self.digests[1]}
        return out


@dataclass(frozen=True)
class FilesDiff:
    """Paths only in B (``added``), only in A (``removed``), in both but different
    (``modified``), each sorted by path."""

    added: tuple[FileChange, ...] = ()
    removed: tuple[FileChange, ...] = ()
    modified: tuple[FileChange, ...] = ()

    @property
    def differs(self) -> bool:
        return bool(self.added or self.removed or self.modified)

    def summary(self) -> dict[str, int]:
        """Counts and bytes: what was added, removed, and the size change of modified files."""
        return {
            "added": len(self.added),
            "removed": len(self.removed),
            "modified": len(self.modified),
            "added_bytes": sum(c.b.size for c in self.added if c.b is not None),
            "removed_bytes": sum(c.a.size for c in self.removed if c.a is not None),
            "modified_bytes_delta": sum(
                c.b.size - c.a.size for c in self.modified if c.a is not None and c.b is not None
            ),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary(),
            "added": [c.to_dict() for c in self.added],
            "removed": [c.to_dict() for c in self.removed],
            "modified": [c.to_dict() for c in self.modified],
        }


@dataclass(frozen=True)
class ImageSide(JsonRecord):
    """Which image one side is: the reference given, its manifest and config digests."""

    reference: str
    manifest_digest: Digest
    config_digest: Digest


@dataclass(frozen=True)
class ImageDiff:
    """Everything that differs between image A and image B (see the module docstring)."""

    a: ImageSide
    b: ImageSide
    config: tuple[FieldChange, ...]
    history: HistoryDiff
    layers: LayersDiff
    files: FilesDiff = field(default_factory=FilesDiff)

    @property
    def differs(self) -> bool:
        """Whether the images differ in config, history, diff_ids or files."""
        return bool(
            self.config or self.history.differs or self.layers.differs or self.files.differs
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "differs": self.differs,
            "config": [change.to_dict() for change in self.config],
            "history": self.history.to_dict(),
            "layers": self.layers.to_dict(),
            "files": self.files.to_dict(),
        }

    def to_json(self, indent: int | None = 4) -> str:
        """The diff as JSON text (the shape of :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


# -- config -------------------------------------------------------------------------------------


def _env_map(value: Any) -> dict[str, str] | None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        return None
    out: dict[str, str] = {}
    for item in value:
        name, _, val = item.partition("=")
        out[name] = val
    return out


def _keyed(name: str, a: Mapping[str, Any], b: Mapping[str, Any]) -> list[FieldChange]:
    return [
        FieldChange(f"{name}[{key}]", a.get(key), b.get(key))
        for key in sorted(a.keys() | b.keys())
        if a.get(key) != b.get(key)
    ]


def _field_changes(name: str, key: str, a: Any, b: Any) -> list[FieldChange]:
    """The changes of one field of a ``config`` section."""
    if a == b:
        return []
    if key == "Env":
        env_a, env_b = _env_map(a or []), _env_map(b or [])
        if env_a is not None and env_b is not None:
            return _keyed(name, env_a, env_b)
    if key == "Labels" and isinstance(a or {}, dict) and isinstance(b or {}, dict):
        return _keyed(name, a or {}, b or {})
    if key in _SET_FIELDS and isinstance(a or {}, dict) and isinstance(b or {}, dict):
        keys_a, keys_b = sorted(a or {}), sorted(b or {})
        if keys_a == keys_b:
            return []
        return [FieldChange(name, keys_a or None, keys_b or None)]
    return [FieldChange(name, a, b)]


def config_changes(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[FieldChange]:
    """Every field of two config JSON objects that differs, in A's field order then B's."""
    changes: list[FieldChange] = []
    for key in _ordered_keys(a, b):
        if key in _OWN_SECTIONS:
            continue
        value_a, value_b = a.get(key), b.get(key)
        sections = isinstance(value_a or {}, dict) and isinstance(value_b or {}, dict)
        if key in _SECTIONS and sections:
            sub_a: Mapping[str, Any] = value_a or {}
            sub_b: Mapping[str, Any] = value_b or {}
            for sub in _ordered_keys(sub_a, sub_b):
                changes += _field_changes(f"{key}.{sub}", sub, sub_a.get(sub), sub_b.get(sub))
        elif value_a != value_b:
            changes.append(FieldChange(key, value_a, value_b))
    return changes


def _ordered_keys(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[str]:
    return [*a, *(key for key in b if key not in a)]


# -- history and layers -------------------------------------------------------------------------


def history_diff(a: Sequence[HistoryEntry], b: Sequence[HistoryEntry]) -> HistoryDiff:
    """The common prefix of two histories, then the rest of each."""
    common = 0
    while common < len(a) and common < len(b) and a[common] == b[common]:
        common += 1
    return HistoryDiff(common, tuple(a[common:]), tuple(b[common:]))


def _rows(image: Image, other: Image) -> tuple[LayerRow, ...]:
    by_digest = {desc.digest: i for i, desc in reversed(list(enumerate(other.layers)))}
    by_diff_id = {d: i for i, d in reversed(list(enumerate(other.diff_ids)))}
    rows = []
    for index, (desc, diff_id) in enumerate(zip(image.layers, image.diff_ids, strict=True)):
        shared: str | None = None
        other_index = by_digest.get(desc.digest)
        if other_index is not None:
            shared = "digest"
        else:
            other_index = by_diff_id.get(diff_id)
            shared = "diff_id" if other_index is not None else None
        rows.append(
            LayerRow(index, desc.digest, diff_id, desc.size, desc.media_type, shared, other_index)
        )
    return tuple(rows)


def layers_diff(a: Image, b: Image) -> LayersDiff:
    """Each image's layers, marked with where the other image has them."""
    common = 0
    for diff_a, diff_b in zip(a.diff_ids, b.diff_ids, strict=False):
        if diff_a != diff_b:
            break
        common += 1
    return LayersDiff(common, _rows(a, b), _rows(b, a))


# -- reading layers -----------------------------------------------------------------------------


def _layer_files(a: Image, b: Image) -> tuple[list[LayerFiles], list[LayerFiles]]:
    """The :class:`LayerFiles` of both images' layers; a diff_id is read only once."""
    jobs: list[tuple[Image, int]] = []
    seen: set[Digest] = set()
    for image in (a, b):
        for index, diff_id in enumerate(image.diff_ids):
            if diff_id not in seen:
                seen.add(diff_id)
                jobs.append((image, index))
    read: dict[Digest, LayerFiles] = {}
    for (image, index), stream in zip(jobs, layer_tars(jobs), strict=True):
        read[image.diff_ids[index]] = read_layer_files(stream, index)
    return (
        [dataclasses.replace(read[d], index=i) for i, d in enumerate(a.diff_ids)],
        [dataclasses.replace(read[d], index=i) for i, d in enumerate(b.diff_ids)],
    )


def _ordinal(layer: LayerFiles, entry: FileEntry) -> int:
    """The position of ``entry`` in ``layer.entries`` (the view keeps the very object,
    unless the entry was written through a symlinked parent and so moved)."""
    for position in range(len(layer.entries) - 1, -1, -1):
        if layer.entries[position] is entry:
            return position
    base = entry.path.rpartition("/")[2]
    for position in range(len(layer.entries) - 1, -1, -1):
        found = layer.entries[position]
        if found.path.rpartition("/")[2] == base and dataclasses.replace(found, path="") == (
            dataclasses.replace(entry, path="")
        ):
            return position
    raise AssertionError(f"entry {entry.path!r} is not in layer {layer.index}")


def _hash_layer(stream: Reader, wanted: set[int]) -> dict[int, str]:
    """The sha256 of the content of the file entries at positions ``wanted`` (positions as
    in :attr:`LayerFiles.entries`), streaming the tar once to its end."""

    reader = TarReader(stream)
    out: dict[int, str] = {}
    position = -1
    while (member := reader.next()) is not None:
        name = clean_entry_name(member.name, allow_root=True)
        if not name or name.rpartition("/")[2].startswith(WHITEOUT_PREFIX):
            continue  # not in LayerFiles.entries: the root, whiteouts and opaque markers
        position += 1
        if position in wanted:
            hasher = hashlib.sha256()
            for piece in reader.iter_content():
                hasher.update(piece)
            out[position] = "sha256:" + hasher.hexdigest()
    reader.drain()
    return out


# -- files --------------------------------------------------------------------------------------


def _metadata_changes(a: FileEntry, b: FileEntry) -> list[str]:
    if a.kind != b.kind:
        return ["type"]
    changes = []
    if a.kind == "file" and a.size != b.size:
        changes.append("size")
    if a.mode != b.mode:
        changes.append("mode")
    if (a.uid, a.gid) != (b.uid, b.gid):
        changes.append("owner")
    if a.linkname != b.linkname:
        changes.append("link")
    return changes


def files_diff(
    a: Image,
    b: Image,
    layers_a: Sequence[LayerFiles],
    layers_b: Sequence[LayerFiles],
) -> FilesDiff:
    """The changes between the final filesystems of ``a`` and ``b``, given their layers'
    :class:`LayerFiles` (content compared as the module docstring says)."""
    view_a, view_b = FileSystemView.from_layers(layers_a), FileSystemView.from_layers(layers_b)
    dirs_a, dirs_b = view_a.dirs - {""}, view_b.dirs - {""}
    added = []
    for path in sorted((view_b.files.keys() | dirs_b) - view_a.files.keys() - dirs_a):
        entry, layer = _pair(view_b, path)
        added.append(FileChange(path, None, entry, None, layer))
    removed = []
    for path in sorted((view_a.files.keys() | dirs_a) - view_b.files.keys() - dirs_b):
        entry, layer = _pair(view_a, path)
        removed.append(FileChange(path, entry, None, layer, None))
    pending: list[tuple[str, FileEntry, int, FileEntry, int, list[str]]] = []
    for path in sorted(view_a.files.keys() & view_b.files.keys()):
        entry_a, layer_a = view_a.files[path]
        entry_b, layer_b = view_b.files[path]
        if a.diff_ids[layer_a] == b.diff_ids[layer_b] and entry_a == entry_b:
            continue  # the same tar entry of the same layer
        changes = _metadata_changes(entry_a, entry_b)
        pending.append((path, entry_a, layer_a, entry_b, layer_b, changes))
    digests = _content_digests(a, b, layers_a, layers_b, pending)
    modified = []
    for path, entry_a, layer_a, entry_b, layer_b, changes in pending:
        pair = digests.get(path)
        if pair is not None and pair[0] != pair[1]:
            changes = [*changes, "content"]
        if changes:
            modified.append(
                FileChange(path, entry_a, entry_b, layer_a, layer_b, tuple(changes), pair)
            )
    return FilesDiff(tuple(added), tuple(removed), tuple(modified))


def _pair(view: FileSystemView, path: str) -> tuple[FileEntry | None, int | None]:
    found = view.files.get(path)
    return (found[0], found[1]) if found is not None else (None, None)


def _needs_content(
    entry_a: FileEntry, layer_a: int, entry_b: FileEntry, layer_b: int, a: Image, b: Image
) -> bool:
    return (
        entry_a.kind == "file"
        and entry_b.kind == "file"
        and entry_a.size == entry_b.size
        and entry_a.size > 0
        and a.diff_ids[layer_a] != b.diff_ids[layer_b]
    )


def _content_digests(
    a: Image,
    b: Image,
    layers_a: Sequence[LayerFiles],
    layers_b: Sequence[LayerFiles],
    pending: Iterable[tuple[str, FileEntry, int, FileEntry, int, list[str]]],
) -> dict[str, tuple[str, str]]:
    """Hash the candidates' contents: each layer holding one is streamed once more."""
    # diff_id -> (image, layer index, {position in entries: [(path, side)]})
    wanted: dict[Digest, tuple[Image, int, dict[int, list[tuple[str, int]]]]] = {}
    for path, entry_a, layer_a, entry_b, layer_b, _ in pending:
        if not _needs_content(entry_a, layer_a, entry_b, layer_b, a, b):
            continue
        for side, image, layers, entry, index in (
            (0, a, layers_a, entry_a, layer_a),
            (1, b, layers_b, entry_b, layer_b),
        ):
            diff_id = image.diff_ids[index]
            slot = wanted.setdefault(diff_id, (image, index, {}))
            position = _ordinal(layers[index], entry)
            slot[2].setdefault(position, []).append((path, side))
    slots = list(wanted.values())
    jobs = [(image, index) for image, index, _ in slots]
    found: dict[str, list[str]] = {}
    for (_, _, positions), stream in zip(slots, layer_tars(jobs), strict=True):
        hashes = _hash_layer(stream, set(positions))
        for position, users in positions.items():
            for path, side in users:
                found.setdefault(path, ["", ""])[side] = hashes[position]
    return {path: (pair[0], pair[1]) for path, pair in found.items()}


# -- the entry point ----------------------------------------------------------------------------


def _open(ref: str | Image, platform: Platform | str | None, stack: ExitStack) -> tuple[Image, str]:
    image, source = open_named_image(ref, platform)
    if source is not None:
        stack.callback(source.close)
    return image, ref if isinstance(ref, str) else image.source.name


def diff_images(
    a: str | Image,
    b: str | Image,
    *,
    platform: Platform | str | None = None,
    files: bool = True,
) -> ImageDiff:
    """What differs between image ``a`` and image ``b`` (see the module docstring).

    ``platform`` chooses the image out of an index, for both references (default: this
    machine's). ``files=False`` skips the file-level comparison (no layer is read).
    Raises the errors of opening and reading images: :class:`InvalidReferenceError`,
    :class:`ImageNotFoundError`, :class:`DigestMismatchError`, :class:`LayerError`...
    """
    with ExitStack() as stack:
        image_a, name_a = _open(a, platform, stack)
        image_b, name_b = _open(b, platform, stack)
        config_a, config_b = image_a.config, image_b.config
        image_a.diff_ids  # noqa: B018 - checks diff_ids against the layers before any read
        image_b.diff_ids  # noqa: B018
        file_changes = FilesDiff()
        if files:
            layers_a, layers_b = _layer_files(image_a, image_b)
            file_changes = files_diff(image_a, image_b, layers_a, layers_b)
        return ImageDiff(
            ImageSide(name_a, image_a.manifest_digest, config_a.digest),
            ImageSide(name_b, image_b.manifest_digest, config_b.digest),
            tuple(config_changes(config_a.data, config_b.data)),
            history_diff(config_a.history, config_b.history),
            layers_diff(image_a, image_b),
            file_changes,
        )


__all__ = [
    "FieldChange",
    "FileChange",
    "FilesDiff",
    "HistoryDiff",
    "ImageDiff",
    "ImageSide",
    "LayerRow",
    "LayersDiff",
    "config_changes",
    "diff_images",
    "files_diff",
    "history_diff",
    "layers_diff",
]
