"""``boxwright manifest ...``: manifest lists in the local store, as podman's and buildah's.

Each verb is a thin shell over :mod:`boxwright.store.manifests` (the records) and
:mod:`boxwright.store.manifestops` (add, annotate, remove, push). This module declares the
flags; the work is in :mod:`boxwright.cli.manifestrun` (the edits and push) and
:mod:`boxwright.cli.manifestinspect`, imported when a verb runs. The verbs that change a list
print its ID, ``rm`` prints ``Untagged:``/``Deleted:`` lines and ``push`` the pushed index's
digest, as podman 4 does.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from boxwright.cli.localstore import open_store
from boxwright.cli.params import choice_option
from boxwright.cli.sanitize import echo
from boxwright.cli.transport_options import retry_options, side_options

F = TypeVar("F", bound=Callable[..., Any])


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
    from boxwright.cli.manifestrun import create

    create(all_, amend, fmt, name, images, **registry)


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
    from boxwright.cli.manifestrun import add

    add(name, image, all_, **params)


@manifest_group.command(
    "annotate",
    epilog="\b\nExample:\n  boxwright manifest annotate --arch arm64 --variant v8 app sha256:…",
)
@platform_edit_options
@click.argument("name")
@click.argument("digest")
def annotate_command(name: str, digest: str, **params: Any) -> None:
    """Change what the list NAME records for its image DIGEST; print the list's ID."""
    from boxwright.cli.manifestrun import annotate

    annotate(name, digest, **params)


@manifest_group.command("remove", epilog="\b\nExample:\n  boxwright manifest remove app sha256:…")
@click.argument("name")
@click.argument("digest")
def remove_command(name: str, digest: str) -> None:
    """Take the image DIGEST out of the list NAME (the image stays); print the list's ID."""
    from boxwright.cli.manifestrun import remove

    remove(name, digest)


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
    from boxwright.cli.manifestinspect import inspect

    inspect(name, **registry)


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
    from boxwright.cli.manifestrun import push

    push(all_, fmt, dest_compress, remove, digestfile, quiet, name, destination, **registry)


@manifest_group.command("rm", epilog="\b\nExample:\n  boxwright manifest rm app")
@click.argument("names", nargs=-1, required=True)
def rm_command(names: tuple[str, ...]) -> None:
    """Remove the manifest lists NAMES (their images stay)."""
    store = open_store()
    for name in names:
        record = store.manifest_lists.remove(name)
        for stored in record.names:
            echo(f"Untagged: {stored}")
        echo(f"Deleted: {record.id}")


__all__ = ["manifest_group"]
