"""``boxwright volume create|ls|inspect|rm|prune``: the store's named volumes, as podman's.

A thin shell over :class:`boxwright.store.volumes.VolumeStore`. ``ls`` prints podman's
``DRIVER  VOLUME NAME`` table (``-q`` names only, ``--format json`` the inspect objects);
``inspect`` prints a JSON array; ``rm`` and ``prune`` print the names removed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from boxwright.cli.localstore import open_store
from boxwright.cli.output import emit_json, render_table
from boxwright.cli.params import format_option, key_values

if TYPE_CHECKING:
    pass


@click.group(
    "volume",
    epilog="\b\nExamples:\n  boxwright volume create data\n"
    "  boxwright run --rm -v data:/srv app:1 ls /srv\n  boxwright volume prune",
)
def volume_group() -> None:
    """Manage named volumes: directories kept in the store across containers."""


@volume_group.command("create")
@click.option("-l", "--label", multiple=True, metavar="KEY=VALUE", help="Set a label.")
@click.option("-o", "--opt", multiple=True, metavar="KEY=VALUE", help="Record a driver option.")
@click.option("--ignore", is_flag=True, help="Do nothing when the volume exists already.")
@click.argument("name", required=False)
def create_command(
    label: tuple[str, ...], opt: tuple[str, ...], ignore: bool, name: str | None
) -> None:
    """Create a volume NAME (default: a random name) and print its name."""
    with open_store(create=True) as store:
        volume = store.volumes.create(
            name, labels=key_values(label, "--label", bare="empty"),
            options=key_values(opt, "--opt", bare="empty"),
            ignore_existing=ignore,
        )  # fmt: skip
    click.echo(volume.name)


@volume_group.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Print the names only.")
@format_option()
def ls_command(quiet: bool, fmt: str) -> None:
    """List the volumes."""
    with open_store(create=True) as store:
        volumes = store.volumes.list()
    if fmt == "json":
        emit_json([v.to_json() for v in volumes])
    elif quiet:
        for volume in volumes:
            click.echo(volume.name)
    else:
        render_table(["driver", "volume name"], [("local", v.name) for v in volumes])


@volume_group.command("inspect")
@click.argument("names", nargs=-1, required=True)
def inspect_command(names: tuple[str, ...]) -> None:
    """Print volumes as a JSON array (podman's fields)."""
    with open_store(create=True) as store:
        emit_json([store.volumes.get(name).to_json() for name in names])


@volume_group.command("rm")
@click.option("-f", "--force", is_flag=True, help="Remove also volumes containers have used.")
@click.argument("names", nargs=-1, required=True)
def rm_command(force: bool, names: tuple[str, ...]) -> None:
    """Remove volumes and their files."""
    with open_store(create=True) as store:
        existing = [c.id for c in store.containers.list()]
        for name in names:
            store.volumes.remove(name, existing=existing, force=force)
            click.echo(name)


@volume_group.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not ask (boxwright never asks).")
def prune_command(force: bool) -> None:
    """Remove every volume no existing container has used."""
    del force
    with open_store(create=True) as store:
        for name in store.volumes.prune(c.id for c in store.containers.list()):
            click.echo(name)


__all__ = ["volume_group"]
