"""Three images in one hand-written OCI layout for the diff tests, with known contents.

Image A and image B share a base layer; their second layers differ in every way a file can
(content at equal size, mode, owner, symlink target, type, added, removed, whiteout) plus
a file rewritten with the same bytes and a new mtime, which must not count as modified.
Image C is A with its base layer stored uncompressed: the same tar, another blob. The
module-scoped fixture ``pair`` of ``conftest.py`` writes them with :func:`make_pair`.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EPOCH = 1_700_000_000


@dataclass(frozen=True)
class Spec:
    """One tar entry: a file (``data``), a directory, or a symlink (``link``)."""

    name: str
    data: bytes | None = None
    mode: int = 0o644
    uid: int = 0
    link: str | None = None
    kind: str = "file"
    mtime: int = EPOCH


def make_tar(specs: list[Spec]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for spec in specs:
            info = tarfile.TarInfo(spec.name)
            info.mode, info.uid, info.gid, info.mtime = spec.mode, spec.uid, spec.uid, spec.mtime
            if spec.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif spec.link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, spec.link
                tar.addfile(info)
            else:
                data = spec.data or b""
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(layout: Path, data: bytes) -> dict[str, Any]:
    path = layout / "blobs" / "sha256" / sha(data).split(":")[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": sha(data), "size": len(data)}


def add_image(
    layout: Path,
    tag: str,
    layers: list[tuple[bytes, bool]],
    config: dict[str, Any],
    history: list[dict[str, Any]],
) -> dict[str, Any]:
    """Write an image (layers as ``(tar, gzip?)``) into ``layout`` under ``tag``."""
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    descs = []
    for tar, compress in layers:
        blob = gzip.compress(tar, mtime=0) if compress else tar
        media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if compress else "")
        descs.append({"mediaType": media, **_blob(layout, blob)})
    full = {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [sha(t) for t, _ in layers]},
        "history": history,
    }
    cfg = {"mediaType": "application/vnd.oci.image.config.v1+json"}
    cfg.update(_blob(layout, json.dumps(full).encode()))
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": cfg,
        "layers": descs,
    }
    desc = {"mediaType": manifest["mediaType"], **_blob(layout, json.dumps(manifest).encode())}
    desc["annotations"] = {"org.opencontainers.image.ref.name": tag}
    index_path = layout / "index.json"
    index = (
        json.loads(index_path.read_text())
        if index_path.exists()
        else {"schemaVersion": 2, "manifests": []}
    )
    index["manifests"].append(desc)
    index_path.write_text(json.dumps(index))
    return {"manifest": desc["digest"], "config": cfg["digest"], "layers": descs}


BASE = [
    Spec("data", kind="dir", mode=0o755),
    Spec("data/content.txt", b"aaaa"),
    Spec("data/perm.txt", b"perm"),
    Spec("data/own.txt", b"own"),
    Spec("data/same.txt", b"same"),
    Spec("data/keep.txt", b"keep"),
    Spec("data/link", link="same.txt"),
    Spec("usr/bin/tool", b"#!/bin/sh\n"),
]
TOP_A = [
    Spec("data/gone.txt", b"gone"),
    Spec("app/old/x.txt", b"x"),
]
TOP_B = [
    Spec("data/content.txt", b"bbbb"),  # same size, other bytes
    Spec("data/perm.txt", b"perm", mode=0o755),  # same bytes, other mode
    Spec("data/own.txt", b"own", uid=1000),  # same bytes, other owner
    Spec("data/same.txt", b"same", mtime=EPOCH + 99),  # same bytes, new mtime: unchanged
    Spec("data/link", link="keep.txt"),  # other target
    Spec("data/.wh.keep.txt", b""),  # deleted
    Spec("usr/bin/tool", kind="dir", mode=0o755),  # file -> directory
    Spec("data/new.txt", b"new file"),
]
CONFIG_A = {
    "Env": ["PATH=/usr/bin:/bin", "FOO=1"],
    "Cmd": ["/bin/a"],
    "Labels": {"x": "1", "gone": "yes"},
    "User": "0",
}
CONFIG_B = {
    "Env": ["PATH=/usr/bin:/bin", "FOO=2", "BAR=3"],
    "Cmd": ["/bin/b"],
    "Labels": {"x": "1", "y": "2"},
    "User": "1000",
    "ExposedPorts": {"80/tcp": {}},
}
H_BASE = {"created": "2024-01-01T00:00:00Z", "created_by": "COPY base /"}
HISTORY_A = [
    H_BASE,
    {"created": "2024-01-02T00:00:00Z", "created_by": "RUN make-a"},
    {"created": "2024-01-02T00:00:01Z", "created_by": "ENV FOO=1", "empty_layer": True},
]
HISTORY_B = [H_BASE, {"created": "2024-01-03T00:00:00Z", "created_by": "RUN make-b"}]


@dataclass(frozen=True)
class Pair:
    layout: Path
    a: dict[str, Any]
    b: dict[str, Any]
    c: dict[str, Any]

    def ref(self, tag: str) -> str:
        return f"oci:{self.layout}:{tag}"


def make_pair(layout: Path) -> Pair:
    """Write images ``a``, ``b`` and ``c`` into a new OCI layout at ``layout``."""
    layout.mkdir()
    base, top_a, top_b = make_tar(BASE), make_tar(TOP_A), make_tar(TOP_B)
    a = add_image(layout, "a", [(base, True), (top_a, True)], CONFIG_A, HISTORY_A)
    b = add_image(layout, "b", [(base, True), (top_b, True)], CONFIG_B, HISTORY_B)
    c = add_image(layout, "c", [(base, False), (top_a, True)], CONFIG_A, HISTORY_A)
    return Pair(layout, a, b, c)
