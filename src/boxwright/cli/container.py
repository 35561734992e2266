"""``boxwright container ...``: step-by-step builds on working containers, as buildah's verbs.

Each command is a thin shell over :class:`boxwright.build.Builder` (``from`` makes one, the
others attach to it by name or ID). The store is ``--root`` (a global option), else
``$BOXWRIGHT_ROOT``, else the default for the user. ``container run`` shares its options with
``boxwright run`` (:mod:`boxwright.cli.run`).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from boxwright.cli.localstore import existing_store
from boxwright.cli.main import exit_with
from boxwright.cli.output import emit_json, render_table
from boxwright.cli.params import choice_option, platform_choice_options
from boxwright.cli.run import build_options, run_options
from boxwright.cli.sanitize import echo

if TYPE_CHECKING:
    from boxwright.build.builder import Builder
    from boxwright.oci.platform import Platform
    from boxwright.store.containers import ContainerRecord


def _attach(container: str) -> Builder:
    from boxwright.build.builder import Builder

    return Builder.attach(container)


@click.group(
    "container",
    short_help="Build images step by step (buildah's verbs).",
    epilog="\b\nExample:\n"
    "  c=$(boxwright container from oci:base:latest | tail -n1)\n"
    "  boxwright container copy --chown 1000:1000 $c app/ /srv/app/\n"
    "  boxwright container config --entrypoint '[\"/srv/app/run\"]' --port 8080 $c\n"
    "  boxwright container commit --timestamp 0 $c app:1\n"
    "  boxwright container rm $c",
)
def container_group() -> None:
    """Build images step by step, as buildah from/copy/config/commit do."""


@container_group.command(
    "from",
    epilog="\b\nExamples:\n  boxwright container from scratch\n"
    "  boxwright container from --name web oci:layout:latest\n"
    "  boxwright container from --arch arm64 app-list",
)
@click.option(
    "--name", default=None, help="Name of the container (default: IMAGE-working-container)."
)
@choice_option(
    "--driver",
    choices=["overlay", "copy"],
    help="Rootfs driver (default: $BOXWRIGHT_DRIVER, else overlay when the kernel allows it).",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the container name.")
@platform_choice_options("take out of an index or a manifest list")
@click.argument("image")
def from_command(
    name: str | None, driver: str | None, quiet: bool, platform: Platform | None, image: str
) -> None:
    """Make a working container from IMAGE (a stored image, any reference, or scratch).

    The container's name is printed as the last line.
    """
    from boxwright.build.builder import Builder

    builder = Builder.from_image(image, name=name, driver=driver, keep=True, platform=platform)
    if not quiet:
        record = builder.record
        echo(f"{record.id[:12]} {record.image_name or 'scratch'} ({record.driver})")
    echo(builder.name)


def _file_options(func: Any) -> Any:
    func = click.option(
        "--add-history", is_flag=True, help="Record an empty-layer history note for this step."
    )(func)
    func = click.option("--chmod", default=None, metavar="MODE", help="Octal mode, e.g. 0640.")(
        func
    )
    func = click.option(
        "--chown",
        default=None,
        metavar="USER[:GROUP]",
        help="Owner by name or number (names from the container's /etc/passwd, /etc/group).",
    )(func)
    return func


@container_group.command(
    "copy",
    epilog="\b\nExamples:\n  boxwright container copy c1 app.py /srv/\n"
    "  boxwright container copy --chown 1000:1000 --chmod 0640 c1 'conf/*.ini' /etc/app/",
)
@_file_options
@click.option(
    "--contents-only/--no-contents-only",
    default=True,
    help="A directory source copies its contents (default) or itself.",
)
@click.argument("container")
@click.argument("paths", nargs=-1, required=True)
def copy_command(
    chown: str | None,
    chmod: str | None,
    add_history: bool,
    contents_only: bool,
    container: str,
    paths: tuple[str, ...],
) -> None:
    """Copy host files SRC... into CONTAINER at DEST (the last path), as buildah copy.

    Prints the digest of what was copied.
    """
    sources, dest = _split_paths(paths)
    result = _attach(container).copy(
        sources,
        dest,
        chown=chown,
        chmod=chmod,
        contents_only=contents_only,
        add_history=add_history,
    )
    click.echo(result.digest)


@container_group.command(
    "add",
    epilog="\b\nExamples:\n  boxwright container add c1 rootfs.tar.gz /\n"
    "  boxwright container add --checksum sha256:... c1 https://example.org/tool /usr/bin/tool",
)
@_file_options
@click.option("--checksum", default=None, help="Digest a URL's content must have (sha256:HEX).")
@click.option("--extract/--no-extract", default=True, help="Extract local tar archives (default).")
@click.argument("container")
@click.argument("paths", nargs=-1, required=True)
def add_command(
    chown: str | None,
    chmod: str | None,
    add_history: bool,
    checksum: str | None,
    extract: bool,
    container: str,
    paths: tuple[str, ...],
) -> None:
    """Add files, tar archives (extracted) and URLs SRC... to CONTAINER at DEST."""
    sources, dest = _split_paths(paths)
    # add takes copy's arguments and more (checksum, extract, URLs): two verbs, as in buildah.
    written = _attach(container).add(
        sources,
        dest,
        chown=chown,
        chmod=chmod,
        checksum=checksum,
        extract=extract,
        add_history=add_history,
    )
    echo(f"added {len(written)} paths")


@container_group.command(
    "run",
    context_settings={"allow_interspersed_args": False},
    epilog="\b\nExamples:\n  boxwright container run c1 -- sh -c 'apk add curl'\n"
    "  boxwright container run -e CC=gcc -v $PWD:/src:ro --workingdir /src c1 -- make",
)
@run_options
@click.argument("container")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_command(container: str, command: tuple[str, ...], **flags: Any) -> None:
    """Run COMMAND in CONTAINER, as buildah run: what it changes stays for the next commit.

    The image's entrypoint is not prepended; its environment, user and working directory
    apply unless the options say otherwise. The exit code is the command's.
    """
    options, isolation = build_options(command, (), flags)
    if not options.args:
        raise click.UsageError("give the COMMAND to run after the container: C -- CMD...")
    builder = _attach(container)
    exit_with(
        lambda: builder.run(
            options.args,
            env=options.env,
            volumes=flags["volume"],
            workdir=options.workdir,
            user=options.user,
            network=options.network,
            terminal=options.terminal,
            isolation=isolation,
        )
    )


def _split_paths(paths: tuple[str, ...]) -> tuple[list[str], str]:
    if len(paths) < 2:
        raise click.UsageError("give at least one source and a destination: SRC... DEST")
    return list(paths[:-1]), paths[-1]


_CONFIG_OPTIONS: list[tuple[str, str, bool, str]] = [
    # (option, field, multiple, help)
    ("--env", "env", True, "K=V sets, K- removes, - clears, a bare K takes the host's value."),
    ("--cmd", "cmd", False, "Default command: a JSON array or words ('' removes)."),
    (
        "--entrypoint",
        "entrypoint",
        False,
        "A JSON array, or a string run by /bin/sh -c ('' removes).",
    ),
    ("--workingdir", "workingdir", False, "Working directory."),
    ("--user", "user", False, "USER[:GROUP] the image runs as."),
    ("--port", "port", True, "Port to expose (P[/PROTO]); P- removes, - clears."),
    ("--volume", "volume", True, "Volume path; V- removes, - clears."),
    ("--label", "label", True, "K=V label; K- removes, - clears."),
    ("--annotation", "annotation", True, "K=V manifest annotation; K- removes, - clears."),
    ("--stop-signal", "stop_signal", False, "Signal that stops the container."),
    ("--author", "author", False, "Author of the image."),
    ("--created-by", "created_by", False, "How the new layer was made (history)."),
    ("--history-comment", "history_comment", False, "Comment of the new layer's history."),
    ("--arch", "arch", False, "Architecture."),
    ("--os", "os", False, "Operating system."),
    ("--variant", "variant", False, "Architecture variant."),
    ("--os-version", "os_version", False, "Required OS version."),
    ("--os-feature", "os_feature", True, "Required OS feature; F- removes, - clears."),
    ("--comment", "comment", False, "Image comment (Docker format only)."),
    ("--shell", "shell", False, "Default shell: a JSON array or words (Docker format only)."),
    ("--onbuild", "onbuild", True, "ONBUILD trigger to add (Docker format only)."),
    ("--healthcheck", "healthcheck", False, "NONE, 'CMD ...', 'CMD-SHELL ...', or '' to remove."),
    ("--healthcheck-interval", "healthcheck_interval", False, "Go duration, e.g. 30s."),
    ("--healthcheck-timeout", "healthcheck_timeout", False, "Go duration."),
    ("--healthcheck-start-period", "healthcheck_start_period", False, "Go duration."),
    ("--domainname", "domainname", False, "Domain name (Docker format only)."),
    ("--hostname", "hostname", False, "Host name (Docker format only)."),
]


def _config_options(func: Any) -> Any:
    for option, field, multiple, help_text in reversed(_CONFIG_OPTIONS):
        func = click.option(option, field, multiple=multiple, default=None, help=help_text)(func)
    func = click.option(
        "--healthcheck-retries", "healthcheck_retries", type=int, default=None, help="Retries."
    )(func)
    return func


@container_group.command(
    "config",
    epilog="\b\nExamples:\n"
    "  boxwright container config --env MODE=prod --port 8080 --user 1000:1000 c1\n"
    "  boxwright container config --entrypoint '[\"/app\"]' --cmd '--serve' c1\n"
    "  boxwright container config --label org.example.team=web --label old- c1",
)
@_config_options
@click.option("--add-history", is_flag=True, help="Record an empty-layer history note.")
@click.argument("container")
def config_command(container: str, add_history: bool, **options: Any) -> None:
    """Change the image config that CONTAINER's next commit writes, as buildah config."""
    from boxwright.build.configedit import ConfigChanges

    fields = {k: v for k, v in options.items() if v is not None and v != ()}
    if not fields:
        raise click.UsageError("nothing to change: give at least one option (see --help)")
    _attach(container).config(
        ConfigChanges.from_fields(**fields), environ=dict(os.environ), add_history=add_history
    )


