"""``boxwright info``: the store, its rootless mode, the ID maps and the runtimes, as
``podman info`` prints them (YAML-like text, ``--format json``, or a Go template over podman's
field names: ``{{.Store.GraphRoot}}``, ``{{.Host.Security.UsernsMode}}``).

This module declares the commands; ``info``'s work, with the runtime probes it needs, is in
:mod:`boxwright.cli.inforun`, imported when the command runs.
"""

from __future__ import annotations

import click

from boxwright.cli.params import template_format_option
from boxwright.cli.sanitize import echo


@click.command(
    "info",
    short_help="Show the store, its rootless mode, ID maps and runtimes.",
    epilog="\b\nExamples:\n  boxwright info\n  boxwright info --format json\n"
    "  boxwright info --format '{{.Store.UsernsMode}}'",
)
@template_format_option("-f", help="json, or a Go template over podman's field names.")
def info_command(fmt: str | None) -> None:
    """Show what boxwright uses here, as podman info: host and ID maps, OCI runtimes, the
    store's root, driver and rootless mode (ranges or single; root for root)."""
    from boxwright.cli.inforun import show_info

    show_info(fmt)


@click.group("system", short_help="Manage the store's rootless mode.")
def system_group() -> None:
    """Store-wide changes, as podman system."""


@system_group.command(
    "migrate",
    epilog="\b\nExample:\n  boxwright system migrate --userns single",
)
@click.option(
    "--userns",
    "mode",
    type=click.Choice(["ranges", "single"]),
    required=True,
    help="The rootless mode the store switches to.",
)
@click.option("-f", "--force", is_flag=True, help="Remove working containers too.")
def migrate_command(mode: str, force: bool) -> None:
    """Switch the store to another rootless mode: its images stay, what was unpacked in the
    old mode is removed (and rebuilt on use); refused while working containers exist unless
    --force removes them."""
    from boxwright.store.migrate import switch_mode

    done = switch_mode(None, mode, force=force)
    echo(
        f"The store is in {done.new} mode (was {done.old}): removed {done.containers} "
        f"working containers and {done.snapshots} snapshots"
    )
