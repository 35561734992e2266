"""What ``skopeo inspect`` tells about an image, from any reference.

:func:`inspect_image` returns an :class:`InspectInfo` with the fields skopeo prints and the
same values: ``Digest`` is the digest of the top manifest (the index when the reference names
one, as skopeo), the other fields come from the image chosen for the platform. ``Name`` is the
Docker reference the transport reference carries (a ``docker-archive:FILE:NAME:TAG``), empty
otherwise, and ``RepoTags`` is empty for every local transport (skopeo lists tags only for a
registry). ``Created`` is written as Go's ``time.Time`` marshals it (RFC 3339 with up to nine
fraction digits, trailing zeros dropped, ``Z`` for UTC).

Documented differences from skopeo 1.9.3 (Debian 12): ``LayersData`` (layer media type,
digest, size, annotations) is printed as newer skopeo releases print it, and ``Variant`` is
printed after ``Architecture`` when the image has one; 1.9.3 prints neither.

:func:`raw_manifest` is ``skopeo inspect --raw`` (the top manifest bytes, exactly),
:func:`config` is ``--config`` (the config as containers/image converts it to an OCI config)
and :func:`raw_config` is ``--config --raw`` (the config blob bytes, exactly).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from boxwright.errors import UnsupportedMediaTypeError
from boxwright.oci import mediatype as mt
from boxwright.oci._json import escape_like_go, go_time
from boxwright.oci.config import ImageConfig
from boxwright.oci.digest import Digest
from boxwright.oci.platform import Platform
from boxwright.transport.base import ImageSource, ListsRepositoryTags
from boxwright.transport.image import open_image
from boxwright.transport.reference import opened_source

if TYPE_CHECKING:
    from boxwright.transport.image import Image
    from boxwright.transport.options import TransportOptions
    from boxwright.transport.reference import TransportReference


# skopeo inspect's LayersData entry; the TYPE_CHECKING block and frozen-dataclass header
# above look like other modules' by the conventions every module follows.
@dataclass(frozen=True, slots=True)
class LayerData:
    """One element of ``LayersData``: a layer as its manifest describes it."""

    mime_type: str
    digest: Digest
    size: int
    annotations: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object skopeo prints (``Annotations`` is null when there are none)."""
        return {
            "MIMEType": self.mime_type,
            "Digest": str(self.digest),
            "Size": self.size,
            "Annotations": dict(self.annotations) if self.annotations else None,
        }


@dataclass(frozen=True, slots=True)
class InspectInfo:
    """The summary ``skopeo inspect`` prints, field for field.

    ``labels`` and ``env`` are None when the config does not have them (skopeo prints null),
    ``created`` None when the config has no creation time.
    """

    name: str
    digest: Digest
    repo_tags: tuple[str, ...]
    created: str | None
    docker_version: str
    labels: dict[str, str] | None
    architecture: str
    os: str
    layers: tuple[Digest, ...]
    layers_data: tuple[LayerData, ...]
    env: tuple[str, ...] | None
    variant: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The JSON object in skopeo's field order (empty ``Name`` and ``Variant`` omitted)."""
        out: dict[str, Any] = {}
        if self.name:
            out["Name"] = self.name
        out["Digest"] = str(self.digest)
        out["RepoTags"] = list(self.repo_tags)
        out["Created"] = self.created
        out["DockerVersion"] = self.docker_version
        out["Labels"] = dict(self.labels) if self.labels is not None else None
        out["Architecture"] = self.architecture
        if self.variant:
            out["Variant"] = self.variant
        out["Os"] = self.os
        out["Layers"] = [str(d) for d in self.layers]
        out["LayersData"] = [layer.to_dict() for layer in self.layers_data]
        out["Env"] = list(self.env) if self.env is not None else None
        return out

    def to_json(self) -> str:
        """The text ``skopeo inspect`` prints (without the final newline)."""
        return go_json_indent(self.to_dict())


def go_json_indent(obj: Any) -> str:
    """``obj`` as Go's ``json.MarshalIndent(obj, "", "    ")`` writes it.

    Go escapes ``<``, ``>``, ``&``, U+2028 and U+2029 and keeps other characters as UTF-8;
    these characters only ever occur inside strings, so a textual pass is exact.
    """
    return escape_like_go(json.dumps(obj, indent=4, ensure_ascii=False))


# -- Go templates (``--format``) ---------------------------------------------------------------


def render_template(
    info: InspectInfo,
    template: str,
    *,
    escape: Callable[[str], str] | None = None,
    escape_json: Callable[[str], str] | None = None,
) -> str:
    """Fill the Go template ``template`` with ``info``'s fields, as ``--format`` does.

    The template is Go's ``text/template`` (the one engine, :mod:`boxwright.gotemplate`):
    fields Name, Digest, RepoTags, Created, DockerVersion, Labels, Architecture, Variant, Os,
    Layers, LayersData, Env; ``{{.Labels.KEY}}``, ``{{index .Labels "KEY"}}``, ``{{json
    .Field}}``, ``{{range}}``, ``{{if}}``, ``printf`` and the rest. Values print as Go's
    ``%v`` does (``[a b]`` for lists, ``map[k:v]`` for maps, Go's ``time.Time`` form for
    Created); ``json`` escapes ``<``, ``>`` and ``&`` as Go's ``json.Marshal`` does. Literal
    ``\\t`` and ``\\n`` become a tab and a newline, and the result ends with a newline, as in
    podman and skopeo.

    ``escape`` is applied to what each action prints and ``escape_json`` to what each
    ``{{json ...}}`` action prints; the template's own text is kept as written. The command
    line passes its terminal sanitiser, so a label cannot drive the terminal the template is
    printed to; by default values are printed as they are, as skopeo prints them.
    """
    from boxwright.inspectformat import render  # the template engine: for --format only

    return render(info.to_dict(), template, escape=escape, escape_json=escape_json)


