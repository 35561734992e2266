"""``boxwright copy``: a thin shell over :func:`boxwright.copy.copy_image`.

Progress goes to stderr: live bars on a terminal, skopeo-style lines when piped
(``Copying blob sha256:... done``), nothing with ``--quiet``. The digest of the committed
manifest is printed on stdout as the last line, so scripts can capture it.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from boxwright.cli.params import platform_option
from boxwright.cli.transport_options import both_sides, two_sided_options
from boxwright.cli.trust_options import policy_options, signing_options, signing_settings
from boxwright.copy.progress import DONE, MANIFEST, SKIPPED, ProgressCallback, ProgressEvent
from boxwright.oci import mediatype

if TYPE_CHECKING:
    from boxwright.cli.output import ProgressReporter
    from boxwright.oci.platform import Platform

_CONFIG_TYPES = frozenset({mediatype.OCI_CONFIG, mediatype.DOCKER_CONFIG})

EXAMPLES = """\b
Examples:
  boxwright copy oci:./layout:latest docker-archive:/tmp/app.tar:app:latest
  boxwright copy --all oci-archive:multi.tar oci:./mirror:multi
  boxwright copy --platform linux/arm64 oci:./multi:1.0 dir:/tmp/app-arm64
  boxwright copy --format oci --dest-compress zstd docker-archive:app.tar oci:./app:zstd
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


@click.command(
    "copy",
    epilog=EXAMPLES,
    short_help="Copy an image between two references.",
)
@click.option("--all", "all_platforms", is_flag=True, help="Copy every image of an index.")
@platform_option("pick out of an index")
# --format and --dest-compress under skopeo copy's names; push (cli/store.py) has the same
# two under podman's names and commit buildah's --format docker: kept per command so each
# reads like the tool it stands in for.
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["oci", "v2s2"]),
    default=None,
    help="Manifest format to write (default: keep the source's when the destination can).",
)
@click.option(
    "--dest-compress",
    type=click.Choice(["gzip", "zstd", "none"]),
    default=None,
    help="Recompress every layer (diff_ids stay; digests, sizes and media types change).",
)
@click.option(
    "--dest-compress-level",
    type=int,
    default=None,
    metavar="N",
    help="Compression level: gzip 0-9 (default 1), zstd 1-22 (default 3).",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1, max=64),
    default=None,
    help="Blobs moved at once (default 4).",
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
    platform: Platform | None,
    fmt: str | None,
    dest_compress: str | None,
    dest_compress_level: int | None,
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
    from boxwright.cli.main import current_state
    from boxwright.copy import DEFAULT_PARALLEL, CopyOptions, copy_image

    quiet = quiet or current_state().quiet
    reporter: ProgressReporter | None = None
    if not quiet and sys.stderr.isatty():
        from boxwright.cli.output import make_progress

        reporter = make_progress(quiet=False, force_terminal=True)
    on_progress: ProgressCallback | None
    if quiet:
        on_progress = None
    elif reporter is not None:
        on_progress = _to_reporter(reporter)
    else:
        on_progress = SkopeoLines(sys.stderr)
    src_options, dest_options = both_sides(registry, authfile, dest_chunk_size=dest_chunk_size)
    # The flags into the library's CopyOptions, field by field; sync fills its SyncOptions
    # and build its BuildShared the same way: other commands, other types.
    options = CopyOptions(
        all_platforms=all_platforms,
        platform=platform,
        format=fmt,
        dest_compress=dest_compress,
        compression_level=dest_compress_level,
        parallel=parallel or DEFAULT_PARALLEL,
        on_progress=on_progress,
        src_options=src_options,
        dest_options=dest_options,
        **signing_settings(),
    )
    if reporter is not None:
        with reporter:
            result = copy_image(source, destination, options)
    else:
        result = copy_image(source, destination, options)
    click.echo(str(result.digest))


def _to_reporter(reporter: ProgressReporter) -> ProgressCallback:
    """Adapt :class:`ProgressEvent` values to the ``(kind, name, done, total)`` reporters."""
    words = {DONE: "done", SKIPPED: "skipped"}

    def on_progress(event: ProgressEvent) -> None:
        if event.kind == MANIFEST:
            return
        kind = words.get(event.kind, event.kind)
        reporter(kind, str(event.digest), event.done, event.total)

    return on_progress


__all__ = ["SkopeoLines", "copy_command"]
