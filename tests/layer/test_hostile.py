"""Hostile layers: one test per attack class of SECURITY.md that a tar can carry.

Each test aims at a sentinel file outside the root and asserts that it is untouched (same
content, one link, nothing new beside it), and that the entry was either contained inside the
root (umoci's rule: ``..`` and ``/`` are clamped at the root) or refused with the exact error.
"""

from __future__ import annotations

import ast
import io
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from boxwright.errors import LayerError, UnsafePathError
from boxwright.layer.apply import ApplyOptions, apply_layer
from boxwright.layer.ownership import OwnershipRecord
from boxwright.layer.pathsafe import clean_entry_name, mkdir_parents_in_root, resolve_in_root

Tar = Callable[..., Any]  # conftest.TarBuilder
Sentinel = Any  # conftest.Sentinel
AS_ROOT = ApplyOptions(rootless=False)


def _inside(root: Path, host_path: Path) -> Path:
    """Where an absolute host path lands when interpreted inside the root."""
    return root / str(host_path).lstrip("/")


# -- tar path traversal (CVE-2007-4559, CVE-2014-9356, CVE-2021-21272) --------------------------


def test_no_source_module_extracts_with_tarfile() -> None:
    """Layers and archives are read by ``TarReader``/``TarIndex`` and applied entry by entry;
    ``tarfile`` only writes. No module calls ``extract``, ``extractall`` or ``extractfile``."""
    src = Path(__file__).resolve().parents[2] / "src" / "boxwright"
    modules = sorted(src.rglob("*.py"))
    calls = [
        f"{path.relative_to(src)}:{node.lineno}"
        for path in modules
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("extract", "extractall", "extractfile")
    ]
    assert len(modules) > 100 and calls == []


def test_dotdot_names_are_contained(tar: Tar, root: Path, sentinel: Sentinel) -> None:
    depth = len(root.parts)
    climb = "../" * depth + str(sentinel.file).lstrip("/")
    apply_layer(root, tar().file(climb, b"evil").file("a/../../../b", b"b").stream(), AS_ROOT)
    sentinel.assert_untouched()
    assert _inside(root, sentinel.file).read_bytes() == b"evil"
    assert (root / "b").read_bytes() == b"b"


def test_absolute_names_are_contained(tar: Tar, root: Path, sentinel: Sentinel) -> None:
    apply_layer(root, tar().file(str(sentinel.file), b"evil").stream(), AS_ROOT)
    sentinel.assert_untouched()
    assert _inside(root, sentinel.file).read_bytes() == b"evil"


def test_write_through_absolute_symlink_parent(tar: Tar, root: Path, sentinel: Sentinel) -> None:
    layer = tar().symlink("esc", str(sentinel.outside)).file("esc/sentinel", b"evil")
    layer.file("esc/new", b"new")
    apply_layer(root, layer.stream(), AS_ROOT)
    sentinel.assert_untouched()
    assert os.readlink(root / "esc") == str(sentinel.outside)
    assert _inside(root, sentinel.file).read_bytes() == b"evil"
    assert _inside(root, sentinel.outside / "new").read_bytes() == b"new"


def test_write_through_relative_symlink_parent(tar: Tar, root: Path, sentinel: Sentinel) -> None:
    up = "../" * (len(root.parts) + 3)
    target = up + str(sentinel.outside).lstrip("/")
    layer = tar().symlink("a/esc", target).file("a/esc/sentinel", b"evil")
    apply_layer(root, layer.stream(), AS_ROOT)
    sentinel.assert_untouched()
    assert _inside(root, sentinel.file).read_bytes() == b"evil"


def test_symlink_in_a_lower_layer_is_not_followed_by_later_layers(
    tar: Tar, root: Path, sentinel: Sentinel
) -> None:
    apply_layer(root, tar().symlink("etc", str(sentinel.outside)).stream(), AS_ROOT)
    apply_layer(root, tar().dir("etc").file("etc/sentinel", b"evil").stream(), AS_ROOT)
    sentinel.assert_untouched()
    assert (root / "etc").is_dir() and not (root / "etc").is_symlink()
    assert (root / "etc/sentinel").read_bytes() == b"evil"


