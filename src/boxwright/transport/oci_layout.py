"""The ``oci:DIR[:REF]`` transport: an OCI image layout 1.0 directory, read and written.

A layout holds ``oci-layout`` (``{"imageLayoutVersion": "1.0.0"}``), ``index.json`` (an image
index whose entries name images with the ``org.opencontainers.image.ref.name`` annotation) and
``blobs/ALG/HEX``. Several images share one layout; an entry may point at an index (a
multi-platform image), which :mod:`boxwright.transport.image` resolves.

Choosing the image, as containers/image's ``oci:`` transport does:

* ``oci:DIR:NAME`` — the entry whose ref name is ``NAME``;
* ``oci:DIR:@N`` — the N-th entry of ``index.json`` (0-based; sources only);
* ``oci:DIR`` — the only entry; an error lists the names when there are several (an
  artifact's entry, one with an ``artifactType``, is not counted).

Referrers (OCI 1.1 artifacts whose manifest has a ``subject``) are kept as oras keeps them in
a layout: the artifact manifest is a blob and an untagged entry of ``index.json``, with its
``artifactType`` and annotations; the referrers of a manifest are the entries whose manifest
names it as its subject (:meth:`LayoutReader.referrers`).

Writing follows containers/image too: blobs and manifests are stored as blobs (atomically, by
:class:`~boxwright.transport.atomic.BlobWriter`), and :meth:`commit` adds the top manifest to
``index.json``: an older entry with the same name loses the name (it stays, untagged, so its
blobs remain referenced), and an untagged entry with the same digest is replaced. The read,
change and atomic rewrite of ``index.json`` happen under an exclusive ``flock`` on
``index.json.lock``, so concurrent writers to one layout never lose each other's entries.

The reading half works over any :class:`LayoutFiles`, so ``oci-archive:`` reuses it on a tar.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Final, Protocol

from boxwright._flock import flocked
from boxwright.errors import (
    BlobNotFoundError,
    ImageNotFoundError,
    ManifestError,
    TransportError,
)
from boxwright.oci import mediatype as mt
from boxwright.oci._json import MAX_DOCUMENT_SIZE, dumps_compact, load_object
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest, verify_bytes
from boxwright.oci.index import ImageIndex
from boxwright.oci.parse import parse_manifest
from boxwright.oci.readers import Reader, VerifyingStream
from boxwright.transport.atomic import TEMP_PREFIX, BlobWriter, atomic_write
from boxwright.transport.base import HoldsReferrers, StoresReferrers
from boxwright.transport.reference import validate_ref_name
from boxwright.transport.regular import open_blob, open_regular, read_regular

if TYPE_CHECKING:
    from boxwright.transport.options import TransportOptions
    from boxwright.transport.reference import TransportReference

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
CONTAINERD_NAME_ANNOTATION = "io.containerd.image.name"
"""The full image name containerd and BuildKit write beside the ref name (which they keep
for the tag); containers/common reads it first when it names a pulled image."""


# The OCI image layout's file names (image-spec); unpack/state.py names its own files the
# same way, for another directory.
LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
LOCK_FILE = "index.json.lock"
BLOBS_DIR = "blobs"
LAYOUT_VERSION = "1.0.0"


def blob_relpath(digest: Digest) -> str:
    """``blobs/ALG/HEX`` for a validated digest (never built from unvalidated text)."""
    if not isinstance(digest, Digest):
        raise TypeError("blob paths are built only from validated Digest objects")
    return f"{BLOBS_DIR}/{digest.algorithm}/{digest.hex}"


def guess_manifest_type(raw: bytes) -> str:
    """The media type of a manifest whose type was not stored with it (sniffed)."""
    return parse_manifest(raw).media_type


class LayoutFiles(Protocol):
    """Read access to the files of a layout, wherever they are (a directory or a tar)."""

    def open(self, name: str) -> Reader:
        """A reader of the file; raises FileNotFoundError when it is missing."""
        ...

    def read(self, name: str, limit: int) -> bytes:
        """A small file's content (at most ``limit`` bytes); FileNotFoundError if missing."""
        ...


