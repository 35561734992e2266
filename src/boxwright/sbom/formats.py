"""The document formats ``boxwright sbom --format`` writes, by name."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Final

from boxwright.errors import UsageError
from boxwright.sbom.model import ImageSbom

#: Format name → media type of the document (what an attestation of it is labelled).
FORMATS: Final = {
    "json": "application/vnd.boxwright.sbom+json",
    "spdx-json": "application/spdx+json",
    "cyclonedx-json": "application/vnd.cyclonedx+json",
}


def render_sbom(sbom: ImageSbom, fmt: str, created: datetime | None = None) -> str:
    """``sbom`` as the text of format ``fmt`` (a key of :data:`FORMATS`); ``created`` is
    the document's creation time (now when None)."""
    if fmt == "spdx-json":
        from boxwright.sbom.spdx import spdx_json

        return spdx_json(sbom, created)
    if fmt == "cyclonedx-json":
        from boxwright.sbom.cyclonedx import cyclonedx_json

        return cyclonedx_json(sbom, created)
    if fmt == "json":
        return json.dumps(sbom.to_dict(), indent=2) + "\n"
    raise UsageError(f"unknown SBOM format {fmt!r}; use one of {', '.join(FORMATS)}")


__all__ = ["FORMATS", "render_sbom"]
