"""The ``boxwright`` command group: global options, lazy subcommands, and the one error handler.

Start-up time matters (``boxwright --help`` must answer in well under 150 ms), so nothing here
imports the library, rich, or any subcommand module at import time. Subcommands are listed in
:data:`COMMANDS` as ``"module:attr"`` strings with a short help line; :class:`LazyGroup` shows
that table in ``--help`` and imports a command's module only when the command is run (or its
own ``--help`` is asked for).

Errors are mapped to exit codes in exactly one place, :meth:`BoxwrightGroup.invoke`:

* :class:`~boxwright.errors.BoxwrightError` → ``Error: <message>`` (one line on stderr), exit 1;
  a :class:`~boxwright.errors.RunStepError` (a build's RUN that failed) exits with the RUN's
  status instead, as podman build does;
* a click usage error → click's usage message, exit 2;
* ``KeyboardInterrupt`` → exit 130;
* ``OSError`` (a file, permission or disk problem) → ``Error: <what>: <path>``, exit 1;
* anything else → ``Error: internal error: ...`` plus a hint to rerun with ``--debug``, exit 1.

A traceback is printed only with ``--debug`` or ``BOXWRIGHT_DEBUG=1``. Error lines, log
records and tracebacks quote what images and registries said, so they are escaped
(:mod:`boxwright.cli.sanitize`): a message is one line whatever it quotes.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import import_module
from typing import Any, NamedTuple, NoReturn

import click

from boxwright import __version__
from boxwright._log import when_used
from boxwright.cli.params import choice_option
from boxwright.cli.trust_options import policy_options
from boxwright.errors import BoxwrightError, RunError, RunStepError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

DEBUG_ENV = "BOXWRIGHT_DEBUG"


class LazyCommand(NamedTuple):
    """Where a subcommand lives (``"package.module:attr"``) and its one-line help."""

    target: str
    short_help: str


#: Every subcommand, by name. Adding a command is one line here; its module is imported only
#: when the command runs.
COMMANDS: Mapping[str, LazyCommand] = {
    "build": LazyCommand(
        "boxwright.cli.build:build_command", "Build an image from a Containerfile."
    ),
    "copy": LazyCommand("boxwright.cli.copy:copy_command", "Copy an image between two references."),
    "login": LazyCommand("boxwright.cli.login:login_command", "Log in to a registry."),
    "logout": LazyCommand("boxwright.cli.login:logout_command", "Log out of a registry."),
    "inspect": LazyCommand(
        "boxwright.cli.inspect:inspect_command", "Describe an image from any reference."
    ),
    "unpack": LazyCommand(
        "boxwright.cli.unpack:unpack_command", "Unpack an image into a rootfs or OCI bundle."
    ),
    "repack": LazyCommand(
        "boxwright.cli.unpack:repack_command",
        "Append what changed in an unpacked directory as a new layer.",
    ),
    "diff": LazyCommand("boxwright.cli.diff:diff_command", "Show what differs between two images."),
    "explain": LazyCommand(
        "boxwright.cli.explain:explain_command",
        "Show how history, layers and files of an image fit together.",
    ),
    "list-tags": LazyCommand("boxwright.cli.registry:list_tags_command", "List repository tags."),
    "delete": LazyCommand("boxwright.cli.registry:delete_command", "Delete a registry image."),
    "sync": LazyCommand("boxwright.cli.registry:sync_command", "Copy many images between places."),
    "images": LazyCommand("boxwright.cli.images:images_command", "List the local store's images."),
    "history": LazyCommand(
        "boxwright.cli.images:history_command", "Show a stored image's history."
    ),
    "save": LazyCommand("boxwright.cli.archive:save_command", "Save stored images to an archive."),
    "load": LazyCommand("boxwright.cli.archive:load_command", "Load images from an archive."),
    "tag": LazyCommand("boxwright.cli.store:tag_command", "Add names to a stored image."),
    "rmi": LazyCommand("boxwright.cli.store:rmi_command", "Remove images from the local store."),
    "pull": LazyCommand("boxwright.cli.store:pull_command", "Copy an image into the local store."),
    "push": LazyCommand("boxwright.cli.store:push_command", "Copy a stored image elsewhere."),
    "prune": LazyCommand(
        "boxwright.cli.store:prune_command",
        "Remove unused images and what nothing uses from the local store.",
    ),
    "df": LazyCommand("boxwright.cli.store:df_command", "Show the local store's disk usage."),
    "container": LazyCommand(
        "boxwright.cli.container:container_group", "Build images step by step (buildah's verbs)."
    ),
    "run": LazyCommand("boxwright.cli.run:run_command", "Run a command in a new container."),
    "manifest": LazyCommand(
        "boxwright.cli.manifest:manifest_group", "Manage manifest lists in the local store."
    ),
    "volume": LazyCommand("boxwright.cli.volume:volume_group", "Manage named volumes."),
    "completion": LazyCommand(
        "boxwright.cli.completion:completion_command", "Print a shell completion script."
    ),
    "generate-sigstore-key": LazyCommand(
        "boxwright.cli.trust:generate_sigstore_key_command", "Generate a sigstore key pair."
    ),
    "trust": LazyCommand(
        "boxwright.cli.trust:trust_command", "Show an image's signatures and the policy's verdict."
    ),
    "sbom": LazyCommand("boxwright.cli.sbom:sbom_command", "List the packages an image holds."),
    "referrers": LazyCommand(
        "boxwright.cli.attest:referrers_command", "List the artifacts attached to an image."
    ),
    "artifact": LazyCommand(
        "boxwright.cli.attest:artifact_group", "Attach files to an image and fetch them."
    ),
    "system": LazyCommand(
        "boxwright.cli.info:system_group", "Manage the store's rootless mode (migrate)."
    ),
    "unshare": LazyCommand(
        "boxwright.cli.unshare:unshare_command",
        "Run a command in the store's user and mount namespaces.",
    ),
    "info": LazyCommand(
        "boxwright.cli.info:info_command",
        "Show the store, its rootless mode, ID maps and runtimes.",
    ),
    "ps": LazyCommand("boxwright.cli.lifecycle:ps_command", "List containers."),
    "port": LazyCommand(
        "boxwright.cli.lifecycle:port_command", "List a container's published ports."
    ),
    "logs": LazyCommand("boxwright.cli.lifecycle:logs_command", "Print a container's output."),
    "stop": LazyCommand("boxwright.cli.lifecycle:stop_command", "Stop running containers."),
    "kill": LazyCommand("boxwright.cli.lifecycle:kill_command", "Send a signal to containers."),
    "start": LazyCommand("boxwright.cli.lifecycle:start_command", "Start containers again."),
    "restart": LazyCommand("boxwright.cli.lifecycle:restart_command", "Restart containers."),
    "wait": LazyCommand("boxwright.cli.lifecycle:wait_command", "Wait for containers to exit."),
    "rm": LazyCommand("boxwright.cli.lifecycle:rm_command", "Remove containers."),
    "attach": LazyCommand(
        "boxwright.cli.lifecycle:attach_command", "Attach to a running container."
    ),
    "exec": LazyCommand(
        "boxwright.cli.lifecycle:exec_command", "Run a command in a running container."
    ),
}


@dataclass
class CliState:
    """Global options, kept as the root context's ``obj`` for every subcommand to read."""

    debug: bool = False
    quiet: bool = False


