"""diff_images on hand-written OCI layouts with known contents: every section exact.

Image A and image B share a base layer; their second layers differ in every way a file can
(content at equal size, mode, owner, symlink target, type, added, removed, whiteout) plus
a file rewritten with the same bytes and a new mtime, which must not count as modified.
Image C is A with its base layer stored uncompressed: the same tar, another blob.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from boxwright.explain.diff import diff_images
from boxwright.transport.image import Image

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


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(layout: Path, data: bytes) -> dict[str, Any]:
    path = layout / "blobs" / "sha256" / _sha(data).split(":")[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": _sha(data), "size": len(data)}


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
        "rootfs": {"type": "layers", "diff_ids": [_sha(t) for t, _ in layers]},
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


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    layout = tmp_path_factory.mktemp("diff") / "layout"
    layout.mkdir()
    base, top_a, top_b = make_tar(BASE), make_tar(TOP_A), make_tar(TOP_B)
    a = add_image(layout, "a", [(base, True), (top_a, True)], CONFIG_A, HISTORY_A)
    b = add_image(layout, "b", [(base, True), (top_b, True)], CONFIG_B, HISTORY_B)
    c = add_image(layout, "c", [(base, False), (top_a, True)], CONFIG_A, HISTORY_A)
    return Pair(layout, a, b, c)


def _entry(path: str, layer: int, size: int = 0, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "path": path,
        "kind": extra.pop("kind", "file"),
        "size": size,
        "mode": extra.pop("mode", "0644"),
        "uid": extra.pop("uid", 0),
        "gid": extra.pop("gid", 0),
        "mtime": EPOCH * 1_000_000_000,
    }
    out.update(extra)
    out["layer"] = layer
    return out


def test_config_history_and_layers_exact(pair: Pair) -> None:
    result = diff_images(pair.ref("a"), pair.ref("b"))
    assert result.differs
    assert [c.to_dict() for c in result.config] == [
        {"field": "config.Env[BAR]", "a": None, "b": "3"},
        {"field": "config.Env[FOO]", "a": "1", "b": "2"},
        {"field": "config.Cmd", "a": ["/bin/a"], "b": ["/bin/b"]},
        {"field": "config.Labels[gone]", "a": "yes", "b": None},
        {"field": "config.Labels[y]", "a": None, "b": "2"},
        {"field": "config.User", "a": "0", "b": "1000"},
        {"field": "config.ExposedPorts", "a": None, "b": ["80/tcp"]},
    ]
    assert result.history.to_dict() == {"common": 1, "a": HISTORY_A[1:], "b": HISTORY_B[1:]}
    layers = result.layers.to_dict()
    assert layers["common"] == 1
    assert [(r["index"], r["shared"], r["other_index"]) for r in layers["a"]] == [
        (0, "digest", 0),
        (1, None, None),
    ]
    assert [(r["index"], r["shared"], r["other_index"]) for r in layers["b"]] == [
        (0, "digest", 0),
        (1, None, None),
    ]
    assert [r["digest"] for r in layers["a"]] == [d["digest"] for d in pair.a["layers"]]
    assert result.a.to_dict() == {
        "reference": pair.ref("a"),
        "manifest_digest": pair.a["manifest"],
        "config_digest": pair.a["config"],
    }


def test_files_exact(pair: Pair) -> None:
    files = diff_images(pair.ref("a"), pair.ref("b")).files.to_dict()
    assert files["summary"] == {
        "added": 1,
        "removed": 5,
        "modified": 5,
        "added_bytes": 8,
        "removed_bytes": 9,
        "modified_bytes_delta": -10,
    }
    assert files["added"] == [
        {"path": "/data/new.txt", "a": None, "b": _entry("/data/new.txt", 1, 8)},
    ]
    # /app and /app/old exist in A only because x.txt is under them: no entry of their own
    assert files["removed"] == [
        {"path": "/app", "a": None, "b": None},
        {"path": "/app/old", "a": None, "b": None},
        {"path": "/app/old/x.txt", "a": _entry("/app/old/x.txt", 1, 1), "b": None},
        {"path": "/data/gone.txt", "a": _entry("/data/gone.txt", 1, 4), "b": None},
        {"path": "/data/keep.txt", "a": _entry("/data/keep.txt", 0, 4), "b": None},
    ]
    assert files["modified"] == [
        {
            "path": "/data/content.txt",
            "changes": ["content"],
            "a": _entry("/data/content.txt", 0, 4),
            "b": _entry("/data/content.txt", 1, 4),
            "digests": {"a": _sha(b"aaaa"), "b": _sha(b"bbbb")},
        },
        {
            "path": "/data/link",
            "changes": ["link"],
            "a": _entry("/data/link", 0, kind="symlink", mode="0644", linkname="same.txt"),
            "b": _entry("/data/link", 1, kind="symlink", mode="0644", linkname="keep.txt"),
        },
        {
            "path": "/data/own.txt",
            "changes": ["owner"],
            "a": _entry("/data/own.txt", 0, 3),
            "b": _entry("/data/own.txt", 1, 3, uid=1000, gid=1000),
            "digests": {"a": _sha(b"own"), "b": _sha(b"own")},
        },
        {
            "path": "/data/perm.txt",
            "changes": ["mode"],
            "a": _entry("/data/perm.txt", 0, 4),
            "b": _entry("/data/perm.txt", 1, 4, mode="0755"),
            "digests": {"a": _sha(b"perm"), "b": _sha(b"perm")},
        },
        {
            "path": "/usr/bin/tool",
            "changes": ["type"],
            "a": _entry("/usr/bin/tool", 0, 10),
            "b": _entry("/usr/bin/tool", 1, kind="dir", mode="0755"),
        },
    ]


def _count_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    reads: Counter[str] = Counter()
    original = Image.open_layer

    def counting(self: Image, layer: Any) -> Any:
        reads[str(self._descriptor(layer).digest)] += 1
        return original(self, layer)

    monkeypatch.setattr(Image, "open_layer", counting)
    return reads


def test_shared_layer_read_once_candidates_hashed(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _count_reads(monkeypatch)
    diff_images(pair.ref("a"), pair.ref("b"))
    base, top_a = (d["digest"] for d in pair.a["layers"])
    top_b = pair.b["layers"][1]["digest"]
    # pass 1: each distinct layer once; pass 2: the layers holding same-size candidates
    # (content.txt: base vs top_b; perm.txt and own.txt: base vs top_b). top_a holds none.
    assert reads == {base: 2, top_a: 1, top_b: 2}


def test_same_tar_other_compression_is_no_difference(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = _count_reads(monkeypatch)
    result = diff_images(pair.ref("a"), pair.ref("c"))
    assert not result.differs
    assert result.config == ()
    assert result.history.to_dict() == {"common": 3, "a": [], "b": []}
    assert [(r.shared, r.other_index) for r in result.layers.a] == [("diff_id", 0), ("digest", 1)]
    assert result.files.to_dict()["summary"]["modified"] == 0
    assert result.a.config_digest == result.b.config_digest
    assert result.a.manifest_digest != result.b.manifest_digest
    assert sum(reads.values()) == 2  # the base tar once (from A), the top layer once


def test_image_with_itself(pair: Pair) -> None:
    result = diff_images(pair.ref("b"), pair.ref("b"))
    assert not result.differs
    assert result.files.to_dict() == {
        "summary": {
            "added": 0,
            "removed": 0,
            "modified": 0,
            "added_bytes": 0,
            "removed_bytes": 0,
            "modified_bytes_delta": 0,
        },
        "added": [],
        "removed": [],
        "modified": [],
    }
    assert json.loads(result.to_json())["differs"] is False
