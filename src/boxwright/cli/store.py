"""The local store's commands, as podman spells them: images, tag, rmi, pull, push, prune, df.

Each is a thin shell over :mod:`boxwright.store`. The store is ``--root`` (a global option),
else ``$BOXWRIGHT_ROOT``, else the default for the user. Tables are podman's (``REPOSITORY TAG
IMAGE ID CREATED SIZE``); ``--format json`` prints data for scripts.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import click

from boxwright.cli.localstore import existing_store, open_store
from boxwright.cli.output import emit_json, human_size, render_table
from boxwright.cli.params import choice_option, format_option, platform_choice_options
from boxwright.cli.sanitize import echo
from boxwright.cli.transport_options import retry_options, side_options, transport_options
from boxwright.cli.trust_options import policy_options, signing_options
from boxwright.config.paths import store_root

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform
    from boxwright.store.images import ImageRecord, ImageStore
    from boxwright.store.manifests import ManifestListRecord


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


def _image_json(record: ImageRecord, images: ImageStore) -> dict[str, Any]:
    """One image as podman's ``images --format json`` shows it (its main keys)."""
    return _json_row(
        record,
        str(record.manifest),
        size=images.podman_size(record),
        layers=[str(d) for d in record.layers],
        media_type=record.manifest_media_type,
        added=record.added,
    )


def _list_json(record: ManifestListRecord) -> dict[str, Any]:
    """One manifest list as ``images --format json`` shows it: the keys of an image, with the
    list's ID, its index's digest, size and media type, no layers."""
    index = record.index()
    return _json_row(
        record,
        str(index.digest),
        size=len(index.raw),
        layers=[],
        media_type=index.media_type,
        added=record.created,
    )


def _json_row(
    record: ImageRecord | ManifestListRecord,
    digest: str,
    *,
    size: int,
    layers: list[str],
    media_type: str | None,
    added: str | None,
) -> dict[str, Any]:
    """The keys of an ``images --format json`` row, an image's or a list's."""
    from boxwright.oci._json import epoch

    seconds = epoch(record.created)
    return {
        "Id": record.id,
        "Digest": digest,
        "RepoTags": [n for n in record.names if "@" not in n],
        "RepoDigests": sorted(
            {f"{n.partition('@')[0].rpartition(':')[0] or n}@{digest}" for n in record.names}
        ),
        "Names": list(record.names),
        "Created": int(seconds) if seconds is not None else None,
        "CreatedAt": record.created,
        "Size": size,
        "Layers": layers,
        "MediaType": media_type,
        "Added": added,
    }


@click.command(
    "tag",
    short_help="Add names to an image of the local store.",
    epilog="\b\nExample:\n  boxwright tag app:1 app:latest registry.example/team/app:1",
)
@click.argument("image")
@click.argument("names", nargs=-1, required=True)
def tag_command(image: str, names: tuple[str, ...]) -> None:
    """Give IMAGE (a name or ID, of an image or a manifest list) the NAMES too; a name another
    image or list had moves to IMAGE."""
    from boxwright.store.manifestops import tag

    tag(open_store(), image, *names)


@click.command(
    "rmi",
    short_help="Remove images from the local store.",
    epilog="\b\nExamples:\n  boxwright rmi app:1\n  boxwright rmi -f 3f2a\n  boxwright rmi -a",
)
@click.option(
    "-f",
    "--force",
    is_flag=True,
    help="Remove an image with several names by its ID, and the containers made from it.",
)
@click.option("-a", "--all", "remove_all", is_flag=True, help="Remove every image.")
@click.argument("images", nargs=-1)
def rmi_command(force: bool, remove_all: bool, images: tuple[str, ...]) -> None:
    """Remove IMAGES (names or IDs), as podman rmi does: a name of an image with several names
    is only untagged; --force removes the working containers made from an image first.
    Disk space is reclaimed by prune."""
    from boxwright.store.removal import remove_all_images, remove_image

    if remove_all and images:
        raise click.UsageError("--all removes every image: give no IMAGE with it")
    if not remove_all and not images:
        raise click.UsageError("give at least one IMAGE, or --all")
    if remove_all:
        store = existing_store()
        for line in remove_all_images(store, force=force) if store is not None else []:
            echo(line)
        return
    store = open_store()
    for image in images:
        for line in remove_image(store, image, force=force):
            echo(line)


