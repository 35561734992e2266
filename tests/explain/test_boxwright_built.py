"""explain and diff on images boxwright built itself: unpack, change, repack, twice."""

from __future__ import annotations

from pathlib import Path

from boxwright.copy import copy_image
from boxwright.explain import diff_images, explain_image
from boxwright.unpack import HistoryOptions, repack_image, unpack_image

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "hello"


def test_repacked_layers_are_explained_and_diffed_exactly(tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    copy_image(f"oci:{EXAMPLE}:latest", f"oci:{layout}:base")
    rootfs = tmp_path / "rootfs"
    unpack_image(f"oci:{layout}:base", rootfs)

    hello_copy = tmp_path / "hello.txt"
    hello_copy.write_bytes((rootfs / "hello.txt").read_bytes())
    big = b"x" * 5000
    (rootfs / "big.bin").write_bytes(big)
    (rootfs / "hello.txt").unlink()
    repack_image(rootfs, f"oci:{layout}:step1", history=HistoryOptions(created_by="add big"))
    (rootfs / "big.bin").unlink()
    (rootfs / "small.txt").write_bytes(b"small\n")
    repack_image(rootfs, f"oci:{layout}:step2", history=HistoryOptions(created_by="drop big"))

    report = explain_image(f"oci:{layout}:step2", files=True)
    assert len(report.layers) == 4
    last_two = [row for row in report.history if row.layer in (2, 3)]
    assert [(row.layer, row.created_by) for row in last_two] == [(2, "add big"), (3, "drop big")]
    files = {f.layer: f for f in report.files}
    assert [e.path for e in files[2].added] == ["big.bin"]
    assert list(files[2].deleted) == ["hello.txt"] == list(files[2].whiteouts)
    assert [e.path for e in files[3].added] == ["small.txt"]
    assert list(files[3].deleted) == ["big.bin"]
    assert [(s.path, s.layer, s.by, s.how) for s in files[2].shadowed] == [
        ("big.bin", 2, 3, "deleted")
    ]
    # Wasted on top of what the example itself wastes: big.bin (written in layer 2, deleted
    # in 3) and the final hello.txt (written by the example, deleted in layer 2).
    base = explain_image(f"oci:{layout}:base")
    before = {o.path: o.wasted_bytes for o in base.waste.offenders}
    offenders = {o.path: o.wasted_bytes for o in report.waste.offenders}
    hello_size = len(hello_copy.read_bytes())
    expected = dict(before, **{"big.bin": len(big)})
    expected["hello.txt"] = before.get("hello.txt", 0) + hello_size
    assert offenders == expected
    assert report.waste.wasted_bytes == base.waste.wasted_bytes + len(big) + hello_size

    diff = diff_images(f"oci:{layout}:step1", f"oci:{layout}:step2")
    assert [c.path for c in diff.files.added] == ["small.txt"]
    assert [c.path for c in diff.files.removed] == ["big.bin"]
    assert diff.files.modified == ()
