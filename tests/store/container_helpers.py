"""Helpers for the snapshot, container and commit tests (a uniquely named module, so importing
it never collides with another test directory's helpers).

* :data:`PEER_NAME` is the name the store tests give the buildah-made test image
  (``peer_images``; the ``base`` fixture of ``conftest.py`` imports it);
* :func:`import_oci` puts an image of an OCI layout into a store by hand (blobs, then
  ``ImageStore.add``), so these tests depend on nothing but the store's own blob and image API;
* :func:`layer_members` lists what a layer blob holds, for exact assertions.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.store.images import ImageRecord
from boxwright.store.store import Store

PEER_NAME = "localhost/boxwright-test:latest"


def import_oci(store: Store, layout: Path, tag: str, names: list[str]) -> ImageRecord:
    """Store the image ``tag`` of the OCI layout ``layout`` under ``names``."""
    index = json.loads((layout / "index.json").read_text())
    entry = next(
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    )
    blobs = layout / "blobs" / "sha256"
    manifest_raw = (blobs / entry["digest"].split(":", 1)[1]).read_bytes()
    manifest = json.loads(manifest_raw)
    for desc in [manifest["config"], *manifest["layers"]]:
        with (blobs / desc["digest"].split(":", 1)[1]).open("rb") as stream:
            store.blobs.put(
                stream, Descriptor(desc["mediaType"], Digest.parse(desc["digest"]), desc["size"])
            )
    return store.images.add(manifest_raw, entry["mediaType"], names)


def layer_members(store: Store, digest: Digest) -> dict[str, tuple[str, int, int, int, bytes]]:
    """name → (type, mode, uid, gid, content) of every entry of a stored layer blob."""
    raw = store.blobs.read(digest, limit=64 << 20)
    out: dict[str, tuple[str, int, int, int, bytes]] = {}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:*") as tar:
        for member in tar.getmembers():
            data = b""
            if member.isfile():
                extracted = tar.extractfile(member)
                assert extracted is not None
                data = extracted.read()
            kind = member.type.decode() if isinstance(member.type, bytes) else str(member.type)
            out[member.name] = (kind, member.mode, member.uid, member.gid, data)
    return out


def config_of(store: Store, record: ImageRecord) -> dict[str, Any]:
    """The stored config JSON of an image record."""
    loaded: dict[str, Any] = json.loads(store.blobs.read(record.config))
    return loaded


def manifest_of(store: Store, record: ImageRecord) -> dict[str, Any]:
    """The stored manifest JSON of an image record."""
    loaded: dict[str, Any] = json.loads(store.blobs.read(record.manifest))
    return loaded