def inspect_image(
    ref: str | TransportReference | ImageSource,
    platform: Platform | None = None,
    options: TransportOptions | None = None,
    *,
    tags: bool = True,
) -> InspectInfo:
    """Inspect the image ``ref`` names (for an index: the image for ``platform``, default
    this machine's) as ``skopeo inspect`` does.

    ``options`` reach a registry source (credentials, TLS). For a registry, ``RepoTags``
    lists every tag of the repository, as skopeo does (``tags=False``: skopeo's
    ``--no-tags``, one request fewer).
    """
    with opened_source(ref, options) as (reference, source):
        top_raw, top_type = source.get_manifest()
        top_digest = _manifest_digest(top_raw, top_type)
        image = _open_image(source, platform)
        config = image.config
        require_image_config(image)
        container = config.data.get("config")
        container = container if isinstance(container, dict) else {}
        labels = container.get("Labels")
        env = container.get("Env")
        created = config.created
        docker_version = config.data.get("docker_version")
        repo_tags: tuple[str, ...] = ()
        if tags and isinstance(source, ListsRepositoryTags):
            repo_tags = tuple(source.registry_tags())
        return InspectInfo(
            name=_docker_name(reference),
            digest=top_digest,
            repo_tags=repo_tags,
            created=go_time(created, "image config: created") if created else None,
            docker_version=docker_version if isinstance(docker_version, str) else "",
            labels=dict(labels) if isinstance(labels, dict) else None,
            architecture=config.architecture,
            variant=config.variant,
            os=config.os,
            layers=tuple(layer.digest for layer in image.layers),
            layers_data=tuple(
                LayerData(layer.media_type, layer.digest, layer.size, layer.annotations or None)
                for layer in image.layers
            ),
            env=tuple(env) if isinstance(env, list) else None,
        )


def raw_manifest(
    ref: str | TransportReference | ImageSource, options: TransportOptions | None = None
) -> bytes:
    """The top manifest's bytes exactly as stored (``skopeo inspect --raw``).

    For a multi-platform image this is the index, as skopeo prints it.
    """
    with opened_source(ref, options) as (_, source):
        return source.get_manifest()[0]


def raw_config(
    ref: str | TransportReference | ImageSource,
    platform: Platform | None = None,
    options: TransportOptions | None = None,
) -> bytes:
    """The config blob's bytes exactly (``skopeo inspect --config --raw``)."""
    with opened_source(ref, options) as (_, source):
        image = _open_image(source, platform)
        return image.config_bytes


def config(
    ref: str | TransportReference | ImageSource,
    platform: Platform | None = None,
    options: TransportOptions | None = None,
) -> ImageConfig:
    """The image config as an OCI config, as ``skopeo inspect --config`` shows it.

    containers/image decodes every config (OCI or Docker) into the OCI ``Image`` structure
    and encodes it again: Docker-only fields go, keys come in the OCI order. Print
    ``go_json_indent(config(ref).data)`` for skopeo's exact text.
    """
    with opened_source(ref, options) as (_, source):
        image = _open_image(source, platform)
        require_image_config(image)
        return image.config.to_oci()


def _open_image(source: ImageSource, platform: Platform | None) -> Image:
    return open_image(source, platform)


def _manifest_digest(raw: bytes, media_type: str) -> Digest:
    """The digest skopeo reports: of the bytes, or of the payload of a signed schema 1."""
    if media_type == mt.DOCKER_SCHEMA1_SIGNED:
        from boxwright.oci.schema1 import Schema1Manifest

        return Schema1Manifest.parse(raw, media_type).digest
    return Digest.from_bytes(raw)


def require_image_config(image: Image) -> None:
    """Refuse OCI artifacts, as containers/image's Inspect does."""
    config_type = image.manifest.config.media_type
    if config_type not in (mt.OCI_CONFIG, mt.DOCKER_CONFIG):
        raise UnsupportedMediaTypeError(
            f"not a container image: its config has media type {config_type!r} "
            "(an OCI artifact?); use --raw to see its manifest"
        )


def _docker_name(reference: TransportReference | None) -> str:
    """The Docker repository name the transport reference carries, if any."""
    if reference is None:
        return ""
    docker_ref = reference.docker_reference
    if docker_ref is None:
        return ""
    return str(docker_ref.name)


__all__ = [
    "InspectInfo",
    "LayerData",
    "config",
    "go_json_indent",
    "inspect_image",
    "raw_config",
    "raw_manifest",
    "render_template",
    "require_image_config",
]