@container_group.command(
    "commit",
    epilog="\b\nExamples:\n  boxwright container commit c1 app:1\n"
    "  boxwright container commit --timestamp 0 --format docker c1 registry.example/app:1",
)
# buildah commit's options: --format says docker where copy and push say v2s2 (skopeo's
# word), and --timestamp dates the image, so they are this command's own.
@click.option("--squash", is_flag=True, help="One layer holding the whole file system.")
@choice_option(
    "--format",
    "fmt",
    choices=["oci", "docker"],
    help="Manifest format (default: the base image's).",
)
@click.option(
    "--timestamp",
    type=int,
    default=None,
    metavar="SECS",
    help="Created time of the image and newest mtime of its files (reproducible builds).",
)
@choice_option(
    "--compression",
    choices=["gzip", "zstd", "none"],
    default="gzip",
    help="Compression of the new layer.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only the image ID.")
@click.argument("container")
@click.argument("name", required=False)
def commit_command(
    squash: bool,
    fmt: str | None,
    timestamp: int | None,
    compression: str,
    quiet: bool,
    container: str,
    name: str | None,
) -> None:
    """Write CONTAINER's changes as a new image NAME in the local store; print its ID."""
    image = _attach(container).commit(
        name, squash=squash, format=fmt, timestamp=timestamp, compression=compression
    )
    if not quiet and image.names:
        echo(f"committed {', '.join(image.names)}")
    click.echo(image.id)


