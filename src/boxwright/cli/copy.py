"""``boxwright copy``: a thin shell over :func:`boxwright.copy.copy_image`.

Progress goes to stderr: live bars on a terminal, skopeo-style lines when piped
(``Copying blob sha256:... done``), nothing with ``--quiet``. The digest of the committed
manifest is printed on stdout as the last line, so scripts can capture it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from boxwright._atomic import replace_file
from boxwright.cli.main import current_state
from boxwright.cli.params import choice_option, file_option, manifest_format_option, platform_option
from boxwright.cli.transport_options import OptionalBool, both_sides, two_sided_options
from boxwright.cli.trust_options import policy_options, signing_options, signing_settings
from boxwright.copy.progress import DONE, MANIFEST, SKIPPED, ProgressCallback, ProgressEvent
from boxwright.errors import UsageError
from boxwright.oci import mediatype

if TYPE_CHECKING:
    from boxwright.cli.output import ProgressReporter
    from boxwright.oci.platform import Platform
    from boxwright.transport.base import ImageDestination

_CONFIG_TYPES = frozenset({mediatype.OCI_CONFIG, mediatype.DOCKER_CONFIG})

EXAMPLES = """\b
Examples:
  boxwright copy oci:./layout:latest docker-archive:/tmp/app.tar:app:latest
  boxwright copy --all oci-archive:multi.tar oci:./mirror:multi
  boxwright copy --platform linux/arm64 oci:./multi:1.0 dir:/tmp/app-arm64
  boxwright copy --format oci --dest-compress-format zstd docker-archive:app.tar oci:./app:zstd
  boxwright copy --preserve-digests --digestfile /tmp/digest oci:./app:1 docker://registry/app:1
  boxwright copy --dest-creds user:pass oci:./layout:latest docker://registry.example/app:1
  boxwright copy --src-tls-verify=false docker://localhost:5000/app:1 oci:./app:1
  boxwright copy --sign-by-sigstore-private-key key.private dir:/tmp/app docker://reg/app:1
"""


class SkopeoLines:
    """Progress as skopeo prints it when piped: one line per blob and manifest, when done."""

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._lock = threading.Lock()

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind not in (DONE, SKIPPED, MANIFEST):
            return
        if event.kind == MANIFEST:
            line = f"Writing manifest {event.digest} to image destination"
        else:
            what = "config" if event.media_type in _CONFIG_TYPES else "blob"
            word = "done" if event.kind == DONE else "skipped: already exists"
            line = f"Copying {what} {event.digest} {word}"
        with self._lock:
            self._stream.write(line + "\n")
            self._stream.flush()


class CompressFlag(click.ParamType[bool | str]):
    """``--dest-compress[=BOOL]`` as skopeo's boolean; ``=gzip``, ``=zstd`` and ``=none`` (an
    older boxwright spelling, which no skopeo value means) still name the algorithm."""

    name = "bool"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> bool | str:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("gzip", "zstd", "none"):
            return text
        return bool(click.BOOL.convert(value, param, ctx))


def dest_compression(
    compress: bool | str | None, compress_format: str | None, decompress: bool
) -> tuple[str | None, bool]:
    """:attr:`CopyOptions.dest_compress` and :attr:`CopyOptions.compress_uncompressed` from
    skopeo's three flags, with skopeo's meanings: ``--dest-compress-format F`` rewrites every
    layer to F; ``--dest-compress`` alone compresses the layers that come uncompressed
    (gzip) and keeps the others; ``--dest-decompress`` writes every layer uncompressed."""
    if isinstance(compress, str):
        if compress_format is not None and compress_format != compress:
            raise UsageError(
                f"--dest-compress={compress} and --dest-compress-format {compress_format} "
                "disagree: give one"
            )
        if compress == "none":
            decompress, compress = True, False
        else:
            compress_format, compress = compress, True
    if decompress:
        if compress or compress_format is not None:
            raise UsageError(
                "--dest-decompress contradicts --dest-compress and --dest-compress-format"
            )
        return "none", False
    if compress_format is not None:
        return compress_format, False
    return None, bool(compress)


def multi_arch_choice(multi_arch: str | None, all_flag: bool) -> bool:
    """Whether every image of an index is copied: skopeo's ``--multi-arch`` or ``--all``."""
    if multi_arch is None:
        return all_flag
    if all_flag:
        raise UsageError("--all and --multi-arch cannot be used together (as in skopeo)")
    if multi_arch == "index-only":
        raise UsageError(
            "--multi-arch index-only is not supported: boxwright copies an index with the "
            "images it lists (--multi-arch all), or one of them (system)"
        )
    return multi_arch == "all"


def write_digestfile(path: Path, digest: str) -> None:
    """``--digestfile``: the digest alone, no newline, as skopeo writes it; atomically."""
    replace_file(path, digest.encode(), mode=0o644)


