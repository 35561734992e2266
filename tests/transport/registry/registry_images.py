"""Small hand-made OCI images for the registry tests (no peer tool needed to make them).

:func:`make_image` writes an OCI layout with ``layers`` gzip layers of pseudo-random file
content (deterministic per ``seed``), so each test pushes blobs no other test has, and knows
every digest it should find at the destination. :func:`make_index` wraps two such images
(amd64 and arm64) in an image index for ``--all``/``--platform`` tests.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class TestImage:
    """An image in an OCI layout: its reference and every digest in it."""

    __test__ = False  # not a pytest class

    layout: Path
    tag: str
    manifest_digest: str
    media_type: str
    config_digest: str
    layer_digests: tuple[str, ...]
    children: tuple[str, ...] = ()  # manifest digests of an index

    @property
    def ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"

    @property
    def blob_digests(self) -> tuple[str, ...]:
        return (self.config_digest, *self.layer_digests)


def _put(layout: Path, data: bytes) -> dict[str, Any]:
    digest = sha256(data)
    path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": digest, "size": len(data)}


def _layer(rng: random.Random, index: int, size: int) -> tuple[bytes, bytes]:
    """(gzip blob, uncompressed tar) of one file of ``size`` random bytes."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = rng.randbytes(size)
        info = tarfile.TarInfo(f"data/layer{index}.bin")
        info.size = len(data)
        info.mode = 0o644
        info.mtime = 1_600_000_000
        tar.addfile(info, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return gzip.compress(tar_bytes, compresslevel=1, mtime=0), tar_bytes


def _write_manifest(
    layout: Path, rng: random.Random, layers: int, layer_size: int, arch: str
) -> tuple[dict[str, Any], str, tuple[str, ...]]:
    layer_descs: list[dict[str, Any]] = []
    diff_ids: list[str] = []
    for i in range(layers):
        blob, tar_bytes = _layer(rng, i, layer_size)
        layer_descs.append({"mediaType": OCI_LAYER_GZIP, **_put(layout, blob)})
        diff_ids.append(sha256(tar_bytes))
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"], "Labels": {"seed": str(rng.random())}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": f"layer {i}"} for i in range(layers)],
    }
    config_desc = {"mediaType": OCI_CONFIG, **_put(layout, json.dumps(config).encode())}
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config_desc,
        "layers": layer_descs,
    }
    desc = {"mediaType": OCI_MANIFEST, **_put(layout, json.dumps(manifest, indent=2).encode())}
    return desc, config_desc["digest"], tuple(d["digest"] for d in layer_descs)


def _write_index_json(layout: Path, desc: dict[str, Any], tag: str) -> None:
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    entry = {**desc, "annotations": {"org.opencontainers.image.ref.name": tag}}
    (layout / "index.json").write_text(
        json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [entry]})
    )


def make_image(
    layout: Path,
    *,
    layers: int = 2,
    layer_size: int = 4096,
    seed: int | str | None = None,
    tag: str = "latest",
) -> TestImage:
    """An OCI layout at ``layout`` holding one single-platform image under ``tag``."""
    rng = random.Random(seed if seed is not None else str(layout))
    layout.mkdir(parents=True, exist_ok=True)
    desc, config, layer_digests = _write_manifest(layout, rng, layers, layer_size, "amd64")
    _write_index_json(layout, desc, tag)
    return TestImage(layout, tag, desc["digest"], OCI_MANIFEST, config, layer_digests)


def make_index(
    layout: Path, *, layer_size: int = 2048, seed: int | str | None = None, tag: str = "latest"
) -> TestImage:
    """An OCI layout holding an image index of a linux/amd64 and a linux/arm64 image."""
    rng = random.Random(seed if seed is not None else str(layout))
    layout.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    configs: list[str] = []
    layer_digests: list[str] = []
    for arch in ("amd64", "arm64"):
        desc, config, layers = _write_manifest(layout, rng, 1, layer_size, arch)
        entries.append({**desc, "platform": {"architecture": arch, "os": "linux"}})
        configs.append(config)
        layer_digests.extend(layers)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    desc = {"mediaType": OCI_INDEX, **_put(layout, json.dumps(index, indent=2).encode())}
    _write_index_json(layout, desc, tag)
    return TestImage(
        layout,
        tag,
        desc["digest"],
        OCI_INDEX,
        configs[0],
        tuple(layer_digests),
        children=tuple(e["digest"] for e in entries),
    )
