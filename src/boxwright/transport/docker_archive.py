"""The ``docker-archive:FILE[:NAME:TAG | :@N]`` transport: ``docker save`` / ``podman save``.

The archive is a tar holding ``manifest.json`` (a list of images: ``Config``, ``RepoTags``,
``Layers``), each image's config (``HEX.json``), its layer tars (``HEX.tar``, or the older
``ID/layer.tar`` next to ``ID/json`` and ``ID/VERSION``), and the legacy ``repositories`` map.

Reading (in place, nothing extracted) presents the chosen image as a Docker schema 2 manifest
generated as containers/image does: the config as stored, and one layer per tar whose digest
is its diff_id (from the config) and whose size is that of the uncompressed tar. A layer file
that is compressed (some tools write gzip) is detected by its magic bytes and decompressed
when read, so the blob always matches its digest. The layers are labelled
``rootfs.diff.tar.gzip`` exactly as containers/image labels them (the bytes are an uncompressed
tar): the generated manifest is then byte for byte skopeo's, and so is its digest. Consumers
detect the real compression from the content, as containers/image's copy does.

Paths in ``manifest.json`` are hostile: absolute paths and ``..`` are refused.

Writing needs uncompressed layers and a Docker schema 2 manifest (no index). Blobs are staged
in a temporary directory next to the target; :meth:`DockerArchiveDestination.commit` writes
the tar (``HEX.json``, ``HEX.tar``, the legacy per-layer directories, ``manifest.json`` and
``repositories``, as containers/image lays them out) to a temporary name and renames it into
place. As skopeo does, an existing non-empty archive is not modified; extra tags for the one
image go in ``additional_tags``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Final

from boxwright.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ImageNotFoundError,
    InvalidReferenceError,
    ManifestError,
    TransportError,
    UnsupportedMediaTypeError,
)
from boxwright.layer.compression import PEEK_SIZE, decompress, detect_compression
from boxwright.oci import mediatype as mt
from boxwright.oci._json import MAX_DOCUMENT_SIZE, dumps_go
from boxwright.oci.config import ImageConfig
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import CHUNK, Digest, VerifyingReader, verify_bytes
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.readers import ClosingAlso, Reader, VerifyingStream
from boxwright.oci.reference import Reference
from boxwright.transport.atomic import AtomicFile, BlobWriter, staging_directory
from boxwright.transport.tarindex import TarIndex, safe_member_name

if TYPE_CHECKING:
    from boxwright.oci.reference import Reference
    from boxwright.transport.options import TransportOptions
    from boxwright.transport.reference import TransportReference

MANIFEST_FILE = "manifest.json"
REPOSITORIES_FILE = "repositories"
MAX_MANIFEST_JSON = 16 << 20


@dataclass(frozen=True, slots=True)
class ManifestItem:
    """One image of an archive's ``manifest.json``, its paths validated."""

    config: str
    repo_tags: tuple[str, ...]
    layers: tuple[str, ...]


def _normalized(tag: str) -> Reference:
    return Reference.parse_normalized(tag, default_tag=True)


def parse_manifest_json(raw: bytes, where: str) -> list[ManifestItem]:
    """Validate an archive's ``manifest.json``; paths leaving the archive are refused."""
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as e:
        raise ManifestError(f"{where}/{MANIFEST_FILE} is not valid JSON: {e}") from None
    if not isinstance(obj, list):
        raise ManifestError(f"{where}/{MANIFEST_FILE} must be a JSON array of images")
    items = []
    for i, entry in enumerate(obj):
        what = f"{where}/{MANIFEST_FILE} item {i}"
        if not isinstance(entry, dict):
            raise ManifestError(f"{what} must be an object")
        config = entry.get("Config")
        tags = entry.get("RepoTags") or []
        layers = entry.get("Layers") or []
        if not isinstance(config, str) or not config:
            raise ManifestError(f"{what}: Config must be a file name")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise ManifestError(f"{what}: RepoTags must be an array of strings")
        if not isinstance(layers, list):
            raise ManifestError(f"{what}: Layers must be an array of file names")
        items.append(
            ManifestItem(
                safe_member_name(config, f"{what} Config"),
                tuple(tags),
                tuple(safe_member_name(p, f"{what} layer path") for p in layers),
            )
        )
    return items


# Where one layer is in the archive and how it is compressed, from manifest.json; tarindex's
# Member is where any member is (read from the tar headers): two records, alike in shape.
@dataclass(frozen=True, slots=True)
class _Layer:
    path: str
    compression: str
    size: int


