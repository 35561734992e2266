"""Registry commands: ``list-tags``, ``delete`` and ``sync``, thin shells over the library.

``list-tags`` prints skopeo's JSON (``{"Repository": ..., "Tags": [...]}``, ASCII only: every
other character as a ``\\u`` escape); ``delete``
removes the manifest a reference names; ``sync`` copies many tags or a whole repository
(see :mod:`boxwright.copy.sync`).

This module declares the commands and their flags; their work is in
:mod:`boxwright.cli.registryrun` (``list-tags``, ``delete``) and :mod:`boxwright.cli.syncrun`
(``sync``), imported when a command runs, with the registry client or the copy pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from boxwright.cli.main import current_state
from boxwright.cli.params import manifest_format_option
from boxwright.cli.transport_options import (
    both_sides,
    retry_options,
    side_options,
    transport_options,
    two_sided_options,
)
from boxwright.cli.trust_options import policy_options, signing_options

LIST_TAGS_EXAMPLES = """\b
Examples:
  boxwright list-tags docker://docker.io/library/busybox
  boxwright list-tags --tls-verify=false docker://localhost:5000/app
"""

DELETE_EXAMPLES = """\b
Examples:
  boxwright delete docker://localhost:5000/app:1
  boxwright delete --creds user:pass docker://registry.example/app@sha256:...
"""

SYNC_EXAMPLES = """\b
Examples:
  boxwright sync --src docker --dest docker docker://quay.io/org/app registry.example/mirror
  boxwright sync --src docker --dest dir --tag-regex '^1\\.' docker://localhost:5000/app /srv/app
  boxwright sync --src yaml --dest docker images.yaml localhost:5000/mirror
  boxwright sync --src docker --dest docker --semver '>=1.2,<2' docker://r/app r2/mirror
  boxwright sync --dry-run --src dir --dest docker /media/usb/images localhost:5000/mirror
"""


def _docker_argument(reference: str) -> str:
    if not reference.startswith("docker://"):
        raise click.BadParameter(
            f"{reference!r} is not a registry reference: give docker://HOST/REPO",
            param_hint="REFERENCE",
        )
    return reference


@click.command("list-tags", epilog=LIST_TAGS_EXAMPLES, short_help="List repository tags.")
@side_options("", "repository's")
@retry_options()
@click.argument("repository")
def list_tags_command(repository: str, **registry: Any) -> None:
    """List the tags of the registry REPOSITORY (docker://HOST/REPO), as skopeo does."""
    from boxwright.cli.registryrun import print_tags

    _docker_argument(repository)
    print_tags(repository, transport_options(registry))


@click.command("delete", epilog=DELETE_EXAMPLES, short_help="Delete a registry image.")
@side_options("", "image's")
@retry_options()
@click.argument("reference")
def delete_command(reference: str, **registry: Any) -> None:
    """Delete the image REFERENCE names (docker://HOST/REPO:TAG or @DIGEST) from its registry.

    As with skopeo, deleting by tag deletes the manifest the tag points to, so every tag
    naming the same manifest goes with it. Prints the deleted manifest's digest.
    """
    from boxwright.cli.registryrun import delete

    _docker_argument(reference)
    delete(reference, transport_options(registry))


@click.command("sync", epilog=SYNC_EXAMPLES, short_help="Copy many images between places.")
# skopeo sync's --src and --dest: each names its own kinds of place (a YAML list is a
# source only, a directory a destination only), so they are two options.
@click.option(
    "-s",
    "--src",
    "src_kind",
    type=click.Choice(["docker", "dir", "yaml"]),
    required=True,
    help="SOURCE is a registry repository (docker), a directory of images (dir: dir: images "
    "named by their path, and OCI layouts) or a YAML/JSON list of images (yaml).",
)
@click.option(
    "-d",
    "--dest",
    "dest_kind",
    type=click.Choice(["docker", "dir"]),
    required=True,
    help="DESTINATION is a registry prefix (docker) or a directory of OCI layouts (dir).",
)
@click.option("--tag-regex", default=None, help="Only tags matching this regular expression.")
@click.option("--semver", default=None, metavar="RANGE", help="Only tags in a version range.")
@click.option("-a", "--all", "all_platforms", is_flag=True, help="Copy every image of each index.")
@click.option(
    "--referrers",
    is_flag=True,
    help="Also copy the OCI 1.1 referrers of each image (boxwright's; oras cp -r).",
)
@manifest_format_option()
@click.option(
    "--scoped",
    is_flag=True,
    help="Keep the source's registry host in the destination names (as skopeo --scoped).",
)
@click.option(
    "--append-suffix",
    default="",
    metavar="SUFFIX",
    help="Add SUFFIX to every destination tag.",
)
@click.option(
    "--preserve-digests",
    is_flag=True,
    help="Write every manifest byte for byte, or fail when a copy would change a digest.",
)
@click.option("--dry-run", is_flag=True, help="Say what would be copied; copy nothing.")
@click.option(
    "--keep-going",
    is_flag=True,
    help="After a failed image, go on with the others (and still exit 1 at the end).",
)
@click.option(
    "--parallel",
    type=click.IntRange(min=1, max=32),
    default=None,
    help="Images copied at once (default 2; beyond skopeo).",
)
@two_sided_options
@signing_options
@policy_options
@click.option("-q", "--quiet", is_flag=True, help="No progress lines; only the summary.")
@click.argument("source")
@click.argument("destination")
def sync_command(
    src_kind: str,
    dest_kind: str,
    tag_regex: str | None,
    semver: str | None,
    all_platforms: bool,
    referrers: bool,
    fmt: str | None,
    scoped: bool,
    append_suffix: str,
    preserve_digests: bool,
    dry_run: bool,
    keep_going: bool,
    parallel: int | None,
    authfile: Path | None,
    quiet: bool,
    source: str,
    destination: str,
    **registry: Any,
) -> None:
    """Copy every (filtered) tag of SOURCE to DESTINATION, as skopeo sync does.

    Images the destination already holds cost one manifest check each. Prints one line per
    image copied and a summary. As skopeo, the first failed image stops the sync (exit 1)
    unless --keep-going.
    """
    from boxwright.cli.syncrun import SyncFlags, run_sync

    quiet = quiet or current_state().quiet
    src_options, dest_options = both_sides(registry, authfile)
    flags = SyncFlags(
        src_kind=src_kind,
        dest_kind=dest_kind,
        tag_regex=tag_regex,
        semver=semver,
        all_platforms=all_platforms,
        referrers=referrers,
        fmt=fmt,
        scoped=scoped,
        append_suffix=append_suffix,
        preserve_digests=preserve_digests,
        dry_run=dry_run,
        keep_going=keep_going,
        parallel=parallel,
        quiet=quiet,
    )
    run_sync(source, destination, flags, src_options, dest_options)


__all__ = ["delete_command", "list_tags_command", "sync_command"]
