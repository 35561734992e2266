"""The local store's commands, as podman spells them: images, tag, rmi, pull, push, prune, df.

Each is a thin shell over :mod:`boxwright.store`. The store is ``--root`` (a global option),
else ``$BOXWRIGHT_ROOT``, else the default for the user. Tables are podman's (``REPOSITORY TAG
IMAGE ID CREATED SIZE``); ``--format json`` prints data for scripts.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import click

from boxwright.cli.params import format_option, platform_option
from boxwright.cli.sanitize import echo
from boxwright.cli.transport_options import retry_options, side_options, transport_options
from boxwright.cli.trust_options import policy_options, signing_options, signing_settings

if TYPE_CHECKING:
    from boxwright.copy.progress import ProgressCallback, ProgressEvent
    from boxwright.oci.platform import Platform
    from boxwright.store.images import ImageRecord
    from boxwright.store.store import Store


def human_duration(seconds: float) -> str:
    """How long ago, the way podman says it (go-units ``HumanDuration``)."""
    if seconds < 1:
        return "Less than a second"
    if int(seconds) == 1:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600 / 24 / 365)} years"


def _epoch(created: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (nanoseconds allowed), None if unreadable."""
    if not created:
        return None

    text = created.strip().replace("Z", "+00:00")
    main, dot, rest = text.partition(".")
    if dot:  # trim the fraction to microseconds: fromisoformat takes at most 6 digits
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{main}.{digits[:6]}{rest[len(digits) :]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def _split_name(name: str) -> tuple[str, str]:
    """``REPOSITORY``, ``TAG`` of a stored name (``<none>`` for a digest-only name)."""
    repo, at, _ = name.partition("@")
    head, colon, tag = repo.rpartition(":")
    if colon and "/" not in tag:
        return head, tag
    return repo, "<none>" if at else "latest"


def _rows(records: list[ImageRecord], now: float) -> list[list[str]]:
    from boxwright.cli.output import human_size

    rows: list[tuple[float, list[str]]] = []
    for r in records:
        epoch = _epoch(r.created)
        created = "N/A" if epoch is None else human_duration(max(0.0, now - epoch)) + " ago"
        size = human_size(r.size)
        names = [_split_name(n) for n in r.names] or [("<none>", "<none>")]
        for repo, tag in names:
            rows.append((epoch or 0.0, [repo, tag, r.short_id, created, size]))
    rows.sort(key=lambda item: -item[0])
    return [row for _, row in rows]


def _image_json(record: ImageRecord) -> dict[str, Any]:
    """One image as podman's ``images --format json`` shows it (its main keys)."""
    epoch = _epoch(record.created)
    return {
        "Id": record.id,
        "Digest": str(record.manifest),
        "RepoTags": [n for n in record.names if "@" not in n],
        "RepoDigests": sorted(
            {
                f"{n.partition('@')[0].rpartition(':')[0] or n}@{record.manifest}"
                for n in record.names
            }
        ),
        "Names": list(record.names),
        "Created": int(epoch) if epoch is not None else None,
        "CreatedAt": record.created,
        "Size": record.size,
        "Layers": [str(d) for d in record.layers],
        "MediaType": record.manifest_media_type,
        "Added": record.added,
    }


def _store(create: bool = False) -> Store:
    from boxwright.store.store import Store

    return Store(create=create)


def _store_or_none() -> Store | None:
    """The configured store, or None when it was never created (nothing to list)."""
    from boxwright.config.paths import store_root
    from boxwright.store.layout import StoreLayout

    if not StoreLayout(store_root()).exists():
        return None
    return _store()


@click.command(
    "images",
    short_help="List the images of the local store.",
    epilog="\b\nExamples:\n  boxwright images\n  boxwright images -a\n  boxwright images -q\n"
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
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="Output."
)
@click.option("--no-trunc", is_flag=True, help="Full image IDs.")
def images_command(show_all: bool, quiet: bool, fmt: str, no_trunc: bool) -> None:
    """List the images of the local store, newest first, one line per name.

    Intermediate images (unnamed images another image is built on, and the carriers of
    COPY --link layers) are hidden unless --all is given; an unnamed image with nothing
    built on it is listed as <none> <none>, as podman lists it."""
    store = _store_or_none()
    records = store.images.list(all=show_all) if store is not None else []
    if fmt == "json":
        from boxwright.cli.output import emit_json

        emit_json([_image_json(r) for r in records])
        return
    if quiet:
        for record in sorted(records, key=lambda r: -(_epoch(r.created) or 0.0)):
            click.echo(record.id if no_trunc else record.short_id)
        return
    from boxwright.cli.output import render_table

    rows = _rows(records, time.time())
    if no_trunc:
        full = {r.short_id: r.id for r in records}
        rows = [[*row[:2], full[row[2]], *row[3:]] for row in rows]
    render_table(["repository", "tag", "image id", "created", "size"], rows)


@click.command(
    "tag",
    short_help="Add names to an image of the local store.",
    epilog="\b\nExample:\n  boxwright tag app:1 app:latest registry.example/team/app:1",
)
@click.argument("image")
@click.argument("names", nargs=-1, required=True)
def tag_command(image: str, names: tuple[str, ...]) -> None:
    """Give IMAGE (a name or ID) the NAMES too; a name another image had moves to IMAGE."""
    _store().images.tag(image, *names)


@click.command(
    "rmi",
    short_help="Remove images from the local store.",
    epilog="\b\nExamples:\n  boxwright rmi app:1\n  boxwright rmi -f 3f2a",
)
@click.option("-f", "--force", is_flag=True, help="Remove even if named several times or in use.")
@click.argument("images", nargs=-1, required=True)
def rmi_command(force: bool, images: tuple[str, ...]) -> None:
    """Remove IMAGES (names or IDs), as podman rmi does: a name of an image with several names
    is only untagged. Disk space is reclaimed by prune."""
    store = _store()
    for image in images:
        for line in store.images.remove(image, force=force):
            echo(line)


@contextmanager
def _progress(quiet: bool) -> Iterator[ProgressCallback | None]:
    """Progress like ``copy``'s: bars on a terminal, skopeo's lines when piped, none if quiet."""
    from boxwright.cli.copy import SkopeoLines
    from boxwright.cli.main import current_state

    if quiet or current_state().quiet:
        yield None
        return
    if not sys.stderr.isatty():
        yield SkopeoLines(sys.stderr)
        return
    from boxwright.cli.output import make_progress
    from boxwright.copy.progress import DONE, MANIFEST, SKIPPED

    reporter = make_progress(quiet=False, force_terminal=True)
    words = {DONE: "done", SKIPPED: "skipped"}

    def on_progress(event: ProgressEvent) -> None:
        if event.kind != MANIFEST:
            kind = words.get(event.kind, event.kind)
            reporter(kind, str(event.digest), event.done, event.total)

    with reporter:
        yield on_progress


@click.command(
    "pull",
    short_help="Copy an image into the local store.",
    epilog="\b\nExamples:\n  boxwright pull busybox\n"
    "  boxwright pull --tls-verify=false localhost:5000/app:1\n"
    "  boxwright pull oci:./layout:latest\n  boxwright pull --platform linux/arm64 alpine",
)
@platform_option("pick out of an index")
@side_options("", "source")
@retry_options(podman=True)
@policy_options
@click.option("-q", "--quiet", is_flag=True, help="No progress output; only the image ID.")
@click.argument("reference")
def pull_command(
    platform: Platform | None,
    quiet: bool,
    reference: str,
    **registry: Any,
) -> None:
    """Copy the image REFERENCE names into the local store and print its ID.

    REFERENCE without a transport prefix is a registry image (busybox is
    docker://docker.io/library/busybox:latest), as for podman pull.
    """
    from boxwright.store.pullpush import pull

    options = transport_options(registry)
    store = _store(create=True)
    with _progress(quiet) as on_progress:
        record = pull(
            reference, store=store, platform=platform, src_options=options, on_progress=on_progress
        )
    click.echo(record.id)


@click.command(
    "push",
    short_help="Copy an image of the local store elsewhere.",
    epilog="\b\nExamples:\n  boxwright push localhost:5000/app:1\n"
    "  boxwright push app:1 docker://registry.example/team/app:1\n"
    "  boxwright push app:1 oci-archive:/tmp/app.tar",
)
# --format as copy's (skopeo's v2s2) and --compression-format as podman push names it: per
# command, so each reads like the tool it stands in for (cli/copy.py has copy's).
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["oci", "v2s2"]),
    default=None,
    help="Manifest format to write (default: keep the stored one when the destination can).",
)
@click.option(
    "--compression-format",
    "dest_compress",
    type=click.Choice(["gzip", "zstd", "none"]),
    default=None,
    help="Recompress every layer (default: keep each layer as stored).",
)
@side_options("", "destination")
@retry_options(podman=True)
@signing_options
@policy_options
@click.option("-q", "--quiet", is_flag=True, help="No progress output; only the digest.")
@click.argument("image")
@click.argument("destination", required=False)
def push_command(
    fmt: str | None,
    dest_compress: str | None,
    quiet: bool,
    image: str,
    destination: str | None,
    **registry: Any,
) -> None:
    """Copy IMAGE of the local store to DESTINATION and print the pushed manifest's digest.

    Without DESTINATION the image goes to the registry its name names (push
    localhost:5000/app:1 is docker://localhost:5000/app:1); a DESTINATION without a transport
    prefix is a registry too, as for podman push.
    """
    from boxwright.store.pullpush import push

    options = transport_options(registry)
    with _progress(quiet) as on_progress:
        result = push(
            image,
            destination,
            store=_store(),
            dest_options=options,
            format=fmt,
            dest_compress=dest_compress,
            on_progress=on_progress,
            **signing_settings(),
        )
    click.echo(str(result.digest))


