"""Small images made here, byte for byte, for the store tests (no peer tool needed).

:func:`make_oci_image` writes an OCI layout holding one image of ``layers`` gzip layers with
distinct content (``seed`` makes images differ), and returns what it wrote, so a test can
compare digests exactly. :func:`run_in_processes` races forked workers on one store.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import multiprocessing
import os
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MadeImage:
    """An image written by :func:`make_oci_image`."""

    layout: Path
    tag: str
    manifest_digest: str
    config_digest: str
    layer_digests: tuple[str, ...]
    diff_ids: tuple[str, ...]
    size: int  # config + layers, compressed

    @property
    def ref(self) -> str:
        return f"oci:{self.layout}:{self.tag}"

    @property
    def id(self) -> str:
        return self.config_digest.removeprefix("sha256:")


def _blob(layout: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = layout / "blobs" / "sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return f"sha256:{digest}"


def _write_big_blob(layout: Path, chunks: int, seed: str) -> tuple[str, int, str]:
    """A gzip-level-0 layer of ``chunks`` MiB of random bytes: digest, size, diff_id."""
    tmp = layout / "big.tmp"
    tar_hash = hashlib.sha256()
    with open(tmp, "wb") as raw:
        gz = gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=0, mtime=0)

        class Both(io.RawIOBase):
            def writable(self) -> bool:
                return True

            def write(self, b: bytes) -> int:  # type: ignore[override]
                tar_hash.update(b)
                gz.write(b)
                return len(b)

        with tarfile.open(fileobj=Both(), mode="w|", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo(f"big-{seed}.bin")
            info.size = chunks << 20
            reader = io.BufferedReader(_Random(chunks << 20))
            tar.addfile(info, reader)
        gz.close()
    blob_hash = hashlib.sha256()
    with open(tmp, "rb") as f:
        while chunk := f.read(1 << 20):
            blob_hash.update(chunk)
    digest = blob_hash.hexdigest()
    final = layout / "blobs" / "sha256" / digest
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)
    return f"sha256:{digest}", final.stat().st_size, f"sha256:{tar_hash.hexdigest()}"


class _Random(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(b), self.left, 1 << 20)
        b[:n] = os.urandom(n)
        self.left -= n
        return n


def _layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0), f"sha256:{hashlib.sha256(raw).hexdigest()}"


def make_oci_image(
    layout: Path,
    tag: str = "latest",
    *,
    seed: str = "0",
    layers: int = 2,
    big_layer_mib: int = 0,
    created: str = "2024-01-02T03:04:05Z",
    labels: dict[str, str] | None = None,
) -> MadeImage:
    """Write (or add to) an OCI layout an image with ``layers`` small layers, plus one random
    layer of ``big_layer_mib`` MiB on top when asked; return what was written."""
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    descs: list[dict[str, object]] = []
    diff_ids: list[str] = []
    for i in range(layers):
        blob, diff_id = _layer({f"file-{seed}-{i}.txt": f"layer {i} of image {seed}\n".encode()})
        descs.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": _blob(layout, blob),
                "size": len(blob),
            }
        )
        diff_ids.append(diff_id)
    if big_layer_mib:
        digest, size, diff_id = _write_big_blob(layout, big_layer_mib, seed)
        descs.append(
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest,
                "size": size,
            }
        )
        diff_ids.append(diff_id)
    config = {
        "created": created,
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": [f"SEED={seed}"],
            "Cmd": ["/bin/sh"],
            **({"Labels": labels} if labels else {}),
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": created, "created_by": f"layer {i}"} for i in range(len(descs))],
    }
    config_raw = json.dumps(config, separators=(",", ":")).encode()
    config_digest = _blob(layout, config_raw)
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": len(config_raw),
        },
        "layers": descs,
    }
    manifest_raw = json.dumps(manifest, separators=(",", ":")).encode()
    manifest_digest = _blob(layout, manifest_raw)
    index_path = layout / "index.json"
    index = (
        json.loads(index_path.read_text())
        if index_path.exists()
        else {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [],
        }
    )
    index["manifests"] = [
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag
    ]
    index["manifests"].append(
        {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": len(manifest_raw),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }
    )
    index_path.write_text(json.dumps(index))
    return MadeImage(
        layout,
        tag,
        manifest_digest,
        config_digest,
        tuple(str(d["digest"]) for d in descs),
        tuple(diff_ids),
        len(config_raw) + sum(int(str(d["size"])) for d in descs),
    )


def run_in_processes(
    target: Callable[..., object], argsets: Iterable[tuple[object, ...]], timeout: float = 60
) -> None:
    """Run ``target(*args)`` for every ``args`` of ``argsets``, each in its own forked process,
    all at once; every process must exit with status 0 within ``timeout`` seconds."""
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=target, args=args) for args in argsets]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout)
        assert proc.exitcode == 0, f"worker {proc.pid} failed ({proc.exitcode})"
