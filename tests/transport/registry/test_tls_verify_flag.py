"""``--tls-verify``, ``--src-tls-verify`` and ``--dest-tls-verify`` as skopeo spells them.

skopeo's boolean flags (Go pflag) take ``=true``/``=false``, and the bare flag means true
without ever taking the next word as its value. The unit tests parse a small command with the
same options; the end-to-end tests push to the TLS registry, whose CA is unknown to the system.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from registry_images import make_image
from registry_peers import SKOPEO, skopeo_digest

from boxwright.cli.main import main
from boxwright.cli.transport_options import side_options, transport_options
from boxwright_testing.registry_servers import RegistryServer


@click.command()
@side_options("src-", "source")
@side_options("dest-", "destination")
@click.argument("words", nargs=-1)
def _probe(words: tuple[str, ...], **registry: Any) -> None:
    src = transport_options(registry, "src-")
    dest = transport_options(registry, "dest-")
    click.echo(f"{src.tls_verify} {dest.tls_verify} {' '.join(words)}")


def _parse(*args: str) -> Result:
    return CliRunner().invoke(_probe, list(args))


@pytest.mark.parametrize(
    ("args", "output"),
    [
        ((), "None None"),
        (("--src-tls-verify",), "True None"),
        (("--src-tls-verify=false",), "False None"),
        (("--src-tls-verify=true",), "True None"),
        (("--dest-tls-verify=FALSE",), "None False"),
        (("--src-tls-verify", "--dest-tls-verify=false"), "True False"),
        (("--dest-tls-verify", "docker://h/r", "oci:x"), "None True docker://h/r oci:x"),
        (("docker://h/r", "--src-tls-verify"), "True None docker://h/r"),
        # As in skopeo, a separate word is an argument, never the flag's value.
        (("--src-tls-verify", "false", "oci:x"), "True None false oci:x"),
        # After "--" nothing is an option.
        (("--", "--src-tls-verify"), "None None --src-tls-verify"),
    ],
)
def test_tls_verify_flags_parse_as_skopeo_parses_them(args: tuple[str, ...], output: str) -> None:
    result = _parse(*args)
    assert result.exit_code == 0, result.output
    assert result.output.rstrip() == output


def test_a_tls_verify_value_that_is_not_a_boolean_is_a_usage_error() -> None:
    result = _parse("--src-tls-verify=maybe")
    assert result.exit_code == 2
    assert "'maybe' is not a valid boolean" in result.output


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
@pytest.mark.usefixtures("isolated_auth")
def test_bare_dest_tls_verify_verifies_and_leaves_the_references_alone(
    registry_tls_basic: RegistryServer, tmp_path: Path
) -> None:
    server = registry_tls_basic
    image = make_image(tmp_path / "src", layers=1)
    repo = server.repo("bareflag")
    creds = f"--dest-creds={server.creds}"
    # Verification on, and the CA unknown: the push fails on the certificate.
    result = CliRunner().invoke(
        main, ["copy", creds, "--dest-tls-verify", image.ref, server.ref(repo)]
    )
    assert result.exit_code == 1, result.output
    assert "certificate" in result.stderr.lower()
    # With the CA given, the bare flag (followed by the source reference) pushes.
    result = CliRunner().invoke(
        main,
        [
            "copy",
            "--quiet",
            creds,
            f"--dest-cert-dir={server.cert_dir}",
            "--dest-tls-verify",
            image.ref,
            server.ref(repo),
        ],
    )
    assert result.exit_code == 0, result.output
    assert skopeo_digest(server, repo) == image.manifest_digest
