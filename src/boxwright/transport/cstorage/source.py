"""Reading an image from a containers/storage store (podman's, buildah's).

The image's records are read under shared locks of ``layers.lock`` and ``images.lock``, as
podman reads them. Its manifest is the one stored with it (``manifest-DIGEST`` for a
reference by digest, else ``manifest``) and its config the big-data item named by the
config's digest.

The store keeps no compressed layer: each layer is unpacked in the driver's directory, with
its tar-split record. So the manifest a source gives names each layer by its uncompressed
tar (digest ``diff-digest``, size ``diff-size``, the uncompressed media type of the
manifest's kind), as containers/image's storage source does in ``LayerInfosForCopy``; a
layer that was stored uncompressed keeps its descriptor, and a manifest all of whose layers
were stored uncompressed is given byte for byte. A copy then compresses the layers as its
destination asks. The tar is rebuilt from the tar-split record and the files on disk, and
verified against the diff_id while it is read; a layer without a tar-split record cannot
be rebuilt exactly and is refused.
"""

from __future__ import annotations

import io
import os
from contextlib import ExitStack
from typing import IO

from boxwright.errors import (
    BlobNotFoundError,
    ImageNotFoundError,
    ManifestError,
    TransportError,
)
from boxwright.layer.pathsafe import resolve_in_root
from boxwright.oci import mediatype as mt
from boxwright.oci._json import MAX_DOCUMENT_SIZE
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest, VerifyingReader
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.parse import guess_media_type
from boxwright.oci.readers import ClosingAlso, VerifyingStream
from boxwright.transport.base import MAX_CONFIG_SIZE
from boxwright.transport.cstorage.location import StoreLocation
from boxwright.transport.cstorage.lockfile import locked, touch_graph_lock
from boxwright.transport.cstorage.naming import StorageReference, find_image
from boxwright.transport.cstorage.records import (
    Record,
    StorePaths,
    is_incomplete,
    layer_chain,
    load_images,
    load_layers,
    read_big_data,
)
from boxwright.transport.cstorage.tarsplit import TarSplitAssembler


def _layer_type(manifest_type: str) -> str:
    return mt.DOCKER_LAYER if manifest_type == mt.DOCKER_MANIFEST else mt.OCI_LAYER