def test_entry_over_a_symlink_replaces_the_link(tar: Tar, root: Path, sentinel: Sentinel) -> None:
    apply_layer(root, tar().symlink("f", str(sentinel.file)).symlink("d", "/").stream(), AS_ROOT)
    apply_layer(root, tar().file("f", b"evil").dir("d").stream(), AS_ROOT)
    sentinel.assert_untouched()
    assert not (root / "f").is_symlink() and (root / "f").read_bytes() == b"evil"
    assert (root / "d").is_dir() and not (root / "d").is_symlink()


def test_hardlink_to_outside_is_refused(tar: Tar, root: Path, sentinel: Sentinel) -> None:
    for target in (str(sentinel.file), "../" * 30 + str(sentinel.file).lstrip("/")):
        with pytest.raises(LayerError, match=r"hardlink 'h' points to .* which does not exist"):
            apply_layer(root, tar().hardlink("h", target).stream(), AS_ROOT)
        sentinel.assert_untouched()
        assert not (root / "h").exists()


def test_hardlink_through_escaping_symlink_is_refused(
    tar: Tar, root: Path, sentinel: Sentinel
) -> None:
    layer = tar().symlink("esc", str(sentinel.outside)).hardlink("h", "esc/sentinel")
    with pytest.raises(LayerError, match="hardlink 'h' points to 'esc/sentinel', which does not"):
        apply_layer(root, layer.stream(), AS_ROOT)
    sentinel.assert_untouched()


def test_hardlink_to_symlink_links_the_link_itself(
    tar: Tar, root: Path, sentinel: Sentinel
) -> None:
    layer = tar().symlink("s", str(sentinel.file)).hardlink("h", "s")
    apply_layer(root, layer.stream(), AS_ROOT)
    sentinel.assert_untouched()
    assert os.readlink(root / "h") == str(sentinel.file)
    assert os.lstat(root / "h").st_ino == os.lstat(root / "s").st_ino


def test_hardlink_to_directory_is_refused(tar: Tar, root: Path) -> None:
    with pytest.raises(UnsafePathError, match="hardlink 'h' points to directory 'd'"):
        apply_layer(root, tar().dir("d").hardlink("h", "d").stream(), AS_ROOT)


def test_whiteouts_naming_outside_are_contained(tar: Tar, root: Path, sentinel: Sentinel) -> None:
    climb = "../" * 30 + str(sentinel.outside).lstrip("/") + "/.wh.sentinel"
    layer = (
        tar()
        .whiteout(climb)
        .whiteout(str(sentinel.outside) + "/.wh.sentinel")
        .symlink("esc", str(sentinel.outside))
        .whiteout("esc/.wh.sentinel")
        .whiteout("esc/.wh..wh..opq")
    )
    result = apply_layer(root, layer.stream(), AS_ROOT)
    sentinel.assert_untouched()
    assert result.whiteouts == 4
    assert os.readlink(root / "esc") == str(sentinel.outside)


@pytest.mark.parametrize("name", [".wh..", ".wh.", "a/.wh..", "./.wh.."])
def test_whiteout_naming_a_parent_is_refused(tar: Tar, root: Path, name: str) -> None:
    apply_layer(root, tar().file("a/keep", b"k").stream(), AS_ROOT)
    with pytest.raises(UnsafePathError, match="names no file"):
        apply_layer(root, tar().whiteout(name).stream(), AS_ROOT)
    assert (root / "a/keep").read_bytes() == b"k"


# -- rootfs replaced by a link (CVE-2021-29136) -------------------------------------------------