@click.command(
    "pull",
    short_help="Copy an image into the local store.",
    epilog="\b\nExamples:\n  boxwright pull busybox\n"
    "  boxwright pull --tls-verify=false localhost:5000/app:1\n"
    "  boxwright pull oci:./layout:latest\n  boxwright pull --platform linux/arm64 alpine\n"
    "  boxwright pull --arch arm --variant v7 alpine",
)
@platform_choice_options("pick out of an index")
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
    from boxwright.cli.pullpushrun import pull_image

    options = transport_options(registry)
    pull_image(reference, platform, options, quiet=quiet)


@click.command(
    "push",
    short_help="Copy an image of the local store elsewhere.",
    epilog="\b\nExamples:\n  boxwright push localhost:5000/app:1\n"
    "  boxwright push app:1 docker://registry.example/team/app:1\n"
    "  boxwright push app:1 oci-archive:/tmp/app.tar",
)
# --format as copy's (skopeo's v2s2) and --compression-format as podman push names it: per
# command, so each reads like the tool it stands in for (cli/copy.py has copy's).
@choice_option(
    "--format",
    "fmt",
    choices=["oci", "v2s2"],
    help="Manifest format to write (default: keep the stored one when the destination can).",
)
@choice_option(
    "--compression-format",
    "dest_compress",
    choices=["gzip", "zstd", "none"],
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
    from boxwright.cli.pullpushrun import push_image

    options = transport_options(registry)
    push_image(
        image,
        destination,
        options,
        fmt=fmt,
        dest_compress=dest_compress,
        quiet=quiet,
    )


# prune's -a means podman image prune's (every image no container uses), not images' -a
# (show the intermediate ones): declared alike, another flag.
@click.command(
    "prune",
    short_help="Remove unused images and what nothing uses from the local store.",
    epilog="\b\nExamples:\n  boxwright prune\n  boxwright prune -a -f\n"
    "  boxwright prune --format json",
)
@click.option(
    "-a",
    "--all",
    "prune_all",
    is_flag=True,
    help="Remove every image no working container was made from, not only dangling ones.",
)
@click.option("-f", "--force", is_flag=True, help="Do not ask for confirmation.")
@format_option()
def prune_command(prune_all: bool, force: bool, fmt: str) -> None:
    """Remove dangling images (with --all every image no container uses), as podman image
    prune does, and the build cache entries that named them; then blobs no image references,
    snapshots nothing uses, and leftover staging files (from interrupted pulls, commits and
    container creations). Prints each removed image ID, then how much space came back.
    Asks first when stdin is a terminal, unless --force."""
    from boxwright.cli.prune import prune_store

    prune_store(prune_all=prune_all, force=force, fmt=fmt)


@click.command(
    "df",
    short_help="Show the local store's disk usage.",
    epilog="\b\nExamples:\n  boxwright df\n  boxwright df --format json",
)
@choice_option("--format", "fmt", choices=["table", "json"], default="table", help="Output.")
def df_command(fmt: str) -> None:
    """Show what the local store holds and what prune would reclaim, as podman system df."""
    from boxwright.store.gc import DiskUsage, disk_usage

    store = existing_store()
    if store is None:  # no store yet: nothing used (and none created just to say so)
        fields = [f.name for f in dataclasses.fields(DiskUsage)]
        usage = DiskUsage(**dict.fromkeys(fields, 0))
    else:
        usage = disk_usage(store)
    if fmt == "json":
        emit_json({"root": str(store_root().absolute()), **dataclasses.asdict(usage)})
        return

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
    "prune_command",
    "pull_command",
    "push_command",
    "rmi_command",
    "tag_command",
]
