"""overlay_changes on hand-made upper directories, merge_overlay_dirs and merged_ownership."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from boxwright.layer.apply import ApplyOptions, apply_layer
from boxwright.layer.generate import GenerateOptions
from boxwright.layer.overlay import (
    merge_overlay_dirs,
    merged_ownership,
    overlay_changes,
)
from boxwright.layer.ownership import OwnershipEntry, OwnershipRecord
from boxwright_testing.rootfs import BASE, CLAMP, MTIME, tar_layer


def _lower(tmp_path: Path) -> Path:
    lower = tmp_path / "lower"
    apply_layer(lower, io.BytesIO(BASE), ApplyOptions(overlay=True))
    return lower


def _tar(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar}


def test_upper_entries_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    lower = _lower(tmp_path)
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    os.mknod(upper / "etc" / "motd", 0o020000, os.makedev(0, 0))  # whiteout
    os.mknod(upper / "etc" / "never", 0o020000, os.makedev(0, 0))  # hides nothing
    st = os.lstat(lower / "etc")
    os.utime(upper / "etc", ns=(st.st_atime_ns, st.st_mtime_ns))  # a copy-up, unchanged
    os.chmod(upper / "etc", 0o755)
    (upper / "var" / "cache").mkdir(parents=True)
    os.chmod(upper / "var", 0o755)
    os.utime(upper / "var", (MTIME, MTIME))
    os.setxattr(upper / "var" / "cache", "user.overlay.opaque", b"y")
    (upper / "var" / "cache" / "one").write_text("again\n")
    (upper / "new").write_text("n")
    os.setxattr(upper / "new", "user.overlay.origin", b"x")
    record = OwnershipRecord()
    record.set("new", OwnershipEntry(7, 8))
    out = io.BytesIO()
    result = overlay_changes(upper, [lower], out, GenerateOptions(clamp_mtime=CLAMP), record)
    entries = _tar(out.getvalue())
    assert list(entries) == [
        "etc/.wh.motd",
        "new",
        "var/cache",
        "var/cache/.wh.two",
        "var/cache/one",
    ]
    assert (entries["new"].uid, entries["new"].gid, entries["new"].pax_headers) == (7, 8, {})
    assert result.added == ["new"]
    assert result.modified == ["var/cache", "var/cache/one"]
    assert result.deleted == ["etc/motd", "var/cache/two"]


def test_merge_overlay_dirs_applies_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    lower = _lower(tmp_path)
    top = tmp_path / "top"
    layer = tar_layer(
        ("whiteout", "etc/.wh.motd", None),
        ("whiteout", "var/cache/.wh..wh..opq", None),
        ("file", "var/cache/x", "x"),
    )
    apply_layer(top, io.BytesIO(layer), ApplyOptions(overlay=True, overlay_lowers=[(lower, None)]))
    dest = tmp_path / "dest"
    merge_overlay_dirs(dest, [lower, top])
    assert not (dest / "etc" / "motd").exists()
    assert sorted(os.listdir(dest / "var" / "cache")) == ["x"]
    assert os.lstat(dest / "usr/shared").st_ino == os.lstat(dest / "usr/shared-link").st_ino
    assert os.lstat(dest / "etc").st_mtime == MTIME
    assert os.listxattr(dest / "var" / "cache") == []


def test_merged_ownership_takes_the_topmost_holder(tmp_path: Path) -> None:
    lower, top = tmp_path / "l", tmp_path / "t"
    (lower / "d").mkdir(parents=True)
    (lower / "d" / "a").write_text("a")
    (lower / "d" / "b").write_text("b")
    top.mkdir()
    (top / "d").mkdir()
    (top / "d" / "a").write_text("a2")
    low, high = OwnershipRecord(), OwnershipRecord()
    low.set("d/a", OwnershipEntry(1, 1))
    low.set("d/b", OwnershipEntry(2, 2))
    merged = merged_ownership([(top, high), (lower, low)], OwnershipRecord())
    assert dict(merged.items()) == {"d/b": OwnershipEntry(2, 2)}
