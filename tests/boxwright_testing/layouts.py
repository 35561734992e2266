"""OCI layouts written here byte for byte: the one writer of every helper that makes a test
image (the store's, the SBOM tests', the multi-platform busybox, containers-storage's).

A :class:`Layout` stores blobs by their sha256, writes configs, manifests and indexes as
compact JSON and names descriptors in ``index.json``; what goes into the layers is each
helper's own.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"

Descriptor = dict[str, object]


def encode(document: Mapping[str, object]) -> bytes:
    """A document as its blob's bytes (compact JSON)."""
    return json.dumps(document, separators=(",", ":")).encode()


class Layout:
    """An OCI layout at ``root`` (made, or added to)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def blob(self, data: bytes | Path, media_type: str) -> Descriptor:
        """Store ``data`` (bytes, or a file linked or copied in, read in chunks) as a blob;
        its descriptor."""
        if isinstance(data, bytes):
            digest = hashlib.sha256(data).hexdigest()
            (self.blobs / digest).write_bytes(data)
            return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}
        hashed = hashlib.sha256()
        with data.open("rb") as source:
            while chunk := source.read(1 << 20):
                hashed.update(chunk)
        target = self.blobs / hashed.hexdigest()
        if not target.exists():
            try:
                os.link(data, target)
            except OSError:
                shutil.copyfile(data, target)
        size = data.stat().st_size
        return {"mediaType": media_type, "digest": f"sha256:{hashed.hexdigest()}", "size": size}

    def config(self, document: Mapping[str, object]) -> Descriptor:
        return self.blob(encode(document), CONFIG)

    def manifest(self, config: Descriptor, layers: Sequence[Descriptor]) -> Descriptor:
        """An image manifest of ``config`` and ``layers``; its descriptor."""
        document = {"schemaVersion": 2, "mediaType": MANIFEST, "config": config}
        return self.blob(encode({**document, "layers": list(layers)}), MANIFEST)

    def index(self, manifests: Sequence[Descriptor]) -> Descriptor:
        """An image index of ``manifests`` (with their platforms); its descriptor."""
        document = {"schemaVersion": 2, "mediaType": INDEX, "manifests": list(manifests)}
        return self.blob(encode(document), INDEX)

    def tag(self, descriptor: Descriptor, tag: str) -> None:
        """Name ``descriptor`` ``tag`` in ``index.json``, in place of what had that name."""
        path = self.root / "index.json"
        top = (
            json.loads(path.read_text())
            if path.exists()
            else {"schemaVersion": 2, "mediaType": INDEX, "manifests": []}
        )
        kept = [m for m in top["manifests"] if m.get("annotations", {}).get(REF_NAME) != tag]
        plain = {k: v for k, v in descriptor.items() if k != "platform"}
        top["manifests"] = [*kept, {**plain, "annotations": {REF_NAME: tag}}]
        path.write_text(json.dumps(top))
