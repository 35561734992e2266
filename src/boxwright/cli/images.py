"""``images`` and ``history``, as podman prints them.

Rows are podman's report types (the fields ``--format`` templates name: see
``docs/cli.md``), rendered by the one template engine (:mod:`boxwright.gotemplate`): the
default output is podman's own ``table`` template, so a custom ``table …`` format lines up
exactly as podman's does. Every value a template prints is escaped for the terminal
(:mod:`boxwright.cli.sanitize`); ``--format json`` prints data. ``history``'s work is in
:mod:`boxwright.cli.historyrun`, imported when the command runs.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from boxwright.cli.localstore import existing_store
from boxwright.cli.output import emit_json, human_size
from boxwright.cli.params import choice_option, template_format_option
from boxwright.cli.rows import created_since, render_rows
from boxwright.cli.store import _image_json, _list_json
from boxwright.gotemplate import GoNil, GoStruct, GoTime
from boxwright.gotemplate.values import go_time_string
from boxwright.oci._json import epoch

if TYPE_CHECKING:
    from boxwright.gotemplate import GoStruct
    from boxwright.store.images import ImageRecord, ImageStore
    from boxwright.store.manifests import ManifestListRecord

IMAGE_HEADERS = {
    "ID": "IMAGE ID",
    "ParentId": "PARENT ID",
    "Repository": "REPOSITORY",
    "Tag": "TAG",
    "Digest": "DIGEST",
    "Created": "CREATED",
    "Size": "SIZE",
    "VirtualSize": "VIRTUAL SIZE",
    "SharedSize": "SHARED SIZE",
    "Labels": "LABELS",
    "Containers": "CONTAINERS",
    "ReadOnly": "R/O",
    "Dangling": "DANGLING",
    "Names": "NAMES",
    "History": "HISTORY",
    "RepoTags": "REPO TAGS",
    "RepoDigests": "REPO DIGESTS",
}
SORT_KEYS = ("created", "id", "repository", "size", "tag")


def images_format(digests: bool) -> str:
    """podman's default ``images`` template."""
    row = [
        "{{if .Repository}}{{.Repository}}{{else}}<none>{{end}}",
        "{{if .Tag}}{{.Tag}}{{else}}<none>{{end}}",
    ]
    if digests:
        row.append("{{.Digest}}")
    row += ["{{.ID}}", "{{.Created}}", "{{.Size}}"]
    return "table " + "\t".join(row) + "\n"


def split_name(name: str) -> tuple[str, str]:
    """``REPOSITORY``, ``TAG`` of a stored name (``<none>`` tag for a digest-only name)."""
    repo, at, _ = name.partition("@")
    head, colon, tag = repo.rpartition(":")
    if colon and "/" not in tag:
        return head, tag
    return repo, "<none>" if at else "latest"


def _reporters(
    record: ImageRecord | ManifestListRecord,
    digest: str,
    size: int,
    *,
    tags: list[str],
    labels: dict[str, str],
    containers: int,
    dangling: bool,
    no_trunc: bool,
    now: float,
) -> list[GoStruct]:
    """podman's ``images.imageReporter`` of an image or a manifest list: one per name
    (``<none>`` for a record with no name), what differs between the two passed in."""
    repo_digests = sorted({f"{split_name(n)[0]}@{digest}" for n in record.names})
    created = record.created
    rows = []
    for repo, tag in [split_name(n) for n in record.names] or [("<none>", "<none>")]:
        fields: dict[str, Any] = {
            "ID": f"sha256:{record.id}" if no_trunc else record.short_id,
            "Id": record.id,
            "ParentId": "",
            "Repository": repo,
            "Tag": tag,
            "RepoTags": tags or GoNil("slice"),
            "RepoDigests": repo_digests or GoNil("slice"),
            "Size": human_size(size),
            "VirtualSize": size,
            "SharedSize": 0,
            "Labels": labels or GoNil("map"),
            "Containers": containers,
            "ReadOnly": False,
            "IsReadOnly": False,
            "Dangling": dangling,
            "Names": list(record.names) or GoNil("slice"),
            "Digest": digest,
            "History": ", ".join(reversed(record.names)),
            "Created": created_since(created, now),
            "CreatedAt": go_time_string(created) if created else "",
            "CreatedSince": created_since(created, now),
            "CreatedTime": GoTime(created) if created else "",
        }
        rows.append(GoStruct(fields, type_name="images.imageReporter"))
    return rows


