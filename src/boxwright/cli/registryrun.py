"""The work of ``list-tags`` and ``delete`` (:mod:`boxwright.cli.registry` declares them):
one request each to the registry. Imported when either command runs, with the registry
client they need."""

from __future__ import annotations

import json

import click

from boxwright.errors import UsageError
from boxwright.oci.reference import Reference
from boxwright.transport.docker import delete_image, list_tags
from boxwright.transport.options import TransportOptions


def print_tags(repository: str, options: TransportOptions) -> None:
    """Print the tags of ``repository`` (``docker://HOST/REPO``, no tag or digest) as
    skopeo's JSON: ``{"Repository": ..., "Tags": [...]}``, ASCII only."""
    name = repository[len("docker://") :]
    parsed = Reference.parse_normalized(name)
    if parsed.tag or parsed.digest is not None:
        raise UsageError(
            f"{repository}: list-tags takes a repository, without a tag or digest "
            f"(docker://{parsed.name})"
        )
    tags = list_tags(parsed.with_default_tag(), options)
    document = {"Repository": parsed.name, "Tags": tags}
    click.echo(json.dumps(document, indent=4))


def delete(reference: str, options: TransportOptions) -> None:
    """Delete the manifest ``reference`` (``docker://...``) names and print its digest."""
    click.echo(str(delete_image(reference, options)))


__all__ = ["delete", "print_tags"]
