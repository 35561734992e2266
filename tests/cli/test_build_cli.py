"""``boxwright build`` on the command line: podman's STEP lines, the image ID, exit codes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from boxwright.cli.main import main
from boxwright.store.store import Store
from boxwright_testing.builds import BASE, write_context

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")


def _invoke(store: Store, *args: str, input: str | None = None) -> tuple[int, str, str]:
    runner = CliRunner()
    env = {"BOXWRIGHT_ROOT": str(store.layout.root)}
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


def test_a_failing_run_is_one_error_line_and_exits_with_its_status(
    bstore: Store, tmp_path: Path
) -> None:
    """podman build and buildah bud exit with the failed RUN's status; other failures exit 1."""
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN exit 42\n")
    code, _, err = _invoke(bstore, "build", str(ctx))
    assert code == 42
    assert err.strip().splitlines() == [
        f'Error: {ctx}/Containerfile:2: building at STEP "RUN exit 42": exit status 42'
    ]
    ctx = write_context(tmp_path / "false", f"FROM {BASE}\nRUN false\n")
    code, _, err = _invoke(bstore, "build", str(ctx))
    assert code == 1
    assert err.strip().splitlines()[-1].endswith('STEP "RUN false": exit status 1')
    ctx = write_context(tmp_path / "copy", f"FROM {BASE}\nCOPY missing /m\n")
    code, _, err = _invoke(bstore, "build", str(ctx))
    assert code == 1 and "missing" in err


def test_bad_usage_exits_2(bstore: Store, tmp_path: Path) -> None:
    code, _, _ = _invoke(bstore, "build", "--format", "v3", str(tmp_path))
    assert code == 2
