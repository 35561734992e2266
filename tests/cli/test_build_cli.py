"""``boxwright build`` on the command line: podman's STEP lines, the image ID, exit codes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from boxwright.cli.main import main
from boxwright.store.store import Store
from boxwright_testing.builds import BASE, tree_of, write_context

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")


def _invoke(
    store: Store, *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    runner = CliRunner()
    env = {"BOXWRIGHT_ROOT": str(store.layout.root), **(env or {})}
    result = runner.invoke(main, list(args), env=env, input=input, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_build_prints_steps_and_the_image_id(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nENV A=1\nRUN echo hi > /hi\n")
    code, out, _ = _invoke(bstore, "build", "-t", "localhost/cli:1", "--timestamp", "0", str(ctx))
    assert code == 0
    lines = out.splitlines()
    assert lines[:3] == [
        f"STEP 1/3: FROM {BASE}",
        "STEP 2/3: ENV A=1",
        "STEP 3/3: RUN echo hi > /hi",
    ]
    image = bstore.images.get("localhost/cli:1")
    assert lines[-1] == image.id
    assert lines[-2] == "Successfully tagged localhost/cli:1"
    assert f"--> {image.id[:12]}" in lines

    code, out, _ = _invoke(
        bstore, "build", "-q", "-t", "localhost/cli:1", "--timestamp", "0", str(ctx)
    )
    assert code == 0 and out.splitlines() == [image.id]


def test_run_output_is_printed_as_podman_prints_it(
    bstore: Store, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """RUN lines on stdout between the STEP lines (its stderr on stderr); -q keeps the stderr
    lines only. Nothing reaches the process's own descriptors around click."""
    script = "echo from-the-run; echo to-stderr >&2; printf 'no newline'"
    loud = write_context(tmp_path / "loud", f"FROM {BASE}\nRUN {script}\nENV A=1\n")
    capfd.readouterr()
    code, out, err = _invoke(bstore, "build", "--no-cache", str(loud))
    assert code == 0
    lines = out.splitlines()
    run = lines.index(f"STEP 2/3: RUN {script}")
    assert lines[run + 1 : run + 3] == ["from-the-run", "no newline"]
    assert lines[run + 3].startswith("--> ") and lines[run + 4] == "STEP 3/3: ENV A=1"
    assert err.splitlines() == ["to-stderr"]

    code, out, err = _invoke(bstore, "build", "-q", "--no-cache", str(loud))
    assert code == 0 and len(out.split()) == 1 and len(out.strip()) == 64
    assert err.splitlines() == ["to-stderr"]
    leaked = capfd.readouterr()
    assert "from-the-run" not in leaked.out and "to-stderr" not in leaked.err


def test_build_from_stdin_with_build_args_and_target(bstore: Store, tmp_path: Path) -> None:
    text = f"FROM {BASE} AS a\nARG X\nRUN echo $X > /x\nFROM scratch\nCOPY --from=a /x /x\n"
    ctx = tmp_path / "empty"
    ctx.mkdir()
    code, out, _ = _invoke(
        bstore,
        "build",
        "-q",
        "-f",
        "-",
        "--build-arg",
        "X=42",
        "--target",
        "a",
        str(ctx),
        input=text,
    )
    assert code == 0
    image = out.strip()
    assert len(image) == 64 and bstore.images.exists(image)


def test_a_failing_step_is_one_error_line_and_exit_1(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN false\n")
    code, _, err = _invoke(bstore, "build", str(ctx))
    assert code == 1
    assert (
        err.strip()
        .splitlines()[-1]
        .endswith('Containerfile:2: building at STEP "RUN false": exit status 1')
    )


def test_bad_usage_exits_2(bstore: Store, tmp_path: Path) -> None:
    code, _, _ = _invoke(bstore, "build", "--format", "v3", str(tmp_path))
    assert code == 2


def test_run_step_flags_on_the_command_line(bstore: Store, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "in").write_text("vol\n")
    run = (
        "RUN --mount=type=secret,id=tok,env=T cat /v/in > /seen"
        ' && busybox head -n1 /etc/hosts >> /seen && test "$T" = cli-value && touch /secret-ok'
        " && busybox grep CapEff /proc/self/status >> /seen"
    )
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\n{run}\n")
    code, out, err = _invoke(
        bstore,
        "build",
        "-q",
        "-t",
        "localhost/flags:1",
        "-v",
        f"{host}:/v:ro",
        "--network",
        "none",
        "--add-host",
        "db:10.9.8.7",
        "--cap-drop",
        "ALL",
        "--secret",
        "id=tok,env=BW_CLI_SECRET",
        str(ctx),
        env={"BW_CLI_SECRET": "cli-value"},
    )
    assert (code, err) == (0, "")
    image = bstore.images.get("localhost/flags:1")
    assert out.splitlines() == [image.id]
    tree = tree_of(bstore, image.id)
    assert tree["seen"][4] == f"vol\n10.9.8.7\tdb\nCapEff:\t{0:016x}\n"
    assert tree["secret-ok"][0] == "f"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--network", "private"),
            "Error: --network private: RUN steps run with the host's network (host) or none "
            "(none); a network of their own needs slirp4netns, pasta or CNI, which boxwright "
            "does not drive",
        ),
        (
            ("--no-hosts", "--add-host", "a:1.2.3.4"),
            "Error: --no-hosts and --add-host cannot be used together",
        ),
        (("--cap-add", "NOPE"), "Error: --cap-add/--cap-drop: unknown capability 'NOPE'"),
        (("-v", "/:/x:U"), "Error: -v '/:/x:U': unsupported option 'U' (accepted: rw, ro, O, "
                           "z, Z, private, rprivate)"),
        (("--secret", "id=s,type=x"), "Error: --secret 'id=s,type=x': type must be file or env"),
    ],
)  # fmt: skip
def test_bad_run_step_flags_are_usage_errors(
    bstore: Store, tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN true\n")
    code, _, err = _invoke(bstore, "build", *args, str(ctx))
    assert code == 2
    assert err.splitlines()[-1] == message
