"""Small images made here, byte for byte, for the store tests (no peer tool needed).

:func:`make_oci_image` writes an OCI layout holding one image of ``layers`` gzip layers with
distinct content (``seed`` makes images differ), and returns what it wrote, so a test can
compare digests exactly. :func:`run_in_processes` races forked workers on one store.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import multiprocessing
import os
import tarfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from boxwright_testing.layouts import LAYER_GZIP, Descriptor, Layout


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


def _write_big_blob(layout: Layout, chunks: int, seed: str) -> tuple[Descriptor, str]:
    """A gzip-level-0 layer of ``chunks`` MiB of random bytes: its descriptor and diff_id."""
    tmp = layout.root / "big.tmp"
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
    desc = layout.blob(tmp, LAYER_GZIP)
    tmp.unlink()
    return desc, f"sha256:{tar_hash.hexdigest()}"


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
    out = Layout(layout)
    descs: list[Descriptor] = []
    diff_ids: list[str] = []
    for i in range(layers):
        blob, diff_id = _layer({f"file-{seed}-{i}.txt": f"layer {i} of image {seed}\n".encode()})
        descs.append(out.blob(blob, LAYER_GZIP))
        diff_ids.append(diff_id)
    if big_layer_mib:
        desc, diff_id = _write_big_blob(out, big_layer_mib, seed)
        descs.append(desc)
        diff_ids.append(diff_id)
    config = out.config(
        {
            "created": created,
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "Env": [f"SEED={seed}"],
                "Cmd": ["/bin/sh"],
                **({"Labels": labels} if labels else {}),
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [
                {"created": created, "created_by": f"layer {i}"} for i in range(len(descs))
            ],
        }
    )
    manifest = out.manifest(config, descs)
    out.tag(manifest, tag)
    return MadeImage(
        layout,
        tag,
        str(manifest["digest"]),
        str(config["digest"]),
        tuple(str(d["digest"]) for d in descs),
        tuple(diff_ids),
        sum(int(str(d["size"])) for d in (config, *descs)),
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
