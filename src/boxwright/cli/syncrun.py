"""The work of ``sync`` (:mod:`boxwright.cli.registry` declares its flags): the flags become
:class:`~boxwright.copy.sync.SyncOptions`, the images are copied, and a summary printed.
Imported when the command runs, with the copy pipeline it needs."""

from __future__ import annotations

from dataclasses import dataclass

from boxwright.cli.sanitize import echo
from boxwright.cli.trust_options import signing_settings
from boxwright.copy.pipeline import CopyOptions
from boxwright.copy.sync import DEFAULT_SYNC_PARALLEL, SyncOptions, SyncResult, sync
from boxwright.errors import TransportError
from boxwright.transport.options import TransportOptions


@dataclass(frozen=True)
class SyncFlags:
    """The flags of ``boxwright sync`` as click read them, one field per parameter of
    :func:`boxwright.cli.registry.sync_command` (``quiet`` with the global ``--quiet``)."""

    src_kind: str
    dest_kind: str
    tag_regex: str | None
    semver: str | None
    all_platforms: bool
    referrers: bool
    fmt: str | None
    scoped: bool
    append_suffix: str
    preserve_digests: bool
    dry_run: bool
    keep_going: bool
    parallel: int | None
    quiet: bool


def run_sync(
    source: str,
    destination: str,
    flags: SyncFlags,
    src_options: TransportOptions,
    dest_options: TransportOptions,
) -> None:
    """Copy every (filtered) tag of ``source`` to ``destination``: one line per image (on
    stdout for a dry run, stderr otherwise, none when quiet), then the summary."""

    def report(line: str) -> None:
        if flags.dry_run:
            echo(line)
        elif not flags.quiet:
            echo(line, err=True)

    # The flags into SyncOptions, field by field (copy fills CopyOptions alike: another type).
    options = SyncOptions(
        source_kind=flags.src_kind,
        dest_kind=flags.dest_kind,
        tag_regex=flags.tag_regex,
        semver=flags.semver,
        all_platforms=flags.all_platforms,
        scoped=flags.scoped,
        parallel=flags.parallel or DEFAULT_SYNC_PARALLEL,
        src_options=src_options,
        dest_options=dest_options,
        copy_options=CopyOptions(
            format=flags.fmt,
            preserve_digests=flags.preserve_digests,
            referrers=flags.referrers,
            **signing_settings(),
        ),
        on_image=report,
        append_suffix=flags.append_suffix,
        keep_going=flags.keep_going,
        dry_run=flags.dry_run,
    )
    _summarize(sync(source, destination, options), flags.dry_run)


def _summarize(result: SyncResult, dry_run: bool) -> None:
    """Print sync's summary line (what a dry run would have synced); a failed image makes
    the command fail, naming the first."""
    if dry_run:
        sources = {item.rsplit(":", 1)[0] for item in result.not_tried}
        echo(f"Would have synced {len(result.not_tried)} images from {len(sources)} sources")
        return
    summary = (
        f"{len(result.copied)} copied, {len(result.unchanged)} already there, "
        f"{len(result.failed)} failed"
    )
    if result.not_tried:
        summary += f", {len(result.not_tried)} not tried (see --keep-going)"
    echo(summary)
    if result.failed:
        first_name, first_error = result.failed[0]
        raise TransportError(
            f"{len(result.failed)} image(s) failed to sync; first: {first_name}: {first_error}"
        )


__all__ = ["SyncFlags", "run_sync"]
