"""Rows of podman's report types, rendered as podman renders them: through the one template
engine (:mod:`boxwright.gotemplate`), with the CLI's escaping of terminal text, and the
"N ago" of their CREATED columns. Shared by ``images``, ``history`` and ``ps``."""

from __future__ import annotations

from typing import Any

import click

from boxwright.cli.sanitize import escape_json, escape_message
from boxwright.cli.store import human_duration
from boxwright.gotemplate.report import render
from boxwright.oci._json import epoch


def created_since(created: str | None, now: float) -> str:
    """How long before ``now`` ``created`` was, as podman's CREATED column says it."""
    seconds = epoch(created)
    if seconds is None:
        return "N/A"
    return human_duration(max(0.0, now - seconds)) + " ago"


def render_rows(text: str, rows: list[Any], headers: dict[str, str], noheading: bool) -> None:
    """Print ``rows`` in the format ``text`` through the one template engine (table headers
    from ``headers``; the CLI's escaping of terminal text)."""
    out = render(
        text,
        rows,
        headers=headers,
        noheading=noheading,
        escape=escape_message,
        escape_json=escape_json,
    )
    click.echo(out, nl=False)


__all__ = ["created_since", "render_rows"]
