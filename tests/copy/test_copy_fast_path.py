"""What keeps ``boxwright copy`` fast without weakening it: each blob hashed once, big blobs
written by a helper thread, one directory fsync before ``index.json``, lean imports."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from copy_helpers import OCI_CONFIG, OCI_MANIFEST, LayoutWriter, file_digest, make_tar, sha256

from boxwright import _atomic
from boxwright.copy import CopyOptions, ProgressEvent, copy_image
from boxwright.errors import DigestMismatchError, ImageNotFoundError
from boxwright.transport import atomic

REF_NAME = "org.opencontainers.image.ref.name"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def _big_layout(root: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A layout whose one layer (a stored gzip, ~6 MB) is big enough to be written behind."""
    writer = LayoutWriter(root)
    body = b"".join(sha256(i.to_bytes(4, "big")).encode() for i in range(90_000))
    tar = make_tar({"data/big.bin": body})
    layer = writer.blob(
        gzip.compress(tar, compresslevel=0, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"
    )
    assert layer["size"] > atomic.WRITE_BEHIND_MIN
    config = writer.json_blob(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]},
        },
        OCI_CONFIG,
    )
    manifest = writer.json_blob(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]},
        OCI_MANIFEST,
    )
    writer.index_json([dict(manifest, annotations={REF_NAME: "big"})])
    return manifest, layer


def _count_hashers(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    made: list[str] = []
    real = atomic.new_hasher

    def counting(algorithm: str = "sha256") -> Any:
        made.append(algorithm)
        return real(algorithm)

    monkeypatch.setattr(atomic, "new_hasher", counting)
    return made


@pytest.mark.parametrize("progress", [False, True], ids=["quiet", "with-progress"])
def test_layers_copied_unchanged_are_hashed_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, progress: bool
) -> None:
    """The source's verifying reader hashes a layer; the destination trusts it, even through
    the compression sniffing and progress readers, so only the config and the manifest (read
    into memory and handed over as bytes) are hashed by the blob writer."""
    src = tmp_path / "src"
    manifest, layer = _big_layout(src)
    made = _count_hashers(monkeypatch)
    events: list[ProgressEvent] = []
    options = CopyOptions(on_progress=events.append if progress else None)
    result = copy_image(f"oci:{src}:big", f"oci:{tmp_path / 'out'}:x", options)
    assert made == ["sha256", "sha256"]
    assert str(result.digest) == manifest["digest"]
    copied = tmp_path / "out" / "blobs" / "sha256" / layer["digest"][7:]
    assert file_digest(copied) == layer["digest"]
    assert copied.stat().st_size == layer["size"]
    if progress:
        assert [e.done for e in events if e.kind == "progress"] == list(
            range(1 << 20, layer["size"] + 1, 1 << 20)
        )


def test_a_corrupt_big_layer_fails_and_leaves_nothing(tmp_path: Path) -> None:
    src = tmp_path / "src"
    _, layer = _big_layout(src)
    victim = src / "blobs" / "sha256" / layer["digest"][7:]
    data = bytearray(victim.read_bytes())
    data[len(data) - 100] ^= 0xFF  # near the end: the writer thread has written most of it
    victim.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(DigestMismatchError, match="does not match its digest"):
        copy_image(f"oci:{src}:big", f"oci:{out}:x")
    assert sorted(os.listdir(out / "blobs")) == []
    assert not (out / "index.json").exists()
    with pytest.raises(ImageNotFoundError):
        copy_image(f"oci:{out}:x", f"oci:{tmp_path / 'again'}:y")
    assert [t for t in threading.enumerate() if t.name == "boxwright-blob-write"] == []


