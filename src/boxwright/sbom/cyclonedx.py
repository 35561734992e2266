"""The SBOM as a CycloneDX 1.6 JSON document, written and validated by
``cyclonedx-python-lib``.

Package URLs are the library's canonical form (qualifiers sorted by key), which is how
CycloneDX tools compare them. The image is the BOM's metadata component (type
``container``, version its manifest digest); each package is a ``library`` component with
its purl, declared licenses, the ``syft:package:type`` property and, as evidence, the path
it was read from; the image depends on each package; each file a package was read from is a
``file`` component with its SHA-1 and SHA-256 hashes.

``cyclonedx-python-lib`` is imported here only, so ``boxwright --help`` never loads it.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from cyclonedx.model import HashAlgorithm, HashType, Property
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.component_evidence import ComponentEvidence, Occurrence
from cyclonedx.output.json import JsonV1Dot6
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL

try:
    from cyclonedx.contrib.license.factories import LicenseFactory
except ImportError:  # cyclonedx-python-lib before 11.6 has it here only
    from cyclonedx.factory.license import LicenseFactory  # type: ignore[no-redef,unused-ignore]

from boxwright._version import __version__
from boxwright.errors import SbomFormatError
from boxwright.sbom.model import ImageSbom


def cyclonedx_bom(sbom: ImageSbom, created: datetime | None = None) -> Any:
    """The ``cyclonedx`` Bom of ``sbom``."""
    licenses = LicenseFactory()
    image = Component(
        type=ComponentType.CONTAINER,
        name=sbom.reference,
        version=sbom.digest,
        bom_ref=f"image:{sbom.digest}",
    )
    metadata = BomMetaData(component=image, timestamp=created or datetime.now(UTC))
    metadata.tools.components.add(
        Component(type=ComponentType.APPLICATION, name="boxwright", version=__version__)
    )
    components = []
    for package in sbom.packages:
        ref = "pkg:" + hashlib.sha256(f"{package.purl}\0{package.location}".encode()).hexdigest()
        components.append(
            Component(
                type=ComponentType.LIBRARY,
                name=package.name,
                version=package.version,
                bom_ref=ref[:36],
                purl=PackageURL.from_string(package.purl),
                licenses=[licenses.make_from_string(text) for text in package.licenses],
                properties=[Property(name="syft:package:type", value=package.type)],
                evidence=ComponentEvidence(occurrences=[Occurrence(location=package.location)]),
            )
        )
    for item in sbom.files:
        components.append(
            Component(
                type=ComponentType.FILE,
                name=item.path,
                bom_ref="file:" + hashlib.sha256(item.path.encode()).hexdigest()[:32],
                hashes=[
                    HashType(alg=HashAlgorithm.SHA_1, content=item.sha1),
                    HashType(alg=HashAlgorithm.SHA_256, content=item.sha256),
                ],
            )
        )
    bom = Bom(components=components, metadata=metadata)
    bom.register_dependency(image, [c for c in components if c.type is ComponentType.LIBRARY])
    return bom


def cyclonedx_json(sbom: ImageSbom, created: datetime | None = None) -> str:
    """``sbom`` as CycloneDX 1.6 JSON text, validated against the schema the library ships."""
    text: str = JsonV1Dot6(cyclonedx_bom(sbom, created)).output_as_string(indent=2)
    error = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    if error is not None:
        raise SbomFormatError(f"the CycloneDX document does not validate: {error}")
    return text + "\n"


__all__ = ["cyclonedx_bom", "cyclonedx_json"]