def _image_rows(
    images: ImageStore, records: list[ImageRecord], *, no_trunc: bool, now: float
) -> list[tuple[GoStruct, ImageRecord, int]]:
    users: dict[str, int] = {}
    if images.layout.containers_file.exists():
        for container in images.store.containers.list():
            if container.image_id:
                users[container.image_id] = users.get(container.image_id, 0) + 1
    hidden = images.intermediate_ids()
    ordered = sorted(records, key=lambda r: -(epoch(r.created) or 0.0))
    rows: list[tuple[GoStruct, ImageRecord, int]] = []
    for record in ordered:
        size = images.podman_size(record)
        config = images._config_if_readable(record)
        reporters = _reporters(
            record,
            str(record.manifest),
            size,
            tags=[n for n in record.names if "@" not in n],
            labels=dict(config.config.labels) if config is not None else {},
            containers=users.get(record.id, 0),
            dangling=not record.names and record.id not in hidden,
            no_trunc=no_trunc,
            now=now,
        )
        rows += [(row, record, size) for row in reporters]
    return rows


def _list_rows(
    lists: list[ManifestListRecord], *, no_trunc: bool, now: float
) -> list[tuple[GoStruct, str, int, float]]:
    """The manifest lists as ``podman images`` lists them: one row per name (``<none>`` for
    a list with no name), the list's own ID, its index's digest and size."""
    rows: list[tuple[GoStruct, str, int, float]] = []
    for record in lists:
        index = record.index()
        size = len(index.raw)
        reporters = _reporters(
            record,
            str(index.digest),
            size,
            tags=[],
            labels={},
            containers=0,
            dangling=not record.names,
            no_trunc=no_trunc,
            now=now,
        )
        created = epoch(record.created) or 0.0
        rows += [(row, record.id, size, created) for row in reporters]
    return rows


def _sort_rows(rows: list[tuple[GoStruct, str, int]], key: str) -> list[tuple[GoStruct, str, int]]:
    if key == "id":
        return sorted(rows, key=lambda r: r[1])
    if key == "repository":
        return sorted(rows, key=lambda r: str(r[0].get("Repository")))
    if key == "tag":
        return sorted(rows, key=lambda r: str(r[0].get("Tag")))
    if key == "size":
        return sorted(rows, key=lambda r: r[2])
    return rows


@click.command(
    "images",
    short_help="List the images of the local store.",
    epilog="\b\nExamples:\n  boxwright images\n  boxwright images -a\n  boxwright images -q\n"
    "  boxwright images --filter dangling=true\n  boxwright images --sort size app\n"
    "  boxwright images --format 'table {{.Repository}}\\t{{.Tag}}\\t{{.Size}}'\n"
    "  boxwright images --format json",
)
@click.option(
    "-a",
    "--all",
    "show_all",
    is_flag=True,
    help="Show intermediate images too (a build's layer cache), as podman images -a.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print image IDs only (one per image).")