@container_group.command("mount", epilog="\b\nExample:\n  cd $(boxwright container mount c1)")
@click.argument("container")
def mount_command(container: str) -> None:
    """Print a path where CONTAINER's files can be edited; the next commit holds the edits."""
    echo(str(_attach(container).mount()))


@container_group.command("umount", epilog="\b\nExample:\n  boxwright container umount c1")
@click.argument("containers", nargs=-1, required=True)
def umount_command(containers: tuple[str, ...]) -> None:
    """Undo `container mount` for each CONTAINER."""
    for container in containers:
        builder = _attach(container)
        builder.umount()
        click.echo(builder.id)


def _record_json(record: ContainerRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "name": record.name,
        "image_id": record.image_id,
        "image_name": record.image_name,
        "driver": record.driver,
        "format": record.manifest_format,
        "created": record.created,
        "mounted": record.mounted,
    }


def _list() -> list[ContainerRecord]:
    store = existing_store()
    return store.containers.list() if store is not None else []


@container_group.command(
    "ls", epilog="\b\nExamples:\n  boxwright container ls\n  boxwright container ls --format json"
)
@click.option("-q", "--quiet", is_flag=True, help="Print container IDs only.")
@click.option("--no-trunc", is_flag=True, help="Full container and image IDs.")
@choice_option("--format", "fmt", choices=["table", "json"], default="table", help="Output.")
def ls_command(quiet: bool, no_trunc: bool, fmt: str) -> None:
    """List the working containers, oldest first."""
    records = _list()
    if fmt == "json":
        emit_json([_record_json(r) for r in records])
        return
    width = 64 if no_trunc else 12
    if quiet:
        for record in records:
            click.echo(record.id[:width])
        return
    rows = [
        [
            r.id[:width],
            (r.image_id or "")[:width],
            r.image_name or "scratch",
            r.name,
            r.driver,
        ]
        for r in records
    ]
    render_table(["container id", "image id", "image name", "container name", "driver"], rows)


