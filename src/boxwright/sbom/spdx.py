"""The SBOM as an SPDX 2.3 JSON document, written and validated by ``spdx-tools``.

The image is the document's one described package (purpose ``CONTAINER``, its manifest
digest as a SHA-256 checksum); it ``CONTAINS`` every package found. Each package carries
its purl as a ``PACKAGE-MANAGER`` external reference (as syft writes them), its declared
license when that is a valid SPDX expression (else ``NOASSERTION``, with the text as the
license comment), and the file it was read from is an SPDX file with SHA-1 and SHA-256
checksums (named ``./PATH``, as SPDX names files), related to the package as syft does
(``OTHER``, comment ``evident-by``).

``spdx-tools`` is imported at this module's top; :mod:`boxwright.sbom.formats` imports this
module only to write SPDX, so nothing else loads it.
"""

from __future__ import annotations

import hashlib
import io
import re
from datetime import UTC, datetime
from typing import Any

from spdx_tools.common.spdx_licensing import spdx_licensing
from spdx_tools.spdx.model import (
    Actor,
    ActorType,
    Checksum,
    ChecksumAlgorithm,
    CreationInfo,
    Document,
    ExternalPackageRef,
    ExternalPackageRefCategory,
    File,
    PackagePurpose,
    Relationship,
    RelationshipType,
    SpdxNoAssertion,
)
from spdx_tools.spdx.model import Package as SpdxPackage
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from boxwright._version import __version__
from boxwright.errors import SbomFormatError
from boxwright.sbom.model import FileDigests, ImageSbom, Package


def _spdx_id(*parts: str) -> str:
    text = "-".join(parts)
    clean = re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-")[:60]
    tag = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
    return f"SPDXRef-{clean}-{tag}"


def _actor(text: str) -> Any:
    match = re.fullmatch(r"\s*([^<]*?)\s*(?:<([^>]*)>)?\s*", text)
    if not text.strip() or match is None or not match.group(1):
        return SpdxNoAssertion()
    return Actor(ActorType.ORGANIZATION, match.group(1), match.group(2) or None)


def _license(package: Package) -> tuple[Any, str | None]:
    """The declared license expression and, when it is no valid SPDX expression, the text."""
    if not package.licenses:
        return SpdxNoAssertion(), None
    text = " AND ".join(f"({item})" if " " in item else item for item in package.licenses)
    info = spdx_licensing.validate(text)
    if info.errors or info.invalid_symbols:
        return SpdxNoAssertion(), "declared: " + "; ".join(package.licenses)
    return spdx_licensing.parse(text), None


def spdx_document(sbom: ImageSbom, created: datetime | None = None) -> Any:
    """The ``spdx_tools`` Document of ``sbom``."""
    image_id = _spdx_id("DocumentRoot-Image", sbom.digest)
    packages = [_image_package(sbom, image_id)]
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, image_id)]
    file_ids = {f.path: _spdx_id("File", f.path) for f in sbom.files}
    files = [_file(f, file_ids[f.path]) for f in sbom.files]
    for package in sbom.packages:
        spdx_id = _spdx_id("Package", package.type, package.name, package.purl, package.location)
        packages.append(_package(package, spdx_id))
        relationships.append(Relationship(image_id, RelationshipType.CONTAINS, spdx_id))
        evidence = file_ids.get(package.location)
        if evidence is not None:
            relationships.append(
                Relationship(spdx_id, RelationshipType.OTHER, evidence, comment="evident-by")
            )
    info = _creation_info(sbom, created)
    return Document(info, packages=packages, files=files, relationships=relationships)


def _creation_info(sbom: ImageSbom, created: datetime | None) -> CreationInfo:
    """The document's creation info: named for the image, made now (or at ``created``)."""
    when = (created or datetime.now(UTC)).replace(microsecond=0)
    return CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id="SPDXRef-DOCUMENT",
        name=sbom.reference,
        document_namespace=f"https://boxwright.invalid/spdx/image/{_digest_hex(sbom)}",
        creators=[Actor(ActorType.TOOL, f"boxwright-{__version__}")],
        created=when,
    )


def _digest_hex(sbom: ImageSbom) -> str:
    return sbom.digest.partition(":")[2]


def _image_package(sbom: ImageSbom, image_id: str) -> SpdxPackage:
    """The image as the described package: purpose ``CONTAINER``, its digest the checksum."""
    digest_hex = _digest_hex(sbom)
    return SpdxPackage(
        spdx_id=image_id,
        name=sbom.reference,
        download_location=SpdxNoAssertion(),
        version=sbom.digest,
        files_analyzed=False,
        checksums=[Checksum(ChecksumAlgorithm.SHA256, digest_hex)] if digest_hex else [],
        license_concluded=SpdxNoAssertion(),
        license_declared=SpdxNoAssertion(),
        copyright_text=SpdxNoAssertion(),
        primary_package_purpose=PackagePurpose.CONTAINER,
    )


def _file(digests: FileDigests, spdx_id: str) -> File:
    """A file packages were read from, named ``./PATH``, with its SHA-1 and SHA-256."""
    return File(
        name="." + digests.path,
        spdx_id=spdx_id,
        checksums=[
            Checksum(ChecksumAlgorithm.SHA1, digests.sha1),
            Checksum(ChecksumAlgorithm.SHA256, digests.sha256),
        ],
        license_concluded=SpdxNoAssertion(),
        copyright_text=SpdxNoAssertion(),
    )


def _package(package: Package, spdx_id: str) -> SpdxPackage:
    """A package found in the image, its purl a ``PACKAGE-MANAGER`` external reference."""
    declared, comment = _license(package)
    return SpdxPackage(
        spdx_id=spdx_id,
        name=package.name,
        download_location=SpdxNoAssertion(),
        version=package.version,
        supplier=_actor(package.supplier),
        files_analyzed=False,
        license_concluded=SpdxNoAssertion(),
        license_declared=declared,
        license_comment=comment,
        copyright_text=SpdxNoAssertion(),
        source_info=f"acquired package info from {package.location}",
        external_references=[
            ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", package.purl)
        ],
    )


def spdx_json(sbom: ImageSbom, created: datetime | None = None) -> str:
    """``sbom`` as SPDX 2.3 JSON text, validated by ``spdx-tools`` before it is returned."""
    document = spdx_document(sbom, created)
    problems = validate_full_spdx_document(document)
    if problems:
        first = problems[0].validation_message
        raise SbomFormatError(
            f"the SPDX document does not validate ({len(problems)} problems): {first}"
        )
    out = io.StringIO()
    write_document_to_stream(document, out, validate=False)
    return out.getvalue() + "\n"


__all__ = ["spdx_document", "spdx_json"]