def debug_enabled(ctx: click.Context | None = None) -> bool:
    """Whether tracebacks should be shown: ``--debug`` was given or ``BOXWRIGHT_DEBUG=1``."""
    if os.environ.get(DEBUG_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    if ctx is not None:
        state = ctx.find_object(CliState)
        if state is not None:
            return state.debug
    return False


def current_state() -> CliState:
    """The :class:`CliState` of the running command (defaults when run outside the CLI)."""
    ctx = click.get_current_context(silent=True)
    state = ctx.find_object(CliState) if ctx is not None else None
    return state if state is not None else CliState()


def _one_line(text: str) -> str:
    """A message as exactly one line on stderr: stripped, every control character escaped.

    A newline inside the message (quoted from a file name, a tag, a registry's or a helper's
    answer) is shown as ``\\n``, as everywhere else in human output, so the line says what
    the image or the server sent, and never starts a line of its own.
    """
    from boxwright.cli.sanitize import escape_message

    return escape_message(text.strip())


def _describe_os_error(error: OSError) -> str:
    """``strerror: filename`` for an OSError, the way a person reads it."""
    what = error.strerror or str(error)
    if error.filename is not None and error.filename2 is not None:
        return f"{what}: {error.filename} -> {error.filename2}"
    if error.filename is not None:
        return f"{what}: {error.filename}"
    return what


def _print_traceback() -> None:
    """The traceback of the exception being handled, on stderr, escaped line by line."""
    from boxwright.cli.logoutput import format_traceback

    error = sys.exc_info()[1]
    if error is not None:
        sys.stderr.write(format_traceback(error))


def report_error(message: str, *, debug: bool) -> None:
    """Print the traceback of the exception being handled (only when ``debug``) and one line."""
    if debug:
        _print_traceback()
    click.echo(f"Error: {_one_line(message)}", err=True)


def exit_with(run: Callable[[], int]) -> NoReturn:
    """Exit with ``run()``'s exit code, or with a RunError's code and its one-line message
    (``run`` and the container commands: the code is the container's, podman's 125-127 when
    it could not start)."""
    try:
        code = run()
    except RunError as error:
        report_error(str(error), debug=debug_enabled(click.get_current_context(silent=True)))
        raise click.exceptions.Exit(error.exit_code) from error
    raise click.exceptions.Exit(code)


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use from a static table.

    ``--help`` renders the table's short help strings, so listing the commands imports none of
    them. Commands registered with :meth:`add_command` still work as in a plain group.
    """

    def __init__(
        self, *args: Any, lazy_commands: Mapping[str, LazyCommand] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands: dict[str, LazyCommand] = dict(lazy_commands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None or cmd_name not in self.lazy_commands:
            return command
        command = self._load(cmd_name)
        self.commands[cmd_name] = command
        return command

    def _load(self, cmd_name: str) -> click.Command:
        """Import ``module:attr`` for ``cmd_name``; it must be a click command."""
        module_name, _, attr = self.lazy_commands[cmd_name].target.partition(":")
        command = getattr(import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module_name}:{attr} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows: list[tuple[str, str]] = []
        for name in self.list_commands(ctx):
            if name in self.lazy_commands:
                # The table's line, whether or not the module is loaded yet: the same help
                # text in every process.
                rows.append((name, self.lazy_commands[name].short_help))
                continue
            command = self.commands[name]
            if not command.hidden:
                rows.append((name, command.get_short_help_str(limit=formatter.width)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


class BoxwrightGroup(LazyGroup):
    """The top-level group: a :class:`LazyGroup` plus the one place errors become exit codes."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the command line; as the process's own command line, end it at once on success.

        When called as the program (arguments from ``sys.argv``, standalone mode), a command
        that succeeded leaves the process through :func:`_exit_now`: the interpreter's
        teardown of ~300 modules costs 10-25 ms after the work is done (skopeo's Go binary
        exits at once). Failures, and every in-process call (``main([...])``, tests), take
        the ordinary way out.
        """
        if args is not None or not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            return super().main(None, prog_name, complete_var, True, **extra)
        except SystemExit as done:
            if done.code in (None, 0):
                _exit_now()
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BoxwrightError as error:
            report_error(str(error) or type(error).__name__, debug=debug_enabled(ctx))
            raise click.exceptions.Exit(_exit_code(error)) from error
        except KeyboardInterrupt as error:
            if debug_enabled(ctx):
                _print_traceback()
            click.echo("Interrupted.", err=True)
            raise click.exceptions.Exit(EXIT_INTERRUPTED) from error
        except BrokenPipeError:
            raise
        except OSError as error:
            report_error(_describe_os_error(error), debug=debug_enabled(ctx))
            raise click.exceptions.Exit(EXIT_ERROR) from error
        except Exception as error:
            debug = debug_enabled(ctx)
            hint = "" if debug else f" (rerun with --debug or {DEBUG_ENV}=1 for the traceback)"
            detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
            report_error(f"internal error: {detail}{hint}", debug=debug)
            raise click.exceptions.Exit(EXIT_ERROR) from error


def _exit_code(error: BoxwrightError) -> int:
    """The exit status of a failed command: a build's failed RUN's own (as podman build's),
    else :data:`EXIT_ERROR`."""
    code = getattr(error, "exit_code", None) if isinstance(error, RunStepError) else None
    return code if isinstance(code, int) and 0 < code < 256 else EXIT_ERROR


def _exit_now() -> None:
    """End a successful command-line run without the interpreter's teardown (``os._exit``).

    Only once the work is over: when the main thread is the only one left (no worker thread
    still writing), after stdout and stderr are flushed, and after the ``atexit`` handlers
    ran (logging's flush, ``weakref.finalize`` clean-ups, coverage's data). Returns, so the
    ordinary exit follows, when another thread is alive, when a profiler or tracer watches
    the run (``python -m pyinstrument`` or ``cProfile`` report after the script returns), or
    when a stream cannot be flushed (a closed pipe: Python's own exit reports that).
    """
    if threading.active_count() != 1 or sys.getprofile() or sys.gettrace():
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return

    atexit._run_exitfuncs()
    os._exit(EXIT_OK)


def _configure_logging(ctx: click.Context, debug: bool, quiet: bool) -> None:
    """Send the library's log records to stderr: warnings always, everything with --debug.

    With ``--debug`` the handler is installed at once; otherwise just before the library's
    first record (:func:`boxwright._log.when_used`), so a run that logs nothing loads no
    ``logging``. Each run installs its own handler, writing to the current ``sys.stderr``,
    and puts the logger back as it was when the command ends, so a program that calls
    ``main`` in-process keeps its own logging.
    """
    undo: list[Callable[[], None]] = []

    def install() -> None:
        from boxwright.cli.logoutput import install_handler

        undo.append(install_handler(debug=debug, quiet=quiet))

    if debug:
        install()
    else:
        undo.append(when_used(install))

    def end() -> None:
        for step in undo:
            step()

    ctx.call_on_close(end)


@click.group(
    "boxwright",
    cls=BoxwrightGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog="\b\nExample:\n  boxwright copy oci:examples/hello:latest docker-archive:/tmp/hello.tar",
)
@click.version_option(
    __version__, "--version", prog_name="boxwright", message="%(prog)s %(version)s"
)
@click.option(
    "--debug",
    is_flag=True,
    help=f"Show tracebacks and debug logs (also {DEBUG_ENV}=1).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress output; errors only.")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=str),
    default=None,
    metavar="DIR",
    help="The local store's directory (default: $BOXWRIGHT_ROOT, /var/lib/boxwright for "
    "root, ~/.local/share/boxwright for others).",
)
@policy_options
@choice_option(
    "--userns",
    choices=["auto", "ranges", "single"],
    help="The rootless mode of a new store: ranges (subordinate IDs), single (one ID), or "
    "auto, the default: ranges when the user has them (also $BOXWRIGHT_USERNS).",
)
@click.pass_context
def main(
    ctx: click.Context, debug: bool, quiet: bool, root: str | None, userns: str | None
) -> None:
    """boxwright: daemonless, rootless toolkit for OCI container images.

    Image references carry a transport prefix, as in skopeo:

    \b
      oci:DIR[:TAG]  oci-archive:FILE[:TAG]  docker-archive:FILE[:NAME:TAG]  dir:DIR
      docker://HOST/REPO[:TAG]  store:NAME[:TAG] (or a bare NAME[:TAG]: the local store)
    """
    state = ctx.ensure_object(CliState)
    state.debug = debug or debug_enabled()
    state.quiet = quiet
    _configure_logging(ctx, state.debug, quiet)
    if root is not None:
        _use_store_root(ctx, root)
    if userns is not None:
        _set_env_for_command(ctx, "BOXWRIGHT_USERNS", userns)
    if ctx.invoked_subcommand not in OUTSIDE_STORE_NAMESPACE:
        _enter_store_namespace()


OUTSIDE_STORE_NAMESPACE = frozenset(
    {
        "copy",
        "delete",
        "diff",
        "explain",
        "history",
        "images",
        "info",
        "inspect",
        "list-tags",
        "load",
        "login",
        "logout",
        "pull",
        "push",
        "repack",
        "save",
        "sync",
        "system",
        "tag",
        "unpack",
        None,
    }
)
"""Commands that never touch the files of the store's snapshots or containers (blobs and
records are the user's own in every mode), so they stay outside the store's user namespace:
``unpack`` and ``repack`` then work on the user's directories as the user. Every other
command joins it first thing, while the process has one thread (``docs/rootless.md``)."""


def _enter_store_namespace() -> None:
    """Join the store's user namespace when it is in ranges mode (nothing otherwise)."""
    if os.geteuid() == 0:
        from boxwright.config.paths import is_rootless

        if not is_rootless():
            return
    from boxwright.rootless.namespace import enter_store_namespace

    enter_store_namespace()


def _set_env_for_command(ctx: click.Context, name: str, value: str) -> None:
    """Set ``$name`` for the library calls of this command, put back when it ends."""
    previous = os.environ.get(name)
    os.environ[name] = value

    def restore() -> None:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous

    ctx.call_on_close(restore)


def _use_store_root(ctx: click.Context, root: str) -> None:
    """Make ``root`` the store of every library call of this command (``$BOXWRIGHT_ROOT``).

    The variable is put back when the command ends, so a program calling ``main`` in-process
    keeps its own environment.
    """
    from boxwright.config.paths import ROOT_ENV

    _set_env_for_command(ctx, ROOT_ENV, os.path.abspath(root))


__all__ = [
    "COMMANDS",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "BoxwrightGroup",
    "CliState",
    "LazyCommand",
    "LazyGroup",
    "current_state",
    "debug_enabled",
    "exit_with",
    "main",
]
