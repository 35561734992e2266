"""``boxwright unpack`` and ``boxwright repack``: thin shells over :mod:`boxwright.unpack`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from boxwright.cli.output import make_progress
from boxwright.cli.params import choice_option, platform_option
from boxwright.cli.sanitize import echo

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform


@click.command(
    "unpack",
    epilog="\b\nExamples:\n"
    "  boxwright unpack oci:layout:latest rootfs\n"
    "  boxwright unpack --bundle oci-archive:app.tar bundle   # then: runc run -b bundle app\n"
    "  boxwright unpack --rootless --platform linux/arm64 oci:layout:multi ./arm",
)
@click.option(
    "--bundle",
    is_flag=True,
    help="Write an OCI runtime bundle: DIR/rootfs and DIR/config.json.",
)
@click.option(
    "--rootless/--no-rootless",
    default=None,
    help="Keep owners, modes and devices in a side record instead of applying them "
    "(default: on when not running as root).",
)
@click.option(
    "--mode",
    default="0700",
    show_default=True,
    metavar="OCTAL",
    help="Mode of DIRECTORY once unpacked (boxwright's own flag). It stays 0700 while the "
    "layers are written; a wider mode lets other users run the image's setuid programs.",
)
@platform_option("unpack out of an index")
@click.argument("ref")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def unpack_command(
    bundle: bool,
    rootless: bool | None,
    mode: str,
    platform: Platform | None,
    ref: str,
    directory: Path,
) -> None:
    """Unpack the image REF into DIRECTORY (new or empty), as umoci unpack does.

    DIRECTORY (the rootfs, or the bundle) is made 0700 unless --mode says otherwise. The state
    needed by `boxwright repack` is kept beside the rootfs, in .NAME.boxwright.
    """
    from boxwright.unpack import unpack_image

    if not mode or any(c not in "01234567" for c in mode) or len(mode) > 4:
        raise click.BadParameter(f"{mode!r} is not an octal mode such as 0700", param_hint="--mode")

    with make_progress() as progress:
        result = unpack_image(
            ref,
            directory,
            bundle=bundle,
            rootless=rootless,
            platform=platform,
            on_progress=progress,
            mode=int(mode, 8),
        )
    rootless_note = " (rootless)" if result.rootless else ""
    what = f"bundle {result.bundle}" if result.bundle is not None else f"rootfs {result.rootfs}"
    echo(
        f"unpacked {result.source} ({result.layers} layers, {result.manifest_digest}) "
        f"into {what}{rootless_note}"
    )


@click.command(
    "repack",
    epilog="\b\nExamples:\n"
    "  boxwright repack rootfs oci:layout:next\n"
    "  boxwright repack --created-by 'apt-get install curl' --compress zstd bundle "
    "oci-archive:new.tar\n"
    "  boxwright repack --timestamp 0 rootfs oci:layout:reproducible",
)
@click.option(
    "--history.created_by",
    "--created-by",
    "created_by",
    default=None,
    metavar="TEXT",
    help='The history entry\'s created_by (default: "boxwright repack").',
)
@click.option("--history.author", "--author", "author", default="", help="History author.")
@click.option("--history.comment", "--comment", "comment", default="", help="History comment.")
# repack's options for the one layer it writes (its compression, its mtimes clamped);
# copy's and the transport options' blocks look alike and set other things.
@choice_option(
    "--compress",
    choices=["gzip", "zstd", "none"],
    default="gzip",
    help="Compression of the new layer.",
)
@click.option(
    "--timestamp",
    type=click.IntRange(min=0),
    default=None,
    metavar="SECS",
    help="Clamp file mtimes in the new layer to SECS and date the history entry SECS "
    "(for reproducible layers).",
)
@click.option(
    "--rootless/--no-rootless",
    default=None,
    help="Write the owners recorded at unpack (default: as the tree was unpacked).",
)
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.argument("ref")
def repack_command(
    created_by: str | None,
    author: str,
    comment: str,
    compress: str,
    timestamp: int | None,
    rootless: bool | None,
    directory: Path,
    ref: str,
) -> None:
    """Append what changed in DIRECTORY since unpack as a new layer; write the image to REF.

    DIRECTORY is what `boxwright unpack` wrote (a rootfs or a bundle). Deleted paths become
    whiteouts. Afterwards DIRECTORY is based on the new image, so the next repack captures
    only later changes.
    """
    from boxwright.unpack import DEFAULT_CREATED_BY, HistoryOptions, repack_image

    history = HistoryOptions(
        created_by=created_by if created_by is not None else DEFAULT_CREATED_BY,
        author=author,
        comment=comment,
        created=datetime.fromtimestamp(timestamp, UTC) if timestamp is not None else None,
    )
    with make_progress() as progress:
        result = repack_image(
            directory,
            ref,
            history=history,
            compression=compress,
            clamp_mtime=timestamp,
            rootless=rootless,
            on_progress=progress,
        )
    echo(
        f"repacked {directory} into {result.reference} ({result.manifest_digest}): "
        f"new layer {result.layer.digest} ({result.layer.size} bytes, {result.layers} layers)"
    )


__all__ = ["repack_command", "unpack_command"]