# Its name and config_bytes properties are ImageSource's members (transport.base), alike
# in every source.
class DockerArchiveSource:
    """An :class:`~boxwright.transport.base.ImageSource` reading one image of an archive."""

    def __init__(
        self, path: str | os.PathLike[str], image: str = "", source_index: int = -1
    ) -> None:
        self.path = Path(path)
        self._name = f"docker-archive:{self.path}" + (f":{image}" if image else "")
        self.tar = TarIndex(self.path)
        try:
            raw = self.tar.read(MANIFEST_FILE, MAX_MANIFEST_JSON)
        except FileNotFoundError:
            raise ImageNotFoundError(
                f"{self.path} is not a docker archive: it has no {MANIFEST_FILE} (archives "
                "from docker < 1.10 without it are not supported)"
            ) from None
        self.items = parse_manifest_json(raw, str(self.path))
        self.item = self._choose(image, source_index)
        self.repo_tags = self.item.repo_tags
        self._config = self._read_config()
        self._config_digest = Digest.from_bytes(self._config)
        config = ImageConfig.parse(self._config)
        if len(config.diff_ids) != len(self.item.layers):
            raise ManifestError(
                f"{self._name}: {len(self.item.layers)} layers in {MANIFEST_FILE} but "
                f"{len(config.diff_ids)} diff_ids in the config"
            )
        self._layers: dict[Digest, _Layer] = {}
        descriptors = []
        for diff_id, layer_path in zip(config.diff_ids, self.item.layers, strict=True):
            if diff_id not in self._layers:
                self._layers[diff_id] = self._measure(layer_path)
            size = self._layers[diff_id].size
            # containers/image's (historical) label for these layers; see the module docstring.
            descriptors.append(Descriptor(mt.DOCKER_LAYER_GZIP, diff_id, size))
        config_desc = Descriptor(mt.DOCKER_CONFIG, self._config_digest, len(self._config))
        self._manifest = ImageManifest.build(mt.DOCKER_MANIFEST, config_desc, descriptors)

    def _choose(self, image: str, source_index: int) -> ManifestItem:
        items = self.items
        if source_index >= 0:
            if source_index >= len(items):
                raise ImageNotFoundError(
                    f"{self._name}: invalid source index @{source_index}, the archive holds "
                    f"{len(items)} images"
                )
            return items[source_index]
        if image:
            want = str(_normalized(image))
            for item in items:
                for tag in item.repo_tags:
                    try:
                        if str(_normalized(tag)) == want:
                            return item
                    except InvalidReferenceError:
                        raise ManifestError(
                            f"{self.path}/{MANIFEST_FILE}: invalid tag {tag!r}"
                        ) from None
            raise ImageNotFoundError(f"no image tagged {image} in {self.path} ({self._tags()})")
        if len(items) != 1:
            raise ImageNotFoundError(
                f"{self.path} holds {len(items)} images; name one as "
                f"docker-archive:{self.path}:NAME:TAG or :@N ({self._tags()})"
            )
        return items[0]

    def _tags(self) -> str:
        tags = [t for item in self.items for t in item.repo_tags]
        return "tags: " + (", ".join(tags) if tags else "none")

    def _read_config(self) -> bytes:
        try:
            return self.tar.read(self.item.config, MAX_DOCUMENT_SIZE)
        except FileNotFoundError:
            raise BlobNotFoundError(
                f"{self._name}: config file {self.item.config} is missing from the archive"
            ) from None

    def _measure(self, layer_path: str) -> _Layer:
        member = self.tar.find(layer_path)
        if member is None:
            raise BlobNotFoundError(f"{self._name}: layer file {layer_path} is missing")
        with self.tar.open(layer_path) as window:
            compression = detect_compression(window.read(PEEK_SIZE))
        if compression == "none":
            return _Layer(layer_path, compression, member.size)
        size = 0
        with self.tar.open(layer_path) as window:
            plain = decompress(window, compression)
            while chunk := plain.read(CHUNK):
                size += len(chunk)
            plain.close()
        return _Layer(layer_path, compression, size)

    @property
    def name(self) -> str:
        return self._name

    @property
    def config_bytes(self) -> bytes:
        """The chosen image's config, exactly as stored."""
        return self._config

    def image_names(self) -> list[str]:
        """The chosen image's ``RepoTags``, in the archive's order (:class:`NamesItsImage`)."""
        return list(self.repo_tags)

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        if digest is not None and digest != self._manifest.digest:
            raise ImageNotFoundError(
                f"{self._name} has no manifest {digest}: docker archives hold one image "
                "manifest per image and no index"
            )
        return self._manifest.raw, mt.DOCKER_MANIFEST

    def get_blob(self, descriptor: Descriptor) -> VerifyingStream:
        size = descriptor.size if descriptor.size >= 0 else None
        if descriptor.digest == self._config_digest:
            data = io.BytesIO(self._config)
            return VerifyingReader(data, descriptor.digest, size)
        layer = self._layers.get(descriptor.digest)
        if layer is None:
            raise BlobNotFoundError(f"blob {descriptor.digest} is not part of {self._name}")
        window = self.tar.open(layer.path)
        stream: Reader = window
        if layer.compression != "none":
            stream = ClosingAlso(decompress(window, layer.compression), window.close)
        return VerifyingReader(stream, descriptor.digest, size)

    def close(self) -> None:
        """Nothing to release: every blob reader owns its file handle."""


