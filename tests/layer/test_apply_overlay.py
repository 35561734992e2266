"""apply_layer in overlay format (store snapshots): whiteout nodes, opaque markers, nothing
deleted, implicit parents and hardlink targets taken from the layers below."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from boxwright.errors import LayerError
from boxwright.layer.apply import ApplyOptions, apply_layer
from boxwright.layer.ownership import OwnershipRecord
from boxwright_testing.rootfs import BASE, MTIME, tar_layer


def _apply(root: Path, layer: bytes, lowers: list[tuple[Path, OwnershipRecord | None]]) -> None:
    apply_layer(root, io.BytesIO(layer), ApplyOptions(overlay=True, overlay_lowers=lowers))


def test_whiteouts_become_nodes_and_opaque_markers_xattrs(tmp_path: Path) -> None:
    layer = tar_layer(
        ("dir", "a", 0o755),
        ("whiteout", "a/.wh.gone", None),
        ("whiteout", "b/.wh..wh..opq", None),
        ("whiteout", ".wh.c", None),
        ("dir", "c", 0o700),
        ("file", "c/new", "n"),
    )
    _apply(tmp_path / "d", layer, [])
    gone = os.lstat(tmp_path / "d/a/gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == 0
    assert os.getxattr(tmp_path / "d/b", "user.overlay.opaque") == b"y"
    assert os.getxattr(tmp_path / "d/c", "user.overlay.opaque") == b"y"  # replaced a whiteout
    assert sorted(os.listdir(tmp_path / "d")) == ["a", "b", "c"]
    assert (tmp_path / "d/c/new").read_text() == "n"
    with pytest.raises(OSError):
        os.getxattr(tmp_path / "d/a", "user.overlay.opaque")


def test_a_whiteout_never_hides_what_the_same_layer_wrote(tmp_path: Path) -> None:
    layer = tar_layer(("file", "x", "mine"), ("whiteout", ".wh.x", None))
    _apply(tmp_path / "d", layer, [])
    assert (tmp_path / "d/x").read_text() == "mine"


def test_implicit_parents_and_hardlinks_come_from_the_lower_layers(tmp_path: Path) -> None:
    _apply(tmp_path / "base", BASE, [])
    upper = tar_layer(("file", "tmp/x", "x"), ("hardlink", "usr/again", "usr/shared"))
    _apply(tmp_path / "top", upper, [(tmp_path / "base", None)])
    tmp = os.lstat(tmp_path / "top/tmp")
    assert (stat.S_IMODE(tmp.st_mode), tmp.st_mtime) == (0o1777, MTIME)
    shared = os.lstat(tmp_path / "top/usr/shared")
    assert (tmp_path / "top/usr/shared").read_text() == "shared\n"
    assert shared.st_nlink == 2 and shared.st_mtime == MTIME
    assert os.lstat(tmp_path / "top/usr/again").st_ino == shared.st_ino
    assert os.lstat(tmp_path / "base/usr/shared").st_nlink == 2  # the lower is untouched


def test_a_hardlink_to_nothing_below_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LayerError, match="does not exist"):
        _apply(tmp_path / "d", tar_layer(("hardlink", "l", "missing")), [])
