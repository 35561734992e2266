"""What boxwright writes validates against the OCI image-spec JSON schemas."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from boxwright.oci import mediatype as mt
from boxwright.oci.config import HistoryEntry, ImageConfig
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.index import ImageIndex
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.platform import Platform
from boxwright.oci.schema1 import Schema1Manifest

Read = Callable[[str], bytes]
Validator = Callable[[str], Any]


def _errors(validator: Any, raw: bytes) -> list[str]:
    return [e.message for e in validator.iter_errors(json.loads(raw))]


def _config() -> ImageConfig:
    base = ImageConfig.new(Platform("linux", "amd64"), created="2024-01-01T00:00:00Z")
    layer = Digest.from_bytes(b"layer")
    return base.with_layer_added(
        layer, HistoryEntry(created="2024-01-01T00:00:00Z", created_by="ADD x /")
    ).with_changes(cmd=["sh"], env=["PATH=/bin"], exposed_ports=["80/tcp"], labels={"a": "b"})


def test_built_config_manifest_index_validate(image_spec_validator: Validator) -> None:
    config = _config()
    assert _errors(image_spec_validator("config-schema.json"), config.raw) == []
    layer = Descriptor(mt.OCI_LAYER_GZIP, Digest.from_bytes(b"gz"), 2, urls=("https://x/y",))
    manifest = ImageManifest.build(
        mt.OCI_MANIFEST,
        config.descriptor(),
        [layer],
        annotations={"org.opencontainers.image.ref.name": "v1"},
        subject=Descriptor(mt.OCI_MANIFEST, Digest.from_bytes(b"s"), 1),
        artifact_type="application/vnd.example",
    )
    assert list(json.loads(manifest.raw)) == [
        "schemaVersion",
        "mediaType",
        "artifactType",
        "config",
        "layers",
        "subject",
        "annotations",
    ]
    assert _errors(image_spec_validator("image-manifest-schema.json"), manifest.raw) == []
    assert ImageManifest.parse(manifest.raw) == manifest
    index = ImageIndex.build(
        mt.OCI_INDEX,
        [manifest.descriptor().with_(platform=Platform("linux", "arm", "v7"))],
        annotations={"a": "b"},
    )
    assert _errors(image_spec_validator("image-index-schema.json"), index.raw) == []
    assert ImageIndex.parse(index.raw) == index


@pytest.mark.parametrize(
    ("name", "schema"),
    [
        ("oci1.json", "image-manifest-schema.json"),
        ("schema2.json", "image-manifest-schema.json"),
        ("oci1index.json", "image-index-schema.json"),
        ("schema2list.json", "image-index-schema.json"),
    ],
)
def test_conversions_to_oci_validate(
    name: str, schema: str, image_fixture: Read, image_spec_validator: Validator
) -> None:
    parsed: ImageManifest | ImageIndex
    if "index" in schema:
        parsed = ImageIndex.parse(image_fixture(name)).convert(mt.OCI_INDEX)
    else:
        parsed = ImageManifest.parse(image_fixture(name)).convert(mt.OCI_MANIFEST)
    assert _errors(image_spec_validator(schema), parsed.raw) == []


def test_converted_configs_validate(image_fixture: Read, image_spec_validator: Validator) -> None:
    validator = image_spec_validator("config-schema.json")
    oci = ImageConfig.parse(image_fixture("schema2-config.json")).to_oci()
    assert _errors(validator, oci.raw) == []
    s1 = Schema1Manifest.parse(image_fixture("schema1.json"))
    ids = [Digest.from_bytes(bytes([i])) for i in range(len(s1.non_empty_layers()))]
    assert _errors(validator, s1.to_config(ids, oci=True)) == []


def test_validator_is_not_vacuous(image_spec_validator: Validator) -> None:
    """The schemas really are applied: a broken manifest is reported."""
    bad = b'{"schemaVersion": 2, "config": {"mediaType": "x", "size": -1, "digest": "nope"}}'
    assert _errors(image_spec_validator("image-manifest-schema.json"), bad)