def _legacy_layer_ids(layers: Sequence[Digest], config: bytes) -> list[tuple[str, bytes]]:
    """The legacy ``ID/json`` documents containers/image writes, one per layer (base first)."""
    try:
        full = json.loads(config)
    except ValueError:
        full = {}
    out = []
    chain: str = ""
    parent = ""
    for i, digest in enumerate(layers):
        layer_config: dict[str, Any] = {}
        if parent:
            layer_config["parent"] = parent
        if i == len(layers) - 1:
            for key in (
                "architecture",
                "config",
                "container",
                "container_config",
                "created",
                "docker_version",
                "os",
            ):
                layer_config[key] = full.get(key)
        if not chain:
            chain = str(digest)
        else:
            chain = "sha256:" + hashlib.sha256(f"{chain} {digest}".encode()).hexdigest()
        layer_config["layer_id"] = chain
        layer_id = hashlib.sha256(dumps_go(dict(sorted(layer_config.items())))).hexdigest()
        del layer_config["layer_id"]
        layer_config["id"] = layer_id
        out.append((layer_id, dumps_go(dict(sorted(layer_config.items())))))
        parent = layer_id
    return out


@dataclass(frozen=True, slots=True)
class _Written:
    """One image an archive writer holds: config and layers (staged) and its tags."""

    config_digest: Digest
    config: bytes
    layers: tuple[Digest, ...]
    tags: tuple[Reference, ...]


