"""Writing an image into a containers/storage store (overlay or vfs), as podman pulls one.

Blobs are staged under ``ROOT/tmp`` while the copy puts them. :meth:`commit` then follows
containers/storage's protocol (see docs/transports.md): ``storage.lock`` taken and released,
``layers.lock`` exclusive; each missing layer recorded ``incomplete`` in ``layers.json``, then
unpacked under ``containers.lock`` into the driver's directory (:mod:`.drivers`) with its
tar-split record written from the same pass and its diff_id checked, then completed; each
save of ``layers.json`` records a new last write. Then ``images.lock`` exclusive: the image's
big data (config, ``manifest-DIGEST``, ``manifest``) written, ``images.json`` replaced, the
name taken from any image that had it, and a new last write recorded. A layer's ID is
containers/image's: the diff_id's hex for a base layer, else the sha256 of
``PARENT-ID+DIFF-ID-HEX``; the image ID is the config digest's hex. Layers already in the
store are reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from boxwright.errors import BlobNotFoundError, DigestMismatchError, TransportError
from boxwright.layer.apply import ApplyOptions, apply_layer
from boxwright.layer.compression import auto_decompress
from boxwright.oci import mediatype as mt
from boxwright.oci.config import ImageConfig
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.readers import Reader
from boxwright.rootless.forked import call_in_namespace
from boxwright.transport.atomic import BlobWriter, atomic_write
from boxwright.transport.cstorage import drivers, rootless
from boxwright.transport.cstorage.location import StoreLocation
from boxwright.transport.cstorage.lockfile import Held, locked, touch_graph_lock
from boxwright.transport.cstorage.naming import StorageReference
from boxwright.transport.cstorage.records import (
    Record,
    StorePaths,
    big_data_file,
    image_digests,
    is_incomplete,
    load_images,
    load_layers,
    save,
)
from boxwright.transport.cstorage.tarsplit import TarSplitRecorder

_COMPRESSION_CODES: Final = {"none": 0, "gzip": 2, "zstd": 4}
_CHUNK: Final = 1 << 20


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def layer_id(parent: str, diff_id: Digest) -> str:
    """containers/image's ID for a layer with ``diff_id`` over ``parent`` ("" for a base)."""
    if not parent:
        return diff_id.hex
    return hashlib.sha256(f"{parent}+{diff_id.hex}".encode()).hexdigest()


