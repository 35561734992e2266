"""Arbitrary artifacts attached to an image, what ``oras attach``/``oras discover``/``oras
pull`` do: :func:`attach_artifact`, :func:`list_referrers`, :func:`fetch_artifact`.

An artifact is an OCI 1.1 image manifest with an ``artifactType``, the empty config
(``application/vnd.oci.empty.v1+json``, ``{}``), one layer per file (its name in the
``org.opencontainers.image.title`` annotation, as oras writes it), and a ``subject``: the
descriptor of the manifest the image reference names (an index when the tag names one).
Subjects are images of registries (``docker://``), OCI layouts (``oci:``) and the store:
each keeps referrers its own way (:class:`~boxwright.transport.base.StoresReferrers`; see
``docs/sbom.md``).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from boxwright.errors import ManifestError, UsageError
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.transport.atomic import AtomicFile
from boxwright.transport.base import (
    ImageDestination,
    ImageSource,
    referrer_store_of,
    referrers_of,
)
from boxwright.transport.oci_layout import DirectoryFiles, LayoutReader
from boxwright.transport.reference import parse_transport_reference
from boxwright.transport.registry.referrers import Referrer, subject_descriptor

if TYPE_CHECKING:
    from boxwright.oci.readers import VerifyingStream
    from boxwright.transport.options import TransportOptions
    from boxwright.transport.reference import TransportReference

TITLE = "org.opencontainers.image.title"
EMPTY_CONFIG = b"{}"
CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class ArtifactFile:
    """One file of an artifact: its content (a path read as a stream, or bytes), its media
    type and its name (the title annotation)."""

    content: Path | bytes
    media_type: str
    name: str


def _open(content: Path | bytes) -> IO[bytes]:
    return io.BytesIO(content) if isinstance(content, bytes) else content.open("rb")


def _measure(content: Path | bytes) -> tuple[Digest, int]:
    digest, size = hashlib.sha256(), 0
    with _open(content) as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return Digest("sha256", digest.hexdigest()), size


_PLACES = "docker://, oci: or the store"


def _parsed(ref: str) -> TransportReference:
    """``ref`` parsed; only places that keep referrers (registries, OCI layouts, the store)."""
    parsed = parse_transport_reference(ref)
    if parsed.transport not in ("docker", "oci", "store"):
        raise UsageError(
            f"{ref}: artifacts and referrers live in {_PLACES}, not {parsed.transport}:"
        )
    return parsed


def artifact_manifest(
    artifact_type: str,
    layers: Sequence[Descriptor],
    subject: Descriptor,
    annotations: Mapping[str, str] | None = None,
) -> bytes:
    """The bytes of an OCI 1.1 artifact manifest."""
    empty = Digest.from_bytes(EMPTY_CONFIG)
    doc: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": mt.OCI_EMPTY, "digest": str(empty), "size": 2, "data": "e30="},
        "layers": [
            {
                "mediaType": layer.media_type,
                "digest": str(layer.digest),
                "size": layer.size,
                **({"annotations": dict(layer.annotations)} if layer.annotations else {}),
            }
            for layer in layers
        ],
        "subject": {
            "mediaType": subject.media_type,
            "digest": str(subject.digest),
            "size": subject.size,
        },
    }
    if annotations:
        doc["annotations"] = dict(annotations)
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def attach_to(
    source: ImageSource,
    dest: ImageDestination,
    artifact_type: str,
    files: Sequence[ArtifactFile],
    annotations: Mapping[str, str] | None = None,
) -> Referrer:
    """Store ``files`` as an artifact of ``artifact_type`` in ``dest`` whose subject is the
    manifest ``source`` names (the same image, opened for reading and for writing), and
    list it as a referrer of that manifest there."""
    if not artifact_type:
        raise UsageError("an artifact needs an artifact type")
    keeper = referrer_store_of(dest)
    if keeper is None:
        raise UsageError(f"{dest.name}: artifacts and referrers live in {_PLACES}")
    subject = subject_descriptor(*source.get_manifest())
    layers = []
    for item in files:
        digest, size = _measure(item.content)
        desc = Descriptor(item.media_type, digest, size, annotations={TITLE: item.name})
        if not dest.has_blob(desc):
            with _open(item.content) as stream:
                dest.put_blob(stream, desc)
        layers.append(desc)
    empty = Descriptor(mt.OCI_EMPTY, Digest.from_bytes(EMPTY_CONFIG), len(EMPTY_CONFIG))
    if not dest.has_blob(empty):
        dest.put_blob(io.BytesIO(EMPTY_CONFIG), empty)
    manifest = artifact_manifest(artifact_type, layers, subject, annotations)
    descriptor = Descriptor(
        mt.OCI_MANIFEST,
        Digest.from_bytes(manifest),
        len(manifest),
        annotations=dict(annotations or {}),
        artifact_type=artifact_type,
    )
    keeper.put_referrer(subject.digest, manifest, descriptor)
    return Referrer.of(descriptor)


def attach_artifact(
    subject_ref: str,
    artifact_type: str,
    files: Sequence[ArtifactFile],
    annotations: Mapping[str, str] | None = None,
    options: TransportOptions | None = None,
) -> Referrer:
    """Store ``files`` as an artifact of ``artifact_type`` whose subject is the manifest
    ``subject_ref`` names (a registry image, an image of an OCI layout, a stored image); in a
    registry without the referrers API, keep the tag schema's index too."""
    parsed = _parsed(subject_ref)
    with (
        closing(parsed.open_source(options)) as source,
        closing(parsed.open_destination(options)) as dest,
    ):
        return attach_to(source, dest, artifact_type, files, annotations)


