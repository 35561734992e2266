"""``boxwright copy`` on the command line: output lines, the digest, options, errors."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from boxwright.cli.main import main
from boxwright.oci.digest import Digest


def _runner() -> CliRunner:
    return CliRunner()


def test_copy_prints_skopeo_like_lines_and_the_digest(peer_images: Any, tmp_path: Path) -> None:
    dest = tmp_path / "out"
    result = _runner().invoke(main, ["copy", peer_images.refs["oci"], f"oci:{dest}:c"])
    assert result.exit_code == 0, result.output
    index = json.loads((dest / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    assert result.stdout.splitlines()[-1] == digest
    lines = result.stderr.splitlines()
    blob_lines = [line for line in lines if line.startswith("Copying blob ")]
    assert len(blob_lines) == peer_images.layer_count
    assert all(re.fullmatch(r"Copying blob sha256:[0-9a-f]{64} done", line) for line in blob_lines)
    assert sum(line.startswith("Copying config sha256:") for line in lines) == 1
    assert lines[-1] == f"Writing manifest {digest} to image destination"

    again = _runner().invoke(main, ["copy", peer_images.refs["oci"], f"oci:{dest}:d"])
    assert again.exit_code == 0
    assert again.stderr.count("skipped: already exists") == peer_images.layer_count + 1


def test_quiet_prints_only_the_digest(peer_images: Any, tmp_path: Path) -> None:
    result = _runner().invoke(
        main, ["copy", "-q", peer_images.refs["oci"], f"oci:{tmp_path / 'o'}:q"]
    )
    assert result.exit_code == 0
    assert result.stderr == ""
    Digest.parse(result.stdout.strip())


def test_format_and_dest_compress(peer_images: Any, tmp_path: Path) -> None:
    dest = tmp_path / "o"
    result = _runner().invoke(
        main,
        [
            "copy",
            "--format",
            "oci",
            "--dest-compress",
            "--dest-compress-format",
            "zstd",
            "--dest-compress-level",
            "5",
            peer_images.refs["oci"],
            f"oci:{dest}:z",
        ],
    )
    assert result.exit_code == 0, result.output
    digest = result.stdout.split()[-1]
    manifest = json.loads((dest / "blobs" / "sha256" / digest[7:]).read_bytes())
    assert {layer["mediaType"] for layer in manifest["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    }


def test_platform_out_of_an_index(peer_images: Any, tmp_path: Path, oci_index_writer: Any) -> None:
    layout = tmp_path / "layout"
    shutil.copytree(peer_images.oci, layout)
    index = oci_index_writer(
        layout,
        [{"os": "linux", "architecture": "amd64"}, {"os": "linux", "architecture": "arm64"}],
        "multi",
        source_ref=peer_images.tag,
    )
    blobs = layout / "blobs" / "sha256"
    children = json.loads((blobs / index["digest"][7:]).read_bytes())["manifests"]
    result = _runner().invoke(
        main,
        [
            "copy",
            "-q",
            "--platform",
            "linux/arm64",
            f"oci:{layout}:multi",
            f"oci:{tmp_path / 'o'}:a",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == children[1]["digest"]
    every = _runner().invoke(
        main, ["copy", "-q", "--all", f"oci:{layout}:multi", f"oci:{tmp_path / 'all'}:a"]
    )
    assert every.exit_code == 0, every.output
    assert every.stdout.strip() == index["digest"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["nope:x", "oci:/tmp/unused:x"], 1, "Error: unknown transport 'nope'"),
        (["--platform", "linux", "oci:/a:x", "oci:/b:x"], 2, "expected OS/ARCH[/VARIANT]"),
        (["--format", "v1", "oci:/a:x", "oci:/b:x"], 2, "Invalid value for '-f' / '--format'"),
        (["--dest-compress-level", "3", "oci:/a:x", "oci:/b:x"], 1, "needs --dest-compress"),
    ],
)
def test_errors_are_one_line(args: list[str], code: int, message: str) -> None:
    result = _runner().invoke(main, ["copy", *args])
    assert result.exit_code == code
    assert message in result.stderr
    if code == 1:
        assert result.stderr.count("\n") == 1
        assert "Traceback" not in result.stderr


def test_missing_tag_is_an_error(peer_images: Any, tmp_path: Path) -> None:
    result = _runner().invoke(
        main, ["copy", f"oci:{peer_images.oci}:nope", f"oci:{tmp_path / 'o'}:x"]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "nope" in result.stderr


def test_help_has_an_example() -> None:
    result = _runner().invoke(main, ["copy", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "boxwright copy oci:" in result.output
