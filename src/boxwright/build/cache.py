"""The build's layer cache: which image a step made, keyed by everything the step depends on.

A step's key (:func:`step_key`) is a sha256 over its parent image ID, the history notes of the
config steps since that image (their text after expansion), the step's instruction after
expansion, the build args it uses, and the content hash of the files it copies
(:func:`boxwright.build.context.content_hash`: names, modes and bytes, never mtimes). A parent's
ID names its platform (its config holds it); a step of a stage FROM scratch, before its first
commit, has no parent, so its key reads ``scratch`` and the target platform instead. The index
``R/build-cache.json`` maps keys to image IDs; the images are ordinary unnamed records of the
store, so ``prune`` keeps them (it removes only what no image record references) and
``rmi`` of an intermediate image makes its entry stale, which a lookup skips.

A linked step (``COPY --link``/``ADD --link``) has a second key, :func:`link_key`, over the
step's instruction after expansion (its destination made absolute), the content hash of its
sources and what else changes the layer's bytes (``--timestamp``), and nothing of the parent:
no parent ID, no config steps, no build args but those the expanded text already shows. It
maps to the *carrier* image of the linked layer: an unnamed one-layer image (the layer alone,
made in an empty container). A rebuild whose earlier steps changed misses the step key but hits
the link key, and stacks the carrier's layer blob, unchanged, on the new parent (see
:mod:`boxwright.build.stagerun`). ``--cache-to`` pushes the carrier under the link key's tag,
so ``--cache-from`` brings that one layer, not the image it was first stacked on. The link key
has no platform either: the layer holds only the copied files, whose bytes are the same for every
platform (a source from an image or stage is the one resolved for the platform, which its content
hash shows), and the linked image's config is the stage's own, never the carrier's.

The builds of one multi-platform build share a :class:`StepsMade`: every step any of them
commits is noted there by key, and a lookup finds it even with ``--no-cache``, which otherwise
finds nothing. So a stage whose steps are the same for every platform (``FROM
--platform=$BUILDPLATFORM`` without the ``TARGET*`` args) runs once per build, not once per
platform, whether or not the layer cache is read.

The index is a record file of :mod:`boxwright.store.metadata` (replaced whole, atomically,
under the store's metadata lock); a corrupt index is reported, never silently dropped.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from boxwright.errors import ImageNotFoundError, RegistryError, StoreError, UsageError
from boxwright.store.metadata import parse_records, read_record_bytes, write_records

if TYPE_CHECKING:
    from boxwright.build.context import BuildOptions
    from boxwright.store.store import Store

CACHE_FILE = "build-cache.json"
_FORMAT = "boxwright-build-cache"
_VERSION = 1


def step_key(
    parent: str | None,
    notes: Sequence[str],
    instruction: str,
    args: Mapping[str, str],
    content: str = "",
    extra: Sequence[str] = (),
    platform: str = "",
) -> str:
    """The cache key of one step (module docstring): ``sha256:<hex>``.

    ``platform`` is the platform the stage builds for; it is read only without a parent (FROM
    scratch), whose config names the platform that no parent ID does. A parent's ID already
    differs per platform (its config names it), so keys with a parent are the same with or
    without it."""
    scratch = f"scratch {platform}" if platform else "scratch"
    doc = {
        "parent": parent or scratch,
        "notes": list(notes),
        "instruction": instruction,
        "args": dict(sorted(args.items())),
        "content": content,
        "extra": list(extra),
    }
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def link_key(instruction: str, content: str, extra: Sequence[str] = ()) -> str:
    """The parent-independent key of a linked step's layer (module docstring):
    ``sha256:<hex>``, never equal to a :func:`step_key`."""
    doc = {"link": instruction, "content": content, "extra": list(extra)}
    raw = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def cache_tag(key: str) -> str:
    """The registry tag of a step's image in a ``--cache-to`` repository (the key's hex)."""
    return "bwcache-" + key.partition(":")[2]


class BuildCache:
    """The cache index of one store (``R/build-cache.json``)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.path: Path = store.layout.root / CACHE_FILE
        self._parsed: tuple[bytes | None, dict[str, str]] | None = None
        """The bytes of the index last parsed, and its entries."""

    def _entries(self) -> Mapping[str, str]:
        """The entries of the index, parsed only when its bytes changed since the last parse
        (:mod:`boxwright.store.metadata`)."""
        raw = read_record_bytes(self.path)
        parsed = self._parsed
        if parsed is None or parsed[0] != raw:
            parsed = (raw, self._parse(raw))
            self._parsed = parsed
        return parsed[1]

    def _read(self) -> dict[str, str]:
        """The entries of the index, as a dict the caller may change."""
        return dict(self._entries())

    def _parse(self, raw: bytes | None) -> dict[str, str]:
        try:
            records = parse_records(raw, _FORMAT, _VERSION, "entries")
        except ValueError as error:
            raise StoreError(
                f"{self.path} is corrupt ({error}): remove it (the cache starts empty again)"
            ) from None
        out: dict[str, str] = {}
        for item in records:
            if (
                isinstance(item, dict)
                and isinstance(item.get("key"), str)
                and isinstance(item.get("image"), str)
            ):
                out[item["key"]] = item["image"]
        return out

    def get(self, key: str) -> str | None:
        """The ID of the image ``key`` made, when it is still in the store."""
        image = self._entries().get(key)
        if image is None or not self._store.images.exists(image):
            return None
        return image

    def put(self, key: str, image_id: str) -> None:
        """Remember that the step ``key`` made ``image_id`` (stale entries are dropped)."""
        with self._store.metadata_lock():
            entries = self._read()
            entries[key] = image_id
            live = {k: v for k, v in entries.items() if self._store.images.exists(v)}
            records = [{"key": k, "image": v} for k, v in sorted(live.items())]
            write_records(self.path, _FORMAT, _VERSION, "entries", records)

    def __len__(self) -> int:
        return len(self._entries())

    def prune(self) -> int:
        """Drop the entries whose image is no longer in the store; how many went."""
        if not self.path.exists():
            return 0
        with self._store.metadata_lock():
            entries = self._read()
            live = {k: v for k, v in entries.items() if self._store.images.exists(v)}
            if len(live) == len(entries):
                return 0
            records = [{"key": k, "image": v} for k, v in sorted(live.items())]
            write_records(self.path, _FORMAT, _VERSION, "entries", records)
        return len(entries) - len(live)