class DockerArchiveWriter:
    """One docker archive being written, holding one image or several (``podman save -m``).

    Each :meth:`destination` is an :class:`DockerArchiveDestination` whose commit adds its
    image here; :meth:`write` then writes the archive (each layer once, whatever the images
    share) to a temporary name and renames it into place. :meth:`close` removes the staging
    directory. An existing non-empty file is refused, as skopeo refuses it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise TransportError(f"{self.path} is a directory; docker-archive: needs a file path")
        if self.path.exists() and self.path.stat().st_size > 0:
            raise TransportError(
                f"{self.path} already exists; docker-archive: does not modify existing archives "
                "(as skopeo): remove it or choose another file"
            )
        self._stage = staging_directory(self.path, f"docker-archive:{self.path}")
        self.blobs = BlobWriter(self._stage, lambda d: self._stage / d.hex)
        self._images: list[_Written] = []

    def destination(
        self, image: str = "", additional_tags: Sequence[str] = ()
    ) -> DockerArchiveDestination:
        """A destination adding one image, tagged ``image`` and ``additional_tags``."""
        return DockerArchiveDestination(self.path, image, additional_tags, writer=self)

    def staged(self, digest: Digest, what: str) -> Path:
        """The staged file of a blob; :class:`BlobNotFoundError` when it was not put."""
        path = self.blobs.path_for(digest)
        if not path.is_file():
            raise BlobNotFoundError(f"cannot commit {what}: blob {digest} was not stored")
        return path

    def add(
        self,
        config_digest: Digest,
        config: bytes,
        layers: Sequence[Digest],
        tags: Sequence[Reference],
    ) -> None:
        """Hold one more image (its blobs staged already) for :meth:`write`."""
        self._images.append(_Written(config_digest, config, tuple(layers), tuple(tags)))

    def write(self) -> None:
        """Write the archive of every image added, atomically."""
        with AtomicFile(self.path) as out:
            self._write_tar(out)

    def _write_tar(self, out: IO[bytes]) -> None:
        def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o444
            tar.addfile(info, io.BytesIO(data))

        items: list[dict[str, Any]] = []
        repositories: dict[str, dict[str, str]] = {}
        with tarfile.open(fileobj=out, mode="w:", format=tarfile.PAX_FORMAT) as tar:
            written: set[str] = set()
            for image in self._images:
                for digest in image.layers:
                    if digest.hex + ".tar" in written:
                        continue
                    written.add(digest.hex + ".tar")
                    path = self.staged(digest, str(self.path))
                    info = tarfile.TarInfo(f"{digest.hex}.tar")
                    info.size, info.mode = path.stat().st_size, 0o444
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                if image.config_digest.hex + ".json" not in written:
                    written.add(image.config_digest.hex + ".json")
                    add_bytes(tar, f"{image.config_digest.hex}.json", image.config)
                legacy = _legacy_layer_ids(image.layers, image.config)
                for (layer_id, layer_json), digest in zip(legacy, image.layers, strict=True):
                    if layer_id in written:
                        continue
                    written.add(layer_id)
                    link = tarfile.TarInfo(f"{layer_id}/layer.tar")
                    link.type, link.linkname = tarfile.SYMTYPE, f"../{digest.hex}.tar"
                    tar.addfile(link)
                    add_bytes(tar, f"{layer_id}/VERSION", b"1.0")
                    add_bytes(tar, f"{layer_id}/json", layer_json)
                items.append(
                    {
                        "Config": f"{image.config_digest.hex}.json",
                        "RepoTags": [f"{t.name}:{t.tag}" for t in image.tags],
                        "Layers": [f"{d.hex}.tar" for d in image.layers],
                    }
                )
                if legacy:
                    for t in image.tags:
                        repositories.setdefault(t.name, {})[t.tag] = legacy[-1][0]
            add_bytes(tar, MANIFEST_FILE, dumps_go(items))
            add_bytes(tar, REPOSITORIES_FILE, dumps_go(repositories))

    def close(self) -> None:
        shutil.rmtree(self._stage, ignore_errors=True)


class DockerArchiveDestination:
    """An :class:`~boxwright.transport.base.ImageDestination` writing a docker archive.

    On its own it writes a one-image archive at commit; given a ``writer``
    (:meth:`DockerArchiveWriter.destination`) it adds its image to that writer's archive.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        image: str = "",
        additional_tags: Sequence[str] = (),
        *,
        writer: DockerArchiveWriter | None = None,
    ) -> None:
        self.path = Path(path)
        self._name = f"docker-archive:{self.path}" + (f":{image}" if image else "")
        self._tags = [_normalized(t) for t in ([image] if image else []) + list(additional_tags)]
        self._owns_writer = writer is None
        self._writer = writer if writer is not None else DockerArchiveWriter(self.path)
        self._blobs = self._writer.blobs
        self._manifests: dict[Digest, bytes] = {}

    @property
    def name(self) -> str:
        return self._name

    supported_manifest_types: Final[Sequence[str]] = (mt.DOCKER_MANIFEST,)
    supports_index: Final[bool] = False
    required_compression: Final[str | None] = "none"
    desired_compression: Final[str | None] = None

    def has_blob(self, descriptor: Descriptor) -> bool:
        try:
            return self._blobs.path_for(descriptor.digest).stat().st_size == descriptor.size
        except FileNotFoundError:
            return False

    def put_blob(self, stream: Reader, descriptor: Descriptor | None = None) -> Descriptor:
        return self._blobs.write(stream, descriptor)

    def put_manifest(self, raw: bytes, media_type: str) -> Descriptor:
        if media_type != mt.DOCKER_MANIFEST:
            raise UnsupportedMediaTypeError(
                f"{self._name} stores only Docker schema 2 manifests, not {media_type}"
            )
        digest = Digest.from_bytes(raw)
        self._manifests[digest] = bytes(raw)
        return Descriptor(media_type, digest, len(raw))

    def commit(self, top: Descriptor) -> None:
        raw = self._manifests.get(top.digest)
        if raw is None:
            raise BlobNotFoundError(
                f"cannot commit {self._name}: manifest {top.digest} was not stored first"
            )
        verify_bytes(raw, top.digest, top.size)
        manifest = ImageManifest.parse(raw, mt.DOCKER_MANIFEST)
        config = self._writer.staged(manifest.config.digest, self._name).read_bytes()
        verify_bytes(config, manifest.config.digest)
        diff_ids = ImageConfig.parse(config).diff_ids
        layers = [d.digest for d in manifest.layers]
        if list(diff_ids) != layers:
            raise DigestMismatchError(
                f"{self._name} stores uncompressed layers: every layer digest must equal its "
                "diff_id (copy with the destination's required compression 'none')"
            )
        for digest in layers:
            self._writer.staged(digest, self._name)
        self._writer.add(manifest.config.digest, config, layers, self._tags)
        if self._owns_writer:
            self._writer.write()

    def close(self) -> None:
        if self._owns_writer:
            self._writer.close()


# open_source and open_destination: the TransportModule signature every transport module
# offers (transport.reference dispatches to them by transport name).
def open_source(
    ref: TransportReference, options: TransportOptions | None = None
) -> DockerArchiveSource:
    """Open a ``docker-archive:`` reference for reading (``options``: nothing applies here)."""
    return DockerArchiveSource(ref.path, ref.image, ref.source_index)


def open_destination(
    ref: TransportReference, options: TransportOptions | None = None
) -> DockerArchiveDestination:
    """Open a ``docker-archive:`` reference for writing (``options``: nothing applies here)."""
    return DockerArchiveDestination(ref.path, ref.image)


__all__ = [
    "DockerArchiveDestination",
    "DockerArchiveSource",
    "DockerArchiveWriter",
    "ManifestItem",
    "open_destination",
    "open_source",
    "parse_manifest_json",
]
