"""Artifacts attached to a registry image, listed and fetched back: a registry without the
referrers API keeps them in the referrers tag schema's index."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from boxwright.attest import ArtifactFile, attach_artifact, fetch_artifact, list_referrers
from boxwright.cli.main import main
from boxwright.errors import UsageError
from boxwright.oci.digest import Digest
from boxwright.transport.options import TransportOptions
from boxwright.transport.registry.referrers import tag_for
from boxwright_testing.registry_servers import RegistryServer
from boxwright_testing.sbom_images import tar_of, write_layout

PLAIN = TransportOptions(tls_verify=False)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def cli(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _get(server: RegistryServer, path: str, accept: str) -> tuple[int, bytes]:
    request = urllib.request.Request(server.url + path, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, b""


@pytest.fixture
def pushed(plain_registry: RegistryServer, tmp_path: Path) -> tuple[str, Digest]:
    """An image pushed to a fresh repository: its reference and manifest digest."""
    layer = tar_of(tmp_path / "l.tar", {"hello.txt": b"hello\n"})
    write_layout(tmp_path / "layout", [layer])
    repo = plain_registry.repo("attest")
    ref = f"docker://{plain_registry.host}/{repo}:1"
    result = cli("copy", "--dest-tls-verify=false", f"oci:{tmp_path / 'layout'}:latest", ref)
    assert result.exit_code == 0, result.output
    status, raw = _get(plain_registry, f"/v2/{repo}/manifests/1", OCI_MANIFEST)
    assert status == 200
    return ref, Digest.from_bytes(raw)


def test_attach_list_fetch_through_the_tag_schema(
    plain_registry: RegistryServer, pushed: tuple[str, Digest], tmp_path: Path
) -> None:
    ref, subject = pushed
    repo = ref.split("/", 3)[3].rsplit(":", 1)[0]
    status, _ = _get(plain_registry, f"/v2/{repo}/referrers/{subject}", "*/*")
    assert status == 404  # distribution 2.8: no referrers API
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"signed off\n")
    first = attach_artifact(
        ref,
        "application/vnd.example.notes",
        [ArtifactFile(notes, "text/plain", "notes.txt")],
        {"org.example.k": "v"},
        PLAIN,
    )
    second = attach_artifact(
        ref, "application/spdx+json", [ArtifactFile(b"{}", "application/spdx+json", "s.json")],
        options=PLAIN,
    )  # fmt: skip

    status, raw = _get(
        plain_registry,
        f"/v2/{repo}/manifests/{tag_for(subject)}",
        "application/vnd.oci.image.index.v1+json",
    )
    assert status == 200
    index = json.loads(raw)
    assert [m["digest"] for m in index["manifests"]] == [str(first.digest), str(second.digest)]
    assert index["manifests"][0]["artifactType"] == "application/vnd.example.notes"
    assert index["manifests"][0]["annotations"] == {"org.example.k": "v"}

    status, raw = _get(
        plain_registry,
        f"/v2/{repo}/manifests/{first.digest}",
        "application/vnd.oci.image.manifest.v1+json",
    )
    manifest = json.loads(raw)
    assert manifest["subject"]["digest"] == str(subject)
    assert manifest["artifactType"] == "application/vnd.example.notes"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"

    described, found = list_referrers(ref, options=PLAIN)
    assert described.digest == subject
    assert [r.digest for r in found] == [first.digest, second.digest]
    _, only = list_referrers(ref, "application/spdx+json", PLAIN)
    assert [r.digest for r in only] == [second.digest]

    artifact_ref = f"{ref.rsplit(':', 1)[0]}@{first.digest}"
    written = fetch_artifact(artifact_ref, tmp_path / "out", PLAIN)
    assert written == [tmp_path / "out" / "notes.txt"]
    assert written[0].read_bytes() == b"signed off\n"


def test_attaching_the_same_artifact_twice_lists_it_once(pushed: tuple[str, Digest]) -> None:
    ref, _ = pushed
    file = ArtifactFile(b"same", "text/plain", "same.txt")
    one = attach_artifact(ref, "application/vnd.example", [file], options=PLAIN)
    two = attach_artifact(ref, "application/vnd.example", [file], options=PLAIN)
    assert one.digest == two.digest
    assert [r.digest for r in list_referrers(ref, options=PLAIN)[1]] == [one.digest]


def test_cli_attach_referrers_fetch(pushed: tuple[str, Digest], tmp_path: Path) -> None:
    ref, subject = pushed
    report = tmp_path / "report.json"
    report.write_text('{"ok": true}\n')
    result = cli(
        "artifact", "attach", "--tls-verify=false", "--artifact-type", "application/vnd.example",
        ref, f"{report}:application/json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    digest = result.stdout.strip()
    listed = json.loads(cli("referrers", "--tls-verify=false", "--format", "json", ref).stdout)
    assert listed["subject"]["digest"] == str(subject)
    assert listed["referrers"] == [
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest,
            "size": listed["referrers"][0]["size"],
            "artifactType": "application/vnd.example",
        }
    ]
    table = cli("referrers", "--tls-verify=false", ref).stdout.splitlines()
    assert table[0].split() == ["DIGEST", "ARTIFACT", "TYPE", "SIZE"]
    assert table[1].split()[:2] == [digest, "application/vnd.example"]
    out = cli("artifact", "fetch", "--tls-verify=false", f"{ref.rsplit(':', 1)[0]}@{digest}",
              str(tmp_path / "got"))  # fmt: skip
    assert out.stdout == f"{tmp_path / 'got' / 'report.json'}\n"
    assert (tmp_path / "got" / "report.json").read_text() == '{"ok": true}\n'


def test_only_registries_layouts_and_the_store_hold_artifacts(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        list_referrers(f"dir:{tmp_path}")
    assert str(raised.value) == (
        f"dir:{tmp_path}: artifacts and referrers live in docker://, oci: or the store, not dir:"
    )