@container_group.command(
    "rm", epilog="\b\nExamples:\n  boxwright container rm c1 c2\n  boxwright container rm --all"
)
@click.option("-a", "--all", "remove_all", is_flag=True, help="Remove every working container.")
@click.argument("containers", nargs=-1)
def rm_command(remove_all: bool, containers: tuple[str, ...]) -> None:
    """Remove working containers (their files and records); print each removed ID."""
    if remove_all == bool(containers):
        raise click.UsageError("name the containers to remove, or give --all (not both)")
    targets = [r.id for r in _list()] if remove_all else list(containers)
    for target in targets:
        builder = _attach(target)
        builder.remove()
        click.echo(builder.id)


@container_group.command(
    "inspect", epilog="\b\nExample:\n  boxwright container inspect c1 | jq .config.config"
)
@click.argument("container")
def inspect_command(container: str) -> None:
    """Print CONTAINER's record as JSON: base image, driver, pending config, history,
    annotations and where its files are; for a container `boxwright run` made, its State
    (status, pid, exit code, started and finished times)."""
    from boxwright.runtime.state import StateFiles

    builder = _attach(container)
    record = builder.record
    shown = {
        **_record_json(record),
        "layer_chain": list(record.layer_chain),
        "directory": str(builder.directory),
        "annotations": builder.annotations,
        "history": list(record.history),
        "config": record.config,
    }
    if StateFiles(builder.directory).exists():  # made by `boxwright run`: its run state too
        from boxwright.runtime.lifecycle import Container

        running = Container(record.id).inspect()
        shown["State"] = running["State"]
        shown["NetworkSettings"] = running["NetworkSettings"]
    emit_json(shown)


__all__ = ["container_group"]
