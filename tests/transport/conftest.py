"""Fixtures for the transport tests: a plain mirror copy and skopeo helpers.

``mirror`` moves an image from any source to any destination exactly as stored (same
manifests, same blobs), using only the source/destination protocols, so these tests do not
depend on the copy pipeline.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from typing import Any

import pytest

from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.index import ImageIndex
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.parse import parse_manifest
from boxwright.transport.base import ImageDestination, ImageSource

SKOPEO = shutil.which("skopeo")
needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")


def _copy_image_manifest(
    source: ImageSource, dest: ImageDestination, raw: bytes, media_type: str
) -> Descriptor:
    manifest = ImageManifest.parse(raw, media_type)
    for blob in (manifest.config, *manifest.layers):
        if not dest.has_blob(blob):
            with source.get_blob(blob) as stream:
                dest.put_blob(stream, blob)
    return dest.put_manifest(raw, media_type)


def mirror_image(source: ImageSource, dest: ImageDestination) -> Descriptor:
    """Copy the source's top manifest (and everything under it) unchanged; commit it."""
    raw, media_type = source.get_manifest()
    parsed = parse_manifest(raw, media_type)
    if isinstance(parsed, ImageIndex):
        for entry in parsed.manifests:
            child_raw, child_type = source.get_manifest(entry.digest)
            _copy_image_manifest(source, dest, child_raw, child_type)
        top = dest.put_manifest(raw, media_type)
    else:
        top = _copy_image_manifest(source, dest, raw, media_type)
    dest.commit(top)
    return top


@pytest.fixture
def mirror() -> Callable[[ImageSource, ImageDestination], Descriptor]:
    """:func:`mirror_image`."""
    return mirror_image


def skopeo_json(*args: str) -> Any:
    """Run ``skopeo ARGS`` and parse its JSON output."""
    import subprocess

    assert SKOPEO is not None
    done = subprocess.run([SKOPEO, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def skopeo() -> Callable[..., Any]:
    """:func:`skopeo_json` (skips the test when skopeo is missing)."""
    if SKOPEO is None:
        pytest.skip("skopeo is not installed")
    return skopeo_json


__all__ = ["mt", "needs_skopeo"]
