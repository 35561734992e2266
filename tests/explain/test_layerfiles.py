"""Layer listings and the merged filesystem, checked against apply_layer on a real directory."""

from __future__ import annotations

import io
import os
import stat
from collections.abc import Sequence
from pathlib import Path

import pytest
from explain_helpers import MTIME, Spec, tar_layer

from boxwright.errors import LayerError, UnsafePathError
from boxwright.explain.layerfiles import (
    FileEntry,
    FileSystemView,
    LayerFiles,
    image_layer_files,
    read_layer_files,
)
from boxwright.layer.apply import ApplyOptions, apply_layer
from boxwright.transport.image import open_image
from boxwright.transport.reference import parse_transport_reference

NS = MTIME * 1_000_000_000


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "dir"),
        (stat.S_ISLNK, "symlink"),
        (stat.S_ISREG, "file"),
        (stat.S_ISFIFO, "fifo"),
    ):
        if test(mode):
            return name
    return "other"


def _walk(root: Path) -> dict[str, tuple[str, int]]:
    """Every path under ``root``: kind and size (files) as apply_layer left them."""
    out: dict[str, tuple[str, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = Path(dirpath, name)
            st = full.lstat()
            kind = _kind(st.st_mode)
            out[str(full.relative_to(root))] = (kind, st.st_size if kind == "file" else 0)
    return out


def _view_paths(view: FileSystemView) -> dict[str, tuple[str, int]]:
    out = {d: ("dir", 0) for d in view.dirs if d}
    for path, (entry, _) in view.files.items():
        kind = "file" if entry.kind == "hardlink" else entry.kind
        size = entry.size
        if entry.kind == "hardlink":
            size = view.files[entry.linkname][0].size
        out[path] = (kind, size)
    return out


def _check_against_apply(tmp_path: Path, layers: Sequence[Sequence[Spec]]) -> FileSystemView:
    """Apply ``layers`` for real and through the view; both must hold the same tree."""
    root = tmp_path / "rootfs"
    view = FileSystemView()
    for index, specs in enumerate(layers):
        tar = tar_layer(specs)
        apply_layer(root, io.BytesIO(tar), ApplyOptions(rootless=True))
        view.apply(read_layer_files(io.BytesIO(tar), index))
    assert _view_paths(view) == _walk(root)
    return view


def test_read_layer_files_lists_every_entry_and_marker() -> None:
    tar = tar_layer(
        [
            ("dir", "./"),
            ("dir", "etc"),
            ("file", "etc/passwd", b"root:x:0:0\n", 0o4755),
            ("symlink", "bin/sh", "/bin/busybox"),
            ("hardlink", "etc/pw2", "./etc/passwd"),
            ("fifo", "run/pipe"),
            ("whiteout", "var/old"),
            ("opaque", "opt"),
            ("file", "/abs/../x", b"12"),
        ]
    )
    layer = read_layer_files(io.BytesIO(tar), 4)
    assert layer.index == 4
    assert layer.entries == (
        FileEntry("etc", "dir", 0, 0o755, 0, 0, NS),
        FileEntry("etc/passwd", "file", 11, 0o4755, 0, 0, NS),
        FileEntry("bin/sh", "symlink", 0, 0o777, 0, 0, NS, "/bin/busybox"),
        FileEntry("etc/pw2", "hardlink", 0, 0o644, 0, 0, NS, "etc/passwd"),
        FileEntry("run/pipe", "fifo", 0, 0o644, 0, 0, NS),
        FileEntry("x", "file", 2, 0o644, 0, 0, NS),
    )
    assert layer.whiteouts == ("var/old",)
    assert layer.opaque_dirs == ("opt",)
    assert layer.whiteout_at == (5,)
    assert layer.opaque_at == (5,)
    assert layer.size == len(tar)
    assert layer.content_size == 13
    assert layer.files == 6
    assert layer.counts == {"dir": 1, "file": 2, "symlink": 1, "hardlink": 1, "fifo": 1}
    assert layer.entries[1].to_dict() == {
        "path": "etc/passwd",
        "kind": "file",
        "size": 11,
        "mode": "4755",
        "uid": 0,
        "gid": 0,
        "mtime": NS,
    }


def test_hostile_whiteout_and_truncated_tar_are_refused() -> None:
    with pytest.raises(UnsafePathError, match="names no file"):
        read_layer_files(io.BytesIO(tar_layer([("file", "a/.wh..", b"")])))
    tar = tar_layer([("file", "big", b"x" * 5000)])
    with pytest.raises(LayerError, match="truncated"):
        read_layer_files(io.BytesIO(tar[:2048]))


def test_whiteouts_and_opaque_dirs_match_apply(tmp_path: Path) -> None:
    view = _check_against_apply(
        tmp_path,
        [
            [
                ("dir", "a"),
                ("file", "a/one", b"1" * 10),
                ("file", "a/two", b"2" * 20),
                ("dir", "a/sub"),
                ("file", "a/sub/deep", b"3" * 30),
                ("dir", "o"),
                ("file", "o/lower", b"4" * 40),
                ("dir", "o/keep"),
                ("file", "o/keep/lower", b"5" * 50),
                ("file", "gone/file", b"6" * 60),
            ],
            [
                ("whiteout", "a/one"),
                ("whiteout", "a/sub"),
                ("opaque", "o"),
                ("file", "o/keep/new", b"7" * 7),
                ("whiteout", "gone"),
                ("file", "gone2/x", b"8"),
            ],
        ],
    )
    assert set(view.files) == {"a", "a/two", "o", "o/keep/new", "gone2/x"}
    assert view.dirs == {"", "a", "o", "o/keep", "gone2"}
    assert view.get("o/keep/new") == (FileEntry("o/keep/new", "file", 7, 0o644, 0, 0, NS), 1)


def test_changes_say_what_a_layer_added_changed_and_deleted() -> None:
    view = FileSystemView()
    low = read_layer_files(
        io.BytesIO(
            tar_layer(
                [
                    ("dir", "d"),
                    ("file", "d/a", b"aaaa"),
                    ("file", "d/b", b"bb"),
                    ("file", "f", b"ffffff"),
                ]
            )
        ),
        0,
    )
    first = view.apply(low)
    assert first.added == ["d", "d/a", "d/b", "f"]
    assert first.changed == [] and first.deleted == []
    high = read_layer_files(
        io.BytesIO(
            tar_layer(
                [("file", "d/a", b"new"), ("whiteout", "d/b"), ("dir", "f"), ("file", "n", b"")]
            )
        ),
        1,
    )
    second = view.apply(high)
    assert second.added == ["n"]
    old_a = FileEntry("d/a", "file", 4, 0o644, 0, 0, NS)
    old_b = FileEntry("d/b", "file", 2, 0o644, 0, 0, NS)
    old_f = FileEntry("f", "file", 6, 0o644, 0, 0, NS)
    assert second.changed == [("d/a", old_a, 0), ("f", old_f, 0)]
    assert second.deleted == [("d/b", old_b, 0)]
    assert second.replaced == [("d/a", old_a, 0), ("f", old_f, 0), ("d/b", old_b, 0)]
    assert view.get("f") == (FileEntry("f", "dir", 0, 0o755, 0, 0, NS), 1)


def test_whiteout_order_within_a_layer_matters_as_in_apply(tmp_path: Path) -> None:
    base = [("dir", "d"), ("file", "d/low", b"l")]
    # Whiteout after an entry under the lower directory: the directory goes, entry and all.
    after = _check_against_apply(
        tmp_path / "after", [base, [("file", "d/new", b"n"), ("whiteout", "d")]]
    )
    assert set(after.files) == set()
    # Whiteout first: the lower directory goes, then the new entry creates it again.
    before = _check_against_apply(
        tmp_path / "before", [base, [("whiteout", "d"), ("file", "d/new", b"n")]]
    )
    assert set(before.files) == {"d/new"}


def test_entries_through_symlinked_parents_land_where_apply_puts_them(tmp_path: Path) -> None:
    view = _check_against_apply(
        tmp_path,
        [
            [("dir", "usr/lib"), ("symlink", "lib", "usr/lib"), ("symlink", "abs", "/usr")],
            [
                ("file", "lib/x", b"x"),
                ("file", "abs/lib/y", b"yy"),
                ("file", "lib/new/z", b"zzz"),
                ("hardlink", "lib/hx", "usr/lib/x"),
            ],
            [("whiteout", "lib/y")],
        ],
    )
    assert set(view.files) == {"usr/lib", "lib", "abs", "usr/lib/x", "usr/lib/new/z", "usr/lib/hx"}
    assert view.get("usr/lib/x") == (FileEntry("usr/lib/x", "file", 1, 0o644, 0, 0, NS), 1)


def test_replacing_kinds_matches_apply(tmp_path: Path) -> None:
    view = _check_against_apply(
        tmp_path,
        [
            [("dir", "d"), ("file", "d/in", b"1"), ("file", "f", b"2"), ("symlink", "s", "d")],
            [("file", "d", b"now a file"), ("dir", "f"), ("file", "f/in", b"3"), ("dir", "s")],
        ],
    )
    assert {p: e.kind for p, (e, _) in view.files.items()} == {
        "d": "file",
        "f": "dir",
        "f/in": "file",
        "s": "dir",
    }


def test_hardlink_to_missing_file_is_a_layer_error() -> None:
    layer = read_layer_files(io.BytesIO(tar_layer([("hardlink", "h", "nowhere")])))
    with pytest.raises(LayerError, match="does not exist"):
        FileSystemView().apply(layer)


def test_peer_image_layers_match_apply(peer_images: object, tmp_path: Path) -> None:
    image = open_image(parse_transport_reference(peer_images.refs["oci"]).open_source())  # type: ignore[attr-defined]
    layers = list(image_layer_files(image))
    assert [layer.index for layer in layers] == [0, 1, 2]
    assert layers[1].whiteouts == ("data/b.txt",)
    root = tmp_path / "rootfs"
    for index in range(3):
        with image.open_layer_uncompressed(index) as stream:
            apply_layer(root, stream, ApplyOptions(rootless=True))
    view = FileSystemView.from_layers(layers)
    assert _view_paths(view) == _walk(root)
    assert view.get("etc/motd") is not None and view.get("etc/motd")[1] == 2  # type: ignore[index]
    assert "data/b.txt" not in view and view.get("data/c.txt")[1] == 1  # type: ignore[index]


def test_layer_files_defaults_put_markers_after_entries() -> None:
    layer = LayerFiles(0, (FileEntry("a", "file", 1, 0o644, 0, 0, 0),), whiteouts=("a",))
    view = FileSystemView()
    view.apply(layer)
    assert "a" in view  # written by the same layer: the whiteout does not hide it
