"""Helpers for the explain tests: tar layers built in memory and OCI layouts written by hand.

:func:`tar_layer` builds an uncompressed layer from a list of ``(kind, name, ...)`` specs;
:func:`write_layout` writes an OCI layout (gzip layers, a config with the given history) so a
test knows every byte of the image it explains.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MTIME = 1_600_000_000

Spec = tuple[Any, ...]


def tar_layer(specs: Sequence[Spec]) -> bytes:
    """An uncompressed tar from specs: ``("file", name, data[, mode])``, ``("dir", name)``,
    ``("symlink", name, target)``, ``("hardlink", name, target)``, ``("fifo", name)``,
    ``("whiteout", name)`` (``.wh.``-prefixed base name), ``("opaque", dir)``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for spec in specs:
            kind, name = spec[0], spec[1]
            data = b""
            if kind == "whiteout":
                parent, _, base = name.rpartition("/")
                name = f"{parent}/.wh.{base}" if parent else f".wh.{base}"
            elif kind == "opaque":
                name = f"{name}/.wh..wh..opq" if name else ".wh..wh..opq"
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            info.mode = 0o644
            if kind == "file":
                data = spec[2]
                if len(spec) > 3:
                    info.mode = spec[3]
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
            elif kind == "symlink":
                info.type = tarfile.SYMTYPE
                info.linkname = spec[2]
                info.mode = 0o777
            elif kind == "hardlink":
                info.type = tarfile.LNKTYPE
                info.linkname = spec[2]
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)
    return buffer.getvalue()


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(layout: Path, data: bytes) -> dict[str, Any]:
    digest = _digest(data)
    (layout / "blobs" / "sha256" / digest[7:]).write_bytes(data)
    return {"digest": digest, "size": len(data)}


def write_layout(
    layout: Path,
    layers: Sequence[bytes],
    history: list[dict[str, Any]] | None = None,
    config: dict[str, Any] | None = None,
    tag: str = "latest",
) -> str:
    """Write an OCI layout holding one image of ``layers`` (uncompressed tars, stored
    gzip-compressed) with ``history`` (omitted when None); return its ``oci:`` reference."""
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    descs = []
    for tar in layers:
        descs.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                **_blob(layout, gzip.compress(tar, mtime=0)),
            }
        )
    cfg: dict[str, Any] = {
        "created": "2024-01-02T03:04:05Z",
        "architecture": "amd64",
        "os": "linux",
        "config": config or {},
        "rootfs": {"type": "layers", "diff_ids": [_digest(t) for t in layers]},
    }
    if history is not None:
        cfg["history"] = history
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **_blob(layout, json.dumps(cfg).encode()),
        },
        "layers": descs,
    }
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **_blob(layout, json.dumps(manifest).encode()),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (layout / "index.json").write_text(json.dumps(index))
    return f"oci:{layout}:{tag}"
