"""``boxwright diff A B``: a thin shell over :func:`boxwright.explain.diff.diff_images`.

Text output has four sections (config, history, layers, files), each a table: rich tables on
a terminal, plain padded columns when piped (see :func:`boxwright.cli.output.render_table`).
``--format json`` prints :meth:`ImageDiff.to_json`. Text is escaped as all human output is
(:mod:`boxwright.cli.sanitize`): paths, history and config values come from the images.

The exit code is 0 whether or not the images differ, as for ``git diff``, ``skopeo inspect``
and container-diff: a difference is data, not a failure. ``--exit-code`` makes it 1 when the
images differ (``diff`` and ``git diff --exit-code`` do the same); errors also exit 1, but
always with an ``Error:`` line on stderr, while a difference prints nothing there.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from boxwright.cli.output import human_size, render_table, short_name
from boxwright.cli.params import format_option, platform_option
from boxwright.cli.sanitize import echo

if TYPE_CHECKING:
    from boxwright.explain.diff import (
        FieldChange,
        FileChange,
        FilesDiff,
        HistoryDiff,
        ImageDiff,
        LayersDiff,
    )
    from boxwright.oci.platform import Platform

EXAMPLES = """\b
Examples:
  boxwright diff oci:./layout:v1 oci:./layout:v2
  boxwright diff --format json oci-archive:old.tar oci:./layout:new | jq .files.summary
  boxwright diff --exit-code dir:/tmp/a dir:/tmp/b || echo "the images differ"
"""


@click.command("diff", epilog=EXAMPLES, short_help="Show what differs between two images.")
@format_option()
@platform_option("compare out of an index, for both")
@click.option(
    "--exit-code",
    is_flag=True,
    help="Exit with 1 when the images differ (default: 0 either way).",
)
@click.argument("image_a", metavar="A")
@click.argument("image_b", metavar="B")
def diff_command(
    fmt: str, platform: Platform | None, exit_code: bool, image_a: str, image_b: str
) -> None:
    """Show what differs between images A and B: config fields, history, shared layers, and
    the files added, removed or modified between their final filesystems."""
    from boxwright.explain.diff import diff_images

    result = diff_images(image_a, image_b, platform=platform)
    if fmt == "json":
        click.echo(result.to_json())
    else:
        render_diff(result)
    if exit_code and result.differs:
        raise click.exceptions.Exit(1)


def _value(value: Any) -> str:
    if value is None:
        return "(absent)"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _shared(shared: str | None, other: int | None, side: str) -> str:
    if shared == "digest":
        return f"shared: {side} layer {other}"
    if shared == "diff_id":
        return f"same tar as {side} layer {other}, compressed differently"
    return "not in " + side


def _mode(value: int) -> str:
    return f"{value:04o}"


def _details(change: FileChange) -> str:
    a, b = change.a, change.b
    if a is None and b is not None:
        return human_size(b.size) if b.kind == "file" else ""
    if b is None and a is not None:
        return human_size(a.size) if a.kind == "file" else ""
    if a is None or b is None:
        return ""
    parts = []
    for what in change.changes:
        if what == "type":
            parts.append(f"type {a.kind} -> {b.kind}")
        elif what == "size":
            parts.append(f"size {human_size(a.size)} -> {human_size(b.size)}")
        elif what == "mode":
            parts.append(f"mode {_mode(a.mode)} -> {_mode(b.mode)}")
        elif what == "owner":
            parts.append(f"owner {a.uid}:{a.gid} -> {b.uid}:{b.gid}")
        elif what == "link":
            parts.append(f"link {a.linkname} -> {b.linkname}")
        elif what == "content" and change.digests is not None:
            before, after = (short_name(d) for d in change.digests)
            parts.append(f"content {before} -> {after}")
    return "; ".join(parts)


def render_diff(result: ImageDiff) -> None:
    """Print ``result`` as four titled tables (or one line where a section is equal)."""
    echo(f"A: {result.a.reference} ({short_name(str(result.a.manifest_digest))})")
    echo(f"B: {result.b.reference} ({short_name(str(result.b.manifest_digest))})")
    _render_config(result.config)
    _render_history(result.history)
    _render_layers(result.layers)
    _render_files(result.files)
    if not result.differs:
        echo()
        echo("The images do not differ.")


def _render_config(config: tuple[FieldChange, ...]) -> None:
    """The config fields that differ, with both values."""
    out = sys.stdout
    echo()
    echo(f"Config: {len(config) or 'no'} field(s) differ")
    if config:
        config_rows = [(c.field, _value(c.a), _value(c.b)) for c in config]
        render_table(("field", "a", "b"), config_rows, stream=out)


def _render_history(history: HistoryDiff) -> None:
    """The count of history entries in common, then each side's entries after them."""
    out = sys.stdout
    echo()
    echo(
        f"History: {history.common} entr{'y' if history.common == 1 else 'ies'} in common"
        + (", then:" if history.differs else ", nothing else")
    )
    if history.differs:
        history_rows = [
            (
                side,
                history.common + i,
                entry.created or "",
                entry.created_by,
                "yes" if entry.empty_layer else "",
            )
            for side, entries in (("A", history.a), ("B", history.b))
            for i, entry in enumerate(entries)
        ]
        render_table(
            ("image", "#", "created", "created by", "empty layer"), history_rows, stream=out
        )


def _render_layers(layers: LayersDiff) -> None:
    """The count of layers in common from the base, then each side's layers and whether the
    other image holds them."""
    out = sys.stdout
    echo()
    echo(f"Layers: {layers.common} in common from the base")
    rows = [
        (side, row.index, short_name(str(row.digest)), human_size(row.size), note)
        for side, other, table in (("A", "B", layers.a), ("B", "A", layers.b))
        for row in table
        for note in [_shared(row.shared, row.other_index, other)]
    ]
    if rows:
        render_table(("image", "#", "digest", "size", "in the other image"), rows, stream=out)


def _render_files(files: FilesDiff) -> None:
    """The count of files added, removed and modified, then each change."""
    out = sys.stdout
    summary = files.summary()
    echo()
    echo(
        f"Files: {summary['added']} added, {summary['removed']} removed, "
        f"{summary['modified']} modified"
    )
    file_rows = [
        (mark, "/" + change.path, change.kind, _details(change))
        for mark, changes in (("+", files.added), ("-", files.removed), ("M", files.modified))
        for change in changes
    ]
    if file_rows:
        render_table(("", "path", "kind", "details"), file_rows, stream=out)


__all__ = ["diff_command", "render_diff"]