def test_blob_renames_are_made_durable_once_before_index_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One fsync of blobs/sha256, after the last blob rename and before index.json's rename."""
    src = tmp_path / "src"
    _big_layout(src)
    out = tmp_path / "out"
    events: list[tuple[str, str]] = []
    lock = threading.Lock()
    real_replace, real_fsync_dir = os.replace, atomic.fsync_dir

    def replace(a: Any, b: Any) -> None:
        real_replace(a, b)
        with lock:
            events.append(("rename", os.path.relpath(b, out)))

    def fsync_dir(path: Any) -> None:
        real_fsync_dir(path)
        with lock:
            events.append(("fsync", os.path.relpath(path, out)))

    monkeypatch.setattr(os, "replace", replace)
    # Blob directories are made durable by transport.atomic, small files (oci-layout,
    # index.json) by the one small-file writer of boxwright._atomic: watch both.
    monkeypatch.setattr(atomic, "fsync_dir", fsync_dir)
    monkeypatch.setattr(_atomic, "fsync_dir", fsync_dir)
    copy_image(f"oci:{src}:big", f"oci:{out}:x")
    blob_dir = os.path.join("blobs", "sha256")
    kinds = [(kind, path if kind == "fsync" else os.path.dirname(path)) for kind, path in events]
    assert kinds == [
        ("rename", ""),  # oci-layout
        ("fsync", "."),
        *[("rename", blob_dir)] * 3,  # layer, config, manifest
        ("fsync", blob_dir),
        ("rename", ""),  # index.json
        ("fsync", "."),
    ]
    assert events[-2] == ("rename", "index.json")
    assert json.loads((out / "index.json").read_bytes())["manifests"][0]["annotations"] == {
        REF_NAME: "x"
    }


def test_the_copy_path_imports_only_what_it_uses() -> None:
    """Start-up time: a plain copy loads neither layer application nor generation, nor the
    config and schema 1 models, nor references and runtime specs."""
    probe = (
        "import sys\n"
        "import boxwright.copy.pipeline, boxwright.transport.oci_layout\n"
        "import boxwright.transport.reference\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert "boxwright.copy.pipeline" in loaded
    unused = {
        "boxwright.layer.apply",
        "boxwright.layer.generate",
        "boxwright.layer.snapshot",
        "boxwright.layer.streams",
        "boxwright.layer.compression",
        "boxwright.oci.config",
        "boxwright.oci.schema1",
        "boxwright.oci.reference",
        "boxwright.oci.runtime_spec",
        "boxwright.transport.image",
        "tarfile",
        "isal",
        "zstandard",
    }
    assert unused & loaded == set()


def test_the_largest_layers_are_started_first_and_results_keep_layer_order(
    tmp_path: Path,
) -> None:
    """With one worker the start order is visible: largest first; the manifest is unchanged."""
    from boxwright.transport.reference import parse_transport_reference

    src = tmp_path / "src"
    writer = LayoutWriter(src)
    sizes = [3_000, 90_000, 500, 40_000]
    tars = [make_tar({f"f{i}": bytes([i]) * size}) for i, size in enumerate(sizes)]
    layers = [writer.blob(gzip.compress(tar, compresslevel=0, mtime=0), LAYER_GZIP) for tar in tars]
    config = writer.json_blob(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(tar) for tar in tars]},
        },
        OCI_CONFIG,
    )
    manifest = writer.json_blob(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": layers},
        OCI_MANIFEST,
    )
    writer.index_json([dict(manifest, annotations={REF_NAME: "x"})])

    dest = parse_transport_reference(f"oci:{tmp_path / 'out'}:x").open_destination()
    order: list[str] = []
    real_put = dest.put_blob

    def put_blob(stream: Any, descriptor: Any = None) -> Any:
        order.append(str(descriptor.digest))
        return real_put(stream, descriptor)

    dest.put_blob = put_blob  # type: ignore[method-assign]
    result = copy_image(f"oci:{src}:x", dest, CopyOptions(parallel=1))
    by_size = sorted(layers, key=lambda layer: -layer["size"])
    assert order == [layer["digest"] for layer in by_size] + [config["digest"]]
    assert str(result.digest) == manifest["digest"]
    assert [str(d.digest) for d in result.images[0].layers] == [layer["digest"] for layer in layers]
