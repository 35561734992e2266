"""``boxwright copy``: a thin shell over :func:`boxwright.copy.copy_image`.

Progress goes to stderr: live bars on a terminal, skopeo-style lines when piped
(``Copying blob sha256:... done``), nothing with ``--quiet``. The digest of the committed
manifest is printed on stdout as the last line, so scripts can capture it.

This module declares the command and reads skopeo's flags; the copy itself, with the copy
pipeline, is in :mod:`boxwright.cli.copyrun`, imported when the command runs, and the progress
in :mod:`boxwright.cli.progress`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from boxwright.cli.params import choice_option, file_option, manifest_format_option, platform_option
from boxwright.cli.transport_options import OptionalBool, both_sides, two_sided_options
from boxwright.cli.trust_options import policy_options, signing_options
from boxwright.errors import UsageError

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform

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
    from boxwright.cli.copyrun import CopyFlags, run_copy

    compression, compress_uncompressed = dest_compression(
        dest_compress, dest_compress_format, dest_decompress
    )
    flags = CopyFlags(
        all_platforms=multi_arch_choice(multi_arch, all_platforms),
        referrers=referrers,
        platform=platform,
        fmt=fmt,
        dest_compress=compression,
        compress_uncompressed=compress_uncompressed,
        compression_level=dest_compress_level,
        preserve_digests=preserve_digests,
        digestfile=digestfile,
        additional_tags=additional_tags,
        parallel=parallel,
        quiet=quiet,
    )
    src_options, dest_options = both_sides(registry, authfile, dest_chunk_size=dest_chunk_size)
    run_copy(source, destination, flags, src_options, dest_options)


__all__ = [
    "CompressFlag",
    "copy_command",
    "dest_compression",
    "multi_arch_choice",
]