class StepsMade:
    """The images the steps of one multi-platform build made, by step key: shared by the
    builds of its platforms, on threads (module docstring)."""

    def __init__(self) -> None:
        self._made: dict[str, str] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        """The image a build of this run made for ``key``, or None."""
        with self._lock:
            return self._made.get(key)

    def put(self, key: str, image: str) -> None:
        """Note that a build of this run made ``image`` for ``key``."""
        with self._lock:
            self._made[key] = image


class LayerCache:
    """The images a build's steps made, found by key: the store's index first, then each
    ``--cache-from`` repository (pulled, and then remembered in the index); a new image is
    remembered in the index and pushed to ``--cache-to``, tagged by :func:`cache_tag`."""

    def __init__(self, store: Store, options: BuildOptions) -> None:
        self._store = store
        self._options = options
        self._index = BuildCache(store)

    def lookup(self, key: str) -> str | None:
        """The ID of the image ``key`` made, locally or in a ``--cache-from`` repository; with
        ``--no-cache`` only one another platform of this build made (:class:`StepsMade`)."""
        made = self._options.steps_made
        if self._options.no_cache:
            image = made.get(key) if made is not None else None
            return image if image is not None and self._store.images.exists(image) else None
        return self._index.get(key) or self._from_registry(key)

    def _from_registry(self, key: str) -> str | None:
        from boxwright.store.pullpush import pull  # the copy pipeline, for --cache-from only

        options = self._options
        for repository in options.cache_from:
            ref = f"docker://{cache_repository(repository)}:{cache_tag(key)}"
            try:
                record = pull(ref, store=self._store, src_options=options.registry_options)
            except (ImageNotFoundError, RegistryError) as error:
                if isinstance(error, RegistryError) and error.status not in (0, 404):
                    raise
                continue
            self._index.put(key, record.id)
            return record.id
        return None

    def remember(self, key: str, image: str) -> None:
        """Record that ``key`` made ``image``; push it to ``--cache-to`` when given."""
        self._index.put(key, image)
        if self._options.steps_made is not None:
            self._options.steps_made.put(key, image)
        options = self._options
        if options.cache_to:
            from boxwright.store.pullpush import push

            ref = f"docker://{cache_repository(options.cache_to)}:{cache_tag(key)}"
            push(image, ref, store=self._store, dest_options=options.registry_options)


def cache_repository(text: str) -> str:
    """A ``--cache-from``/``--cache-to`` repository without its ``docker://`` prefix or tag."""
    repository = text[len("docker://") :] if text.startswith("docker://") else text
    last = repository.rsplit("/", 1)[-1]
    if "@" in repository or ":" in last:
        raise UsageError(f"cache repository {text!r}: give HOST/REPO without a tag or digest")
    return repository


__all__ = [
    "CACHE_FILE",
    "BuildCache",
    "LayerCache",
    "StepsMade",
    "cache_repository",
    "cache_tag",
    "link_key",
    "step_key",
]
