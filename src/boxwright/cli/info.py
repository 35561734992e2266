"""``boxwright info``: the store, its rootless mode, the ID maps and the runtimes, as
``podman info`` prints them (YAML-like text, ``--format json``, or a Go template over podman's
field names: ``{{.Store.GraphRoot}}``, ``{{.Host.Security.UsernsMode}}``)."""

from __future__ import annotations

from typing import Any

import click

from boxwright.cli.params import template_format_option
from boxwright.cli.sanitize import echo, escape_json, escape_message
from boxwright.gotemplate import GoNil, GoStruct


def _go_value(value: Any) -> Any:
    """``value`` as the template engine's Go data: a dict becomes a struct whose fields are
    the keys with a capital first letter (podman's Go names for its JSON keys)."""
    if isinstance(value, dict):
        fields = {k[:1].upper() + k[1:]: _go_value(v) for k, v in value.items()}
        return GoStruct(fields, json=lambda: value, type_name="info")
    if isinstance(value, list):
        return [_go_value(v) for v in value]
    if value is None:
        return GoNil()
    return value


def _text(value: Any, indent: int = 0) -> list[str]:
    """podman's YAML-like listing: ``key: value``, nested maps indented, lists with ``-``."""
    pad = "  " * indent
    lines: list[str] = []
    for key, item in value.items():
        if isinstance(item, dict):
            lines.append(f"{pad}{key}:")
            lines.extend(_text(item, indent + 1))
        elif isinstance(item, list):
            lines.append(f"{pad}{key}:")
            for entry in item:
                if isinstance(entry, dict):
                    first, *rest = _text(entry, indent + 2)
                    lines.append(f"{pad}  - {first.lstrip()}")
                    lines.extend(rest)
                else:
                    lines.append(f"{pad}  - {entry}")
        else:
            shown = (
                "null" if item is None else str(item).lower() if isinstance(item, bool) else item
            )
            lines.append(f"{pad}{key}: {shown}")
    return lines


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
    from boxwright.runtime.info import system_info

    facts = system_info()
    if fmt == "json":
        from boxwright.cli.output import emit_json

        emit_json(facts)
        return
    if fmt:
        from boxwright.gotemplate.report import render

        out = render(
            fmt, [_go_value(facts)], headers={}, escape=escape_message, escape_json=escape_json
        )
        click.echo(out, nl=False)
        return
    for line in _text(facts):
        echo(line)


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
