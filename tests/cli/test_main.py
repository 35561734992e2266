"""The command-line shell: global options, lazy commands, exit codes, error lines, start-up time."""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from importlib.metadata import version as dist_version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import boxwright
from boxwright._log import Logger
from boxwright.cli import main as main_module
from boxwright.cli.main import COMMANDS, CliState, LazyCommand, LazyGroup, current_state, main
from boxwright.cli.output import SilentProgress, make_progress
from boxwright.errors import DigestMismatchError

START_UP_LIMIT = 0.150
"""CPU seconds (user + system) a ``--help`` may cost: the child's own CPU time, not the wall
clock, so other work on a loaded machine does not count against it."""


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
    lines = result.output.splitlines()
    for name, lazy in COMMANDS.items():
        at = next(i for i, line in enumerate(lines) if line.strip().startswith(name + " "))
        # A help text wider than the terminal goes on in lines indented under it.
        row = lines[at].split()
        for more in lines[at + 1 :]:
            if not more.startswith(" " * 4) or not more.strip() or more.strip()[0] == "-":
                break
            if len(more) - len(more.lstrip()) <= len(lines[at]) - len(lines[at].lstrip()):
                break
            row += more.split()
        assert row == [name, *lazy.short_help.split()]
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
    assert result.stderr == (
        "Error: blob sha256:abc has digest\\n sha256:def, expected sha256:abc\n"
    )


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
        Logger("boxwright.layer.apply").warning("device /dev/null became a file")
        Logger("boxwright.layer.apply").info("not shown without --debug")

    add_command(warn)
    result = _run("t-warn")
    assert result.exit_code == 0
    assert result.stderr == "WARNING: device /dev/null became a file\n"
    quiet = _run("-q", "t-warn")
    assert quiet.stderr == ""


#: A fresh interpreter runs ``boxwright ARGS`` with a command ``t-log`` that makes no record
#: (``none``) or a warning and an info record (``warn``), then prints whether ``logging`` was
#: loaded.
_LOG_PROBE = """
import sys
import click
from boxwright._log import Logger
from boxwright.cli.main import main

@main.command("t-log")
@click.argument("what")
def t_log(what: str) -> None:
    if what == "warn":
        Logger("boxwright.layer.apply").warning("device %s became a file", "/dev/null")
        Logger("boxwright.layer.apply").info("not shown without --debug")

try:
    main(sys.argv[1:], standalone_mode=False)
finally:
    print("logging" in sys.modules)
"""

_DEBUG_LINE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} boxwright\.layer\.apply "


