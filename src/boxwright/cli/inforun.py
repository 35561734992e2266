"""The work of ``info`` (:mod:`boxwright.cli.info` declares it): the facts of
:func:`boxwright.runtime.info.system_info` printed as podman prints them. Imported when the
command runs, with the runtime probes it needs; the template engine only for ``--format
TEMPLATE`` (~17 ms of imports the other outputs do not use)."""

from __future__ import annotations

from typing import Any

import click

from boxwright.cli.output import emit_json
from boxwright.cli.sanitize import echo, escape_json, escape_message
from boxwright.gotemplate import GoNil, GoStruct
from boxwright.runtime.info import system_info


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


def show_info(fmt: str | None) -> None:
    """Print what :func:`~boxwright.runtime.info.system_info` finds: as JSON, through the Go
    template ``fmt``, or (no ``fmt``) as podman's YAML-like listing."""
    facts = system_info()
    if fmt == "json":
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


__all__ = ["show_info"]
