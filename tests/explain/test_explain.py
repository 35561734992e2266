"""explain_image on images with known contents: history joins, waste, files, JSON."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from explain_helpers import MTIME, tar_layer

from boxwright.errors import UsageError
from boxwright.explain import CiRules, evaluate, explain_image
from boxwright.explain.ci import parse_size
from boxwright.explain.walk import clean_instruction

NS = MTIME * 1_000_000_000
Writer = Callable[..., str]


def _h(created_by: str, empty: bool = False) -> dict[str, Any]:
    entry: dict[str, Any] = {"created": "2024-01-01T00:00:00Z", "created_by": created_by}
    if empty:
        entry["empty_layer"] = True
    return entry


L0 = tar_layer([("dir", "etc"), ("file", "etc/big", b"B" * 1000), ("file", "etc/keep", b"k" * 10)])
L1 = tar_layer([("file", "etc/big", b"b" * 100), ("file", "tmp/junk", b"j" * 500)])
L2 = tar_layer([("whiteout", "tmp/junk"), ("file", "etc/new", b"n" * 5)])


def test_history_with_empty_layers_at_start_middle_and_end(layout_writer: Writer) -> None:
    history = [
        _h("/bin/sh -c #(nop) ARG X=1", empty=True),
        _h("/bin/sh -c #(nop) ADD file:abc in / "),
        _h("/bin/sh -c #(nop)  ENV A=b", empty=True),
        _h("|1 X=1 /bin/sh -c echo hi > /etc/big"),
        _h("RUN rm /tmp/junk"),
        _h('/bin/sh -c #(nop)  CMD ["sh"]', empty=True),
    ]
    report = explain_image(layout_writer([L0, L1, L2], history=history))
    joined = [(r.history, r.layer, r.empty_layer, r.instruction) for r in report.history]
    assert joined == [
        (0, None, True, "ARG X=1"),
        (1, 0, False, "ADD file:abc in /"),
        (2, None, True, "ENV A=b"),
        (3, 1, False, "RUN echo hi > /etc/big"),
        (4, 2, False, "RUN rm /tmp/junk"),
        (5, None, True, 'CMD ["sh"]'),
    ]
    assert report.history[3].created_by == "|1 X=1 /bin/sh -c echo hi > /etc/big"
    assert report.history_note == ""
    assert [r.files for r in report.history] == [None, 3, None, 2, 1, None]
    assert report.history[1].uncompressed_size == len(L0)
    assert report.history[1].size == report.layers[0].size
    assert [s.kind for s in report.path] == ["manifest", "config", "layer", "layer", "layer"]


def test_no_history_at_all(layout_writer: Writer) -> None:
    report = explain_image(layout_writer([L0, L1]))
    assert [(r.history, r.layer, r.note) for r in report.history] == [
        (None, 0, "no history entry describes this layer"),
        (None, 1, "no history entry describes this layer"),
    ]
    assert report.history_note == "the image has no history: 2 layers are listed without steps"


def test_more_and_fewer_history_entries_than_layers(layout_writer: Writer) -> None:
    more = explain_image(layout_writer([L0], history=[_h("a"), _h("b", empty=True), _h("c")]))
    assert [(r.history, r.layer, r.note) for r in more.history] == [
        (0, 0, ""),
        (1, None, ""),
        (2, None, "no layer: the image has fewer layers than history entries"),
    ]
    assert more.history_note == (
        "the history has 2 non-empty entries for 1 layers: the last 1 have no layer"
    )
    fewer = explain_image(layout_writer([L0, L1, L2], history=[_h("a")]))
    assert [(r.history, r.layer) for r in fewer.history] == [(0, 0), (None, 1), (None, 2)]
    assert fewer.history_note == (
        "the history has 1 non-empty entries for 3 layers: the last 2 layers have no history entry"
    )


def test_wasted_bytes_efficiency_and_files_are_exact(layout_writer: Writer) -> None:
    report = explain_image(layout_writer([L0, L1, L2]), files=True)
    waste = report.waste
    # etc/big (1000) replaced in layer 1, tmp/junk (500) deleted in layer 2.
    assert waste.wasted_bytes == 1500
    # per path: big [1000, 100], keep [10], junk [500, 500], new [5]
    assert waste.efficiency == pytest.approx((100 + 10 + 500 + 5) / (1100 + 10 + 1000 + 5))
    assert waste.user_wasted_percent == pytest.approx(1500 / (len(L1) + len(L2)))
    assert [(o.path, o.wasted_bytes, o.copies, o.layers) for o in waste.offenders] == [
        ("etc/big", 1000, 1, (0,)),
        ("tmp/junk", 500, 1, (1,)),
    ]
    assert report.files is not None
    f0, f1, f2 = report.files
    assert [e.path for e in f0.added] == ["etc", "etc/big", "etc/keep"]
    assert [(s.path, s.by, s.how) for s in f0.shadowed] == [("etc/big", 1, "changed")]
    assert f0.wasted_bytes == 1000
    assert [e.path for e in f1.added] == ["tmp/junk"]
    assert [(e.path, e.size) for e in f1.changed] == [("etc/big", 100)]
    assert [(s.path, s.by, s.how) for s in f1.shadowed] == [("tmp/junk", 2, "deleted")]
    assert f2.deleted == ("tmp/junk",) and f2.whiteouts == ("tmp/junk",)
    assert [e.path for e in f2.added] == ["etc/new"] and f2.shadowed == ()


def test_opaque_dirs_are_reported(layout_writer: Writer) -> None:
    low = tar_layer([("dir", "o"), ("file", "o/a", b"aa"), ("file", "o/b", b"bbb")])
    high = tar_layer([("opaque", "o"), ("file", "o/c", b"c")])
    report = explain_image(layout_writer([low, high]), files=True)
    assert report.files is not None
    assert report.files[1].opaque_dirs == ("o",)
    assert report.files[1].deleted == ("o/a", "o/b")
    assert report.waste.wasted_bytes == 5


def test_json_is_exact(layout_writer: Writer) -> None:
    tar = tar_layer([("file", "hello", b"hi\n", 0o755)])
    ref = layout_writer(
        [tar],
        history=[_h("COPY hello /"), _h("/bin/sh -c #(nop) USER 1000", empty=True)],
        config={"Entrypoint": ["/hello"], "User": "1000", "ExposedPorts": {"80/tcp": {}}},
    )
    report = explain_image(ref, files=True)
    data = json.loads(report.to_json())
    layer = report.layers[0]
    assert data["layers"] == [
        {
            "index": 0,
            "digest": layer.digest,
            "diff_id": layer.diff_id,
            "media_type": "application/vnd.oci.image.layer.v1.tar+gzip",
            "size": layer.size,
            "uncompressed_size": len(tar),
            "files": 1,
        }
    ]
    assert data["history"][1] == {
        "history": 1,
        "layer": None,
        "instruction": "USER 1000",
        "created_by": "/bin/sh -c #(nop) USER 1000",
        "created": "2024-01-01T00:00:00Z",
        "comment": "",
        "empty_layer": True,
        "size": None,
        "uncompressed_size": None,
        "files": None,
        "note": "",
    }
    assert data["waste"] == {
        "wasted_bytes": 0,
        "efficiency": 1.0,
        "user_wasted_percent": 0.0,
        "offenders": [],
    }
    assert data["config"] == {
        "entrypoint": ["/hello"],
        "cmd": None,
        "env": [],
        "user": "1000",
        "working_dir": "",
        "exposed_ports": ["80/tcp"],
        "volumes": [],
        "labels": {},
        "stop_signal": "",
    }
    assert data["files"] == [
        {
            "layer": 0,
            "added": [
                {
                    "path": "hello",
                    "kind": "file",
                    "size": 3,
                    "mode": "0755",
                    "uid": 0,
                    "gid": 0,
                    "mtime": NS,
                }
            ],
            "changed": [],
            "deleted": [],
            "whiteouts": [],
            "opaque_dirs": [],
            "shadowed": [],
            "wasted_bytes": 0,
        }
    ]
    assert data["reference"] == ref and data["platform"] == "linux/amd64"
    assert data["size"] == layer.size and data["uncompressed_size"] == len(tar)


def test_peer_image_built_by_buildah(peer_images: Any) -> None:
    report = explain_image(peer_images.refs["oci"], files=True)
    steps = [(r.layer, r.instruction) for r in report.history if not r.empty_layer]
    assert [layer for layer, _ in steps] == [0, 1, 2]
    assert steps[0][1] == "COPY context /"
    assert steps[1][1].startswith("RUN rm /data/b.txt")
    assert steps[2][1] == "COPY motd /etc/motd"
    assert report.files is not None
    assert report.files[1].whiteouts == ("data/b.txt",)
    assert "data/b.txt" in report.files[1].deleted
    assert "data/c.txt" in [e.path for e in report.files[1].added]
    assert "data/a.txt" in [e.path for e in report.files[1].changed]
    assert "etc/motd" in [e.path for e in report.files[2].added]
    b_size = next(e.size for e in report.files[0].added if e.path == "data/b.txt")
    a_size = next(e.size for e in report.files[0].added if e.path == "data/a.txt")
    assert report.waste.wasted_bytes == a_size + b_size
    assert report.config.entrypoint == tuple(peer_images.entrypoint)
    assert peer_images.labels.items() <= report.config.labels.items()
    same = explain_image(peer_images.refs["docker-archive"])
    assert same.waste.wasted_bytes == report.waste.wasted_bytes
    assert [r.layer for r in same.history] == [r.layer for r in report.history]


def test_clean_instruction() -> None:
    assert clean_instruction("/bin/sh -c #(nop) WORKDIR /app") == "WORKDIR /app"
    assert clean_instruction("/bin/sh -c apt-get update") == "RUN apt-get update"
    assert clean_instruction("|2 A=1 B=2 /bin/sh -c make") == "RUN make"
    assert clean_instruction("COPY . /src") == "COPY . /src"


def test_ci_rules_and_sizes(layout_writer: Writer) -> None:
    report = explain_image(layout_writer([L0, L1, L2]))
    default = evaluate(report)
    assert not default.passed
    assert default.failure == "efficiency 0.2908 is below 0.9"
    loose = evaluate(report, CiRules(0.25, 1500, 10.0))
    assert loose.passed
    strict = evaluate(report, CiRules(None, 1499, None))
    assert strict.failure == "wasted bytes 1500 exceed 1499"
    assert parse_size("20MB") == 20_000_000 and parse_size("1KiB") == 1024
    assert parse_size("1000") == 1000
    with pytest.raises(UsageError, match="invalid size"):
        parse_size("lots")


def test_explain_of_12k_files_is_fast(layout_writer: Writer) -> None:
    specs: list[Any] = [("dir", f"d{i}") for i in range(40)]
    specs += [("file", f"d{i % 40}/f{i}", b"x" * (i % 300)) for i in range(11_000)]
    upper = [("file", f"d{i % 40}/f{i}", b"y") for i in range(0, 11_000, 11)]
    upper += [("whiteout", f"d{i % 40}/f{i}") for i in range(1, 11_000, 97)]
    ref = layout_writer([tar_layer(specs), tar_layer(upper)])
    start = time.perf_counter()
    report = explain_image(ref, files=True)
    elapsed = time.perf_counter() - start
    assert report.layers[0].files == 11_040 and report.layers[1].files == 1000
    assert elapsed < 3.0, f"explain --files of 12k files took {elapsed:.2f} s"
