"""``build --sbom`` and ``build --provenance``: attestations of the final image, kept in the
store as its OCI 1.1 referrers (:mod:`boxwright.store.referrers`), so that every copy of the
image with referrers (``--push``, ``--output REF``, ``push --referrers``, ``copy
--referrers``) carries them.

* ``--sbom``: the SPDX 2.3 JSON document of :func:`boxwright.sbom.image_sbom` (artifact type
  and layer ``application/spdx+json``, file ``sbom.spdx.json``);
* ``--provenance``: an in-toto statement with an SLSA v1 predicate
  (:mod:`boxwright.attest.provenance`; artifact type and layer
  ``application/vnd.in-toto+json``, file ``provenance.intoto.json``, annotation
  ``in-toto.io/predicate-type: https://slsa.dev/provenance/v1``).
"""

from __future__ import annotations

import platform as host_platform
from collections.abc import Mapping
from contextlib import closing
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

from boxwright.attest.artifacts import ArtifactFile, attach_to
from boxwright.attest.provenance import (
    IN_TOTO_MEDIA_TYPE,
    PREDICATE_ANNOTATION,
    PREDICATE_TYPE,
    BuildFacts,
    provenance_statement,
    statement_bytes,
)
from boxwright.oci.digest import Digest
from boxwright.oci.platform import Platform
from boxwright.sbom.formats import render_sbom
from boxwright.sbom.scan import scan_image
from boxwright.store.endpoints import StoreDestination, StoreSource
from boxwright.transport.image import open_image

if TYPE_CHECKING:
    from boxwright.build.shared import BuildShared
    from boxwright.store.images import ImageRecord

SPDX_MEDIA_TYPE: Final = "application/spdx+json"


def _sbom(source: StoreSource, name: str) -> bytes:
    return render_sbom(scan_image(open_image(source), name), "spdx-json").encode()


def _facts(shared: BuildShared, record: ImageRecord, name: str) -> BuildFacts:
    options = shared.options
    text = shared.containerfile_text
    return BuildFacts(
        image_name=name,
        image_digest=record.manifest,
        platform=shared.platform,
        containerfile_path=shared.containerfile_name,
        containerfile_digest=Digest.from_bytes(text.encode()),
        started=shared.started,
        finished=datetime.now(UTC),
        build_args=options.build_args,
        labels=options.labels,
        target=options.target,
        context_uri=options.context_source if options.context_source != "-" else None,
        dependencies=dict(shared.base_images),
        builder_platform=str(Platform.host()),
        mode=options.provenance or "min",
        containerfile_text=text,
        builder_id=f"boxwright on {host_platform.node()}" if options.provenance == "max" else "",
    )


def attach_attestations(shared: BuildShared, record: ImageRecord) -> list[Digest]:
    """Make the attestations ``shared.options`` asks for and keep them in the store as
    referrers of ``record``'s manifest; their manifest digests."""
    options, store = shared.options, shared.store
    name = record.names[0] if record.names else record.id
    made: list[Digest] = []
    with (
        closing(StoreSource(store, record.id)) as source,
        closing(StoreDestination(store)) as dest,
    ):
        if options.sbom:
            document = ArtifactFile(_sbom(source, name), SPDX_MEDIA_TYPE, "sbom.spdx.json")
            made.append(attach_to(source, dest, SPDX_MEDIA_TYPE, [document]).digest)
        if options.provenance:
            statement = statement_bytes(provenance_statement(_facts(shared, record, name)))
            annotations: Mapping[str, str] = {PREDICATE_ANNOTATION: PREDICATE_TYPE}
            file = ArtifactFile(statement, IN_TOTO_MEDIA_TYPE, "provenance.intoto.json")
            made.append(attach_to(source, dest, IN_TOTO_MEDIA_TYPE, [file], annotations).digest)
    return made


__all__ = ["SPDX_MEDIA_TYPE", "attach_attestations"]
