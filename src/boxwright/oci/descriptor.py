"""Content descriptors: what a manifest or index says about a blob it points to."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field, replace
from typing import Any

from boxwright.errors import DigestError, ManifestError
from boxwright.oci.digest import Digest
from boxwright.oci.platform import Platform

MAX_SIZE = (1 << 63) - 1
"""The largest size a descriptor may state (Go's int64, as every peer reads it)."""


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A typed pointer to content: media type, digest and size, plus optional extras."""

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict, hash=False, compare=True)
    platform: Platform | None = None
    artifact_type: str = ""
    data: bytes | None = None

    @classmethod
    def from_dict(cls, obj: Any, *, where: str = "descriptor") -> Descriptor:
        """Validate and read a descriptor JSON object; errors name ``where`` it was found."""
        if not isinstance(obj, dict):
            raise ManifestError(f"{where}: expected a JSON object")
        media_type = obj.get("mediaType", "")
        if not isinstance(media_type, str):
            raise ManifestError(f"{where}: mediaType must be a string")
        size = obj.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ManifestError(f"{where}: size must be a non-negative integer")
        if size > MAX_SIZE:
            raise ManifestError(f"{where}: size {size} is larger than any blob can be")
        try:
            digest = Digest.parse(obj.get("digest"))
        except DigestError as e:
            raise ManifestError(f"{where}: {e}") from None
        urls = obj.get("urls")
        urls = [] if urls is None else urls
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise ManifestError(f"{where}: urls must be an array of strings")
        annotations = obj.get("annotations")
        annotations = {} if annotations is None else annotations
        if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise ManifestError(f"{where}: annotations must map strings to strings")
        platform = Platform.from_dict(obj["platform"]) if obj.get("platform") else None
        artifact_type = obj.get("artifactType") or ""
        if not isinstance(artifact_type, str):
            raise ManifestError(f"{where}: artifactType must be a string")
        data = None
        if "data" in obj:
            try:
                data = base64.b64decode(obj["data"], validate=True)
            except (ValueError, TypeError):
                raise ManifestError(f"{where}: data is not valid base64") from None
        return cls(
            media_type, digest, size, tuple(urls), dict(annotations), platform, artifact_type, data
        )

    def to_dict(self) -> dict[str, Any]:
        """The JSON object, in the field order the OCI spec and skopeo write."""
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            out["urls"] = list(self.urls)
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        if self.data is not None:
            out["data"] = base64.b64encode(self.data).decode()
        if self.platform is not None:
            out["platform"] = self.platform.to_dict()
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        return out

    def with_(self, **changes: Any) -> Descriptor:
        """A copy with some fields replaced."""
        return replace(self, **changes)
