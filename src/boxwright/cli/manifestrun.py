"""The work of ``manifest create``, ``add``, ``annotate``, ``remove`` and ``push``
(:mod:`boxwright.cli.manifest` declares their flags): edits of a list through
:mod:`boxwright.store.manifestops`. Imported when one of them runs.
"""

from __future__ import annotations

from typing import Any

import click

from boxwright.cli.localstore import open_store
from boxwright.cli.params import key_values
from boxwright.cli.progress import copy_progress
from boxwright.cli.transport_options import transport_options
from boxwright.oci.platform import normalize_arch
from boxwright.store.manifestops import (
    PlatformEdit,
    add_to_list,
    annotate_instance,
    push_list,
    remove_instance,
)
from boxwright.store.manifests import list_media_type


def _features(value: tuple[str, ...]) -> tuple[str, ...] | None:
    if not value:
        return None
    return tuple(f for v in value for f in v.split(",") if f)


def _edit(params: dict[str, Any]) -> tuple[PlatformEdit, dict[str, str]]:
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


def create(
    all_: bool, amend: bool, fmt: str, name: str, images: tuple[str, ...], **registry: Any
) -> None:
    """Create the manifest list NAME, with the IMAGEs in it; print its ID."""
    options = transport_options(registry)
    store = open_store(create=True)
    record = store.manifest_lists.find(name) if amend else None
    if record is None:
        record = store.manifest_lists.create([name], list_media_type(fmt))
    for image in images:
        record, _ = add_to_list(store, record.id, image, all=all_, src_options=options)
    click.echo(record.id)


def add(name: str, image: str, all_: bool, **params: Any) -> None:
    """Add IMAGE (a stored image, or any reference) to the list NAME; print the list's ID.

    Without --all an IMAGE that is a list gives the image for this machine's platform."""
    edit, annotations = _edit(params)
    options = transport_options(params)
    store = open_store(create=True)
    record, _ = add_to_list(
        store, name, image, all=all_, edit=edit, annotations=annotations, src_options=options
    )
    click.echo(record.id)


def annotate(name: str, digest: str, **params: Any) -> None:
    """Change what the list NAME records for its image DIGEST; print the list's ID."""
    edit, annotations = _edit(params)
    record = annotate_instance(open_store(), name, digest, edit=edit, annotations=annotations)
    click.echo(record.id)


def remove(name: str, digest: str) -> None:
    """Take the image DIGEST out of the list NAME (the image stays); print the list's ID."""
    click.echo(remove_instance(open_store(), name, digest).id)


# The parameters of manifest.push_command, passed on whole: the command declares them, this
# module does the work (the command/body pair of docs/architecture.md).
def push(
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
    """The work of ``manifest push``."""
    from boxwright.store.pulling import registry_or  # the copy pipeline: a push only

    options = transport_options(registry)
    store = open_store()
    dest = str(registry_or(destination))
    with copy_progress(quiet) as on_progress:
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


__all__ = ["add", "annotate", "create", "push", "remove"]
