"""The signature commands and flags on the command line: generate-sigstore-key, copy with
--sign-by-sigstore-private-key and --remove-signatures into dir:, trust, and the policy in
force on copy, pull and container from (one line naming the requirement, exit 1)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from boxwright.cli.main import main


def bw(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def layout(peer_images: Any) -> str:
    """The peer-made image as an OCI layout reference."""
    return str(peer_images.refs["oci"])


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path, Path]:
    passphrase = tmp_path / "pass"
    passphrase.write_text("secret\n")
    result = bw(
        "generate-sigstore-key",
        "--output-prefix",
        str(tmp_path / "k"),
        "--passphrase-file",
        str(passphrase),
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == f"Key written to {tmp_path}/k.private and {tmp_path}/k.pub\n"
    return tmp_path / "k.private", tmp_path / "k.pub", passphrase


def _policy(tmp_path: Path, requirement: dict[str, object]) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(
        json.dumps(
            {
                "default": [{"type": "reject"}],
                "transports": {
                    "dir": {"": [requirement]},
                    "oci": {"": [{"type": "insecureAcceptAnything"}]},
                },
            }
        )
    )
    return path


def test_generate_sigstore_key_refuses_to_overwrite(
    tmp_path: Path, keys: tuple[Path, Path, Path]
) -> None:
    result = bw(
        "generate-sigstore-key",
        "--output-prefix",
        str(tmp_path / "k"),
        "--passphrase-file",
        str(keys[2]),
    )
    assert result.exit_code == 1
    assert result.stderr == f"Error: refusing to overwrite existing {tmp_path}/k.private\n"


def test_sign_carry_remove_and_verify_through_dir(
    tmp_path: Path, layout: str, keys: tuple[Path, Path, Path]
) -> None:
    private, public, passphrase = keys
    signed, carried, stripped = tmp_path / "signed", tmp_path / "carried", tmp_path / "stripped"
    sign = ["--sign-by-sigstore-private-key", str(private), "--sign-passphrase-file"]
    result = bw(
        "copy",
        "-q",
        *sign,
        str(passphrase),
        "--sign-identity",
        "example.com/app:1",
        layout,
        f"dir:{signed}",
    )
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in signed.glob("signature-*")) == ["signature-1"]

    identity = {"type": "exactReference", "dockerReference": "example.com/app:1"}
    policy = _policy(
        tmp_path, {"type": "sigstoreSigned", "keyPath": str(public), "signedIdentity": identity}
    )
    result = bw("--policy", str(policy), "copy", "-q", f"dir:{signed}", f"dir:{carried}")
    assert result.exit_code == 0, result.stderr
    assert (carried / "signature-1").read_bytes() == (signed / "signature-1").read_bytes()

    result = bw("copy", "-q", f"dir:{signed}", f"oci:{tmp_path}/o:x")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: Can not copy signatures to oci:{tmp_path}/o:x: it does not store signatures "
        "(dir:, docker:// and the store do); copy with --remove-signatures\n"
    )
    result = bw("copy", "-q", "--format", "v2s2", f"dir:{signed}", f"dir:{tmp_path}/v2")
    assert result.exit_code == 1
    assert "which would invalidate them; copy with --remove-signatures\n" in result.stderr

    result = bw("copy", "-q", "--remove-signatures", f"dir:{signed}", f"dir:{stripped}")
    assert result.exit_code == 0, result.stderr
    assert not list(stripped.glob("signature-*"))
    result = bw("--policy", str(policy), "copy", "-q", f"dir:{stripped}", f"dir:{tmp_path}/x")
    assert result.exit_code == 1
    assert result.stderr == (
        f'Error: Source image dir:{stripped} rejected by {policy} (dir ""): requirement '
        f"sigstoreSigned (keyPath {public}, signedIdentity exactReference example.com/app:1): "
        "A signature was required, but no signature exists\n"
    )

    result = bw("trust", "--signature-policy", str(policy), "--format", "json", f"dir:{carried}")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["Accepted"] is True
    assert [s["Kind"] for s in report["Signatures"]] == ["sigstore"]
    assert report["Signatures"][0]["ClaimedReference"] == "example.com/app:1"
    assert report["Scope"] == 'dir ""'
    result = bw("trust", "--signature-policy", str(policy), f"dir:{stripped}")
    assert result.exit_code == 1
    assert "Signatures:   0\n" in result.stdout
    assert "Accepted:     no\n" in result.stdout


def test_pull_and_container_from_obey_the_policy(tmp_path: Path, layout: str) -> None:
    policy = tmp_path / "reject.json"
    policy.write_text(json.dumps({"default": [{"type": "reject"}]}))
    root = tmp_path / "root"
    for command in (["pull"], ["container", "from"]):
        result = bw("--root", str(root), "--policy", str(policy), *command, layout)
        assert result.exit_code == 1, result.output
        assert result.stderr == (
            f"Error: Source image {layout} rejected by {policy} (default): "
            f"requirement reject: Running image {layout} is rejected by policy.\n"
        )
    result = bw("--root", str(root), "--insecure-policy", "pull", "-q", layout)
    assert result.exit_code == 0, result.stderr
