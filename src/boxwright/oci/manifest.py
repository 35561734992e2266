"""Image manifests: OCI image manifest and Docker schema 2 manifest, one class for both.

The two formats differ only in media types (and OCI's extras: annotations, subject,
artifactType), so :class:`ImageManifest` holds either, and :meth:`ImageManifest.convert`
maps one to the other exactly as containers/image does (``internal/image/oci.go`` and
``docker_schema2.go``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypedDict

from boxwright.errors import ManifestError, UnsupportedMediaTypeError
from boxwright.oci import mediatype as mt
from boxwright.oci._json import dumps_compact, load_object
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest

# The media types a Docker schema 2 manifest may name for a layer (containers/image's
# SupportedSchema2MediaType; note there is no Docker zstd type).
_DOCKER_LAYER_TYPES = frozenset(
    {
        mt.DOCKER_LAYER,
        mt.DOCKER_LAYER_GZIP,
        mt.DOCKER_FOREIGN_LAYER,
        mt.DOCKER_FOREIGN_LAYER_TAR,
        # Accepted by containers/image as "supported schema 2 media types", odd as they are.
        mt.DOCKER_CONFIG,
        mt.DOCKER_MANIFEST,
        mt.DOCKER_LIST,
        mt.DOCKER_SCHEMA1,
        mt.DOCKER_SCHEMA1_SIGNED,
    }
)

_OCI_TO_DOCKER_LAYER = {
    mt.OCI_LAYER_ND: mt.DOCKER_FOREIGN_LAYER_TAR,
    mt.OCI_LAYER_ND_GZIP: mt.DOCKER_FOREIGN_LAYER,
    mt.OCI_LAYER: mt.DOCKER_LAYER,
    mt.OCI_LAYER_GZIP: mt.DOCKER_LAYER_GZIP,
}
_DOCKER_TO_OCI_LAYER = {v: k for k, v in _OCI_TO_DOCKER_LAYER.items()}
_ZSTD_OCI = frozenset({mt.OCI_LAYER_ZSTD, mt.OCI_LAYER_ND_ZSTD})


def reject_ambiguous(obj: Mapping[str, Any], kind: str, allowed: set[str]) -> None:
    """Refuse a document carrying fields of another manifest kind (containers/image's check).

    A manifest with ``manifests`` or an index with ``layers`` could be read differently by
    different tools; such a document gets one meaning only by being refused.
    """
    found = [
        k
        for k in ("config", "fsLayers", "history", "layers", "manifests")
        if obj.get(k) is not None and k not in allowed
    ]
    if found:
        raise ManifestError(f"rejecting ambiguous {kind}: unexpected fields {', '.join(found)}")


def check_schema_version(obj: Mapping[str, Any], want: int, kind: str) -> None:
    """Require ``schemaVersion`` to be the integer ``want``."""
    version = obj.get("schemaVersion")
    if type(version) is not int or version != want:
        raise ManifestError(f"{kind}: schemaVersion must be {want}, got {version!r}")


def resolve_media_type(
    obj: Mapping[str, Any], given: str | None, allowed: Sequence[str], default: str, kind: str
) -> str:
    """The document's media type from the ``mediaType`` field and the out-of-band one.

    Both present and different is an error: the bytes would mean one thing to one reader and
    another to the next.
    """
    field_type = obj.get("mediaType")
    if field_type is not None and not isinstance(field_type, str):
        raise ManifestError(f"{kind}: mediaType must be a string")
    if given is not None and given not in allowed:
        raise UnsupportedMediaTypeError(f"{kind}: media type {given!r} is not one of {allowed}")
    if field_type and given and field_type != given:
        raise ManifestError(f"{kind}: mediaType field {field_type!r} contradicts {given!r}")
    result = given or field_type or default
    if result not in allowed:
        raise UnsupportedMediaTypeError(f"{kind}: unsupported mediaType {result!r}")
    return result


def read_descriptor(obj: Any, where: str) -> Descriptor:
    """A descriptor that must name a media type (sizes are bounded by Descriptor)."""
    desc = Descriptor.from_dict(obj, where=where)
    if not desc.media_type:
        raise ManifestError(f"{where}: mediaType is missing")
    return desc


def read_annotations(obj: Mapping[str, Any], kind: str) -> dict[str, str]:
    """The top-level ``annotations`` map, validated."""
    annotations = obj.get("annotations")
    annotations = {} if annotations is None else annotations
    if not isinstance(annotations, dict) or not all(
        isinstance(v, str) for v in annotations.values()
    ):
        raise ManifestError(f"{kind}: annotations must map strings to strings")
    return dict(annotations)


def read_artifact_type(obj: Mapping[str, Any], kind: str) -> str:
    """The top-level ``artifactType``, validated."""
    value = obj.get("artifactType")
    value = "" if value is None else value
    if not isinstance(value, str):
        raise ManifestError(f"{kind}: artifactType must be a string")
    return value


class Extras(TypedDict):
    """What an OCI manifest or index may carry beyond its content, and a Docker one never."""

    annotations: dict[str, str]
    subject: Descriptor | None
    artifact_type: str


def read_extras(obj: Mapping[str, Any], kind: str) -> Extras:
    """The top-level ``subject``, ``annotations`` and ``artifactType``, validated."""
    subject = None
    if obj.get("subject") is not None:
        subject = read_descriptor(obj["subject"], f"{kind} subject")
    return Extras(
        subject=subject,
        annotations=read_annotations(obj, kind),
        artifact_type=read_artifact_type(obj, kind),
    )


_DOCKER_KINDS: Final = {
    mt.DOCKER_MANIFEST: "Docker schema 2 manifest",
    mt.DOCKER_LIST: "Docker manifest list",
}


def new_extras(
    media_type: str,
    annotations: Mapping[str, str] | None,
    subject: Descriptor | None,
    artifact_type: str,
) -> Extras:
    """The extras of a new manifest or index of ``media_type``; a Docker manifest or list has
    no annotations, subject or artifactType, so any given for one is refused."""
    extras = Extras(
        annotations=dict(annotations or {}), subject=subject, artifact_type=artifact_type
    )
    docker_kind = _DOCKER_KINDS.get(media_type)
    if docker_kind is not None and (extras["annotations"] or subject is not None or artifact_type):
        raise UnsupportedMediaTypeError(
            f"a {docker_kind} has no annotations, subject or artifactType"
        )
    return extras


def schema2_object(media_type: str, members: Mapping[str, Any], extras: Extras) -> dict[str, Any]:
    """The JSON object of a schema 2 manifest or index, in containers/image's field order;
    ``members`` is the content (``config`` and ``layers``, or ``manifests``) in the format's
    own descriptor shape."""
    obj: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if extras["artifact_type"]:
        obj["artifactType"] = extras["artifact_type"]
    obj.update(members)
    if extras["subject"] is not None:
        obj["subject"] = extras["subject"].to_dict()
    if extras["annotations"]:
        obj["annotations"] = extras["annotations"]
    return obj


def docker_descriptor(desc: Descriptor) -> dict[str, Any]:
    """A descriptor in the field order (and with only the fields) Docker schema 2 writes."""
    out: dict[str, Any] = {
        "mediaType": desc.media_type,
        "size": desc.size,
        "digest": str(desc.digest),
    }
    if desc.urls:
        out["urls"] = list(desc.urls)
    return out


class RawDocument:
    """A manifest or index kept as its exact bytes: it is named by their digest."""

    raw: bytes
    media_type: str

    @property
    def digest(self) -> Digest:
        """The sha256 digest of the raw bytes (never of a re-serialization)."""
        return Digest.from_bytes(self.raw)

    def descriptor(self) -> Descriptor:
        """A descriptor pointing at these exact bytes."""
        return Descriptor(self.media_type, self.digest, len(self.raw))


@dataclass(frozen=True)
class ImageManifest(RawDocument):
    """An OCI image manifest or a Docker schema 2 manifest, with its exact raw bytes."""

    raw: bytes
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict, hash=False)
    subject: Descriptor | None = None
    artifact_type: str = ""

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None) -> ImageManifest:
        """Validate ``raw`` as an image manifest; ``media_type`` is the out-of-band type.

        Without ``media_type`` the ``mediaType`` field decides, and an OCI manifest may
        omit it (image-spec < 1.0.2); a manifest whose config is a Docker config is then
        taken as Docker schema 2, as containers/image guesses it.
        """
        kind = "image manifest"
        obj = load_object(raw, kind)
        check_schema_version(obj, 2, kind)
        config_obj = obj.get("config")
        default = mt.OCI_MANIFEST
        if isinstance(config_obj, dict) and config_obj.get("mediaType") == mt.DOCKER_CONFIG:
            default = mt.DOCKER_MANIFEST
        media_type = resolve_media_type(obj, media_type, mt.SCHEMA2_MANIFEST_TYPES, default, kind)
        reject_ambiguous(obj, kind, {"config", "layers"})
        if config_obj is None:
            raise ManifestError(f"{kind}: config is missing")
        config = read_descriptor(config_obj, f"{kind} config")
        layers_obj = obj.get("layers")
        if layers_obj is None:
            layers_obj = []
        if not isinstance(layers_obj, list):
            raise ManifestError(f"{kind}: layers must be an array")
        layers = tuple(read_descriptor(d, f"{kind} layers[{i}]") for i, d in enumerate(layers_obj))
        if media_type == mt.DOCKER_MANIFEST:
            for i, layer in enumerate(layers):
                if layer.media_type not in _DOCKER_LAYER_TYPES:
                    raise UnsupportedMediaTypeError(
                        f"{kind} layers[{i}]: {layer.media_type!r} is not a Docker schema 2 "
                        "layer media type"
                    )
        return cls(
            raw=bytes(raw),
            media_type=media_type,
            config=config,
            layers=layers,
            **read_extras(obj, kind),
        )

    @classmethod
    def build(
        cls,
        media_type: str,
        config: Descriptor,
        layers: Sequence[Descriptor],
        annotations: Mapping[str, str] | None = None,
        subject: Descriptor | None = None,
        artifact_type: str = "",
    ) -> ImageManifest:
        """A new manifest, serialized once, compactly, in containers/image's field order."""
        if media_type not in mt.SCHEMA2_MANIFEST_TYPES:
            raise UnsupportedMediaTypeError(f"cannot build a manifest of type {media_type!r}")
        extras = new_extras(media_type, annotations, subject, artifact_type)
        if media_type == mt.DOCKER_MANIFEST:
            bad = [d.media_type for d in layers if d.media_type not in _DOCKER_LAYER_TYPES]
            if bad:
                raise UnsupportedMediaTypeError(
                    f"not Docker schema 2 layer media types: {', '.join(bad)}"
                )
            members = {
                "config": docker_descriptor(config),
                "layers": [docker_descriptor(d) for d in layers],
            }
        else:
            members = {"config": config.to_dict(), "layers": [d.to_dict() for d in layers]}
        return cls(
            raw=dumps_compact(schema2_object(media_type, members, extras)),
            media_type=media_type,
            config=config,
            layers=tuple(layers),
            **extras,
        )

    def with_layers(
        self, layers: Sequence[Descriptor], config: Descriptor | None = None
    ) -> ImageManifest:
        """A new manifest of the same type with other layers (and optionally config)."""
        return ImageManifest.build(
            self.media_type,
            config or self.config,
            layers,
            self.annotations,
            self.subject,
            self.artifact_type,
        )

    def convert(
        self,
        target_media_type: str,
        layer_types: Sequence[str] | None = None,
        *,
        config: Descriptor | None = None,
    ) -> ImageManifest:
        """This manifest as ``target_media_type``, mapping media types as containers/image.

        ``layer_types`` replaces the layers' media types first (after a recompression; OCI or
        Docker names are both accepted). ``config`` replaces the config descriptor: when
        converting Docker to OCI, containers/image re-encodes the config blob
        (:meth:`ImageConfig.to_oci`), and the caller passes its descriptor here.

        OCI to Docker: layer types map to their Docker names, non-distributable layers become
        foreign layers, URLs are kept, annotations, subject and artifactType are dropped; zstd
        layers and artifacts (a config that is not an OCI image config) cannot be converted.
        """
        if target_media_type not in mt.SCHEMA2_MANIFEST_TYPES:
            raise UnsupportedMediaTypeError(
                f"cannot convert an image manifest to {target_media_type!r}"
            )
        layers = list(self.layers)
        if layer_types is not None:
            if len(layer_types) != len(layers):
                raise ManifestError(
                    f"{len(layer_types)} layer media types given for {len(layers)} layers"
                )
            layers = [d.with_(media_type=t) for d, t in zip(layers, layer_types, strict=True)]
        cfg = config or self.config
        if target_media_type == self.media_type:
            if layer_types is None and config is None:
                return self
            return self.with_layers(layers, cfg)
        docker = target_media_type == mt.DOCKER_MANIFEST
        if docker and self.config.media_type != mt.OCI_CONFIG:
            raise UnsupportedMediaTypeError(
                f"cannot convert to Docker schema 2: config media type "
                f"{self.config.media_type!r} is not an image config (an OCI artifact?)"
            )
        config_type = mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG
        return ImageManifest.build(
            target_media_type,
            Descriptor(config_type, cfg.digest, cfg.size, cfg.urls),
            [_layer_as(docker, i, layer) for i, layer in enumerate(layers)],
        )


def _layer_as(docker: bool, index: int, layer: Descriptor) -> Descriptor:
    """Layer ``index`` under its Docker (``docker``) or OCI media type name; a layer already
    named in the target format keeps its type, and zstd has no Docker name."""
    t = layer.media_type
    if docker:
        named, mapping = t in _DOCKER_TO_OCI_LAYER, _OCI_TO_DOCKER_LAYER
        if t in _ZSTD_OCI:
            raise UnsupportedMediaTypeError(
                f"layer {index} ({t}): zstd compression is not supported for Docker images"
            )
    else:
        named, mapping = t in _OCI_TO_DOCKER_LAYER or t in _ZSTD_OCI, _DOCKER_TO_OCI_LAYER
    if not named and t not in mapping:
        raise UnsupportedMediaTypeError(
            f"layer {index}: unknown media type {t!r} during manifest conversion"
        )
    new = t if named else mapping[t]
    return Descriptor(new, layer.digest, layer.size, layer.urls)


__all__ = ["ImageManifest"]
