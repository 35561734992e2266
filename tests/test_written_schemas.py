"""Everything boxwright writes to disk validates against the OCI JSON schemas.

Each writer is exercised for real (copy with conversion and recompression, repack, unpack
--bundle) and every JSON document it left behind is checked: the layout's ``oci-layout`` and
``index.json``, each manifest, index and config blob, and a bundle's runtime ``config.json``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from boxwright.copy import CopyOptions, copy_image
from boxwright.unpack import repack_image, unpack_image

SCHEMA_FOR = {
    "application/vnd.oci.image.manifest.v1+json": "image-manifest-schema.json",
    "application/vnd.oci.image.index.v1+json": "image-index-schema.json",
    "application/vnd.oci.image.config.v1+json": "config-schema.json",
}


def _errors(validator: Any, document: Any) -> list[str]:
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]


def validate_layout(layout: Path, validator: Callable[[str], Any]) -> int:
    """Validate every document of an OCI layout; return how many documents were checked."""
    checked = 0
    assert (
        _errors(
            validator("image-layout-schema.json"), json.loads((layout / "oci-layout").read_bytes())
        )
        == []
    )
    pending = [("index.json", json.loads((layout / "index.json").read_bytes()))]
    index_schema = validator("image-index-schema.json")
    while pending:
        where, document = pending.pop()
        media_type = document.get("mediaType", "application/vnd.oci.image.index.v1+json")
        assert (
            _errors(
                validator(SCHEMA_FOR[media_type]) if media_type in SCHEMA_FOR else index_schema,
                document,
            )
            == []
        ), where
        checked += 1
        children = document.get("manifests", [])
        if "config" in document:
            children = [document["config"]]
        for child in children:
            algorithm, hexpart = child["digest"].split(":")
            blob = json.loads((layout / "blobs" / algorithm / hexpart).read_bytes())
            if child["mediaType"] in SCHEMA_FOR and "config" not in child["mediaType"]:
                pending.append((child["digest"], blob))
            elif child["mediaType"] in SCHEMA_FOR:
                assert _errors(validator(SCHEMA_FOR[child["mediaType"]]), blob) == [], child
                checked += 1
    return checked


def test_copies_to_oci_validate(
    peer_images: Any, oci_index_writer: Any, tmp_path: Path, image_spec_validator: Any
) -> None:
    out = tmp_path / "out"
    copy_image(peer_images.refs["docker-archive"], f"oci:{out}:converted")
    copy_image(peer_images.refs["oci"], f"oci:{out}:zstd", CopyOptions(dest_compress="zstd"))
    copy_image(peer_images.refs["dir"], f"oci:{out}:fromdir", CopyOptions(format="oci"))
    # manifest, config for each of three images, plus index.json
    assert validate_layout(out, image_spec_validator) == 7


def test_repacked_layout_and_bundle_validate(
    peer_images: Any, tmp_path: Path, image_spec_validator: Any, runtime_spec_validator: Any
) -> None:
    layout = tmp_path / "layout"
    copy_image(peer_images.refs["oci"], f"oci:{layout}:base")
    bundle = tmp_path / "bundle"
    unpack_image(f"oci:{layout}:base", bundle, bundle=True)
    assert _errors(runtime_spec_validator, json.loads((bundle / "config.json").read_bytes())) == []
    (bundle / "rootfs" / "added.txt").write_text("new\n")
    repack_image(bundle, f"oci:{layout}:repacked")
    assert validate_layout(layout, image_spec_validator) == 5