@click.option(
    "-f",
    "--filter",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Show only images that match: dangling=BOOL, intermediate=BOOL, label=KEY[=VALUE], "
    "before=IMAGE, since=IMAGE, reference=PATTERN (repeatable).",
)
@click.option("--digests", is_flag=True, help="Show the manifest digests.")
@click.option("-n", "--noheading", is_flag=True, help="Do not print the header row.")
@choice_option("--sort", choices=SORT_KEYS, default="created", help="Order of the rows.")
@template_format_option(
    help="json, or a Go template (a 'table ' prefix prints headers and aligns columns)."
)
@click.option("--no-trunc", is_flag=True, help="Full image IDs.")
@click.argument("name", required=False)
def images_command(
    show_all: bool,
    quiet: bool,
    filters: tuple[str, ...],
    digests: bool,
    noheading: bool,
    sort: str,
    fmt: str | None,
    no_trunc: bool,
    name: str | None,
) -> None:
    """List the images of the local store (those NAME matches, as a reference filter), newest
    first, one row per name.

    Intermediate images (unnamed images another image is built on, and the carriers of
    COPY --link layers) are hidden unless --all is given; an unnamed image with nothing
    built on it is dangling, listed as <none> <none>. SIZE is podman's: the layers unpacked,
    plus config and manifest."""
    from boxwright.store.filters import ImageFilter, select_images, select_lists

    parsed = [ImageFilter.parse(text) for text in filters]
    if name:
        parsed.append(ImageFilter("reference", name))
    store = existing_store()
    records = select_images(store.images, parsed, all=show_all) if store is not None else []
    lists = (
        select_lists(store.images, store.manifest_lists.list(), parsed) if store is not None else []
    )
    if fmt is not None and fmt.strip() == "json":
        entries: list[dict[str, Any]] = []
        if store is not None:
            entries = [_image_json(r, store.images) for r in records]
            entries += [_list_json(r) for r in lists]
        emit_json(entries)
        return
    rows: list[tuple[GoStruct, str, int]] = []
    if store is not None:
        now = time.time()
        dated = [
            (row, record.id, size, epoch(record.created) or 0.0)
            for row, record, size in _image_rows(store.images, records, no_trunc=no_trunc, now=now)
        ]
        dated += _list_rows(lists, no_trunc=no_trunc, now=now)
        dated.sort(key=lambda r: -r[3])
        rows = _sort_rows([(row, ident, size) for row, ident, size, _ in dated], sort)
    if quiet:
        seen: list[str] = []
        for _, image_id, _ in rows:
            ident = f"sha256:{image_id}" if no_trunc else image_id[:12]
            if ident not in seen:
                seen.append(ident)
        click.echo("".join(f"{i}\n" for i in seen), nl=False)
        return
    text = images_format(digests) if fmt is None or fmt.strip() == "table" else fmt
    render_rows(text, [row for row, _, _ in rows], IMAGE_HEADERS, noheading)


@click.command(
    "history",
    short_help="Show the history of a stored image.",
    epilog="\b\nExamples:\n  boxwright history app:1\n  boxwright history --no-trunc app:1\n"
    "  boxwright history --format '{{.ID}} {{.CreatedBy}}' app:1",
)
@click.option(
    "-H",
    "--human",
    type=click.BOOL,
    default=True,
    is_flag=False,
    flag_value=True,
    metavar="[=BOOL]",
    help="Times as 'N ago' (default); --human=false prints them in RFC 3339.",
)
@click.option("--no-trunc", is_flag=True, help="Full IDs and commands.")
@click.option("-q", "--quiet", is_flag=True, help="Print the IDs only.")
@template_format_option(
    help="json, or a Go template (a 'table ' prefix prints headers and aligns columns)."
)
@click.argument("image")
def history_command(human: bool, no_trunc: bool, quiet: bool, fmt: str | None, image: str) -> None:
    """Show the history of IMAGE, newest step first, as podman history does: the image ID
    where a stored image ends at that step, <missing> elsewhere; the size each step's layer
    adds, unpacked."""
    from boxwright.cli.historyrun import show_history

    show_history(image, human=human, no_trunc=no_trunc, quiet=quiet, fmt=fmt)


__all__ = [
    "history_command",
    "images_command",
    "split_name",
]
