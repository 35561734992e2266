"""``save`` and ``load``, as podman's: thin shells over :mod:`boxwright.store.archive`.

``save`` writes to ``-o FILE``, or to stdout when stdout is not a terminal (the archive is
written to a temporary file first, then streamed). ``load`` reads ``-i FILE`` (an archive or
a layout directory), or stdin when it is not a terminal (copied to a temporary file first:
an archive is read in place, by offset). Progress goes to stderr, as the copy commands'.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import click

from boxwright.cli.localstore import open_store
from boxwright.cli.params import choice_option
from boxwright.cli.progress import copy_progress
from boxwright.cli.sanitize import echo

SAVE_FORMATS = ("docker-archive", "oci-archive", "oci-dir", "docker-dir")


@contextmanager
def _temporary_file() -> Iterator[str]:
    fd, path = tempfile.mkstemp(prefix="boxwright-archive-", suffix=".tar")
    os.close(fd)
    try:
        yield path
    finally:
        os.unlink(path)


@click.command(
    "save",
    short_help="Save stored images to an archive.",
    epilog="\b\nExamples:\n  boxwright save -o app.tar app:1\n"
    "  boxwright save app:1 | gzip > app.tar.gz\n"
    "  boxwright save --format oci-archive -o app.tar app:1\n"
    "  boxwright save -m -o all.tar app:1 base:2",
)
@click.option("-o", "--output", default=None, metavar="FILE", help="Write here (default: stdout).")
@choice_option(
    "--format",
    "fmt",
    choices=SAVE_FORMATS,
    default="docker-archive",
    help="docker-archive and oci-archive are tar files, oci-dir and docker-dir directories.",
)
@click.option(
    "-m",
    "--multi-image-archive",
    "multi",
    is_flag=True,
    help="Every IMAGE is an image of the archive (docker-archive); without it the names after "
    "the first are more tags for the first.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
@click.argument("images", nargs=-1, required=True)
def save_command(
    output: str | None, fmt: str, multi: bool, quiet: bool, images: tuple[str, ...]
) -> None:
    """Save IMAGES of the local store to an archive or directory, as podman save does."""
    from boxwright.store.archive import save_images

    store = open_store()
    if output is None:
        if fmt in ("oci-dir", "docker-dir"):
            raise click.UsageError(f"--format {fmt} writes a directory: give it with -o")
        if sys.stdout.isatty():
            raise click.UsageError("refusing to save to terminal. Use -o flag or redirect")
        with _temporary_file() as path, copy_progress(quiet) as on_progress:
            os.unlink(path)
            save_images(store, images, path, format=fmt, multi=multi, on_progress=on_progress)
            sys.stdout.flush()
            with open(path, "rb") as archive:
                shutil.copyfileobj(archive, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
        return
    with copy_progress(quiet) as on_progress:
        save_images(store, images, output, format=fmt, multi=multi, on_progress=on_progress)


@click.command(
    "load",
    short_help="Load images from an archive into the local store.",
    epilog="\b\nExamples:\n  boxwright load -i app.tar\n  boxwright load < app.tar\n"
    "  podman save app:1 | boxwright load",
)
@click.option(
    "-i",
    "--input",
    "source",
    default=None,
    metavar="FILE",
    help="A docker or OCI archive, an OCI layout or dir: directory (default: stdin).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress output.")
def load_command(source: str | None, quiet: bool) -> None:
    """Store every image of an archive, named as the archive names it (docker-archive
    RepoTags, OCI ref names), as podman load does; print each name loaded."""
    from boxwright.store.archive import load_images

    store = open_store(create=True)
    if source is None:
        if sys.stdin.isatty():
            raise click.UsageError(
                "cannot read from terminal, use command-line redirection or the --input flag"
            )
        with _temporary_file() as path:
            with open(path, "wb") as copy:
                shutil.copyfileobj(sys.stdin.buffer, copy, 1 << 20)
            with copy_progress(quiet) as on_progress:
                loaded = load_images(store, path, on_progress=on_progress)
    else:
        with copy_progress(quiet) as on_progress:
            loaded = load_images(store, source, on_progress=on_progress)
    for image in loaded:
        for name in image.names or (f"sha256:{image.id}",):
            echo(f"Loaded image: {name}")


__all__ = ["load_command", "save_command"]