@pytest.mark.parametrize(
    ("args", "loaded", "stderr"),
    [
        (["t-log", "none"], "False", ""),
        (["-q", "t-log", "none"], "False", ""),
        (["t-log", "warn"], "True", "WARNING: device /dev/null became a file\n"),
        (["-q", "t-log", "warn"], "True", ""),
        (["--debug", "t-log", "none"], "True", ""),
        (
            ["--debug", "t-log", "warn"],
            "True",
            f"{_DEBUG_LINE}WARNING device /dev/null became a file\n"
            f"{_DEBUG_LINE}INFO not shown without --debug\n",
        ),
    ],
)
def test_logging_is_loaded_by_the_first_record_or_debug(
    args: list[str], loaded: str, stderr: str
) -> None:
    """A run that logs nothing loads no ``logging``; the first record installs the handler
    before it is made, so it is printed at the global flags' level and in their form."""
    env = {k: v for k, v in os.environ.items() if k not in ("BOXWRIGHT_DEBUG", "BOXWRIGHT_ROOT")}
    done = subprocess.run(
        [sys.executable, "-c", _LOG_PROBE, *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert done.stdout == f"{loaded}\n"
    assert re.fullmatch(stderr, done.stderr) if "--debug" in args else done.stderr == stderr


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


def _start_up_time(argv: list[str], runs: int = 5) -> tuple[float, str]:
    """The least CPU time (user + system) of ``runs`` runs of ``argv``, and its output."""
    best = float("inf")
    output = ""
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(argv, capture_output=True, text=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        spent = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        best = min(best, spent)
        output = done.stdout
    return best, output


def _console_script() -> str:
    beside = Path(sys.executable).parent / "boxwright"
    found = str(beside) if beside.exists() else shutil.which("boxwright")
    assert found, "the boxwright console script is not installed (pip install -e '.[test]')"
    return found


def test_console_script_help_starts_fast() -> None:
    best, output = _start_up_time([_console_script(), "--help"])
    assert "Commands:" in output
    assert best < START_UP_LIMIT, f"boxwright --help took {best * 1000:.0f} ms"


def test_python_m_help_starts_fast() -> None:
    best, output = _start_up_time([sys.executable, "-m", "boxwright", "--help"])
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
        "fastcrc",
        "tarfile",
        "jsonschema",
        "cyclonedx",
        "spdx_tools",
        "boxwright.sbom",
        "boxwright.oci",
        "boxwright.copy",
    }
    heavy |= {target.partition(":")[0] for target, _ in COMMANDS.values()}
    assert "boxwright.cli.main" in loaded
    assert heavy & loaded == set()


_NOT_FOR_HELP = frozenset(
    {
        "boxwright.copy.pipeline",
        "boxwright.transport",
        "boxwright.config.registries",
        "concurrent.futures",
        "hashlib",
        "ssl",
        "subprocess",
        "tomllib",
    }
)
"""What no command needs to print its help: the library's working modules, and the stdlib
modules they bring (``boxwright copy --help`` once loaded the whole copy pipeline)."""


def _modules_after(argv: list[str], *, cwd: Path | None = None) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``boxwright ARGV``."""
    probe = (
        "import sys\n"
        "from boxwright.cli.main import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit as e:\n"
        "    assert not e.code, e.code\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=cwd
    )
    return set(done.stdout.split("\n")[-2].split())


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help_imports_no_library_work(name: str) -> None:
    loaded = _modules_after([name, "--help"])
    assert f"{COMMANDS[name].target.partition(':')[0]}" in loaded
    assert _NOT_FOR_HELP & loaded == set()


def test_the_container_verbs_load_no_run_options() -> None:
    # stop, exec, ps and the rest exit through cli.main's exit_with and show ports through
    # runtime.ports: run's options and flag parsing, the network helpers and the blob
    # writers are not theirs to load
    loaded = _modules_after(["stop", "--help"])
    assert "boxwright.cli.lifecycle" in loaded
    heavy = {
        "boxwright.cli.run",
        "boxwright.cli.runflags",
        "boxwright.runtime.network",
        "boxwright.transport.atomic",
    }
    assert heavy & loaded == set()


def test_a_local_copy_imports_no_registry_client(tmp_path: Path) -> None:
    """An oci: → oci: copy reads no registries.conf, auth file or certificate, so it loads
    neither the registry client nor what it needs (TLS, sockets, TOML, subprocesses)."""
    layout = tmp_path / "src"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def blob(data: bytes, media_type: str) -> str:
        import hashlib

        digest = hashlib.sha256(data).hexdigest()
        (layout / "blobs" / "sha256" / digest).write_bytes(data)
        return f'{{"mediaType":"{media_type}","digest":"sha256:{digest}","size":{len(data)}}}'

    config = blob(
        b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}',
        "application/vnd.oci.image.config.v1+json",
    )
    manifest_type = "application/vnd.oci.image.manifest.v1+json"
    manifest = blob(
        f'{{"schemaVersion":2,"mediaType":"{manifest_type}","config":{config},"layers":[]}}'.encode(),
        manifest_type,
    )
    (layout / "index.json").write_text(
        f'{{"schemaVersion":2,"manifests":[{manifest[:-1]},'
        '"annotations":{"org.opencontainers.image.ref.name":"a"}}]}'
    )
    loaded = _modules_after(["copy", "--quiet", f"oci:{layout}:a", f"oci:{tmp_path}/out:b"])
    assert "boxwright.copy.pipeline" in loaded
    assert (tmp_path / "out" / "index.json").is_file()
    registry = {m for m in loaded if m.startswith("boxwright.transport.registry")}
    assert registry == set()
    assert {
        "boxwright.config.registries",
        "ssl",
        "socket",
        "tomllib",
        "subprocess",
    } & loaded == set()


_EXIT_PROBE = """\
import atexit, os, sys, threading, time
class Teardown:
    def __del__(self):
        os.write(2, b"teardown\\n")
keep = Teardown()  # collected only by the interpreter's teardown
atexit.register(lambda: os.write(2, b"atexit\\n"))
if os.environ.get("PROBE_THREAD"):
    def late():
        time.sleep(0.3)
        open(os.environ["PROBE_THREAD"], "w").write("done")
    threading.Thread(target=late).start()
sys.argv = ["boxwright", *sys.argv[1:]]
from boxwright.cli.main import main
main()
"""


def _exit_probe(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _EXIT_PROBE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def test_a_successful_run_ends_without_the_interpreter_teardown() -> None:
    """The process's own command line exits with os._exit once stdout and stderr are flushed
    and the atexit handlers ran; the module teardown (10-25 ms) is skipped."""
    done = _exit_probe("--version")
    assert (done.returncode, done.stdout) == (0, f"boxwright {boxwright.__version__}\n")
    assert done.stderr == "atexit\n"


def test_a_failed_run_takes_the_ordinary_exit() -> None:
    done = _exit_probe("inspect", "nosuchtransport:x")
    assert done.returncode == 1
    assert done.stderr.startswith("Error: ")
    assert done.stderr.endswith("atexit\nteardown\n")


def test_a_run_with_another_thread_alive_waits_for_it(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    done = _exit_probe("--version", PROBE_THREAD=str(marker))
    assert done.returncode == 0
    assert marker.read_text() == "done"
    assert done.stderr == "atexit\nteardown\n"


def test_a_profiled_run_takes_the_ordinary_exit() -> None:
    """``python -m cProfile`` (or pyinstrument) reports after the program returns: a run
    under a profiler must not end the process under it."""
    probe = (
        "import cProfile, sys\n"
        "sys.argv = ['boxwright', '--version']\n"
        "from boxwright.cli.main import main\n"
        "profile = cProfile.Profile()\n"
        "profile.enable()\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as e:\n"
        "    profile.disable()\n"
        "    print('profiled, exit', e.code)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0
    assert done.stdout == f"boxwright {boxwright.__version__}\nprofiled, exit 0\n"


def test_main_module_is_the_same_group() -> None:
    import boxwright.__main__ as entry

    assert entry.main is main_module.main
