"""The work of ``manifest inspect`` (:mod:`boxwright.cli.manifest` declares its flags): a
list of the store, or the top manifest of any reference, in the form podman prints.
Imported when the command runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import click

from boxwright.cli.localstore import open_store
from boxwright.cli.transport_options import transport_options
from boxwright.errors import ImageNotFoundError
from boxwright.inspect import go_json_indent
from boxwright.oci.index import ImageIndex
from boxwright.oci.manifest import docker_descriptor
from boxwright.oci.parse import parse_manifest

if TYPE_CHECKING:
    from boxwright.oci.descriptor import Descriptor
    from boxwright.store.manifests import ManifestListRecord


def podman_inspect_form(record: ManifestListRecord) -> dict[str, Any]:
    """A list of the store in :func:`podman_index_form`, with the annotations the store keeps
    (a Docker list shows them too, as podman's does, though it is pushed without them)."""
    descriptors = [inst.descriptor for inst in record.instances]
    return podman_index_form(record.media_type, descriptors, record.annotations)


def podman_index_form(
    media_type: str, descriptors: Sequence[Descriptor], annotations: Mapping[str, str]
) -> dict[str, Any]:
    """An index as ``podman manifest inspect`` prints one: ``schemaVersion``, ``mediaType``,
    ``manifests`` (``null`` when empty, as Go prints a nil slice), each entry's ``mediaType``,
    ``size``, ``digest``, ``urls``, ``platform`` (architecture first) and ``annotations``;
    then the index's own annotations."""
    entries: list[dict[str, Any]] = []
    for desc in descriptors:
        entry = docker_descriptor(desc)
        if desc.platform is not None:
            entry["platform"] = desc.platform.to_dict()
        if desc.annotations:
            entry["annotations"] = dict(desc.annotations)
        entries.append(entry)
    out: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "manifests": entries or None,
    }
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def inspect(name: str, **registry: Any) -> None:
    """Print the manifest list NAME of the store, or the top manifest of any reference, as
    indented JSON (podman's form; a single image's manifest, which podman refuses, as it is)."""
    record = None
    try:
        record = open_store().manifest_lists.find(name)
    except ImageNotFoundError:
        record = None  # no store yet
    if record is not None:
        click.echo(go_json_indent(podman_inspect_form(record)))
        return
    from boxwright.store.pulling import registry_or  # the copy pipeline: not for a stored list

    options = transport_options(registry)
    source = registry_or(name).open_source(options)
    try:
        raw, media_type = source.get_manifest()
    finally:
        source.close()
    top = parse_manifest(raw, media_type)
    if isinstance(top, ImageIndex):
        form = podman_index_form(top.media_type, top.manifests, top.annotations)
        click.echo(go_json_indent(form))
        return
    click.echo(go_json_indent(json.loads(raw)))


__all__ = ["inspect", "podman_index_form", "podman_inspect_form"]