class _Tee:
    """Reads ``stream``, hashing what passes and feeding a tar-split recorder."""

    def __init__(self, stream: Reader, recorder: TarSplitRecorder | None) -> None:
        self._stream = stream
        self._recorder = recorder
        self.hasher = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1, /) -> bytes:
        data = self._stream.read(n)
        if data:
            self.hasher.update(data)
            if self._recorder is not None:
                self._recorder.feed(data)
            self.size += len(data)
        return data

    # A hashing reader as layer.streams' are, that also feeds the tar-split recorder: its
    # read/drain/digest look like theirs and do more.
    def drain(self) -> None:
        while self.read(_CHUNK):
            pass

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> _Tee:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ContainersStorageDestination:
    """An :class:`~boxwright.transport.base.ImageDestination` into a containers/storage store."""

    def __init__(self, ref: StorageReference, location: StoreLocation) -> None:
        self._name = str(ref)
        if ref.name is None or ref.name.digest is not None or ref.image_id:
            raise TransportError(
                f"{self._name}: give a name with a tag to write an image into the store"
            )
        self._ref = ref
        self.paths = StorePaths(location)
        self._staging = location.graphroot / "tmp"
        try:
            self._staging.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._temp = Path(os.path.realpath(self._staging)) / f"boxwright-{secrets.token_hex(8)}"
            self._temp.mkdir(mode=0o700)
        except OSError as exc:
            raise TransportError(
                f"cannot write into {location.graphroot}: {exc.strerror}"
            ) from None
        self._blobs = BlobWriter(self._temp, lambda d: self._temp / d.hex)
        self._manifests: dict[Digest, bytes] = {}

    @property
    def name(self) -> str:
        return self._name

    supported_manifest_types: Final[Sequence[str]] = (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST)
    supports_index: Final[bool] = False
    one_platform_of_all: Final[bool] = True
    required_compression: Final[str | None] = None
    desired_compression: Final[str | None] = None

    def has_blob(self, descriptor: Descriptor) -> bool:
        path = self._temp / descriptor.digest.hex
        return path.is_file() and path.stat().st_size == descriptor.size

    def put_blob(self, stream: Reader, descriptor: Descriptor | None = None) -> Descriptor:
        return self._blobs.write(stream, descriptor)

    def put_manifest(self, raw: bytes, media_type: str) -> Descriptor:
        digest = Digest.from_bytes(raw)
        self._manifests[digest] = raw
        return Descriptor(media_type, digest, len(raw))

    def commit(self, top: Descriptor) -> None:
        raw = self._manifests.get(top.digest)
        if raw is None:
            raise BlobNotFoundError(f"cannot commit {self._name}: manifest {top.digest} not put")
        manifest = ImageManifest.parse(raw, top.media_type)
        config_path = self._temp / manifest.config.digest.hex
        try:
            config_raw = config_path.read_bytes()
        except FileNotFoundError:
            raise BlobNotFoundError(f"{self._name}: the config was not put") from None
        diff_ids = ImageConfig.parse(config_raw).diff_ids
        if len(diff_ids) != len(manifest.layers):
            raise TransportError(
                f"{self._name}: the config names {len(diff_ids)} layers, the manifest "
                f"{len(manifest.layers)}"
            )
        self._prepare_store()
        touch_graph_lock(self.paths.storage_lock)
        with locked(self.paths.layers_lock, exclusive=True) as layers_lock:
            stable, volatile = load_layers(self.paths)
            by_id = {layer["id"]: layer for layer in stable + volatile}
            parent = ""
            pairs = list(zip(manifest.layers, diff_ids, strict=True))
            for n, (desc, diff_id) in enumerate(pairs):
                lid = layer_id(parent, diff_id)
                existing = by_id.get(lid)
                if existing is None or is_incomplete(existing):
                    stable = [layer for layer in stable if layer["id"] != lid]
                    by_id[lid] = self._put_layer(
                        layers_lock, stable, lid, parent, pairs[:n], desc, diff_id
                    )
                parent = lid
            with locked(self.paths.images_lock, exclusive=True) as images_lock:
                self._write_image(manifest, raw, config_raw, parent)
                images_lock.record_write()

    def _prepare_store(self) -> None:
        """The store's directories and lock files, made as containers/storage makes them."""
        self.paths.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.paths.storage_lock.touch(exist_ok=True)
        for directory in (
            self.paths.layers_dir,
            self.paths.images_dir,
            self.paths.containers_lock.parent,
        ):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        drivers.prepare(self.paths)

    def _put_layer(
        self,
        layers_lock: Held,
        stable: list[Record],
        lid: str,
        parent: str,
        below: list[tuple[Descriptor, Digest]],
        desc: Descriptor,
        diff_id: Digest,
    ) -> Record:
        """Add one layer as containers/storage's ``layerStore.create`` does, ``layers.lock``
        held: its record goes into ``layers.json`` first, flagged ``incomplete`` (so that a
        writer that dies leaves a record podman deletes on its next write), then the layer
        is unpacked under ``containers.lock`` (``putLayer`` holds it), then the flag is
        dropped. Each save records a new last write."""
        record: Record = {"id": lid}
        if parent:
            record["parent"] = parent
        record.update(
            {
                "created": _now(),
                "compressed-diff-digest": str(desc.digest),
                "compressed-size": desc.size,
                "diff-digest": str(diff_id),
                "flags": {"incomplete": True},
            }
        )
        stable.append(record)
        save(self.paths.layers_json, stable)
        layers_lock.record_write()
        try:
            with locked(self.paths.containers_lock, exclusive=True):
                record.update(
                    self._as_store_owner(
                        lambda: self._unpack_layer(lid, parent, below, desc, diff_id)
                    )
                )
        except BaseException:
            stable.remove(record)
            save(self.paths.layers_json, stable)
            layers_lock.record_write()
            raise
        del record["flags"]
        save(self.paths.layers_json, stable)
        layers_lock.record_write()
        return record

    def _as_store_owner(self, work: Callable[[], Record]) -> Record:
        """``work()`` run as root: this process when it is root, else a child in the rootless
        user's namespace (mapped as podman maps it, so the store's owners are right)."""
        if os.geteuid() == 0:
            return work()
        mapping = rootless.user_mapping(str(self.paths.root))
        return call_in_namespace(work, error=TransportError, mapping=mapping)

    # _put_layer's layer parameters again: this runs in the child _as_store_owner may fork,
    # without the layers.lock and the records _put_layer holds in this process.
    def _unpack_layer(
        self,
        lid: str,
        parent: str,
        below: list[tuple[Descriptor, Digest]],
        desc: Descriptor,
        diff_id: Digest,
    ) -> Record:
        """Unpack one layer into the driver's directory, with its tar-split record; return
        the record's fields learned on the way. ``below``: the image's layers under it (the
        vfs driver's directory holds them all, each applied again and checked). Run as root
        (of the host, or of the rootless user's namespace, :meth:`_as_store_owner`): owners
        are the ones the tar names; on failure nothing is left."""
        overlay = self.paths.driver == "overlay"
        privileged = not rootless.in_user_namespace()
        try:
            target = drivers.create(self.paths, lid, parent)
            mode = os.stat(target).st_mode & 0o7777
            options = ApplyOptions(overlay=overlay, rootless=False, root_mode=mode)
            if not overlay:
                for lower_desc, lower_diff_id in below:
                    self._apply(target, lower_desc, lower_diff_id, options, None)
            with open(self.paths.tar_split(lid), "wb") as split_out:
                recorder = TarSplitRecorder(split_out)
                size, compression = self._apply(target, desc, diff_id, options, recorder)
                recorder.close()
                split_out.flush()
                os.fsync(split_out.fileno())
            drivers.finish(self.paths, lid, parent, privileged=privileged)
        except BaseException:
            drivers.remove(self.paths, lid)
            with contextlib.suppress(FileNotFoundError):
                self.paths.tar_split(lid).unlink()
            raise
        return {
            "diff-size": size,
            "compression": _COMPRESSION_CODES.get(compression, 0),
            "uidset": sorted(recorder.uids),
            "gidset": sorted(recorder.gids),
        }

    def _apply(
        self,
        target: Path,
        desc: Descriptor,
        diff_id: Digest,
        options: ApplyOptions,
        recorder: TarSplitRecorder | None,
    ) -> tuple[int, str]:
        """Apply the staged blob ``desc`` to ``target``, checking its tar against
        ``diff_id``; feed ``recorder`` the tar. Returns the tar's size and the blob's
        compression."""
        with open(self._temp / desc.digest.hex, "rb") as compressed:
            plain, compression = auto_decompress(compressed)
            with _Tee(plain, recorder) as tee:
                apply_layer(target, tee, options)
                tee.drain()
        if tee.hasher.hexdigest() != diff_id.hex:
            raise DigestMismatchError(
                f"{self._name}: layer {desc.digest} is not the tar of diff_id {diff_id}"
            )
        return tee.size, compression

    def _write_image(
        self, manifest: ImageManifest, raw: bytes, config_raw: bytes, top_layer: str
    ) -> None:
        images = load_images(self.paths)
        image_id = manifest.config.digest.hex
        name = str(self._ref.name)
        manifest_digest = str(manifest.digest)
        image = next((i for i in images if i["id"] == image_id), None)
        for other in images:
            if other is not image and name in (other.get("names") or []):
                other["names"] = [n for n in other["names"] if n != name]
        if image is None:
            image = {"id": image_id}
            images.append(image)
        digests = image_digests(image)
        if manifest_digest not in digests:
            digests.append(manifest_digest)
        names = [n for n in image.get("names") or [] if n != name]
        history = [n for n in image.get("names-history") or [] if n != name]
        config_key = str(manifest.config.digest)
        big = {
            config_key: config_raw,
            f"manifest-{manifest_digest}": raw,
            "manifest": raw,
        }
        directory = self.paths.images_dir / image_id
        directory.mkdir(mode=0o700, exist_ok=True)
        for key, data in big.items():
            atomic_write(directory / big_data_file(key), data, mode=0o600)
        big_names = [k for k in image.get("big-data-names") or [] if k not in big]
        sizes = dict(image.get("big-data-sizes") or {})
        hashes = dict(image.get("big-data-digests") or {})
        for key, data in big.items():
            big_names.append(key)
            sizes[key] = len(data)
            hashes[key] = str(Digest.from_bytes(data))
        metadata = image.get("metadata") or json.dumps(
            {"signatures-sizes": {manifest_digest: []}}, separators=(",", ":")
        )
        created = ImageConfig.parse(config_raw).created or _now()
        image.update(
            {
                "digest": manifest_digest,
                "digests": digests,
                "names": [*names, name],
                "names-history": [name, *history],
                "layer": top_layer,
                "metadata": metadata,
                "big-data-names": big_names,
                "big-data-sizes": sizes,
                "big-data-digests": hashes,
                "created": image.get("created") or created,
            }
        )
        if not top_layer:
            del image["layer"]
        save(self.paths.images_json, images)

    def close(self) -> None:
        shutil.rmtree(self._temp, ignore_errors=True)


__all__ = ["ContainersStorageDestination", "layer_id"]