@pytest.mark.parametrize("name", [".", "/", "./", "..", "a/..", "//"])
def test_root_cannot_become_a_symlink(tar: Tar, root: Path, sentinel: Sentinel, name: str) -> None:
    layer = tar().symlink(name, str(sentinel.outside)).file("sentinel", b"evil")
    with pytest.raises(UnsafePathError, match="would replace the root directory"):
        apply_layer(root, layer.stream(), AS_ROOT)
    sentinel.assert_untouched()
    assert root.is_dir() and not root.is_symlink()


@pytest.mark.parametrize("kind", ["file", "hardlink"])
def test_root_cannot_become_a_file(tar: Tar, root: Path, kind: str) -> None:
    layer = tar().file("x") if kind == "hardlink" else tar()
    layer = layer.hardlink(".", "x") if kind == "hardlink" else layer.file("./", b"data")
    with pytest.raises(UnsafePathError, match="would replace the root directory"):
        apply_layer(root, layer.stream(), AS_ROOT)
    assert root.is_dir()


# -- time-of-check/time-of-use: the tree changes while the layer applies -------------------------


def test_directory_replaced_by_symlink_mid_layer(tar: Tar, root: Path, sentinel: Sentinel) -> None:
    """A cached handle of ``a`` must not be used after ``a`` became a link."""
    layer = (
        tar()
        .dir("a")
        .file("a/one", b"1")
        .symlink("a", str(sentinel.outside))
        .file("a/sentinel", b"evil")
        .file("a/two", b"2")
    )
    apply_layer(root, layer.stream(), AS_ROOT)
    sentinel.assert_untouched()
    assert _inside(root, sentinel.file).read_bytes() == b"evil"
    assert _inside(root, sentinel.outside / "two").read_bytes() == b"2"


def test_symlink_loop_is_refused(tar: Tar, root: Path) -> None:
    layer = tar().symlink("a", "b").symlink("b", "a").file("a/x", b"x")
    with pytest.raises(UnsafePathError, match="too many levels of symbolic links"):
        apply_layer(root, layer.stream(), AS_ROOT)


# -- parents made outside (CVE-2021-41089, CVE-2021-32760) --------------------------------------


def test_missing_parents_are_created_inside(tar: Tar, root: Path, sentinel: Sentinel) -> None:
    ghost = sentinel.outside.parent / "ghost"
    layer = tar().symlink("esc", str(ghost / "deep")).file("esc/sub/f", b"f").dir("esc/d")
    apply_layer(root, layer.stream(), AS_ROOT)
    assert not ghost.exists()
    assert _inside(root, ghost / "deep/sub/f").read_bytes() == b"f"
    assert _inside(root, ghost / "deep/d").is_dir()
    made = mkdir_parents_in_root(root, "esc/other/x")
    assert made == _inside(root, ghost / "deep/other/x") and made.is_dir()
    assert not ghost.exists()


def test_modes_of_outside_directories_are_not_changed(
    tar: Tar, root: Path, sentinel: Sentinel
) -> None:
    before = os.lstat(sentinel.outside)
    layer = tar().symlink("esc", str(sentinel.outside)).dir("esc", mode=0o777, uid=1234)
    apply_layer(root, layer.stream(), AS_ROOT)
    after = os.lstat(sentinel.outside)
    assert (after.st_mode, after.st_uid, after.st_mtime_ns) == (
        before.st_mode,
        before.st_uid,
        before.st_mtime_ns,
    )
    sentinel.assert_untouched()


# -- devices when not root ----------------------------------------------------------------------


def test_device_nodes_when_rootless(tar: Tar, root: Path) -> None:
    record = OwnershipRecord()
    opts = ApplyOptions(rootless=True, ownership=record)
    result = apply_layer(root, tar().device("dev/sda", 8, 0, block=True).stream(), opts)
    st = os.lstat(root / "dev/sda")
    assert stat.S_ISREG(st.st_mode) and st.st_size == 0
    assert result.warnings == [
        "dev/sda: block device 8:0 cannot be created without privileges; written as an empty "
        "file (kept in the ownership record)"
    ]
    entry = record.get("dev/sda")
    assert entry is not None and (entry.mode, entry.rdev) == (stat.S_IFBLK | 0o666, (8, 0))


