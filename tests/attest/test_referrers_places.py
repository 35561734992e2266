"""Referrers beyond registries: artifacts attached to, listed in and fetched from an OCI
layout and the store; what prune keeps and removes; a destination without referrers refused;
and ``build --push`` with the signing flags and the attestations, read back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from boxwright.attest import ArtifactFile, attach_artifact, fetch_artifact, list_referrers
from boxwright.cli.main import main
from boxwright.copy import CopyOptions, copy_image
from boxwright.copy.admission import verify_image
from boxwright.errors import UsageError
from boxwright.store.endpoints import read_signatures, write_signatures
from boxwright.store.gc import prune
from boxwright.store.pulling import pull_into
from boxwright.store.referrers import read_referrers
from boxwright.store.removal import remove_image
from boxwright.store.store import Store
from boxwright.transport.options import TransportOptions
from boxwright.trust.policy import Policy
from boxwright.trust.sigstore import write_key_pair
from boxwright_testing.builds import BASE, write_context
from boxwright_testing.registry_servers import RegistryServer
from boxwright_testing.sbom_images import tar_of, write_layout

NOTES = "application/vnd.example.notes"


def cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """An OCI layout holding one image, named ``latest``."""
    layer = tar_of(tmp_path / "l.tar", {"hello.txt": b"hello\n"})
    write_layout(tmp_path / "layout", [layer])
    return tmp_path / "layout"


def test_an_oci_layout_keeps_referrers_in_its_index(layout: Path, tmp_path: Path) -> None:
    ref = f"oci:{layout}:latest"
    file = ArtifactFile(b"signed off\n", "text/plain", "notes.txt")
    referrer = attach_artifact(ref, NOTES, [file], {"org.example.k": "v"})
    index = json.loads((layout / "index.json").read_bytes())
    assert index["manifests"][-1] == {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": str(referrer.digest),
        "size": referrer.size,
        "annotations": {"org.example.k": "v"},
        "artifactType": NOTES,
    }
    subject, found = list_referrers(ref)
    assert [(r.digest, r.artifact_type, dict(r.annotations)) for r in found] == [
        (referrer.digest, NOTES, {"org.example.k": "v"})
    ]
    # the layout's one image is still what oci:DIR names: the artifact's entry is not counted
    assert list_referrers(f"oci:{layout}")[0] == subject
    written = fetch_artifact(f"oci:{layout}@{referrer.digest}", tmp_path / "out")
    assert written == [tmp_path / "out" / "notes.txt"]
    assert written[0].read_bytes() == b"signed off\n"


def test_the_store_keeps_referrers_until_its_image_goes(layout: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    pull_into(store, f"oci:{layout}:latest", name="localhost/a:1")
    record = store.images.get("localhost/a:1")
    env = {"BOXWRIGHT_ROOT": str(store.layout.root)}
    out = cli("artifact", "attach", "--artifact-type", NOTES, "localhost/a:1",
              f"{_file(tmp_path, 'n.txt', 'n')}:text/plain", env=env)  # fmt: skip
    assert out.exit_code == 0, out.output
    digest = out.stdout.strip()
    assert [str(d.digest) for d in read_referrers(store, record.manifest)] == [digest]
    listed = json.loads(cli("referrers", "--format", "json", "localhost/a:1", env=env).stdout)
    assert [r["digest"] for r in listed["referrers"]] == [digest]
    write_signatures(store, record.manifest, [b"sig"])

    prune(store)  # the image is there: its referrer and the referrer's blobs stay
    assert store.blobs.has(_digest(digest))
    assert read_signatures(store, record.manifest) == [b"sig"]

    remove_image(store, "localhost/a:1")
    result = prune(store)
    assert not store.layout.referrers_file(record.manifest).exists()
    assert not store.layout.signatures_dir(record.manifest).exists()
    assert not store.blobs.has(_digest(digest))
    assert result.blobs == 6  # the image's manifest, config, layer; the artifact's three


def test_copy_with_referrers_to_a_place_without_them_is_refused(
    layout: Path, tmp_path: Path
) -> None:
    with pytest.raises(UsageError) as raised:
        copy_image(f"oci:{layout}:latest", f"dir:{tmp_path / 'd'}", CopyOptions(referrers=True))
    assert str(raised.value) == (
        f"dir:{tmp_path / 'd'} cannot keep referrers (docker://, oci: and the store do): "
        "drop --referrers"
    )


def test_build_push_signs_and_carries_the_attestations(
    bstore: Store, plain_registry: RegistryServer, tmp_path: Path
) -> None:
    registries_d = tmp_path / "registries.d"
    registries_d.mkdir()
    (registries_d / "default.yaml").write_text(
        "default-docker:\n  use-sigstore-attachments: true\n"
    )
    passphrase = tmp_path / "pass"
    passphrase.write_text("secret\n")
    private, public = write_key_pair(tmp_path / "key", b"secret")
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nCOPY a.txt /a.txt\n", {"a.txt": "a\n"})
    name = f"{plain_registry.host}/{plain_registry.repo('signed')}:1"
    out = cli(
        "--registries.d", str(registries_d), "build", "-q", "--push", "--tls-verify=false",
        "--sbom", "--provenance=mode=max", "--sign-by-sigstore-private-key", str(private),
        "--sign-passphrase-file", str(passphrase), "-t", name, str(ctx),
        env={"BOXWRIGHT_ROOT": str(bstore.layout.root)},
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "sigstoreSigned", "keyPath": str(public)}]}))
    options = TransportOptions(tls_verify=False, registries_d=registries_d)
    report = verify_image(f"docker://{name}", policy=Policy.load(policy), options=options)
    assert (report.accepted, [s.kind for s in report.signatures]) == (True, ["sigstore"])
    subject, found = list_referrers(f"docker://{name}", options=options)
    assert subject.digest == report.digest
    assert [r.artifact_type for r in found] == [
        "application/spdx+json",
        "application/vnd.in-toto+json",
    ]


def _file(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text)
    return path


def _digest(text: str) -> Any:
    from boxwright.oci.digest import Digest

    return Digest.parse(text)
