"""The work of ``history`` (:mod:`boxwright.cli.images` declares it): a stored image's steps
(:func:`boxwright.store.history.image_history`) as podman prints them. Imported when the
command runs."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from boxwright.cli.localstore import open_store
from boxwright.cli.output import human_size
from boxwright.cli.rows import created_since, render_rows
from boxwright.gotemplate import GoNil, GoStruct
from boxwright.gotemplate.values import go_time_string
from boxwright.oci._json import dumps_go
from boxwright.store.history import MISSING_ID, image_history

if TYPE_CHECKING:
    from boxwright.store.history import HistoryStep

HISTORY_HEADERS = {
    "ID": "ID",
    "Created": "CREATED",
    "CreatedBy": "CREATED BY",
    "Size": "SIZE",
    "Comment": "COMMENT",
}
HISTORY_FORMAT = "table {{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}\n"
CREATED_BY_WIDTH = 45


def show_history(image: str, *, human: bool, no_trunc: bool, quiet: bool, fmt: str | None) -> None:
    """Print the history of the stored ``image``, newest step first: as JSON, its IDs alone
    (``quiet``), or through podman's table or the template ``fmt``."""
    store = open_store()
    steps = image_history(store.images, store.images.get(image))
    if fmt is not None and fmt.strip() == "json":
        click.echo(dumps_go([_history_json(s) for s in steps]).decode("utf-8"))
        return
    rows = _history_rows(steps, human=human, no_trunc=no_trunc, now=time.time())
    if quiet:
        click.echo("".join(f"{r.get('ID')}\n" for r in rows), nl=False)
        return
    text = HISTORY_FORMAT if fmt is None or fmt.strip() == "table" else fmt
    render_rows(text, rows, HISTORY_HEADERS, False)


def _history_rows(
    steps: list[HistoryStep], *, human: bool, no_trunc: bool, now: float
) -> list[GoStruct]:
    """The template rows of ``steps``: podman's ``historyReporter`` fields."""
    rows = []
    for step in steps:
        ident = step.id if no_trunc or step.id == MISSING_ID else step.id[:12]
        created_by = step.created_by
        if not no_trunc and len(created_by) > CREATED_BY_WIDTH:
            created_by = created_by[: CREATED_BY_WIDTH - 3] + "..."
        since = created_since(step.created, now)
        fields: dict[str, Any] = {
            "ID": ident,
            "Created": since if human else (step.created or ""),
            "CreatedBy": created_by,
            "Size": human_size(step.size),
            "Comment": step.comment,
            "CreatedAt": go_time_string(step.created) if step.created else "",
            "CreatedSince": since,
            "Tags": list(step.tags) or GoNil("slice"),
        }
        rows.append(GoStruct(fields, type_name="images.historyReporter"))
    return rows


# podman history's JSON keys, the optional ones only when set: written the way other
# documents' optional keys are (oci.config's platform fields), for another document.
def _history_json(step: HistoryStep) -> dict[str, Any]:
    """One step as ``podman history --format json`` writes it."""
    out: dict[str, Any] = {"id": step.id, "created": step.created}
    if step.created_by:
        out["CreatedBy"] = step.created_by
    out["size"] = step.size
    if step.comment:
        out["comment"] = step.comment
    if step.tags:
        out["tags"] = list(step.tags)
    out["Created"] = step.created or ""
    return out


__all__ = ["HISTORY_FORMAT", "HISTORY_HEADERS", "show_history"]
