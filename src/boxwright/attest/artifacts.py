"""Arbitrary artifacts attached to an image, what ``oras attach``/``oras discover``/``oras
pull`` do: :func:`attach_artifact`, :func:`list_referrers`, :func:`fetch_artifact`.

An artifact is an OCI 1.1 image manifest with an ``artifactType``, the empty config
(``application/vnd.oci.empty.v1+json``, ``{}``), one layer per file (its name in the
``org.opencontainers.image.title`` annotation, as oras writes it), and a ``subject``: the
descriptor of the manifest the image reference names (an index when the tag names one).
References are ``docker://`` (see :mod:`boxwright.attest.referrers` for how a registry keeps
them).
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

from boxwright.attest.referrers import (
    Referrer,
    add_to_tag_index,
    registry_referrers,
    subject_descriptor,
)
from boxwright.errors import ManifestError, UsageError
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest

if TYPE_CHECKING:
    from boxwright.transport.docker import DockerDestination
    from boxwright.transport.options import TransportOptions

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


def _registry_destination(ref: str, options: TransportOptions | None) -> DockerDestination:
    from boxwright.transport.docker import DockerDestination
    from boxwright.transport.reference import parse_transport_reference

    parsed = parse_transport_reference(ref)
    if parsed.transport != "docker":
        raise UsageError(f"{ref}: artifacts and referrers live in registries: use docker://")
    docker = parsed.docker_reference
    assert docker is not None
    return DockerDestination(docker, options)


def _manifest_ref(dest: DockerDestination) -> str:
    ref = dest.reference
    return str(ref.digest) if ref.digest is not None else ref.tag or "latest"


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


def attach_artifact(
    subject_ref: str,
    artifact_type: str,
    files: Sequence[ArtifactFile],
    annotations: Mapping[str, str] | None = None,
    options: TransportOptions | None = None,
) -> Referrer:
    """Push ``files`` as an artifact of ``artifact_type`` whose subject is the manifest
    ``subject_ref`` names; keep the referrers index when the registry has no API for it."""
    if not artifact_type:
        raise UsageError("an artifact needs an artifact type")
    dest = _registry_destination(subject_ref, options)
    try:
        client, repo = dest.client, dest.endpoint.repo
        raw, media_type, _ = client.get_manifest(repo, _manifest_ref(dest))
        subject = subject_descriptor(raw, media_type)
        layers = []
        for item in files:
            digest, size = _measure(item.content)
            desc = Descriptor(item.media_type, digest, size, annotations={TITLE: item.name})
            if client.head_blob(repo, digest) is None:
                with _open(item.content) as stream:
                    client.upload_blob(repo, stream, desc)
            layers.append(desc)
        empty = Descriptor(mt.OCI_EMPTY, Digest.from_bytes(EMPTY_CONFIG), len(EMPTY_CONFIG))
        if client.head_blob(repo, empty.digest) is None:
            client.upload_blob(repo, io.BytesIO(EMPTY_CONFIG), empty)
        manifest = artifact_manifest(artifact_type, layers, subject, annotations)
        digest = client.put_manifest(
            repo, str(Digest.from_bytes(manifest)), manifest, mt.OCI_MANIFEST
        )
        referrer = Referrer(
            digest, len(manifest), mt.OCI_MANIFEST, artifact_type, dict(annotations or {})
        )
        add_to_tag_index(client, repo, subject.digest, referrer)
        return referrer
    finally:
        dest.close()


def list_referrers(
    ref: str, artifact_type: str = "", options: TransportOptions | None = None
) -> tuple[Descriptor, list[Referrer]]:
    """The manifest ``ref`` names (as a descriptor) and its referrers, through the referrers
    API or, where the registry has none, the tag schema."""
    dest = _registry_destination(ref, options)
    try:
        client, repo = dest.client, dest.endpoint.repo
        raw, media_type, _ = client.get_manifest(repo, _manifest_ref(dest))
        subject = subject_descriptor(raw, media_type)
        found, _ = registry_referrers(client, repo, subject.digest, artifact_type)
        return subject, found
    finally:
        dest.close()


def _safe_name(name: str, digest: Digest) -> str:
    if not name:
        return digest.hex
    if "/" in name or name in (".", "..") or "\0" in name:
        raise UsageError(f"artifact file name {name!r} is not a plain file name; refusing it")
    return name


def fetch_artifact(
    ref: str, directory: str | os.PathLike[str], options: TransportOptions | None = None
) -> list[Path]:
    """Write the files of the artifact manifest ``ref`` names into ``directory``, each
    verified against its digest and renamed into place only when complete; their paths."""
    from boxwright.transport.atomic import AtomicFile
    from boxwright.transport.reference import parse_transport_reference

    parsed = parse_transport_reference(ref)
    if parsed.transport != "docker":
        raise UsageError(f"{ref}: artifacts live in registries: use docker://")
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    with closing(parsed.open_source(options)) as source:
        raw, _ = source.get_manifest()
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
    "fetch_artifact",
    "list_referrers",
]