@click.command(
    "copy",
    epilog=EXAMPLES,
    short_help="Copy an image between two references.",
)
@click.option(
    "-a",
    "--all",
    "all_platforms",
    is_flag=True,
    help="Copy every image of an index, and the index.",
)
@click.option(
    "--referrers",
    is_flag=True,
    help="Also copy the OCI 1.1 referrers (SBOMs, provenance, artifacts) of what is copied "
    "(boxwright's; oras cp -r).",
)
@choice_option(
    "--multi-arch",
    choices=["system", "all", "index-only"],
    help="What to copy of an index: the image for --platform or this machine (system, the "
    "default) or all of it; index-only is refused.",
)
@platform_option("pick out of an index")
# --format and --dest-compress under skopeo copy's names; push (cli/store.py) has the same
# two under podman's names and commit buildah's --format docker: kept per command so each
# reads like the tool it stands in for.
@manifest_format_option()
@click.option(
    "--dest-compress",
    cls=OptionalBool,
    type=CompressFlag(),
    default=None,
    metavar="[=BOOL]",
    help="Compress the layers that come uncompressed (gzip); the others stay as they are.",
)
@choice_option(
    "--dest-compress-format",
    choices=["gzip", "zstd"],
    help="Rewrite every layer with this compression (diff_ids stay; digests, sizes and "
    "media types change).",
)
@click.option(
    "--dest-decompress",
    is_flag=True,
    help="Write every layer uncompressed.",
)
@click.option(
    "--dest-compress-level",
    type=int,
    default=None,
    metavar="N",
    help="Compression level: gzip 0-9 (default 1), zstd 1-22 (default 3).",
)
@click.option(
    "--preserve-digests",
    is_flag=True,
    help="Write every manifest byte for byte, or fail when the copy would change a digest.",
)
@file_option("--digestfile", metavar="PATH", help="Write the digest of the copied image to PATH.")
@click.option(
    "--additional-tag",
    "additional_tags",
    multiple=True,
    metavar="NAME:TAG",
    help="Another name for the image in a docker-archive: destination (repeatable).",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1, max=64),
    default=None,
    help="Blobs moved at once (default 4; beyond skopeo).",
)
@click.option(
    "--dest-chunk-size",
    type=click.IntRange(min=1),
    default=None,
    metavar="BYTES",
    help="Upload blobs to a registry in chunks of this size (default: one request per blob).",
)
@two_sided_options
@signing_options
@policy_options
@click.option("-q", "--quiet", is_flag=True, help="No progress output; only the digest.")
@click.argument("source")
@click.argument("destination")
def copy_command(
    all_platforms: bool,
    referrers: bool,
    multi_arch: str | None,
    platform: Platform | None,
    fmt: str | None,
    dest_compress: bool | str | None,
    dest_compress_format: str | None,
    dest_decompress: bool,
    dest_compress_level: int | None,
    preserve_digests: bool,
    digestfile: Path | None,
    additional_tags: tuple[str, ...],
    parallel: int | None,
    dest_chunk_size: int | None,
    authfile: Path | None,
    quiet: bool,
    source: str,
    destination: str,
    **registry: Any,
) -> None:
    """Copy an image from SOURCE to DESTINATION (any two references).

    Layers the destination already has are not copied again. Converting between OCI and
    Docker schema 2 happens when --format or the destination asks for it; the manifest is
    otherwise written byte for byte, so its digest stays the same.
    """
    from boxwright.copy import DEFAULT_PARALLEL, CopyOptions, copy_image

    quiet = quiet or current_state().quiet
    compression, compress_uncompressed = dest_compression(
        dest_compress, dest_compress_format, dest_decompress
    )
    every_platform = multi_arch_choice(multi_arch, all_platforms)
    reporter, on_progress = _progress(quiet)
    src_options, dest_options = both_sides(registry, authfile, dest_chunk_size=dest_chunk_size)
    # The flags into the library's CopyOptions, field by field; sync fills its SyncOptions
    # and build its BuildShared the same way: other commands, other types.
    options = CopyOptions(
        all_platforms=every_platform,
        platform=platform,
        format=fmt,
        dest_compress=compression,
        compression_level=dest_compress_level,
        parallel=parallel or DEFAULT_PARALLEL,
        on_progress=on_progress,
        src_options=src_options,
        dest_options=dest_options,
        compress_uncompressed=compress_uncompressed,
        preserve_digests=preserve_digests,
        referrers=referrers,
        **signing_settings(),
    )
    bars = reporter if reporter is not None else contextlib.nullcontext()
    with _destination(destination, additional_tags) as dest, bars:
        result = copy_image(source, dest, options)
    if digestfile is not None:
        write_digestfile(digestfile, str(result.digest))
    click.echo(str(result.digest))


def _progress(quiet: bool) -> tuple[ProgressReporter | None, ProgressCallback | None]:
    """How the copy reports progress: nothing with ``--quiet``; bars on a terminal (the
    reporter, entered around the copy, and the callback feeding it); skopeo's lines else."""
    if quiet:
        return None, None
    if sys.stderr.isatty():
        from boxwright.cli.output import make_progress

        reporter = make_progress(quiet=False, force_terminal=True)
        return reporter, _to_reporter(reporter)
    return None, SkopeoLines(sys.stderr)


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
    from boxwright.transport.reference import parse_transport_reference

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


def _to_reporter(reporter: ProgressReporter) -> ProgressCallback:
    """Adapt :class:`ProgressEvent` values to the ``(kind, name, done, total)`` reporters."""
    words = {DONE: "done", SKIPPED: "skipped"}

    def on_progress(event: ProgressEvent) -> None:
        if event.kind == MANIFEST:
            return
        kind = words.get(event.kind, event.kind)
        reporter(kind, str(event.digest), event.done, event.total)

    return on_progress


__all__ = [
    "CompressFlag",
    "SkopeoLines",
    "copy_command",
    "dest_compression",
    "multi_arch_choice",
    "write_digestfile",
]
