"""Help for every command and option, shell completion, and the man pages made from them.

The walk covers every command of the lazy table and every subcommand of a group: each
command says what it does, each option has a help text of its own (never "default: --X"
about itself or a sibling), and every ``--*tls-verify`` option is skopeo's bare boolean.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from boxwright.cli.main import main
from boxwright.cli.manpages import commands
from boxwright.cli.transport_options import OptionalBool

ROOT = Path(__file__).resolve().parents[2]
CTX = click.Context(main, info_name="boxwright")
EVERY = [(" ".join(path), command) for path, command in commands(main, CTX)]
TLS = [
    (name, command, option)
    for name, command in EVERY
    for option in command.params
    if isinstance(option, click.Option) and option.opts[0].endswith("tls-verify")
]


def test_the_walk_sees_every_command() -> None:
    names = {name for name, _ in EVERY}
    assert {"copy", "sync", "login", "build", "completion", "container from"} <= names
    assert len(names) >= 33


@pytest.mark.parametrize(("name", "command"), EVERY, ids=[n for n, _ in EVERY])
def test_every_command_and_option_has_help(name: str, command: click.Command) -> None:
    assert (command.help or "").strip(), f"{name} has no help text"
    assert command.get_short_help_str().strip()
    result = CliRunner().invoke(main, [*name.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: boxwright {name} ")
    for option in command.params:
        if not isinstance(option, click.Option) or option.hidden:
            continue
        label = f"{name} {'/'.join(option.opts)}"
        assert (option.help or "").strip(), f"{label} has no help"
        # A default that names an option is nonsense when the option is this one (or
        # another spelling of it): "--authfile ... (default: --authfile)".
        for named in re.findall(r"default: (--[a-z0-9-]+)", option.help or ""):
            assert named not in option.opts + option.secondary_opts, f"{label}: {option.help}"
            assert any(named in other.opts for other in command.params), f"{label}: {option.help}"
        assert "(default: --" not in (option.help or "").replace("(default: the --", ""), label


@pytest.mark.parametrize(
    ("name", "command", "option"), TLS, ids=[f"{n} {o.name}" for n, _, o in TLS]
)
def test_every_tls_verify_is_a_bare_flag_that_takes_false(
    name: str, command: click.Command, option: click.Option
) -> None:
    assert isinstance(option, OptionalBool), f"{name} {option.opts[0]}"
    flag = option.opts[0]
    for args, expected in (([flag], True), ([f"{flag}=false"], False), ([f"{flag}=true"], True)):
        ctx = command.make_context(name.split()[-1], list(args), resilient_parsing=True)
        assert ctx.params[option.name or ""] is expected, (name, args)


def test_tls_verify_is_on_every_registry_command() -> None:
    having = {name for name, _, _ in TLS}
    assert {
        "build",
        "copy",
        "delete",
        "inspect",
        "list-tags",
        "login",
        "pull",
        "push",
        "sync",
    } <= having


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_prints_clicks_script(shell: str) -> None:
    result = CliRunner().invoke(main, ["completion", shell])
    assert result.exit_code == 0, result.stderr
    assert "_BOXWRIGHT_COMPLETE" in result.stdout
    assert f"{shell}_complete" in result.stdout or f"{shell}_source" in result.stdout


def test_completion_completes_commands_options_and_choices(tmp_path: Path) -> None:
    """What the bash script asks boxwright, in a separate process, as the shell would."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "_BOXWRIGHT_COMPLETE": "bash_complete"}

    def complete(words: str) -> list[str]:
        cword = len(words.split()) - (0 if words.endswith(" ") else 1)
        done = subprocess.run(
            [sys.executable, "-m", "boxwright"],
            env={**env, "COMP_WORDS": words, "COMP_CWORD": str(cword)},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.splitlines()

    assert complete("boxwright cop") == ["plain,copy"]
    assert complete("boxwright copy --dest-compress-f") == ["plain,--dest-compress-format"]
    assert complete("boxwright copy --dest-compress-format ") == ["plain,gzip", "plain,zstd"]
    assert complete("boxwright container fr") == ["plain,from"]
    script = tmp_path / "boxwright.bash"
    written = CliRunner().invoke(main, ["completion", "-f", str(script), "bash"])
    assert (written.exit_code, written.stdout) == (0, "")
    assert script.read_text() == CliRunner().invoke(main, ["completion", "bash"]).stdout


def test_man_pages_are_current() -> None:
    """docs/man/ holds what scripts/make-man-pages makes from the commands now."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make-man-pages"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    pages = {p.name for p in (ROOT / "docs" / "man").glob("*.1")}
    assert pages == {"boxwright.1"} | {f"boxwright-{n.replace(' ', '-')}.1" for n, _ in EVERY}


def test_a_man_page_reads_as_man_shows_it(tmp_path: Path) -> None:
    copy_page = (ROOT / "docs" / "man" / "boxwright-copy.1").read_text()
    assert copy_page.startswith('.TH "BOXWRIGHT-COPY" "1" "" "boxwright" "boxwright manual"\n')
    assert ".TP\n\\fB\\-\\-preserve\\-digests\\fR\n" in copy_page
    assert (
        ".SH SEE ALSO\n\\fBboxwright\\fR(1), podman(1), buildah(1), skopeo(1), umoci(1)\n"
        in copy_page
    )
    stale = tmp_path / "man"
    stale.mkdir()
    (stale / "boxwright-gone.1").write_text("old\n")
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make-man-pages"), "--check", "--out", str(stale)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert "boxwright-gone.1" in done.stderr and "boxwright-copy.1" in done.stderr
