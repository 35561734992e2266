"""``boxwright run``: a command in a fresh container of an image, as ``podman run``.

A thin shell over :func:`boxwright.runtime.container.run_image`. The process's exit code is
boxwright's; a container that cannot be started exits with podman's codes (125 set-up failed,
126 not executable, 127 not found) and one line on stderr. :func:`run_options` holds the
options ``run`` shares with ``container run``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from boxwright.cli.main import exit_with
from boxwright.cli.params import platform_choice_options
from boxwright.cli.runflags import apply_run_flags, pull_for_run, run_flags
from boxwright.errors import UsageError
from boxwright.runtime.ports import check_network

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform
    from boxwright.runtime.options import RunOptions

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
    try:
        return None if value is None else check_network(value)
    except UsageError as error:
        raise click.BadParameter(str(error)) from None


def build_options(
    args: tuple[str, ...], entrypoint: tuple[str, ...] | None, flags: dict[str, Any]
) -> tuple[RunOptions, str]:
    """The library's :class:`RunOptions` and the isolation from :func:`run_options`' values
    (``flags``); a terminal when stdin is one."""
    from boxwright.runtime.options import Mount, RunOptions

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


def _entrypoint(text: str | None) -> tuple[str, ...] | None:
    """Docker's ``--entrypoint``: a JSON array, or one program ("" clears the image's)."""
    if text is None:
        return None
    if text.lstrip().startswith("["):
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
    "  boxwright run --rm --entrypoint /bin/sh docker://docker.io/library/alpine -c 'id'\n"
    "  boxwright run --rm --platform linux/arm64 app-list uname -m\n"
    "  boxwright run --rm -it --init app:1 sh",
)
@click.option("--rm", "remove", is_flag=True, help="Remove the container when the command ends.")
@click.option("--name", default=None, help="Name of the container (default: buildah's naming).")
@click.option(
    "--entrypoint",
    default=None,
    metavar="CMD|JSON",
    help="Replace the image's entrypoint (and drop its cmd); '' clears it.",
)
@click.option("-i", "--interactive", is_flag=True, help="Pass stdin to the container.")
@click.option("-t", "--tty", is_flag=True, help="Give the container a terminal of its own.")
@click.option(
    "-a",
    "--attach",
    multiple=True,
    type=click.Choice(["stdin", "stdout", "stderr"], case_sensitive=False),
    help="Attach only these streams (repeatable; default stdout and stderr, and stdin with -i).",
)
@click.option("-d", "--detach", is_flag=True, help="Run in the background; print the ID.")
@click.option(
    "--detach-keys",
    default=None,
    metavar="KEYS",
    help="Keys that detach from the container (default ctrl-p,ctrl-q; '' for none).",
)
@click.option(
    "--restart",
    default="no",
    metavar="POLICY",
    help="no, on-failure[:N] or always: what the monitor of a detached container does at exit.",
)
@click.option("--stop-signal", default=None, help="Signal of `stop` (default: the image's).")
@click.option("--stop-timeout", type=int, default=10, help="Seconds `stop` waits before SIGKILL.")
@click.option("--init", is_flag=True, help="Run an init (catatonit) as PID 1: signals, zombies.")
@click.option("--init-path", default=None, metavar="PATH", help="The init program to bind in.")
@run_options
@platform_choice_options("run out of an index or a manifest list")
@run_flags
@click.argument("image")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run_command(
    remove: bool,
    name: str | None,
    entrypoint: str | None,
    platform: Platform | None,
    interactive: bool,
    tty: bool,
    attach: tuple[str, ...],
    detach: bool,
    detach_keys: str | None,
    restart: str,
    stop_signal: str | None,
    stop_timeout: int,
    init: bool,
    init_path: str | None,
    image: str,
    command: tuple[str, ...],
    **flags: Any,
) -> None:
    """Run COMMAND (else the image's entrypoint and cmd) in a new container of IMAGE.

    IMAGE is a stored image or any reference (oci:DIR:TAG, docker://...), pulled first.
    Without --rm the container stays (`boxwright ps -a`, `logs`). The exit code is the
    command's. Stdin reaches the container only with -i (or -a stdin); -t gives it a
    terminal. The detach keys (ctrl-p,ctrl-q) leave it running (see `attach`), except
    with --rm and no -t.
    The caller's SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 and SIGCONT are passed on
    to it.
    """
    options, isolation = build_options(command, _entrypoint(entrypoint), flags)
    options = apply_run_flags(options, flags)
    image = pull_for_run(image, flags, platform)
    options = replace(
        options, terminal=tty, init=init or init_path is not None, init_path=init_path
    )
    if detach:
        if attach:
            raise click.UsageError("-d and -a cannot be used together (attach later: `attach`)")
        _run_detached(
            image, options, isolation, remove, name, restart, stop_signal, stop_timeout, platform,
            interactive,
        )  # fmt: skip
        return
    if restart != "no":
        raise click.UsageError("--restart needs -d (the monitor applies it)")
    if not remove or tty:
        _run_foreground(image, options, isolation, name, stop_signal, stop_timeout, platform,
                        interactive, attach, detach_keys, remove)  # fmt: skip
    if detach_keys is not None:
        raise click.UsageError("--detach-keys needs -t or a kept container (without --rm)")
    options = replace(options, **streams(interactive, attach))
    from boxwright.runtime.container import run_image  # the runner, in this process

    exit_with(
        lambda: (
            run_image(
                image, options, isolation=isolation, remove=True, name=name, platform=platform
            ).exit_code
        )
    )


def _run_foreground(
    image: str,
    options: RunOptions,
    isolation: str,
    name: str | None,
    stop_signal: str | None,
    stop_timeout: int,
    platform: Platform | None,
    interactive: bool,
    attach: tuple[str, ...],
    detach_keys: str | None,
    remove: bool,
) -> NoReturn:
    """A foreground ``run`` under a monitor: the container made, started and attached to
    (podman's create, start, attach), so its output is also in its log and the detach keys
    leave it running (with ``--rm`` the monitor removes it at its end)."""
    from boxwright.runtime.attach import DEFAULT_DETACH_KEYS, raw_terminal
    from boxwright.runtime.lifecycle import Container

    wanted = {a.lower() for a in attach} or {"stdout", "stderr"}
    stdin = 0 if interactive or "stdin" in wanted else None
    output = (1 if "stdout" in wanted else None, 2 if "stderr" in wanted else None)

    def foreground() -> int:
        # raw at once: keys typed while the image is pulled and the container made are kept
        with raw_terminal(stdin if options.terminal else None):
            container = Container.create(
                image,
                options,
                name=name,
                isolation=isolation,
                stop_signal=stop_signal,
                stop_timeout=stop_timeout,
                platform=platform,
                interactive=stdin is not None,
                remove=remove,
            )
            keys = DEFAULT_DETACH_KEYS if detach_keys is None else detach_keys
            code = container.run_attached(stdin=stdin, output=output, detach_keys=keys)
        return 0 if code is None else code

    exit_with(foreground)


def _run_detached(
    image: str,
    options: RunOptions,
    isolation: str,
    remove: bool,
    name: str | None,
    restart: str,
    stop_signal: str | None,
    stop_timeout: int,
    platform: Platform | None,
    interactive: bool = False,
) -> None:
    """``run -d``: the container under its monitor; print its ID once its command runs
    (with ``-i`` its stdin stays open, with ``-t`` its terminal waits: see ``attach``)."""
    from boxwright.runtime.lifecycle import Container

    def detached() -> int:
        container = Container.create(
            image,
            options,
            name=name,
            isolation=isolation,
            restart=restart,
            remove=remove,
            stop_signal=stop_signal,
            stop_timeout=stop_timeout,
            platform=platform,
            interactive=interactive,
            start=True,
        )
        click.echo(container.id)
        return 0

    exit_with(detached)


def streams(interactive: bool, attach: tuple[str, ...]) -> dict[str, Any]:
    """The ``stdin`` and ``output`` of :class:`RunOptions` for ``-i`` and ``-a``: stdin only
    when asked for (else ``/dev/null``, as podman), the streams not attached to ``/dev/null``."""
    wanted = {a.lower() for a in attach} or {"stdout", "stderr"}
    null = None
    if (not interactive and "stdin" not in wanted) or not ({"stdout", "stderr"} <= wanted):
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)  # open until the CLI exits
    changes: dict[str, Any] = {}
    if not (interactive or "stdin" in wanted):
        changes["stdin"] = null
    if not {"stdout", "stderr"} <= wanted:
        out = 1 if "stdout" in wanted else null
        err = 2 if "stderr" in wanted else null
        changes["output"] = (out, err)
    return changes


__all__ = ["build_options", "exit_with", "run_command", "run_options", "streams"]