class ContainersStorageSource:
    """An :class:`~boxwright.transport.base.ImageSource` over one image of a store."""

    def __init__(self, ref: StorageReference, location: StoreLocation) -> None:
        self._name = str(ref)
        self.paths = StorePaths(location)
        if not self.paths.layers_dir.is_dir() or not self.paths.images_dir.is_dir():
            raise ImageNotFoundError(
                f"{self._name}: {location.graphroot} holds no containers-storage store with "
                f"the {location.driver} driver"
            )
        touch_graph_lock(self.paths.storage_lock)
        with locked(self.paths.layers_lock, exclusive=False) as layers_lock:
            self._layers_seen = layers_lock.last_write()
            with locked(self.paths.images_lock, exclusive=False):
                images = load_images(self.paths)
                image = find_image(images, ref, self._name)
                self.image_id: str = image["id"]
                key = "manifest"
                if ref.name is not None and ref.name.digest is not None and not ref.image_id:
                    key = f"manifest-{ref.name.digest}"
                stored = read_big_data(self.paths, self.image_id, key, MAX_DOCUMENT_SIZE)
            stable, volatile = load_layers(self.paths)
        by_id = {layer["id"]: layer for layer in stable + volatile}
        chain = layer_chain(by_id, image.get("layer"), self._name)
        self.stored_manifest = stored
        self._manifest, self.layers = self._rewrite(stored, chain)
        self._media_type = guess_media_type(self._manifest) or mt.OCI_MANIFEST
        self._by_diff = {str(layer.get("diff-digest")): layer for layer in chain}

    def _rewrite(self, stored: bytes, chain: list[Record]) -> tuple[bytes, list[Record]]:
        media_type = guess_media_type(stored)
        if mt.is_index(media_type):
            raise ManifestError(
                f"{self._name} is a manifest list; boxwright reads the images of "
                "containers-storage, not its lists"
            )
        manifest = ImageManifest.parse(stored)
        if len(manifest.layers) != len(chain):
            raise TransportError(
                f"{self._name}: its manifest lists {len(manifest.layers)} layers but the store "
                f"holds {len(chain)} for it"
            )
        self.config = manifest.config
        layers: list[Descriptor] = []
        changed = False
        for desc, layer in zip(manifest.layers, chain, strict=True):
            diff = layer.get("diff-digest")
            size = layer.get("diff-size")
            if not isinstance(diff, str) or not isinstance(size, int):
                raise TransportError(
                    f"{self._name}: layer {layer['id']} has no diff-digest or diff-size"
                )
            if str(desc.digest) == diff:
                layers.append(desc)
                continue
            changed = True
            layers.append(
                Descriptor(
                    _layer_type(manifest.media_type),
                    Digest.parse(diff),
                    size,
                    annotations=desc.annotations,
                )
            )
        if not changed:
            return stored, chain
        return manifest.with_layers(layers).raw, chain

    @property
    def name(self) -> str:
        return self._name

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        if digest is None or digest == Digest.from_bytes(self._manifest):
            return self._manifest, self._media_type
        if digest == Digest.from_bytes(self.stored_manifest):
            return self.stored_manifest, guess_media_type(self.stored_manifest)
        raise ImageNotFoundError(f"manifest {digest} is not in {self._name}")

    def get_blob(self, descriptor: Descriptor) -> VerifyingStream:
        digest = str(descriptor.digest)
        size = descriptor.size if descriptor.size >= 0 else None
        if digest == str(self.config.digest):
            data = read_big_data(self.paths, self.image_id, digest, MAX_CONFIG_SIZE)
            return VerifyingReader(io.BytesIO(data), descriptor.digest, size)
        layer = self._by_diff.get(digest)
        if layer is None:
            raise BlobNotFoundError(f"blob {digest} is not in {self._name}")
        return self._layer_stream(layer, descriptor.digest, size)

    def _layer_stream(self, layer: Record, digest: Digest, size: int | None) -> VerifyingStream:
        layer_id: str = layer["id"]
        stack = ExitStack()
        try:
            held = stack.enter_context(locked(self.paths.layers_lock, exclusive=False))
            if held.last_write() != self._layers_seen:
                self._check_still_there(layer)
            try:
                record = open(self.paths.tar_split(layer_id), "rb")  # noqa: SIM115
            except FileNotFoundError:
                raise TransportError(
                    f"{self._name}: layer {layer_id} has no tar-split record, so its tar cannot "
                    "be rebuilt with its digest; copy it out with podman instead"
                ) from None
            root = self.paths.layer_dir(layer_id)

            def open_file(name: bytes) -> IO[bytes]:
                path = resolve_in_root(root, os.fsdecode(name))
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
                return os.fdopen(fd, "rb")

            where = f"{self._name} layer {layer_id}"
            tar = TarSplitAssembler(record, open_file, where)
            return ClosingAlso(VerifyingReader(tar, digest, size), stack.close)
        except BaseException:
            stack.close()
            raise

    def _check_still_there(self, layer: Record) -> None:
        """``layers.json`` changed since the image was opened (another process wrote it):
        read it again, as containers/storage reloads on a new last write, and refuse a layer
        that is gone or being rewritten."""
        stable, volatile = load_layers(self.paths)
        now = next((r for r in stable + volatile if r["id"] == layer["id"]), None)
        if now is None or is_incomplete(now) or now.get("diff-digest") != layer["diff-digest"]:
            raise ImageNotFoundError(
                f"{self._name}: layer {layer['id']} was removed from {self.paths.root} "
                "while the image was read"
            )

    def close(self) -> None:
        """Nothing held between calls."""


__all__ = ["ContainersStorageSource"]
