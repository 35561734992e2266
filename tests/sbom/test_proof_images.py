"""The SBOM of real Debian images lists exactly what dpkg and pip inside them list, and the
documents validate against the SPDX and CycloneDX schemas."""

from __future__ import annotations

import json
import re

import pytest

from boxwright.sbom import image_sbom, render_sbom
from boxwright_testing.sbom_images import WHEELS, ProofImage, run_inside

pytestmark = pytest.mark.slow


def _dpkg_inside(image: ProofImage) -> list[tuple[str, str, str]]:
    text = run_inside(
        image,
        "dpkg-query",
        "-W",
        "-f",
        "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n",
    )
    rows = [line.split("\t") for line in text.splitlines()]
    return sorted(
        (name, version, arch) for status, name, version, arch in rows if status.strip() == "ii"
    )


def test_debian_sbom_is_dpkg_query(debian_image: ProofImage) -> None:
    sbom = image_sbom(debian_image.reference)
    debs = sorted((p.name, p.version, p.arch) for p in sbom.packages if p.type == "deb")
    assert debs == _dpkg_inside(debian_image)
    assert len(debs) > 100
    assert {p.location for p in sbom.packages if p.type == "deb"} == {"/var/lib/dpkg/status"}
    python3 = next(p for p in sbom.packages if p.name == "python3")
    assert python3.purl.startswith("pkg:deb/debian/python3@3.11.")
    assert re.search(
        r"\?arch=amd64&upstream=python3-defaults(%40[^&]+)?&distro=debian-12$", python3.purl
    )


def test_pip_image_sbom_is_pip_list(pip_image: ProofImage) -> None:
    sbom = image_sbom(pip_image.reference)
    listed = json.loads(
        run_inside(pip_image, "python3", "-m", "pip", "list", "--format", "json",
                   "--disable-pip-version-check")
    )  # fmt: skip
    inside = sorted((item["name"].lower(), item["version"]) for item in listed)
    found = sorted((p.name.lower(), p.version) for p in sbom.packages if p.type == "python")
    assert found == inside
    for name, version in WHEELS:
        assert (name.lower(), version) in found
    assert sorted((p.name, p.version) for p in sbom.packages if p.type == "deb") == [
        (name, version) for name, version, _ in _dpkg_inside(pip_image)
    ]


def test_documents_validate(pip_image: ProofImage) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator
    from packageurl import PackageURL
    from spdx_tools.spdx.parser.jsonlikedict.json_like_dict_parser import JsonLikeDictParser
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    sbom = image_sbom(pip_image.reference)
    spdx = json.loads(render_sbom(sbom, "spdx-json"))
    document = JsonLikeDictParser().parse(spdx)
    assert validate_full_spdx_document(document) == []
    purls = sorted(
        ref["referenceLocator"] for pkg in spdx["packages"] for ref in pkg.get("externalRefs", [])
    )
    assert purls == sorted(p.purl for p in sbom.packages)
    assert spdx["packages"][0]["primaryPackagePurpose"] == "CONTAINER"
    assert spdx["packages"][0]["versionInfo"] == pip_image.digest

    text = render_sbom(sbom, "cyclonedx-json")
    assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(text) is None
    bom = json.loads(text)
    libraries = [c for c in bom["components"] if c["type"] == "library"]
    canonical = sorted(PackageURL.from_string(p.purl).to_string() for p in sbom.packages)
    assert sorted(c["purl"] for c in libraries) == canonical
    assert bom["metadata"]["component"]["version"] == pip_image.digest
