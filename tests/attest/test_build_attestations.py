"""``build --sbom --provenance``: the attestations kept in the store as referrers of the built
image, pushed with it to a registry without the referrers API (found through the tag schema),
and carried by ``copy --all --referrers`` to another repository and to an OCI layout."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from boxwright.attest import list_referrers
from boxwright.cli.main import main
from boxwright.oci.digest import Digest
from boxwright.store.referrers import read_referrers
from boxwright.store.store import Store
from boxwright.transport.options import TransportOptions
from boxwright.transport.registry.referrers import tag_for
from boxwright_testing.builds import BASE, run_build, write_context
from boxwright_testing.registry_servers import RegistryServer

PLAIN = TransportOptions(tls_verify=False)
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SPDX = "application/spdx+json"
IN_TOTO = "application/vnd.in-toto+json"


def _get(server: RegistryServer, path: str, accept: str) -> bytes:
    request = urllib.request.Request(server.url + path, headers={"Accept": accept})
    with urllib.request.urlopen(request) as answer:
        data: bytes = answer.read()
        return data


def _json(server: RegistryServer, path: str, accept: str = OCI_MANIFEST) -> Any:
    return json.loads(_get(server, path, accept))


def test_build_pushes_sbom_and_provenance_found_by_the_tag_schema(
    bstore: Store, plain_registry: RegistryServer, tmp_path: Path
) -> None:
    text = f"FROM {BASE}\nARG GREETING\nCOPY a.txt /a.txt\n"
    ctx = write_context(tmp_path / "ctx", text, {"a.txt": "a\n"})
    repo = plain_registry.repo("built")
    pushed = f"docker://{plain_registry.host}/{repo}:1"
    result = run_build(
        bstore,
        ctx,
        tags=("localhost/attested:1",),
        build_args={"GREETING": "hello"},
        output=pushed,
        registry_options=PLAIN,
        sbom=True,
        provenance="min",
    )
    base_digest = bstore.images.get(BASE).manifest
    assert result.base_images == {BASE: str(base_digest)}
    assert len(result.attestations) == 2

    # what the store keeps: the two referrers of the image's manifest
    image = bstore.images.get(result.image_id)
    kept = read_referrers(bstore, image.manifest)
    assert [(str(d.digest), d.artifact_type) for d in kept] == [
        (result.attestations[0], SPDX),
        (result.attestations[1], IN_TOTO),
    ]

    # read back from the registry, which has no referrers API: the tag schema's index
    raw = _get(plain_registry, f"/v2/{repo}/manifests/1", OCI_MANIFEST)
    subject = Digest.from_bytes(raw)
    assert str(subject) == result.digest == str(image.manifest)
    index = _json(plain_registry, f"/v2/{repo}/manifests/{tag_for(subject)}", OCI_INDEX)
    assert [(m["digest"], m["artifactType"]) for m in index["manifests"]] == [
        (result.attestations[0], SPDX),
        (result.attestations[1], IN_TOTO),
    ]
    documents = {}
    for entry in index["manifests"]:
        manifest = _json(plain_registry, f"/v2/{repo}/manifests/{entry['digest']}")
        assert manifest["subject"]["digest"] == str(subject)
        assert manifest["artifactType"] == entry["artifactType"]
        (layer,) = manifest["layers"]
        documents[entry["artifactType"]] = json.loads(
            _get(plain_registry, f"/v2/{repo}/blobs/{layer['digest']}", "*/*")
        )
    provenance = documents[IN_TOTO]
    assert provenance["_type"] == "https://in-toto.io/Statement/v1"
    assert provenance["predicateType"] == "https://slsa.dev/provenance/v1"
    assert provenance["subject"][0]["digest"] == {"sha256": subject.hex}
    definition = provenance["predicate"]["buildDefinition"]
    assert definition["resolvedDependencies"] == [
        {
            "uri": "pkg:docker/localhost/bb@1?platform=" + result_platform(bstore, image.id),
            "digest": {"sha256": base_digest.hex},
        }
    ]
    params = definition["externalParameters"]
    assert params["request"]["args"]["build-arg:GREETING"] == "hello"
    assert params["configSource"]["digest"] == {"sha256": Digest.from_bytes(text.encode()).hex}
    sbom = documents[SPDX]
    assert sbom["spdxVersion"] == "SPDX-2.3"
    (described,) = [
        r["relatedSpdxElement"]
        for r in sbom["relationships"]
        if r["spdxElementId"] == "SPDXRef-DOCUMENT" and r["relationshipType"] == "DESCRIBES"
    ]
    (image_package,) = [p for p in sbom["packages"] if p["SPDXID"] == described]
    assert image_package["versionInfo"] == str(subject)

    # copy --all --referrers: to another repository, and to an OCI layout
    other = f"docker://{plain_registry.host}/{plain_registry.repo('copied')}:1"
    layout = tmp_path / "layout"
    runner = CliRunner()
    for dest in (other, f"oci:{layout}:1"):
        out = runner.invoke(
            main,
            ["copy", "--all", "--referrers", "--src-tls-verify=false", "--dest-tls-verify=false",
             pushed, dest],
        )  # fmt: skip
        assert out.exit_code == 0, out.output
    described_subject, copied = list_referrers(other, options=PLAIN)
    assert described_subject.digest == subject
    assert [str(r.digest) for r in copied] == list(result.attestations)
    listed = runner.invoke(main, ["referrers", "--format", "json", f"oci:{layout}:1"])
    assert listed.exit_code == 0, listed.output
    doc = json.loads(listed.stdout)
    assert doc["subject"]["digest"] == str(subject)
    assert [(r["digest"], r["artifactType"]) for r in doc["referrers"]] == [
        (result.attestations[0], SPDX),
        (result.attestations[1], IN_TOTO),
    ]


def result_platform(store: Store, image_id: str) -> str:
    config = store.images.config(store.images.get(image_id))
    return f"{config.os}%2F{config.architecture}"