class DirectoryFiles:
    """:class:`LayoutFiles` for a directory on disk."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def open(self, name: str) -> IO[bytes]:
        """A regular file of the layout (:func:`~boxwright.transport.regular.open_regular`)."""
        return open_regular(self.root / name)

    def read(self, name: str, limit: int) -> bytes:
        with self.open(name) as f:
            data = f.read(limit + 1)
        if len(data) > limit:
            raise TransportError(f"{self.root / name} is larger than the limit of {limit} bytes")
        return data


class LayoutReader:
    """Reads one OCI layout: its index, manifests and blobs, every byte verified."""

    def __init__(self, files: LayoutFiles, where: str) -> None:
        self.files = files
        self.where = where
        self._index: ImageIndex | None = None
        self._types: dict[Digest, str] = {}

    def _check_layout_file(self) -> None:
        try:
            raw = self.files.read(LAYOUT_FILE, 64 << 10)
        except FileNotFoundError:
            raise ImageNotFoundError(
                f"{self.where} is not an OCI image layout: it has no {LAYOUT_FILE} file"
            ) from None
        obj = load_object(raw, f"{self.where}/{LAYOUT_FILE}")
        version = obj.get("imageLayoutVersion")
        if not isinstance(version, str) or not version.startswith("1."):
            raise ManifestError(
                f"{self.where}/{LAYOUT_FILE}: unsupported imageLayoutVersion {version!r} "
                f"(boxwright reads {LAYOUT_VERSION})"
            )

    @property
    def index(self) -> ImageIndex:
        """``index.json``, parsed (and validated: every digest in it is well-formed)."""
        if self._index is None:
            self._check_layout_file()
            try:
                raw = self.files.read(INDEX_FILE, MAX_DOCUMENT_SIZE)
            except FileNotFoundError:
                raise ImageNotFoundError(
                    f"{self.where} is not an OCI image layout: it has no {INDEX_FILE}"
                ) from None
            try:
                self._index = ImageIndex.parse(raw)
            except ManifestError as e:
                raise ManifestError(f"{self.where}/{INDEX_FILE}: {e}") from None
            self._remember(self._index)
        return self._index

    def _remember(self, index: ImageIndex) -> None:
        for d in index.manifests:
            self._types.setdefault(d.digest, d.media_type)

    def names(self) -> list[str]:
        """The ref names of the entries of ``index.json``, in order."""
        return [
            d.annotations[REF_NAME_ANNOTATION]
            for d in self.index.manifests
            if REF_NAME_ANNOTATION in d.annotations
        ]

    def resolve(self, name: str = "", source_index: int = -1) -> Descriptor:
        """The ``index.json`` entry the reference names (see the module docstring)."""
        entries = self.index.manifests
        if source_index >= 0:
            if source_index >= len(entries):
                raise ImageNotFoundError(
                    f"{self.where}: invalid source index @{source_index}, the layout has only "
                    f"{len(entries)} entries"
                )
            return entries[source_index]
        if not name:
            images = [d for d in entries if not d.artifact_type]
            if len(images) == 1:
                return images[0]
            if len(entries) == 1:
                return entries[0]
            if not entries:
                raise ImageNotFoundError(f"{self.where}: the layout holds no image")
            listed = ", ".join(self.names()) or "none named"
            raise ImageNotFoundError(
                f"{self.where} holds {len(entries)} images; name one as "
                f"oci:{self.where}:NAME or oci:{self.where}:@N (names: {listed})"
            )
        for d in entries:
            if d.media_type not in mt.MANIFEST_TYPES:
                continue
            if d.annotations.get(REF_NAME_ANNOTATION) == name:
                return d
        listed = ", ".join(self.names()) or "none"
        raise ImageNotFoundError(f"no image named {name!r} in {self.where} (names: {listed})")

    def referrers(self, subject: Digest) -> list[Descriptor]:
        """The entries of ``index.json`` whose manifest names ``subject`` as its subject, as
        the referrers API lists them: ``artifactType`` (else the config's media type) and the
        manifest's annotations."""
        found: list[Descriptor] = []
        for entry in self.index.manifests:
            if entry.digest == subject or entry.media_type not in (mt.OCI_MANIFEST, mt.OCI_INDEX):
                continue
            try:
                doc = load_object(self.read_blob(entry.digest, entry.size), str(entry.digest))
            except BlobNotFoundError:
                continue
            named = doc.get("subject")
            if not isinstance(named, dict) or named.get("digest") != str(subject):
                continue
            artifact_type = doc.get("artifactType")
            config = doc.get("config")
            if not artifact_type and isinstance(config, dict):
                artifact_type = config.get("mediaType")
            annotations = doc.get("annotations")
            found.append(
                Descriptor(
                    entry.media_type,
                    entry.digest,
                    entry.size,
                    annotations={str(k): str(v) for k, v in annotations.items()}
                    if isinstance(annotations, dict)
                    else {},
                    artifact_type=artifact_type if isinstance(artifact_type, str) else "",
                )
            )
        return found

    def open_blob(self, descriptor: Descriptor) -> VerifyingStream:
        """A verifying reader of a blob; :class:`BlobNotFoundError` if it is missing."""
        relpath = blob_relpath(descriptor.digest)
        return open_blob(lambda: self.files.open(relpath), descriptor, self.where)

    def read_blob(self, digest: Digest, size: int | None = None) -> bytes:
        """A small blob (a manifest or config), verified against its digest."""
        try:
            raw = self.files.read(blob_relpath(digest), MAX_DOCUMENT_SIZE)
        except FileNotFoundError:
            raise BlobNotFoundError(f"blob {digest} is missing from {self.where}") from None
        verify_bytes(raw, digest, size)
        return raw

    def manifest(self, descriptor: Descriptor) -> tuple[bytes, str]:
        """The raw bytes and media type of the manifest ``descriptor`` points at."""
        raw = self.read_blob(descriptor.digest, descriptor.size)
        media_type = descriptor.media_type or guess_manifest_type(raw)
        self._types[descriptor.digest] = media_type
        if mt.is_index(media_type):
            with contextlib.suppress(ManifestError):
                self._remember(ImageIndex.parse(raw, media_type))
        return raw, media_type

    def manifest_by_digest(self, digest: Digest) -> tuple[bytes, str]:
        """A manifest known only by its digest; its type comes from the index that lists it."""
        raw = self.read_blob(digest)
        media_type = self._types.get(digest) or guess_manifest_type(raw)
        if mt.is_index(media_type):
            with contextlib.suppress(ManifestError):
                self._remember(ImageIndex.parse(raw, media_type))
        return raw, media_type


# Its name property and the methods below are ImageSource's (transport.base), alike in
# every source.
class OCILayoutSource(HoldsReferrers):
    """An :class:`~boxwright.transport.base.ImageSource` reading one image of a layout."""

    def __init__(
        self,
        reader: LayoutReader,
        image: str = "",
        source_index: int = -1,
        name: str = "",
    ) -> None:
        self._reader = reader
        self._name = name or f"oci:{reader.where}" + (f":{image}" if image else "")
        self.top = reader.resolve(image, source_index)

    @classmethod
    def open(
        cls, path: str | os.PathLike[str], image: str = "", source_index: int = -1
    ) -> OCILayoutSource:
        """Open ``oci:PATH[:IMAGE]`` for reading."""
        if not Path(path).is_dir():
            raise ImageNotFoundError(f"OCI layout directory {path} does not exist")
        reader = LayoutReader(DirectoryFiles(path), str(path))
        return cls(reader, image, source_index)

    @property
    def name(self) -> str:
        return self._name

    @property
    def reader(self) -> LayoutReader:
        """The layout reader (the whole layout: other images, ``index.json``)."""
        return self._reader

    def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
        if digest is None or digest == self.top.digest:
            return self._reader.manifest(self.top)
        return self._reader.manifest_by_digest(digest)

    def get_blob(self, descriptor: Descriptor) -> VerifyingStream:
        return self._reader.open_blob(descriptor)

    def get_referrers(self, digest: Digest) -> list[Descriptor]:
        """The referrers of ``digest`` listed in ``index.json`` (:class:`HoldsReferrers`)."""
        return self._reader.referrers(digest)

    def image_names(self) -> list[str]:
        """The name the chosen ``index.json`` entry gives its image: containerd's
        ``io.containerd.image.name``, else the ref name (:class:`NamesItsImage`)."""
        for key in (CONTAINERD_NAME_ANNOTATION, REF_NAME_ANNOTATION):
            name = self.top.annotations.get(key)
            if name:
                return [name]
        return []

    def close(self) -> None:
        """Nothing to release: every blob reader owns its file."""


def add_index_entry(entries: Sequence[Descriptor], new: Descriptor) -> list[Descriptor]:
    """``entries`` with ``new`` added as containers/image's ``addManifest`` does it.

    A named entry takes the name from an older entry of that name (which stays, untagged);
    an untagged entry with the same digest is replaced; otherwise ``new`` is appended.
    """
    out = list(entries)
    name = new.annotations.get(REF_NAME_ANNOTATION, "")
    if name:
        for i, d in enumerate(out):
            if d.annotations.get(REF_NAME_ANNOTATION) == name:
                kept = {k: v for k, v in d.annotations.items() if k != REF_NAME_ANNOTATION}
                out[i] = d.with_(annotations=kept)
                break
    for i, d in enumerate(out):
        if d.digest == new.digest and not d.annotations.get(REF_NAME_ANNOTATION):
            out[i] = new
            return out
    out.append(new)
    return out


# name and the capability attributes are ImageDestination's members (transport.base):
# every destination states them, each with its own values.
class OCILayoutDestination(StoresReferrers):
    """An :class:`~boxwright.transport.base.ImageDestination` writing into a layout."""

    def __init__(self, path: str | os.PathLike[str], image: str = "", name: str = "") -> None:
        self.root = Path(path)
        self.image = validate_ref_name(image) if image else ""
        self._name = name or f"oci:{self.root}" + (f":{image}" if image else "")
        self._prepare()
        # Blob renames are made durable together, by one fsync of blobs/ALG in commit().
        self._blobs = BlobWriter(self.root / BLOBS_DIR, defer_dir_sync=True)

    def _prepare(self) -> None:
        root = self.root
        if root.exists() and not root.is_dir():
            raise TransportError(f"{root} exists and is not a directory; cannot write a layout")
        ours = {LAYOUT_FILE, INDEX_FILE, BLOBS_DIR, LOCK_FILE}
        foreign = root.is_dir() and any(
            p.name not in ours and not p.name.startswith(TEMP_PREFIX) for p in root.iterdir()
        )
        if foreign and not (root / LAYOUT_FILE).exists():
            raise TransportError(
                f"{root} is a non-empty directory without an {LAYOUT_FILE} file; refusing to "
                "write an OCI layout into it (choose an empty or new directory)"
            )
        try:
            (root / BLOBS_DIR).mkdir(parents=True, exist_ok=True)
            if not (root / LAYOUT_FILE).exists():
                atomic_write(
                    root / LAYOUT_FILE, dumps_compact({"imageLayoutVersion": LAYOUT_VERSION})
                )
        except OSError as e:
            raise TransportError(f"cannot create the OCI layout {root}: {e.strerror}") from None

    @property
    def name(self) -> str:
        return self._name

    supported_manifest_types: Final[Sequence[str]] = (mt.OCI_MANIFEST, mt.OCI_INDEX)
    supports_index: Final[bool] = True
    required_compression: Final[str | None] = None
    desired_compression: Final[str | None] = "gzip"

    def has_blob(self, descriptor: Descriptor) -> bool:
        path = self._blobs.path_for(descriptor.digest)
        try:
            return path.stat().st_size == descriptor.size
        except FileNotFoundError:
            return False

    def put_blob(self, stream: Reader, descriptor: Descriptor | None = None) -> Descriptor:
        return self._blobs.write(stream, descriptor)

    def put_manifest(self, raw: bytes, media_type: str) -> Descriptor:
        stored = self._blobs.write_bytes(raw)
        return stored.with_(media_type=media_type)

    def commit(self, top: Descriptor) -> None:
        if not self.has_blob(top):
            raise BlobNotFoundError(
                f"cannot commit {self.name}: manifest {top.digest} was not stored first"
            )
        annotations = {REF_NAME_ANNOTATION: self.image} if self.image else {}
        self._add_entry(Descriptor(top.media_type, top.digest, top.size, annotations=annotations))

    def put_referrer(self, subject: Digest, raw: bytes, descriptor: Descriptor) -> None:
        """Store the referrer manifest and add it to ``index.json`` as an untagged entry with
        its ``artifactType`` and annotations (:class:`StoresReferrers`); ``subject`` is named
        inside the manifest itself."""
        stored = self._blobs.write_bytes(raw)
        if stored.digest != descriptor.digest:
            raise ManifestError(
                f"referrer {descriptor.digest} of {subject}: its bytes are {stored.digest}"
            )
        annotations = {k: v for k, v in descriptor.annotations.items() if k != REF_NAME_ANNOTATION}
        self._add_entry(
            Descriptor(
                descriptor.media_type,
                stored.digest,
                stored.size,
                annotations=annotations,
                artifact_type=descriptor.artifact_type,
            )
        )

    def _add_entry(self, entry: Descriptor) -> None:
        """Add ``entry`` to ``index.json`` (:func:`add_index_entry`), under the layout lock."""
        self._blobs.sync()  # every blob the new entry refers to is durable before index.json
        with flocked(self.root / LOCK_FILE, mode=0o644):
            index_path = self.root / INDEX_FILE
            try:
                raw = read_regular(index_path, MAX_DOCUMENT_SIZE)
            except FileNotFoundError:
                current = ImageIndex.build(mt.OCI_INDEX, [])
            else:
                try:
                    current = ImageIndex.parse(raw)
                except ManifestError as e:
                    raise ManifestError(
                        f"{index_path}: {e}; refusing to overwrite it (fix or remove it)"
                    ) from None
            updated = add_index_entry(current.manifests, entry)
            if current.media_type != mt.OCI_INDEX:
                current = ImageIndex.build(mt.OCI_INDEX, [])
            atomic_write(index_path, current.with_manifests(updated).raw)

    def close(self) -> None:
        """Nothing staged outside the blob store; uncommitted blobs stay as free content."""


# open_source and open_destination: the TransportModule signature every transport module
# offers (transport.reference dispatches to them by transport name).
def open_source(
    ref: TransportReference, options: TransportOptions | None = None
) -> OCILayoutSource:
    """Open an ``oci:`` reference for reading (``options``: nothing applies here)."""
    return OCILayoutSource.open(ref.path, ref.image, ref.source_index)


def open_destination(
    ref: TransportReference, options: TransportOptions | None = None
) -> OCILayoutDestination:
    """Open an ``oci:`` reference for writing (``options``: nothing applies here)."""
    return OCILayoutDestination(ref.path, ref.image)


__all__ = [
    "CONTAINERD_NAME_ANNOTATION",
    "REF_NAME_ANNOTATION",
    "DirectoryFiles",
    "LayoutFiles",
    "LayoutReader",
    "OCILayoutDestination",
    "OCILayoutSource",
    "add_index_entry",
    "blob_relpath",
    "open_destination",
    "open_source",
    "validate_ref_name",
]
