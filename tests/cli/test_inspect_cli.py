"""``boxwright inspect`` on the command line: JSON, --raw, --config, --format, errors."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from click.testing import CliRunner

from boxwright.cli.main import main

SKOPEO = shutil.which("skopeo")


def skopeo_bytes(*args: str) -> bytes:
    if SKOPEO is None:
        pytest.skip("skopeo is not installed")
    done = subprocess.run([SKOPEO, *args], capture_output=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, ["inspect", *args])


def test_default_output_is_skopeo_json(peer_images: Any) -> None:
    ref = peer_images.refs["oci"]
    result = invoke(ref)
    assert result.exit_code == 0, result.output
    ours = json.loads(result.stdout)
    assert list(ours) == [
        "Digest",
        "RepoTags",
        "Created",
        "DockerVersion",
        "Labels",
        "Architecture",
        "Os",
        "Layers",
        "LayersData",
        "Env",
    ]
    del ours["LayersData"]
    assert ours == json.loads(skopeo_bytes("inspect", ref))
    assert invoke("--format", "json", ref).stdout == result.stdout


@pytest.mark.parametrize(
    "args", [["--raw"], ["--config"], ["--config", "--raw"]], ids=["raw", "config", "config-raw"]
)
def test_raw_and_config_bytes_equal_skopeo(peer_images: Any, args: list[str]) -> None:
    ref = peer_images.refs["oci"]
    result = CliRunner().invoke(main, ["inspect", *args, ref])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes == skopeo_bytes("inspect", *args, ref)


def test_format_template(peer_images: Any) -> None:
    ref = peer_images.refs["oci"]
    template = "{{.Digest}} {{.Os}}/{{.Architecture}} {{.Labels}}"
    result = invoke("--format", template, ref)
    assert result.exit_code == 0
    assert result.stdout_bytes == skopeo_bytes("inspect", "--format", template, ref)
    labels = invoke("-f", "{{json .Labels}}", ref)
    assert json.loads(labels.stdout) == json.loads(skopeo_bytes("inspect", ref))["Labels"]
    assert peer_images.labels.items() <= json.loads(labels.stdout).items()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--raw", "--format", "{{.Os}}", "oci:/x:y"], 2, "--raw output does not support"),
        (["--format", "{{range .Layers}}{{end"], 1, "template: unclosed action"),
        (["nope:x"], 1, "unknown transport 'nope'"),
    ],
)
def test_errors(peer_images: Any, args: list[str], code: int, message: str) -> None:
    if args[-1].startswith("{{"):
        args = [*args, peer_images.refs["oci"]]
    result = invoke(*args)
    assert result.exit_code == code
    assert message in result.stderr


def test_help_has_an_example() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    assert "boxwright inspect oci:" in result.output
    assert "{{json .Labels}}" in result.output
