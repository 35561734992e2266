"""The JSON records of a containers/storage store, and where its files live.

Under the graph root, for a driver ``D`` (``overlay`` or ``vfs``):

* ``D-layers/layers.json`` (and ``volatile-layers.json`` beside it): every layer, with
  ``id``, ``parent``, ``created``, ``compressed-diff-digest``/``compressed-size`` (the blob
  it came from), ``diff-digest``/``diff-size`` (its uncompressed tar: the diff_id),
  ``compression``, ``uidset``/``gidset``, ``flags`` (``incomplete`` while being written);
  ``D-layers/ID.tar-split.gz`` the tar-split record of each;
* ``D-images/images.json``: every image, with ``id`` (its config's digest hex), ``digest``
  and ``digests`` (its manifests), ``names``, ``names-history``, ``layer`` (the top layer),
  ``metadata``, ``big-data-names``/``-sizes``/``-digests``, ``created``; its *big data* are
  files in ``D-images/ID/``, each named ``=`` and the base64 of its key: the config under
  its digest (``sha256:...``), each manifest under ``manifest-DIGEST``, the newest one also
  under ``manifest`` (a key of only ``a-z0-9.`` is its own file name);
* the driver's own directory: ``overlay/ID/diff`` (one layer alone, whiteouts as 0:0 nodes)
  with ``link``, ``lower``, ``work/``, ``merged/`` and the short names in ``overlay/l/``, or
  ``vfs/dir/ID`` (the whole tree up to that layer).

Records are kept as the decoded JSON objects, so fields boxwright does not know survive a
rewrite; the helpers here read the fields it uses. Files are replaced atomically.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from boxwright.errors import TransportError
from boxwright.transport.atomic import atomic_write
from boxwright.transport.cstorage.location import StoreLocation

Record = dict[str, Any]
MAX_RECORDS_SIZE: Final = 256 << 20


# containers/storage's paths, one property each, named as its code names them: alike in
# shape (runtime.state's and store.layout's paths too), each another file.
@dataclass(frozen=True, slots=True)
class StorePaths:
    """Every path boxwright uses in one store."""

    location: StoreLocation

    @property
    def driver(self) -> str:
        return self.location.driver

    @property
    def root(self) -> Path:
        return self.location.graphroot

    @property
    def storage_lock(self) -> Path:
        return self.root / "storage.lock"

    @property
    def layers_dir(self) -> Path:
        return self.root / f"{self.driver}-layers"

    @property
    def images_dir(self) -> Path:
        return self.root / f"{self.driver}-images"

    @property
    def layers_lock(self) -> Path:
        return self.layers_dir / "layers.lock"

    @property
    def images_lock(self) -> Path:
        return self.images_dir / "images.lock"

    @property
    def containers_lock(self) -> Path:
        return self.root / f"{self.driver}-containers" / "containers.lock"

    @property
    def layers_json(self) -> Path:
        return self.layers_dir / "layers.json"

    @property
    def volatile_layers_json(self) -> Path:
        return self.layers_dir / "volatile-layers.json"

    @property
    def images_json(self) -> Path:
        return self.images_dir / "images.json"

    def tar_split(self, layer_id: str) -> Path:
        return self.layers_dir / f"{layer_id}.tar-split.gz"

    def big_data(self, image_id: str, key: str) -> Path:
        return self.images_dir / image_id / big_data_file(key)

    def layer_dir(self, layer_id: str) -> Path:
        """The directory of the layer's files: overlay's ``diff``, vfs's whole tree."""
        if self.driver == "overlay":
            return self.root / "overlay" / layer_id / "diff"
        return self.root / "vfs" / "dir" / layer_id


def big_data_file(key: str) -> str:
    """The file name containers/storage gives the big-data item ``key``: the key itself when
    it is only ``a-z``, ``0-9`` and ``.``, else ``=`` and its base64."""
    if key and all(c == "." or "0" <= c <= "9" or "a" <= c <= "z" for c in key):
        return key
    return "=" + base64.b64encode(key.encode()).decode()


def _load(path: Path) -> list[Record]:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_RECORDS_SIZE + 1)
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise TransportError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) > MAX_RECORDS_SIZE:
        raise TransportError(f"{path} is larger than {MAX_RECORDS_SIZE} bytes")
    if not data.strip():
        return []
    try:
        records = json.loads(data)
    except ValueError:
        raise TransportError(f"{path} is not valid JSON") from None
    if not isinstance(records, list) or not all(
        isinstance(r, dict) and isinstance(r.get("id"), str) for r in records
    ):
        raise TransportError(f"{path} is not a list of records with an id")
    return records


def save(path: Path, records: list[Record]) -> None:
    """Replace ``path`` with ``records`` atomically, in the compact form containers/storage
    writes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(records, separators=(",", ":")).encode(), mode=0o600)


def load_layers(paths: StorePaths) -> tuple[list[Record], list[Record]]:
    """The layers of ``layers.json`` and those of ``volatile-layers.json``."""
    return _load(paths.layers_json), _load(paths.volatile_layers_json)


def load_images(paths: StorePaths) -> list[Record]:
    """The images of ``images.json``."""
    return _load(paths.images_json)


def is_incomplete(layer: Record) -> bool:
    """Whether a writer is still making ``layer`` (or died making it)."""
    flags = layer.get("flags")
    return isinstance(flags, dict) and flags.get("incomplete") is True


def image_digests(image: Record) -> list[str]:
    """The manifest digests an image is known by."""
    found = [d for d in image.get("digests") or [] if isinstance(d, str)]
    first = image.get("digest")
    if isinstance(first, str) and first and first not in found:
        found.insert(0, first)
    return found


def layer_chain(layers: dict[str, Record], top: str | None, where: str) -> list[Record]:
    """The layers from the base up to ``top`` (none when ``top`` is empty)."""
    chain: list[Record] = []
    seen: set[str] = set()
    current = top
    while current:
        if current in seen:
            raise TransportError(f"{where}: layer {current} is its own ancestor")
        seen.add(current)
        layer = layers.get(current)
        if layer is None:
            raise TransportError(f"{where}: layer {current} is missing from the store")
        if is_incomplete(layer):
            raise TransportError(f"{where}: layer {current} is still being written")
        chain.append(layer)
        parent = layer.get("parent")
        current = parent if isinstance(parent, str) else None
    chain.reverse()
    return chain


def read_big_data(paths: StorePaths, image_id: str, key: str, limit: int) -> bytes:
    """The big-data item ``key`` of an image, at most ``limit`` bytes."""
    path = paths.big_data(image_id, key)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise TransportError(f"image {image_id} has no {key!r} in {paths.root}") from None
    with os.fdopen(fd, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise TransportError(f"{path} is larger than {limit} bytes")
    return data


__all__ = [
    "Record",
    "StorePaths",
    "big_data_file",
    "image_digests",
    "is_incomplete",
    "layer_chain",
    "load_images",
    "load_layers",
    "read_big_data",
    "save",
]
