"""Image indexes: the OCI image index and the Docker manifest list, one class for both.

:meth:`ImageIndex.select` picks the manifest for a platform the way containers/image does
(``internal/pkg/platform``): an exact OS/architecture/variant match first, then the
variants an ARM CPU can also run (v7 runs v6 and v5 images), then an entry without variant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from boxwright.errors import ManifestError, PlatformNotFoundError, UnsupportedMediaTypeError
from boxwright.oci import mediatype as mt
from boxwright.oci._json import dumps_compact, load_object
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.manifest import (
    RawDocument,
    check_schema_version,
    docker_descriptor,
    new_extras,
    read_descriptor,
    read_extras,
    reject_ambiguous,
    resolve_media_type,
    schema2_object,
)
from boxwright.oci.platform import Platform, normalize_arch

# Variants a CPU of an architecture can run, most capable first (containers/image's
# ``compatibility`` table: x86-64 microarchitecture levels, ARM architecture versions).
_COMPATIBLE_VARIANTS = {
    "amd64": ("v4", "v3", "v2"),
    "arm": ("v8", "v7", "v6", "v5"),
    "arm64": ("v8",),
}


def _plain_variant(architecture: str, variant: str) -> str:
    """``variant``, with amd64's baseline ``v1`` read as no variant (containers/image)."""
    return "" if architecture == "amd64" and variant == "v1" else variant


def wanted_variants(architecture: str, variant: str) -> list[str]:
    """The variants acceptable for a wanted platform, in order of preference.

    As containers/image's ``WantedPlatforms``: a wanted variant accepts itself, then the
    less capable variants of its family (arm v7 runs v6 and v5 images; amd64 v3 runs v2),
    then an entry without a variant; no wanted variant prefers an entry without one, then
    (for arm and arm64, not amd64) any known variant from the most capable down.
    """
    variant = _plain_variant(architecture, variant)
    family = _COMPATIBLE_VARIANTS.get(architecture)
    if variant:
        if family and variant in family:
            return [*family[family.index(variant) :], ""]
        return [variant, ""]
    if architecture == "amd64":
        return [""]
    return ["", *(family or ())]


def choose_instance(index: ImageIndex, platform: Platform | None = None) -> Descriptor:
    """The entry of ``index`` an image for ``platform`` (default: this machine's) is read
    from: the one function every command that picks one image out of an index calls.

    A lone entry without a platform is taken whatever the platform (an index wrapping another
    index, or a single image whose index does not say its platform); otherwise
    :meth:`ImageIndex.select` decides.
    """
    if len(index.manifests) == 1 and index.manifests[0].platform is None:
        return index.manifests[0]
    if not index.manifests:
        raise ManifestError(f"index {index.digest} lists no images")
    return index.select(platform or Platform.host())


