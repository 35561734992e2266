"""SLSA v1 provenance of a build, as an in-toto statement: what ``build --provenance``
attaches to the image it made.

The document follows BuildKit's provenance in its SLSA v1 mode (its ``slsa-definitions``):

* ``_type`` ``https://in-toto.io/Statement/v1``, ``predicateType``
  ``https://slsa.dev/provenance/v1``, ``subject``: the image as a ``pkg:docker`` purl with
  its platform and the manifest's digest;
* ``buildDefinition.buildType``: :data:`BUILD_TYPE`, the page of ``docs/sbom.md`` that
  describes these fields;
* ``externalParameters.configSource``: the Containerfile (``path`` and its ``sha256``; the
  ``uri`` of a fetched context); ``externalParameters.request``: ``frontend``
  ``dockerfile.v0`` and ``args`` in BuildKit's spelling (``build-arg:NAME``, ``label:NAME``,
  ``target``, ``platform``, ``filename``);
* ``internalParameters.builderPlatform``; ``resolvedDependencies``: every image the build read
  (FROM, ``COPY --from``, ``RUN --mount=from``), as ``pkg:docker`` purls with the digest of
  the manifest the build used;
* ``runDetails.builder.id`` (the caller's, else empty, as BuildKit leaves it outside CI) and
  ``runDetails.metadata`` (``invocationID``, ``startedOn``, ``finishedOn``); ``mode=max``
  adds BuildKit's ``buildkit_completeness`` and the Containerfile's text
  (``boxwright.containerfile``).
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from boxwright.errors import InvalidReferenceError
from boxwright.oci.digest import Digest
from boxwright.oci.reference import Reference

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE: Final = "https://slsa.dev/provenance/v1"
BUILD_TYPE: Final = "https://boxwright.invalid/docs/sbom.md#provenance"
IN_TOTO_MEDIA_TYPE: Final = "application/vnd.in-toto+json"
PREDICATE_ANNOTATION: Final = "in-toto.io/predicate-type"


def docker_purl(name: str, platform: str = "") -> str:
    """``pkg:docker/NAMESPACE/NAME@TAG?platform=OS%2FARCH`` as BuildKit writes an image:
    the registry only when it is not Docker Hub, the tag (``latest`` when none)."""
    try:
        ref = Reference.parse_normalized(name)
    except InvalidReferenceError:  # a name that is no reference (an image ID) stays as it is
        return f"pkg:docker/{urllib.parse.quote(name, safe='/')}"
    path = ref.name.removeprefix("docker.io/").removeprefix("library/")
    purl = f"pkg:docker/{path}@{ref.tag or 'latest'}"
    if platform:
        purl += "?platform=" + urllib.parse.quote(platform, safe="")
    return purl


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class BuildFacts:
    """What a provenance statement says about one build."""

    image_name: str
    image_digest: Digest
    platform: str
    containerfile_path: str
    containerfile_digest: Digest
    started: datetime
    finished: datetime
    build_args: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None
    context_uri: str | None = None
    dependencies: Mapping[str, Digest] = field(default_factory=dict)
    """Image name as the Containerfile (or flag) gave it → the manifest digest used."""
    builder_id: str = ""
    builder_platform: str = ""
    mode: str = "min"
    containerfile_text: str | None = None


def provenance_statement(facts: BuildFacts) -> dict[str, Any]:
    """The in-toto statement (module docstring) of ``facts``, as a JSON object."""
    args: dict[str, str] = {f"build-arg:{k}": v for k, v in sorted(facts.build_args.items())}
    args.update({f"label:{k}": v for k, v in sorted(facts.labels.items())})
    args["filename"] = facts.containerfile_path
    if facts.target:
        args["target"] = facts.target
    if facts.platform:
        args["platform"] = facts.platform
    config_source: dict[str, Any] = {
        "path": facts.containerfile_path,
        "digest": {facts.containerfile_digest.algorithm: facts.containerfile_digest.hex},
    }
    if facts.context_uri:
        config_source["uri"] = facts.context_uri
    metadata: dict[str, Any] = {
        "invocationID": str(uuid.uuid4()),
        "startedOn": _time(facts.started),
        "finishedOn": _time(facts.finished),
    }
    if facts.mode == "max":
        metadata["buildkit_completeness"] = {"request": True, "resolvedDependencies": True}
        if facts.containerfile_text is not None:
            metadata["boxwright.containerfile"] = facts.containerfile_text
    return {
        "_type": STATEMENT_TYPE,
        "predicateType": PREDICATE_TYPE,
        "subject": [
            {
                "name": docker_purl(facts.image_name, facts.platform),
                "digest": {facts.image_digest.algorithm: facts.image_digest.hex},
            }
        ],
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "configSource": config_source,
                    "request": {"frontend": "dockerfile.v0", "args": args},
                },
                "internalParameters": {"builderPlatform": facts.builder_platform},
                "resolvedDependencies": [
                    {
                        "uri": docker_purl(name, facts.platform),
                        "digest": {digest.algorithm: digest.hex},
                    }
                    for name, digest in sorted(facts.dependencies.items())
                ],
            },
            "runDetails": {
                "builder": {"id": facts.builder_id},
                "metadata": metadata,
            },
        },
    }


def statement_bytes(statement: Mapping[str, Any]) -> bytes:
    """A statement as the bytes an artifact layer holds (compact JSON, keys in order)."""
    return json.dumps(statement, separators=(",", ":"), ensure_ascii=False).encode()


__all__ = [
    "BUILD_TYPE",
    "IN_TOTO_MEDIA_TYPE",
    "PREDICATE_ANNOTATION",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "BuildFacts",
    "docker_purl",
    "provenance_statement",
    "statement_bytes",
]
