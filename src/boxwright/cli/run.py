"""``boxwright run``: a command in a fresh container of an image, as ``podman run``.

A thin shell over :func:`boxwright.runtime.container.run_image`. The process's exit code is
boxwright's; a container that cannot be started exits with podman's codes (125 set-up failed,
126 not executable, 127 not found) and one line on stderr. :func:`run_options` holds the
options ``run`` shares with ``container run``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from boxwright.cli.runflags import apply_run_flags, pull_for_run, run_flags
from boxwright.errors import RunError

if TYPE_CHECKING:
    from boxwright.runtime.spec import RunOptions

F = TypeVar("F", bound=Callable[..., Any])


def run_options(func: F) -> F:
    """The options every run command takes: -e, -v, -w, -u, --network, --isolation."""
    decorators = [
        click.option(
            "-e",
            "--env",
            multiple=True,
            metavar="K=V",
            help="Set an environment variable (a bare K takes the caller's value).",
        ),
        click.option(
            "-v",
            "--volume",
            multiple=True,
            metavar="SRC:DST[:ro]",
            help="Bind a host path into the container.",
        ),
        click.option(
            "-w", "--workingdir", "--workdir", default=None, help="Working directory inside."
        ),
        click.option(
            "-u",
            "--user",
            default=None,
            metavar="USER[:GROUP]",
            help="User by name or number (from the container's /etc/passwd).",
        ),
        click.option(
            "--network",
            "--net",
            default=None,
            callback=_network,
            metavar="MODE",
            help="host, none, private, slirp4netns[:OPTS], pasta[:OPTS], ns:PATH or "
            "container:NAME (run: private by default; container run: host).",
        ),
        click.option(
            "--isolation",
            type=click.Choice(["native", "oci"]),
            default="native",
            help="native: boxwright's own namespaces; oci: runc or crun.",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _network(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    from boxwright.errors import UsageError
    from boxwright.runtime.network import check_network

    try:
        return None if value is None else check_network(value)
    except UsageError as error:
        raise click.BadParameter(str(error)) from None


def build_options(
    args: tuple[str, ...], entrypoint: tuple[str, ...] | None, flags: dict[str, Any]
) -> tuple[RunOptions, str]:
    """The library's :class:`RunOptions` and the isolation from :func:`run_options`' values
    (``flags``); a terminal when stdin is one."""
    from boxwright.runtime.spec import Mount, RunOptions

    if args[:1] == ("--",):  # click keeps a "--" that follows a positional argument
        args = args[1:]
    options = RunOptions(
        args=args,
        entrypoint=entrypoint,
        env=flags["env"],
        volumes=tuple(Mount.parse(v) for v in flags["volume"]),
        workdir=flags["workingdir"],
        user=flags["user"],
        network=flags["network"] or "host",
        terminal=sys.stdin.isatty(),
    )
    return options, str(flags["isolation"])


def exit_with(run: Callable[[], int]) -> NoReturn:
    """Exit with ``run()``'s exit code, or with a RunError's code and its one-line message."""
    from boxwright.cli.main import debug_enabled, report_error

    try:
        code = run()
    except RunError as error:
        report_error(str(error), debug=debug_enabled(click.get_current_context(silent=True)))
        raise click.exceptions.Exit(error.exit_code) from error
    raise click.exceptions.Exit(code)


def _entrypoint(text: str | None) -> tuple[str, ...] | None:
    """Docker's ``--entrypoint``: a JSON array, or one program ("" clears the image's)."""
    if text is None:
        return None
    if text.lstrip().startswith("["):
        import json

        try:
            value = json.loads(text)
        except ValueError as error:
            raise click.BadParameter(
                f"not a JSON array: {error}", param_hint="--entrypoint"
            ) from None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise click.BadParameter("expected a JSON array of strings", param_hint="--entrypoint")
        return tuple(value)
    return (text,) if text else ()


@click.command(
    "run",
    context_settings={"allow_interspersed_args": False},
    epilog="\b\nExamples:\n  boxwright run --rm oci:layout:latest echo hello\n"
    "  boxwright run --rm -e MODE=test -v $PWD:/src:ro -w /src app:1 make check\n"
    "  boxwright run --rm --entrypoint /bin/sh docker://docker.io/library/alpine -c 'id'",
)
@click.option("--rm", "remove", is_flag=True, help="Remove the container when the command ends.")
@click.option("--name", default=None, help="Name of the container (default: buildah's naming).")
@click.option(
    "--entrypoint",
    default=None,
    metavar="CMD|JSON",
    help="Replace the image's entrypoint (and drop its cmd); '' clears it.",
)
@run_options
@run_flags
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run_command(
    remove: bool,
    name: str | None,
    entrypoint: str | None,
    image: str,
    command: tuple[str, ...],
    **flags: Any,
) -> None:
    """Run COMMAND (else the image's entrypoint and cmd) in a new container of IMAGE.

    IMAGE is a stored image or any reference (oci:DIR:TAG, docker://...), pulled first.
    Without --rm the container stays: see `boxwright container ls`. The exit code is the
    command's.
    """
    from boxwright.runtime.container import run_image

    options, isolation = build_options(command, _entrypoint(entrypoint), flags)
    options, image = apply_run_flags(options, flags), pull_for_run(image, flags)
    exit_with(
        lambda: run_image(image, options, isolation=isolation, remove=remove, name=name).exit_code
    )


__all__ = ["build_options", "exit_with", "run_command", "run_options"]
