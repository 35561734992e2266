"""``boxwright completion bash|zsh|fish``: the shell completion script, as ``podman
completion`` prints one.

The script is click's: it calls ``boxwright`` back with ``_BOXWRIGHT_COMPLETE`` set, and the
command line itself answers with the commands, options and choices that fit the words typed
so far (commands come from the lazy table; a command's module is imported when its options
are completed).
"""

from __future__ import annotations

from pathlib import Path

import click
from click.shell_completion import get_completion_class

from boxwright._atomic import replace_file
from boxwright.cli.main import main

COMPLETE_VAR = "_BOXWRIGHT_COMPLETE"
"""The environment variable click's completion scripts set when they call boxwright back."""

EXAMPLES = """\b
Examples:
  source <(boxwright completion bash)            # this bash session
  boxwright completion -f ~/.local/share/bash-completion/completions/boxwright bash
  boxwright completion zsh > "${fpath[1]}/_boxwright"
  boxwright completion fish > ~/.config/fish/completions/boxwright.fish
"""


def completion_script(shell: str) -> str:
    """The completion script for ``shell`` (``bash``, ``zsh`` or ``fish``)."""
    completion_class = get_completion_class(shell)
    if completion_class is None:  # the Choice below admits only shells click knows
        raise click.BadParameter(f"no completion for {shell}")
    return completion_class(main, {}, "boxwright", COMPLETE_VAR).source()


@click.command("completion", epilog=EXAMPLES, short_help="Print a shell completion script.")
@click.option(
    "-f",
    "--file",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the script to FILE instead of stdout.",
)
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion_command(path: Path | None, shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    Loaded into the shell, it completes commands, options and their choices as you type.
    """
    script = completion_script(shell)
    if path is None:
        click.echo(script, nl=not script.endswith("\n"))
        return
    replace_file(path, script.encode(), mode=0o644)


__all__ = ["COMPLETE_VAR", "completion_command", "completion_script"]
