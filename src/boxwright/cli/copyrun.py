"""The work of ``copy`` (:mod:`boxwright.cli.copy` declares its flags): the flags become
:class:`~boxwright.copy.CopyOptions`, the image is copied with progress on stderr, and the
digest printed. Imported when the command runs, with the copy pipeline it needs; the docker
archive writer only for ``--additional-tag``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from boxwright._atomic import replace_file
from boxwright.cli.progress import copy_progress
from boxwright.cli.trust_options import signing_settings
from boxwright.copy.pipeline import DEFAULT_PARALLEL, CopyOptions, copy_image
from boxwright.errors import UsageError
from boxwright.transport.reference import parse_transport_reference

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform
    from boxwright.transport.base import ImageDestination
    from boxwright.transport.options import TransportOptions


@dataclass(frozen=True)
class CopyFlags:
    """The flags of ``boxwright copy`` as click read them, skopeo's compression and
    multi-arch flags already resolved (:func:`boxwright.cli.copy.dest_compression`,
    :func:`~boxwright.cli.copy.multi_arch_choice`), ``quiet`` with the global ``--quiet``."""

    all_platforms: bool
    referrers: bool
    platform: Platform | None
    fmt: str | None
    dest_compress: str | None
    compress_uncompressed: bool
    compression_level: int | None
    preserve_digests: bool
    digestfile: Path | None
    additional_tags: tuple[str, ...]
    parallel: int | None
    quiet: bool


def run_copy(
    source: str,
    destination: str,
    flags: CopyFlags,
    src_options: TransportOptions,
    dest_options: TransportOptions,
) -> None:
    """Copy ``source`` to ``destination``, write ``--digestfile`` and print the digest."""
    with (
        _destination(destination, flags.additional_tags) as dest,
        copy_progress(flags.quiet) as on_progress,
    ):
        # The flags into the library's CopyOptions, field by field; sync fills its
        # SyncOptions and build its BuildShared the same way: other commands, other types.
        options = CopyOptions(
            all_platforms=flags.all_platforms,
            platform=flags.platform,
            format=flags.fmt,
            dest_compress=flags.dest_compress,
            compression_level=flags.compression_level,
            parallel=flags.parallel or DEFAULT_PARALLEL,
            on_progress=on_progress,
            src_options=src_options,
            dest_options=dest_options,
            compress_uncompressed=flags.compress_uncompressed,
            preserve_digests=flags.preserve_digests,
            referrers=flags.referrers,
            **signing_settings(),
        )
        result = copy_image(source, dest, options)
    if flags.digestfile is not None:
        write_digestfile(flags.digestfile, str(result.digest))
    click.echo(str(result.digest))


def write_digestfile(path: Path, digest: str) -> None:
    """``--digestfile``: the digest alone, no newline, as skopeo writes it; atomically."""
    replace_file(path, digest.encode(), mode=0o644)


@contextlib.contextmanager
def _destination(
    destination: str, additional_tags: tuple[str, ...]
) -> Iterator[str | ImageDestination]:
    """The destination to copy to: the reference, or with ``--additional-tag`` the opened
    docker archive that takes the extra names (the one transport that holds them)."""
    if not additional_tags:
        yield destination
        return
    from boxwright.transport.docker_archive import DockerArchiveDestination

    ref = parse_transport_reference(destination)
    if ref.transport != "docker-archive":
        raise UsageError(
            f"--additional-tag names images in a docker-archive: destination, not in {destination}"
        )
    dest = DockerArchiveDestination(ref.path, ref.image, additional_tags)
    try:
        yield dest
    finally:
        dest.close()


__all__ = ["CopyFlags", "run_copy", "write_digestfile"]
