"""``boxwright unpack`` / ``boxwright repack``: options, one-line summaries, errors."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import click.testing
import pytest
from click.testing import CliRunner

from boxwright.cli.main import main

UMOCI = shutil.which("umoci")


def _run(*args: str) -> click.testing.Result:
    runner = CliRunner(env={"BOXWRIGHT_DEBUG": None, "BOXWRIGHT_ROOT": None})
    return runner.invoke(main, ["--quiet", *args], catch_exceptions=False)


def _umoci(*args: str | Path) -> None:
    assert UMOCI is not None
    subprocess.run([UMOCI, "--log", "error", *map(str, args)], check=True, capture_output=True)


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """A one-layer umoci image ``t`` with a file and a user."""
    if UMOCI is None:
        pytest.skip("umoci is not installed")
    layout = tmp_path / "layout"
    _umoci("init", "--layout", layout)
    _umoci("new", "--image", f"{layout}:t")
    _umoci("unpack", "--image", f"{layout}:t", tmp_path / "b")
    (tmp_path / "b/rootfs/etc").mkdir()
    (tmp_path / "b/rootfs/etc/passwd").write_text("root:x:0:0::/root:/bin/sh\n")
    (tmp_path / "b/rootfs/hello").write_text("hello\n")
    _umoci("repack", "--image", f"{layout}:t", tmp_path / "b")
    _umoci("config", "--image", f"{layout}:t", "--config.cmd", "/hello")
    return layout


def test_help_has_examples_and_options() -> None:
    unpack = _run("unpack", "--help")
    assert unpack.exit_code == 0
    for word in ("--bundle", "--rootless", "--platform", "Examples:", "boxwright unpack"):
        assert word in unpack.output
    repack = _run("repack", "--help")
    assert repack.exit_code == 0
    for word in (
        "--history.created_by",
        "--created-by",
        "--author",
        "--comment",
        "--compress",
        "--timestamp",
        "Examples:",
    ):
        assert word in repack.output


@pytest.mark.peers
def test_unpack_then_repack_round_trip(layout: Path, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    result = _run("unpack", "--bundle", "--no-rootless", f"oci:{layout}:t", str(bundle))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"unpacked oci:{layout}:t (1 layers, sha256:")
    assert lines[0].endswith(f"into bundle {bundle}")
    spec = json.loads((bundle / "config.json").read_text())
    assert spec["process"]["args"] == ["/hello"]
    (bundle / "rootfs/hello").unlink()
    (bundle / "rootfs/new").write_text("new\n")
    result = _run(
        "repack",
        "--created-by",
        "swap files",
        "--author",
        "me",
        "--compress",
        "zstd",
        "--timestamp",
        "1700000000",
        str(bundle),
        f"oci:{layout}:t2",
    )
    assert result.exit_code == 0, result.output
    (line,) = result.output.splitlines()
    assert line.startswith(f"repacked {bundle} into oci:{layout}:t2 (sha256:")
    assert line.endswith("2 layers)")
    index = json.loads((layout / "index.json").read_text())
    (desc,) = [
        d
        for d in index["manifests"]
        if d["annotations"]["org.opencontainers.image.ref.name"] == "t2"
    ]
    manifest = json.loads((layout / "blobs/sha256" / desc["digest"][7:]).read_text())
    config = json.loads((layout / "blobs/sha256" / manifest["config"]["digest"][7:]).read_text())
    assert config["history"][-1] == {
        "created": "2023-11-14T22:13:20Z",
        "created_by": "swap files",
        "author": "me",
    }
    assert manifest["layers"][-1]["mediaType"].endswith("+zstd")


def test_errors_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full/x").write_text("x")
    result = _run("unpack", "oci:/nowhere:t", str(tmp_path / "full"))
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: cannot unpack into {tmp_path / 'full'}: the directory is not empty "
        "(unpack needs a new or empty directory)\n"
    )
    result = _run("repack", str(tmp_path / "full"), "oci:/nowhere:t")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {tmp_path / 'full'} was not unpacked by boxwright")
    assert result.stderr.count("\n") == 1


@pytest.mark.peers
@pytest.mark.skipif(os.geteuid() != 0, reason="a root unpack needs root")
def test_unpack_is_0700_unless_mode_says_otherwise(layout: Path, tmp_path: Path) -> None:
    assert (
        _run("unpack", "--no-rootless", f"oci:{layout}:t", str(tmp_path / "out-a")).exit_code == 0
    )
    assert stat.S_IMODE((tmp_path / "out-a").stat().st_mode) == 0o700
    wide = _run("unpack", "--mode", "0755", f"oci:{layout}:t", str(tmp_path / "out-b"))
    assert wide.exit_code == 0, wide.output
    assert stat.S_IMODE((tmp_path / "out-b").stat().st_mode) == 0o755
    narrow = _run("unpack", "--mode", "0600", f"oci:{layout}:t", str(tmp_path / "out-c"))
    assert (narrow.exit_code, narrow.stderr) == (
        1,
        "Error: invalid mode 0600 for the unpacked directory: its owner needs rwx (0700)\n",
    )
    bad = _run("unpack", "--mode", "u+rwx", f"oci:{layout}:t", str(tmp_path / "out-d"))
    assert bad.exit_code == 2 and "'u+rwx' is not an octal mode such as 0700" in bad.stderr
    assert not (tmp_path / "out-c").exists() and not (tmp_path / "out-d").exists()


def test_bad_compress_choice_is_usage_error(tmp_path: Path) -> None:
    result = _run("repack", "--compress", "xz", str(tmp_path), "oci:/x:t")
    assert result.exit_code == 2
    assert "'xz' is not one of" in result.stderr


def test_module_is_not_imported_for_top_level_help() -> None:
    probe = (
        "import sys; from boxwright.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('boxwright.unpack' in sys.modules, 'boxwright.cli.unpack' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.strip().splitlines()[-1] == "False False"