# -- absurd names -------------------------------------------------------------------------------


def _raw_header(name: bytes, typeflag: bytes = b"0") -> bytes:
    header = bytearray(512)
    header[: len(name)] = name
    header[100:108] = b"0000644\x00"
    for offset in (108, 116):
        header[offset : offset + 8] = b"0000000\x00"
    header[124:136] = b"00000000000\x00"
    header[136:148] = b"00000000000\x00"
    header[156:157] = typeflag
    header[257:265] = b"ustar\x0000"
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\x00 " % sum(header)
    return bytes(header)


def test_name_with_nul_byte_inside_pax_path(tar: Tar, root: Path) -> None:
    raw = tar().file("x", b"", pax={"path": "a\x00b"}).bytes()
    with pytest.raises(UnsafePathError, match=r"tar entry 'a\\x00b' contains a NUL byte"):
        apply_layer(root, io.BytesIO(raw), AS_ROOT)
    assert list(root.iterdir()) == []


def test_header_name_is_cut_at_nul_as_tar_does(root: Path) -> None:
    raw = _raw_header(b"good\x00../../evil") + bytes(1024)
    apply_layer(root, io.BytesIO(raw), AS_ROOT)
    assert [p.name for p in root.iterdir()] == ["good"]


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a" * 256, "has a component longer than 255 bytes"),
        ("/".join(["d" * 200] * 21), "is longer than 4095 bytes"),
    ],
)
def test_very_long_names_are_refused(tar: Tar, root: Path, name: str, message: str) -> None:
    with pytest.raises(UnsafePathError, match=message):
        apply_layer(root, tar().file(name, b"x").stream(), AS_ROOT)
    assert list(root.iterdir()) == []


def test_symlink_target_with_nul_is_refused(tar: Tar, root: Path) -> None:
    raw = tar().symlink("l", "x", pax={"linkpath": "a\x00b"}).bytes()
    with pytest.raises(UnsafePathError, match="tar entry 'l' is invalid: embedded null byte"):
        apply_layer(root, io.BytesIO(raw), AS_ROOT)


# -- the path helpers themselves ----------------------------------------------------------------


def test_clean_entry_name() -> None:
    assert clean_entry_name("./a//b/") == "a/b"
    assert clean_entry_name("/etc/../../x") == "x"
    assert clean_entry_name("./", allow_root=True) == ""
    with pytest.raises(UnsafePathError, match=r"tar entry '\./\.\.' names the root directory"):
        clean_entry_name("./..")


def test_resolve_in_root(root: Path, sentinel: Sentinel) -> None:
    (root / "usr/bin").mkdir(parents=True)
    os.symlink("/usr/bin", root / "bin")
    os.symlink("../../../../../..", root / "up")
    os.symlink(str(sentinel.file), root / "last")
    assert resolve_in_root(root, "bin/ls") == root / "usr/bin/ls"
    assert resolve_in_root(root, "up/etc/passwd") == root / "etc/passwd"
    assert resolve_in_root(root, "/../last") == root / "last"
    assert resolve_in_root(root, "last", follow_last=True) == _inside(root, sentinel.file)
    os.symlink("loop", root / "loop")
    with pytest.raises(UnsafePathError, match="too many levels of symbolic links"):
        resolve_in_root(root, "loop/x")


def test_tarfile_sanity_of_the_builder(tar: Tar) -> None:
    """The hostile tars above really carry the names they claim (tarfile keeps them raw)."""
    raw = tar().file("../../x").symlink(".", "/").bytes()
    with tarfile.open(fileobj=io.BytesIO(raw)) as archive:
        assert [m.name for m in archive] == ["../../x", "."]
