"""OCI 1.1 referrers in a registry: artifacts whose manifest names an image as its ``subject``.

Attaching pushes the artifact's blobs, then its manifest by digest. A registry with the
referrers API (``GET /v2/NAME/referrers/DIGEST`` answers) indexes it by itself; for one
without it (distribution 2.8 answers 404) the client keeps the index, as the distribution
spec's referrers tag schema says: an OCI index tagged ``sha256-<hex of the subject digest>``
listing each referrer's descriptor with its ``artifactType`` and annotations, read,
extended and pushed again on each attach. Listing asks the API first and falls back to the
same tag. The registry's ``docker://`` source and destination offer them
(:class:`~boxwright.transport.base.HoldsReferrers`, :class:`~boxwright.transport.base.
StoresReferrers`); :mod:`boxwright.attest` builds artifacts on them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from boxwright.errors import ImageNotFoundError, ManifestError, RegistryError, UsageError
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest

if TYPE_CHECKING:
    from boxwright.transport.registry.client import RegistryClient


@dataclass(frozen=True, slots=True)
class Referrer:
    """One referrer as an index lists it: the artifact manifest's descriptor, its
    ``artifactType`` and annotations."""

    digest: Digest
    size: int
    media_type: str
    artifact_type: str
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, descriptor: Descriptor) -> Referrer:
        """The referrer a descriptor (with its artifact type and annotations) describes."""
        return cls(
            descriptor.digest,
            descriptor.size,
            descriptor.media_type,
            descriptor.artifact_type,
            dict(descriptor.annotations),
        )

    def descriptor(self) -> Descriptor:
        """The referrer as a descriptor."""
        return Descriptor(
            self.media_type,
            self.digest,
            self.size,
            annotations=dict(self.annotations),
            artifact_type=self.artifact_type,
        )

    def to_dict(self) -> dict[str, Any]:
        """The descriptor as an OCI index entry."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
            "artifactType": self.artifact_type,
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


def tag_for(subject: Digest) -> str:
    """The referrers tag schema's tag of ``subject``: ``sha256-<hex>``."""
    return f"{subject.algorithm}-{subject.hex}"


def parse_referrers_index(raw: bytes, where: str) -> list[Referrer]:
    """The entries of a referrers index (the API's answer or the tag schema's index)."""
    try:
        doc = json.loads(raw)
        entries = doc["manifests"] if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise ValueError("no manifests list")
        found = []
        for entry in entries:
            annotations = entry.get("annotations") or {}
            found.append(
                Referrer(
                    Digest.parse(entry["digest"]),
                    int(entry["size"]),
                    str(entry.get("mediaType", mt.OCI_MANIFEST)),
                    str(entry.get("artifactType", "")),
                    {str(k): str(v) for k, v in annotations.items()},
                )
            )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ManifestError(f"{where}: not a referrers index: {exc}") from None
    return found


def index_bytes(referrers: list[Referrer]) -> bytes:
    """A referrers index of ``referrers`` (OCI image index, as the tag schema stores it)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [r.to_dict() for r in referrers],
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


def registry_referrers(
    client: RegistryClient, repo: str, subject: Digest, artifact_type: str = ""
) -> tuple[list[Referrer], str]:
    """The referrers of ``subject`` in ``repo`` and how they were found (``"api"`` or
    ``"tag"``), filtered by ``artifact_type`` when given."""
    raw = client.referrers(repo, subject, artifact_type)
    how = "api"
    if raw is None:
        how = "tag"
        try:
            raw, _, _ = client.get_manifest(repo, tag_for(subject), (mt.OCI_INDEX,))
        except ImageNotFoundError:
            return [], how
    found = parse_referrers_index(raw, f"{repo}: the referrers of {subject}")
    if artifact_type:
        found = [r for r in found if r.artifact_type == artifact_type]
    return found, how


def add_to_tag_index(
    client: RegistryClient, repo: str, subject: Digest, referrer: Referrer
) -> bool:
    """Add ``referrer`` to the tag schema's index of ``subject`` unless the registry has the
    referrers API; True when the index was written."""
    if client.referrers(repo, subject) is not None:
        return False
    tag = tag_for(subject)
    try:
        raw, media_type, _ = client.get_manifest(repo, tag, (mt.OCI_INDEX,))
    except ImageNotFoundError:
        existing: list[Referrer] = []
    else:
        if media_type and media_type != mt.OCI_INDEX:
            raise RegistryError(
                f"{repo}:{tag} is a {media_type}, not the referrers index of {subject}", 0
            )
        existing = parse_referrers_index(raw, f"{repo}:{tag}")
    if any(r.digest == referrer.digest for r in existing):
        return False
    client.put_manifest(repo, tag, index_bytes([*existing, referrer]), mt.OCI_INDEX)
    return True


def subject_descriptor(raw: bytes, media_type: str) -> Descriptor:
    """The ``subject`` descriptor of the manifest ``raw``."""
    if not media_type:
        raise UsageError("the subject manifest has no media type")
    return Descriptor(media_type, Digest.from_bytes(raw), len(raw))


__all__ = [
    "Referrer",
    "add_to_tag_index",
    "index_bytes",
    "parse_referrers_index",
    "registry_referrers",
    "subject_descriptor",
    "tag_for",
]
