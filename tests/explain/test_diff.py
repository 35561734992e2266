"""diff_images on hand-written OCI layouts with known contents (``diff_pair.py``): every
section exact."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from diff_pair import EPOCH, HISTORY_A, HISTORY_B, Pair, sha

from boxwright.explain.diff import diff_images
from boxwright.transport.image import Image


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
            "digests": {"a": sha(b"aaaa"), "b": sha(b"bbbb")},
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
            "digests": {"a": sha(b"own"), "b": sha(b"own")},
        },
        {
            "path": "/data/perm.txt",
            "changes": ["mode"],
            "a": _entry("/data/perm.txt", 0, 4),
            "b": _entry("/data/perm.txt", 1, 4, mode="0755"),
            "digests": {"a": sha(b"perm"), "b": sha(b"perm")},
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