@click.command(
    "prune",
    short_help="Remove what no image or container uses from the local store.",
    epilog="\b\nExample:\n  boxwright prune",
)
@format_option()
def prune_command(fmt: str) -> None:
    """Remove blobs no image references, snapshots nothing uses, and leftover staging files
    (from interrupted pulls, commits and container creations), then say how much space came back."""
    from boxwright.cli.output import human_size
    from boxwright.store.gc import prune

    store = _store_or_none()
    if store is None:
        from boxwright.store.gc import PruneResult

        result = PruneResult(blobs=0, snapshots=0, bytes=0, tmp=0)
    else:
        result = prune(store)
    if fmt == "json":
        from boxwright.cli.output import emit_json

        emit_json(
            {
                "blobs": result.blobs,
                "snapshots": result.snapshots,
                "tmp": result.tmp,
                "containers": result.containers,
                "bytes": result.bytes,
            }
        )
        return
    echo(
        f"Removed {result.blobs} blobs, {result.snapshots} snapshots, "
        f"{result.tmp} temporary entries"
        + (f", {result.containers} orphaned container directories" if result.containers else "")
    )
    echo(f"Total reclaimed space: {human_size(result.bytes)}")


@click.command(
    "df",
    short_help="Show the local store's disk usage.",
    epilog="\b\nExamples:\n  boxwright df\n  boxwright df --format json",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="Output."
)
def df_command(fmt: str) -> None:
    """Show what the local store holds and what prune would reclaim, as podman system df."""
    from boxwright.cli.output import human_size
    from boxwright.config.paths import store_root
    from boxwright.store.gc import DiskUsage, disk_usage

    store = _store_or_none()
    if store is None:  # no store yet: nothing used (and none created just to say so)
        fields = [f.name for f in dataclasses.fields(DiskUsage)]
        usage = DiskUsage(**dict.fromkeys(fields, 0))
    else:
        usage = disk_usage(store)
    if fmt == "json":
        from boxwright.cli.output import emit_json

        emit_json({"root": str(store_root().absolute()), **dataclasses.asdict(usage)})
        return
    from boxwright.cli.output import render_table

    def share(part: int, whole: int) -> str:
        percent = 100 * part // whole if whole else 0
        return f"{human_size(part)} ({percent}%)"

    rows: list[list[object]] = [
        [
            "Images",
            usage.images,
            usage.active_images,
            human_size(usage.blobs_bytes),
            share(usage.blobs_reclaimable, usage.blobs_bytes),
        ],
        [
            "Snapshots",
            usage.snapshots,
            usage.active_snapshots,
            human_size(usage.snapshots_bytes),
            share(usage.snapshots_reclaimable, usage.snapshots_bytes),
        ],
        [
            "Containers",
            usage.containers,
            usage.containers,
            human_size(usage.containers_bytes),
            share(0, usage.containers_bytes),
        ],
        ["Temporary", "", "", human_size(usage.tmp_bytes), share(usage.tmp_bytes, usage.tmp_bytes)],
    ]
    render_table(["type", "total", "active", "size", "reclaimable"], rows)


__all__ = [
    "df_command",
    "human_duration",
    "images_command",
    "prune_command",
    "pull_command",
    "push_command",
    "rmi_command",
    "tag_command",
]
