"""The work of ``pull`` and ``push`` (:mod:`boxwright.cli.store` declares them): a copy into
or out of the local store, with progress on stderr (:mod:`boxwright.cli.progress`). Imported
when either command runs, with the copy pipeline they need."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from boxwright.cli.localstore import open_store
from boxwright.cli.progress import copy_progress
from boxwright.cli.trust_options import signing_settings
from boxwright.store.pullpush import pull, push

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform
    from boxwright.transport.options import TransportOptions


def pull_image(
    reference: str, platform: Platform | None, options: TransportOptions, *, quiet: bool
) -> None:
    """Copy the image ``reference`` names into the local store (created if need be) and
    print its ID."""
    store = open_store(create=True)
    with copy_progress(quiet) as on_progress:
        record = pull(
            reference, store=store, platform=platform, src_options=options, on_progress=on_progress
        )
    click.echo(record.id)


def push_image(
    image: str,
    destination: str | None,
    options: TransportOptions,
    *,
    fmt: str | None,
    dest_compress: str | None,
    quiet: bool,
) -> None:
    """Copy ``image`` of the local store to ``destination`` (None: the registry its name
    names) and print the pushed manifest's digest."""
    with copy_progress(quiet) as on_progress:
        result = push(
            image,
            destination,
            store=open_store(),
            dest_options=options,
            format=fmt,
            dest_compress=dest_compress,
            on_progress=on_progress,
            **signing_settings(),
        )
    click.echo(str(result.digest))


__all__ = ["pull_image", "push_image"]
