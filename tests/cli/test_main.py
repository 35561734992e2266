"""The command-line shell: global options, lazy commands, exit codes, error lines, start-up time."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version as dist_version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import boxwright
from boxwright.cli import main as main_module
from boxwright.cli.main import COMMANDS, CliState, LazyCommand, LazyGroup, current_state, main
from boxwright.cli.output import SilentProgress, make_progress
from boxwright.errors import DigestMismatchError

START_UP_LIMIT = 0.150


@pytest.fixture
def add_command() -> Iterator[Callable[[click.Command], None]]:
    """Register throw-away commands on the real group; remove them afterwards."""
    added: list[str] = []

    def add(command: click.Command) -> None:
        assert command.name is not None
        main.add_command(command)
        added.append(command.name)

    yield add
    for name in added:
        main.commands.pop(name, None)


def _run(*args: str, env: dict[str, str] | None = None) -> click.testing.Result:
    runner = CliRunner(env={"BOXWRIGHT_DEBUG": None, "BOXWRIGHT_ROOT": None, **(env or {})})
    return runner.invoke(main, list(args), catch_exceptions=False)


def test_help_lists_every_command_with_its_short_help() -> None:
    result = _run("--help")
    assert result.exit_code == 0
    for name, lazy in COMMANDS.items():
        line = next(line for line in result.output.splitlines() if line.strip().startswith(name))
        assert line.split(None, 1) == [name, lazy.short_help]
    assert {"copy", "inspect", "unpack", "repack"} <= set(COMMANDS)
    assert "--debug" in result.output and "--quiet" in result.output


def test_version_matches_package_and_distribution() -> None:
    result = _run("--version")
    assert result.exit_code == 0
    assert result.output == f"boxwright {boxwright.__version__}\n"
    assert boxwright.__version__ == dist_version("boxwright")


def test_unknown_option_and_command_exit_2() -> None:
    bad_option = _run("--no-such-option")
    assert bad_option.exit_code == 2
    assert "No such option" in bad_option.stderr
    bad_command = _run("frobnicate")
    assert bad_command.exit_code == 2
    assert "No such command 'frobnicate'" in bad_command.stderr


def test_no_arguments_shows_usage() -> None:
    result = _run()
    assert result.exit_code == 2
    assert "Usage: " in result.output + result.stderr


def test_boxwright_error_is_one_line_exit_1(add_command: Callable[[click.Command], None]) -> None:
    @click.command("t-fail")
    def fail() -> None:
        raise DigestMismatchError("blob sha256:abc has digest\n sha256:def, expected sha256:abc")

    add_command(fail)
    result = _run("t-fail")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == ("Error: blob sha256:abc has digest sha256:def, expected sha256:abc\n")


def test_debug_flag_and_env_show_the_traceback(
    add_command: Callable[[click.Command], None],
) -> None:
    @click.command("t-fail")
    def fail() -> None:
        raise DigestMismatchError("bad blob")

    add_command(fail)
    for args, env in ((["--debug", "t-fail"], {}), (["t-fail"], {"BOXWRIGHT_DEBUG": "1"})):
        result = _run(*args, env=env)
        assert result.exit_code == 1
        assert result.stderr.startswith("Traceback (most recent call last):\n")
        assert "boxwright.errors.DigestMismatchError: bad blob" in result.stderr
        assert result.stderr.endswith("\nError: bad blob\n")


def test_unexpected_exception_is_an_internal_error_with_hint(
    add_command: Callable[[click.Command], None],
) -> None:
    @click.command("t-bug")
    def bug() -> None:
        raise ZeroDivisionError("division by zero")

    add_command(bug)
    result = _run("t-bug")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: internal error: ZeroDivisionError: division by zero "
        "(rerun with --debug or BOXWRIGHT_DEBUG=1 for the traceback)\n"
    )
    debug = _run("--debug", "t-bug")
    assert debug.exit_code == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.endswith("Error: internal error: ZeroDivisionError: division by zero\n")


def test_os_error_names_the_file(add_command: Callable[[click.Command], None]) -> None:
    @click.command("t-missing")
    def missing() -> None:
        Path("/nonexistent/boxwright-test").read_bytes()

    add_command(missing)
    result = _run("t-missing")
    assert result.exit_code == 1
    assert result.stderr == "Error: No such file or directory: /nonexistent/boxwright-test\n"


def test_keyboard_interrupt_exits_130(add_command: Callable[[click.Command], None]) -> None:
    @click.command("t-interrupt")
    def interrupt() -> None:
        raise KeyboardInterrupt

    add_command(interrupt)
    result = _run("t-interrupt")
    assert result.exit_code == 130
    assert result.stderr == "Interrupted.\n"


def test_global_options_reach_commands(
    add_command: Callable[[click.Command], None], tmp_path: Path
) -> None:
    seen: list[CliState] = []

    @click.command("t-state")
    def state() -> None:
        seen.append(current_state())
        assert (type(make_progress()) is SilentProgress) == current_state().quiet

    add_command(state)
    assert _run("-q", "t-state").exit_code == 0
    assert _run("t-state", env={"BOXWRIGHT_DEBUG": "1"}).exit_code == 0
    assert _run("t-state").exit_code == 0
    assert seen == [
        CliState(debug=False, quiet=True),
        CliState(debug=True, quiet=False),
        CliState(debug=False, quiet=False),
    ]


def test_library_warnings_reach_stderr(add_command: Callable[[click.Command], None]) -> None:
    @click.command("t-warn")
    def warn() -> None:
        import logging

        logging.getLogger("boxwright.layer.apply").warning("device /dev/null became a file")
        logging.getLogger("boxwright.layer.apply").info("not shown without --debug")

    add_command(warn)
    result = _run("t-warn")
    assert result.exit_code == 0
    assert result.stderr == "WARNING: device /dev/null became a file\n"
    quiet = _run("-q", "t-warn")
    assert quiet.stderr == ""


def test_lazy_group_imports_only_the_command_run() -> None:
    group = LazyGroup(
        "g",
        lazy_commands={
            "good": LazyCommand("boxwright.cli.main:main", "the main group"),
            "bad": LazyCommand("boxwright.cli.main:COMMANDS", "not a command"),
        },
    )
    ctx = click.Context(group)
    assert group.list_commands(ctx) == ["bad", "good"]
    assert group.get_command(ctx, "good") is main
    assert group.get_command(ctx, "missing") is None
    with pytest.raises(TypeError, match=r"boxwright\.cli\.main:COMMANDS is not a click command"):
        group.get_command(ctx, "bad")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_lazy_command_resolves(name: str) -> None:
    """Each table entry names a real click command whose help starts like the table says."""
    command = main.get_command(click.Context(main), name)
    assert isinstance(command, click.Command)
    assert command.name == name
    help_result = _run(name, "--help")
    assert help_result.exit_code == 0
    assert help_result.output.startswith(f"Usage: boxwright {name} ")


def _wall_time(argv: list[str], runs: int = 5) -> tuple[float, str]:
    best = float("inf")
    output = ""
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        best = min(best, time.perf_counter() - start)
        output = done.stdout
    return best, output


def _console_script() -> str:
    beside = Path(sys.executable).parent / "boxwright"
    found = str(beside) if beside.exists() else shutil.which("boxwright")
    assert found, "the boxwright console script is not installed (pip install -e '.[test]')"
    return found


def test_console_script_help_starts_fast() -> None:
    best, output = _wall_time([_console_script(), "--help"])
    assert "Commands:" in output
    assert best < START_UP_LIMIT, f"boxwright --help took {best * 1000:.0f} ms"


def test_python_m_help_starts_fast() -> None:
    best, output = _wall_time([sys.executable, "-m", "boxwright", "--help"])
    assert output.startswith("Usage: boxwright [OPTIONS] COMMAND")
    assert best < START_UP_LIMIT, f"python -m boxwright --help took {best * 1000:.0f} ms"


def test_help_imports_nothing_heavy() -> None:
    probe = (
        "import sys\n"
        "from boxwright.cli.main import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=os.environ
    )
    loaded = set(done.stdout.split("\n")[-2].split())
    heavy = {
        "rich",
        "isal",
        "zstandard",
        "tarfile",
        "jsonschema",
        "boxwright.oci",
        "boxwright.copy",
    }
    heavy |= {target.partition(":")[0] for target, _ in COMMANDS.values()}
    assert "boxwright.cli.main" in loaded
    assert heavy & loaded == set()


def test_main_module_is_the_same_group() -> None:
    import boxwright.__main__ as entry

    assert entry.main is main_module.main
