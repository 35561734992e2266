"""``boxwright manifest ...``: manifest lists in the local store, as podman's and buildah's.

Each verb is a thin shell over :mod:`boxwright.store.manifests` (the records) and
:mod:`boxwright.store.manifestops` (add, annotate, remove, push). The verbs that change a list
print its ID, ``rm`` prints ``Untagged:``/``Deleted:`` lines and ``push`` the pushed index's
digest, as podman 4 does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from boxwright.cli.params import choice_option, key_values
from boxwright.cli.sanitize import echo
from boxwright.cli.store import _progress
from boxwright.cli.transport_options import retry_options, side_options, transport_options
from boxwright.errors import ImageNotFoundError
from boxwright.oci.platform import normalize_arch

if TYPE_CHECKING:
    from boxwright.oci.descriptor import Descriptor
    from boxwright.store.manifestops import PlatformEdit
    from boxwright.store.manifests import ManifestListRecord
    from boxwright.store.store import Store

F = TypeVar("F", bound=Callable[..., Any])


def _store(create: bool = False) -> Store:
    from boxwright.store.store import Store

    return Store(create=create)


def _features(value: tuple[str, ...]) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(f for v in value for f in v.split(",") if f)


def platform_edit_options(function: F) -> F:
    """The platform fields ``add`` and ``annotate`` set on an instance, as podman names them."""
    # --arch/--os/--variant as build spells them, but here they say what the list records
    # for an image, not what to build: the same flags with another meaning and help.
    options = [
        click.option("--arch", default=None, help="Architecture the list records for the image."),
        click.option("--os", "os_", default=None, help="Operating system the list records."),
        click.option("--variant", default=None, help="Architecture variant the list records."),
        click.option("--os-version", default=None, help="OS version the list records."),
        click.option(
            "--os-features",
            multiple=True,
            metavar="LIST",
            help="OS features the list records (comma-separated, repeatable).",
        ),
        click.option(
            "--features",
            multiple=True,
            metavar="LIST",
            help="CPU features the list records (comma-separated, repeatable).",
        ),
        click.option(
            "--annotation",
            "annotations",
            multiple=True,
            metavar="KEY=VALUE",
            help="An annotation of the image's entry (repeatable).",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _edit(params: dict[str, Any]) -> tuple[PlatformEdit, dict[str, str]]:
    from boxwright.store.manifestops import PlatformEdit

    arch = params.pop("arch")
    variant = params.pop("variant")
    if arch is not None:
        arch, detected = normalize_arch(arch, variant or "")
        variant = variant if variant is not None else (detected or None)
    edit = PlatformEdit(
        os=params.pop("os_"),
        architecture=arch,
        variant=variant,
        os_version=params.pop("os_version"),
        os_features=_features(params.pop("os_features")),
        features=_features(params.pop("features")),
    )
    return edit, key_values(params.pop("annotations"), "--annotation")


@click.group(
    "manifest",
    short_help="Manage manifest lists in the local store.",
    epilog="\b\nExample:\n"
    "  boxwright manifest create app\n"
    "  boxwright manifest add app app-amd64\n"
    "  boxwright manifest add --arch arm64 --variant v8 app app-arm64\n"
    "  boxwright manifest push --all app docker://registry.example/app:1",
)
def manifest_group() -> None:
    """Create, change, inspect and push manifest lists (multi-platform images), as podman
    manifest and buildah manifest do."""


@manifest_group.command(
    "create",
    epilog="\b\nExamples:\n  boxwright manifest create app:1\n"
    "  boxwright manifest create --all app:1 docker://quay.io/team/base:1",
)
@click.option("--all", "all_", is_flag=True, help="Add every image of an IMAGE that is a list.")
@click.option(
    "-a", "--amend", is_flag=True, help="Use the list of that name when there is one already."
)
@choice_option(
    "--format",
    "fmt",
    choices=["oci", "v2s2"],
    default="v2s2",
    help="The list's type: an OCI index or a Docker manifest list (boxwright's addition; "
    "podman makes a Docker list).",
)
@side_options("", "source")
@click.argument("name")
@click.argument("images", nargs=-1)
def create_command(
    all_: bool, amend: bool, fmt: str, name: str, images: tuple[str, ...], **registry: Any
) -> None:
    """Create the manifest list NAME, with the IMAGEs in it; print its ID."""
    from boxwright.store.manifestops import add_to_list
    from boxwright.store.manifests import list_media_type

    options = transport_options(registry)
    store = _store(create=True)
    record = store.manifest_lists.find(name) if amend else None
    if record is None:
        record = store.manifest_lists.create([name], list_media_type(fmt))
    for image in images:
        record, _ = add_to_list(store, record.id, image, all=all_, src_options=options)
    click.echo(record.id)


@manifest_group.command(
    "add",
    epilog="\b\nExamples:\n  boxwright manifest add app app-amd64\n"
    "  boxwright manifest add --all app docker://quay.io/team/base:1\n"
    "  boxwright manifest add --arch arm --variant v7 app oci:./arm:1",
)
@click.option("--all", "all_", is_flag=True, help="Add every image of an IMAGE that is a list.")
@platform_edit_options
@side_options("", "source")
@click.argument("name")
@click.argument("image")
def add_command(name: str, image: str, all_: bool, **params: Any) -> None:
    """Add IMAGE (a stored image, or any reference) to the list NAME; print the list's ID.

    Without --all an IMAGE that is a list gives the image for this machine's platform."""
    from boxwright.store.manifestops import add_to_list

    edit, annotations = _edit(params)
    options = transport_options(params)
    store = _store(create=True)
    record, _ = add_to_list(
        store, name, image, all=all_, edit=edit, annotations=annotations, src_options=options
    )
    click.echo(record.id)


