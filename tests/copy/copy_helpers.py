"""Helpers of the copy tests: peer tool runners, digests, and a hand-made OCI layout writer.

A module of its own (not conftest) so that test modules can import it by a unique name.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

UMOCI = shutil.which("umoci")
SKOPEO = shutil.which("skopeo")
needs_umoci = pytest.mark.skipif(UMOCI is None, reason="umoci is not installed")
needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def run(*args: str | os.PathLike[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run a peer tool; fail the test with its output when it fails."""
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, **kwargs
    )
    assert done.returncode == 0, f"{args}: {done.stdout}{done.stderr}"
    return done


def skopeo(*args: str | os.PathLike[str]) -> subprocess.CompletedProcess[str]:
    if SKOPEO is None:
        pytest.skip("skopeo is not installed")
    return run(SKOPEO, "--insecure-policy", *args)


def skopeo_json(*args: str | os.PathLike[str]) -> Any:
    return json.loads(skopeo(*args).stdout)


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def make_tar(files: dict[str, bytes]) -> bytes:
    """A small deterministic tar of regular files (test data only; tiny, so in memory)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


class LayoutWriter:
    """Writes blobs, manifests and index.json of a hand-made OCI layout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    def blob(self, data: bytes, media_type: str) -> dict[str, Any]:
        digest = sha256(data)
        (self.root / "blobs" / "sha256" / digest[7:]).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def json_blob(self, obj: Any, media_type: str) -> dict[str, Any]:
        return self.blob(json.dumps(obj, separators=(",", ":")).encode(), media_type)

    def image(self, arch: str, files: dict[str, bytes]) -> dict[str, Any]:
        """One image with one gzip layer; returns the manifest descriptor."""
        tar = make_tar(files)
        layer = self.blob(gzip.compress(tar, mtime=0), OCI_LAYER_GZIP)
        config = self.json_blob(
            {
                "created": "2024-01-02T03:04:05.123456789Z",
                "architecture": arch,
                "os": "linux",
                "config": {"Env": [f"ARCH={arch}"], "Labels": {"arch": arch}},
                "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]},
                "history": [{"created": "2024-01-02T03:04:05Z", "created_by": f"make {arch}"}],
            },
            OCI_CONFIG,
        )
        return self.json_blob(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]},
            OCI_MANIFEST,
        )

    def index_json(self, manifests: list[dict[str, Any]]) -> None:
        doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        (self.root / "index.json").write_text(json.dumps(doc, separators=(",", ":")))


@dataclass(frozen=True)
class MultiLayout:
    """The two-platform layout: its path, the index blob descriptor, each child by arch."""

    path: Path
    index: dict[str, Any]
    children: dict[str, dict[str, Any]]

    @property
    def ref(self) -> str:
        return f"oci:{self.path}:multi"