@dataclass(frozen=True)
class ImageIndex(RawDocument):
    """An OCI image index or a Docker manifest list, with its exact raw bytes."""

    raw: bytes
    media_type: str
    manifests: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict, hash=False)
    subject: Descriptor | None = None
    artifact_type: str = ""

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None) -> ImageIndex:
        """Validate ``raw`` as an index; ``media_type`` is the out-of-band type, if known."""
        kind = "image index"
        obj = load_object(raw, kind)
        check_schema_version(obj, 2, kind)
        media_type = resolve_media_type(obj, media_type, mt.INDEX_TYPES, mt.OCI_INDEX, kind)
        reject_ambiguous(obj, kind, {"manifests"})
        entries = obj.get("manifests")
        if entries is None:
            entries = []
        if not isinstance(entries, list):
            raise ManifestError(f"{kind}: manifests must be an array")
        manifests = []
        for i, entry in enumerate(entries):
            where = f"{kind} manifests[{i}]"
            desc = read_descriptor(entry, where)
            if media_type == mt.DOCKER_LIST and desc.platform is None:
                raise ManifestError(f"{where}: a Docker manifest list entry needs a platform")
            manifests.append(desc)
        return cls(
            raw=bytes(raw),
            media_type=media_type,
            manifests=tuple(manifests),
            **read_extras(obj, kind),
        )

    @classmethod
    # The parameters and checks of ImageManifest.build: an index and a manifest carry the same
    # extras (new_extras) around different content.
    def build(
        cls,
        media_type: str,
        manifests: Sequence[Descriptor],
        annotations: Mapping[str, str] | None = None,
        subject: Descriptor | None = None,
        artifact_type: str = "",
    ) -> ImageIndex:
        """A new index, serialized once, compactly, in containers/image's field order."""
        if media_type not in mt.INDEX_TYPES:
            raise UnsupportedMediaTypeError(f"cannot build an index of type {media_type!r}")
        extras = new_extras(media_type, annotations, subject, artifact_type)
        if media_type == mt.DOCKER_LIST:
            entries = []
            for i, d in enumerate(manifests):
                if d.platform is None:
                    raise ManifestError(
                        f"manifest {i} ({d.digest}) has no platform, which a Docker "
                        "manifest list requires"
                    )
                entry = docker_descriptor(d)
                entry["platform"] = d.platform.to_dict()
                entries.append(entry)
        else:
            entries = [d.to_dict() for d in manifests]
        return cls(
            raw=dumps_compact(schema2_object(media_type, {"manifests": entries}, extras)),
            media_type=media_type,
            manifests=tuple(manifests),
            **extras,
        )

    def with_manifests(self, manifests: Sequence[Descriptor]) -> ImageIndex:
        """A new index of the same type listing ``manifests`` instead."""
        return ImageIndex.build(
            self.media_type, manifests, self.annotations, self.subject, self.artifact_type
        )

    def platforms(self) -> list[Platform]:
        """The platforms the entries declare, in order (entries without one are skipped)."""
        return [d.platform for d in self.manifests if d.platform is not None]

    def select(self, platform: Platform) -> Descriptor:
        """The entry that best serves ``platform``; :class:`PlatformNotFoundError` if none.

        OS and architecture must match (after normalizing aliases such as aarch64); among
        variants the order of :func:`wanted_variants` decides, then the order of entries.
        An entry without a platform is never chosen.
        """
        arch, variant = normalize_arch(platform.architecture, platform.variant)
        os_ = platform.os.lower()
        candidates = []
        for d in self.manifests:
            if d.platform is None:
                continue
            have_arch, have_var = normalize_arch(d.platform.architecture, d.platform.variant)
            if d.platform.os.lower() == os_ and have_arch == arch:
                candidates.append((_plain_variant(have_arch, have_var), d))
        for want in wanted_variants(arch, variant):
            for have_var, d in candidates:
                if have_var == want:
                    return d
        available = ", ".join(str(p) for p in self.platforms()) or "none"
        raise PlatformNotFoundError(
            f"no image for platform {platform} in the index (available: {available})"
        )

    def convert(self, target_media_type: str) -> ImageIndex:
        """This index as an OCI index or a Docker manifest list (containers/image's mapping).

        Entries keep media type, digest, size, URLs and platform (without the ``features``
        field OCI dropped); annotations, subject and artifactType exist only in OCI.
        """
        if target_media_type not in mt.INDEX_TYPES:
            raise UnsupportedMediaTypeError(f"cannot convert an index to {target_media_type!r}")
        if target_media_type == self.media_type:
            return self
        entries = []
        for d in self.manifests:
            plat = d.platform
            if plat is not None:
                plat = Platform(
                    plat.os, plat.architecture, plat.variant, plat.os_version, plat.os_features
                )
            entries.append(Descriptor(d.media_type, d.digest, d.size, d.urls, platform=plat))
        return ImageIndex.build(target_media_type, entries)


__all__ = ["ImageIndex", "choose_instance", "wanted_variants"]
