"""``boxwright unshare``: a shell or a command in the store's user and mount namespaces, as
``buildah unshare`` (see :mod:`boxwright.store.session`)."""

from __future__ import annotations

import os
import sys

import click


@click.command(
    "unshare",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
    short_help="Run a command in the store's user and mount namespaces.",
    epilog="\b\nExamples:\n  boxwright unshare\n  boxwright unshare cat /proc/self/uid_map\n"
    "  boxwright unshare sh -c 'ls -ln $(boxwright container mount c1)'\n"
    "  boxwright unshare -m DIR=c1 sh -c 'ls -ln $DIR'",
)
@click.option(
    "-m",
    "--mount",
    "mounts",
    multiple=True,
    metavar="[VARIABLE=]CONTAINER",
    help="Mount CONTAINER first and set VARIABLE (default: the container's name) to its path.",
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def unshare_command(mounts: tuple[str, ...], command: tuple[str, ...]) -> None:
    """Run COMMAND (default: $SHELL, else /bin/sh) where the store's files carry their
    container owners and `container mount` shows the overlay: the store's own namespaces
    in ranges mode; a namespace mapping only you (everything shows as root's) in single
    mode. USER, LOGNAME, UID, GID, CONTAINERS_GRAPHROOT, CONTAINERS_RUNROOT and
    BOXWRIGHT_ROOT are set as buildah sets them. Exits with COMMAND's status."""
    from boxwright.store.session import enter_session, session_command, session_environment

    enter_session()
    env = session_environment()
    for entry in mounts:
        variable, sep, container = entry.partition("=")
        if not sep:
            variable, container = entry, entry
        if not variable or not container:
            raise click.BadParameter(f"{entry!r}: expected [VARIABLE=]CONTAINER", param_hint="-m")
        from boxwright.build.builder import Builder

        env[variable] = str(Builder.attach(container).mount())
    argv = session_command(command, env)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv[0], argv, env)