@manifest_group.command(
    "annotate",
    epilog="\b\nExample:\n  boxwright manifest annotate --arch arm64 --variant v8 app sha256:…",
)
@platform_edit_options
@click.argument("name")
@click.argument("digest")
def annotate_command(name: str, digest: str, **params: Any) -> None:
    """Change what the list NAME records for its image DIGEST; print the list's ID."""
    from boxwright.store.manifestops import annotate_instance

    edit, annotations = _edit(params)
    record = annotate_instance(_store(), name, digest, edit=edit, annotations=annotations)
    click.echo(record.id)


@manifest_group.command("remove", epilog="\b\nExample:\n  boxwright manifest remove app sha256:…")
@click.argument("name")
@click.argument("digest")
def remove_command(name: str, digest: str) -> None:
    """Take the image DIGEST out of the list NAME (the image stays); print the list's ID."""
    from boxwright.store.manifestops import remove_instance

    click.echo(remove_instance(_store(), name, digest).id)


def podman_index_form(
    media_type: str, descriptors: Sequence[Descriptor], annotations: Mapping[str, str]
) -> dict[str, Any]:
    """An index as ``podman manifest inspect`` prints one: ``schemaVersion``, ``mediaType``,
    ``manifests`` (``null`` when empty, as Go prints a nil slice), each entry's ``mediaType``,
    ``size``, ``digest``, ``urls``, ``platform`` (architecture first) and ``annotations``;
    then the index's own annotations."""
    from boxwright.oci.manifest import docker_descriptor

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


def podman_inspect_form(record: ManifestListRecord) -> dict[str, Any]:
    """A list of the store in :func:`podman_index_form`, with the annotations the store keeps
    (a Docker list shows them too, as podman's does, though it is pushed without them)."""
    descriptors = [inst.descriptor for inst in record.instances]
    return podman_index_form(record.media_type, descriptors, record.annotations)


@manifest_group.command(
    "inspect",
    epilog="\b\nExamples:\n  boxwright manifest inspect app\n"
    "  boxwright manifest inspect docker://quay.io/team/base:1",
)
@side_options("", "source")
@click.argument("name")
def inspect_command(name: str, **registry: Any) -> None:
    """Print the manifest list NAME of the store, or the top manifest of any reference, as
    indented JSON (podman's form; a single image's manifest, which podman refuses, as it is)."""
    from boxwright.inspect import go_json_indent
    from boxwright.oci.index import ImageIndex
    from boxwright.oci.parse import parse_manifest

    record = None
    try:
        record = _store().manifest_lists.find(name)
    except ImageNotFoundError:
        record = None  # no store yet
    if record is not None:
        click.echo(go_json_indent(podman_inspect_form(record)))
        return
    from boxwright.store.pulling import registry_or

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


@manifest_group.command(
    "push",
    epilog="\b\nExamples:\n  boxwright manifest push app docker://registry.example/app:1\n"
    "  boxwright manifest push --format oci app oci:./app:1",
)
@click.option(
    "--all/--all=false",
    "all_",
    default=True,
    show_default=True,
    help="Push the list's images too (podman's default), not only the list itself.",
)
@choice_option(
    "-f",
    "--format",
    "fmt",
    choices=["oci", "v2s2"],
    help="Write the list and its images as OCI or Docker (default: the list's own type, each "
    "image as stored).",
)
@choice_option(
    "--compression-format",
    "dest_compress",
    choices=["gzip", "zstd", "none"],
    help="Recompress every layer (default: keep each layer as stored).",
)
@click.option("--rm", "remove", is_flag=True, help="Remove the list once it is pushed.")
@click.option(
    "--digestfile", type=click.Path(dir_okay=False), default=None, help="Write the digest here."
)
@side_options("", "destination")
@retry_options(podman=True)
@click.option("-q", "--quiet", is_flag=True, help="No progress output; only the digest.")
@click.argument("name")
@click.argument("destination")
def push_command(
    all_: bool,
    fmt: str | None,
    dest_compress: str | None,
    remove: bool,
    digestfile: str | None,
    quiet: bool,
    name: str,
    destination: str,
    **registry: Any,
) -> None:
    """Push the manifest list NAME to DESTINATION (a bare DESTINATION is a registry
    reference); print the index's digest."""
    from boxwright.store.manifestops import push_list
    from boxwright.store.pulling import registry_or

    options = transport_options(registry)
    store = _store()
    dest = str(registry_or(destination))
    with _progress(quiet) as on_progress:
        result = push_list(
            store,
            name,
            dest,
            all=all_,
            format=fmt,
            dest_options=options,
            dest_compress=dest_compress,
            on_progress=on_progress,
        )
    digest = str(result.digest)
    if digestfile:
        with open(digestfile, "w", encoding="utf-8") as out:
            out.write(digest)
    if remove:
        store.manifest_lists.remove(name)
    click.echo(digest)


@manifest_group.command("rm", epilog="\b\nExample:\n  boxwright manifest rm app")
@click.argument("names", nargs=-1, required=True)
def rm_command(names: tuple[str, ...]) -> None:
    """Remove the manifest lists NAMES (their images stay)."""
    store = _store()
    for name in names:
        record = store.manifest_lists.remove(name)
        for stored in record.names:
            echo(f"Untagged: {stored}")
        echo(f"Deleted: {record.id}")


__all__ = ["manifest_group", "podman_index_form", "podman_inspect_form"]