def referrers_in(source: ImageSource, artifact_type: str = "") -> tuple[Descriptor, list[Referrer]]:
    """The manifest ``source`` names (as a descriptor) and its referrers there."""
    holder = referrers_of(source)
    if holder is None:
        raise UsageError(f"{source.name}: artifacts and referrers live in {_PLACES}")
    subject = subject_descriptor(*source.get_manifest())
    found = [Referrer.of(d) for d in holder.get_referrers(subject.digest)]
    if artifact_type:
        found = [r for r in found if r.artifact_type == artifact_type]
    return subject, found


def list_referrers(
    ref: str, artifact_type: str = "", options: TransportOptions | None = None
) -> tuple[Descriptor, list[Referrer]]:
    """The manifest ``ref`` names (as a descriptor) and its referrers: a registry's referrers
    API or, where it has none, the tag schema; an OCI layout's ``index.json``; the store's
    referrers list."""
    with closing(_parsed(ref).open_source(options)) as source:
        return referrers_in(source, artifact_type)


def _safe_name(name: str, digest: Digest) -> str:
    if not name:
        return digest.hex
    if "/" in name or name in (".", "..") or "\0" in name:
        raise UsageError(f"artifact file name {name!r} is not a plain file name; refusing it")
    return name


def _layout_artifact(text: str) -> tuple[ImageSource, Digest]:
    """``oci:DIR@sha256:HEX``: the layout as a source of any of its blobs, and the digest."""
    path, sep, digest = text.removeprefix("oci:").rpartition("@")
    if not sep or not path:
        raise UsageError(f"{text}: name the artifact as oci:DIR@sha256:<digest>")
    reader = LayoutReader(DirectoryFiles(path), path)
    wanted = Digest.parse(digest)

    class _Blobs:
        name = f"oci:{path}"

        def get_manifest(self, digest: Digest | None = None) -> tuple[bytes, str]:
            return reader.manifest_by_digest(digest or wanted)

        def get_blob(self, descriptor: Descriptor) -> VerifyingStream:
            return reader.open_blob(descriptor)

        def close(self) -> None:
            """Nothing to release."""

    return _Blobs(), wanted


def fetch_artifact(
    ref: str, directory: str | os.PathLike[str], options: TransportOptions | None = None
) -> list[Path]:
    """Write the files of the artifact manifest ``ref`` names (``docker://REPO@DIGEST``, or
    ``oci:DIR@DIGEST``) into ``directory``, each verified against its digest and renamed
    into place only when complete; their paths."""
    source: ImageSource
    digest: Digest | None = None
    if ref.startswith("oci:"):
        source, digest = _layout_artifact(ref)
    else:
        parsed = _parsed(ref)
        if parsed.transport == "store":
            raise UsageError(f"{ref}: fetch artifacts from docker:// or oci:DIR@DIGEST")
        source = parsed.open_source(options)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    with closing(source):
        raw, _ = source.get_manifest(digest)
        try:
            layers = json.loads(raw)["layers"]
            descs = [
                Descriptor(
                    str(layer["mediaType"]),
                    Digest.parse(layer["digest"]),
                    int(layer["size"]),
                    annotations=dict(layer.get("annotations") or {}),
                )
                for layer in layers
            ]
        except (ValueError, KeyError, TypeError) as exc:
            raise ManifestError(f"{ref}: not an artifact manifest: {exc}") from None
        written = []
        for desc in descs:
            target = out / _safe_name(desc.annotations.get(TITLE, ""), desc.digest)
            with AtomicFile(target) as f, source.get_blob(desc) as stream:
                while chunk := stream.read(CHUNK):
                    f.write(chunk)
            written.append(target)
    return written


__all__ = [
    "TITLE",
    "ArtifactFile",
    "artifact_manifest",
    "attach_artifact",
    "attach_to",
    "fetch_artifact",
    "list_referrers",
    "referrers_in",
]
