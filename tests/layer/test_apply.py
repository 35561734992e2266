"""apply_layer: the OCI layer rules (whiteouts, opaque directories, links, devices, xattrs,
owners, modes, mtimes), the rootless side record, and a real unprivileged user."""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
import struct
import tarfile
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from boxwright.errors import DigestMismatchError, LayerError, UnpackError
from boxwright.layer.apply import ApplyOptions, apply_layer, apply_layers
from boxwright.layer.ownership import OwnershipEntry, OwnershipRecord
from boxwright.layer.pathsafe import remove_tree
from boxwright.layer.streams import LayerReader
from boxwright.oci.digest import Digest

AS_ROOT = ApplyOptions(rootless=False)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown and mknod need root")

Tar = Callable[..., Any]  # conftest.TarBuilder
User = Any  # conftest.User


def _tree(root: Path) -> dict[str, str]:
    """A comparable picture of a tree: type and content/target per relative path."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            out[rel] = "-> " + os.readlink(path)
        elif stat.S_ISDIR(st.st_mode):
            out[rel] = "dir"
        elif stat.S_ISREG(st.st_mode):
            out[rel] = path.read_bytes().decode()
        else:
            out[rel] = "special"
    return out


def test_basic_tree(tar: Tar, root: Path) -> None:
    layer = (
        tar()
        .dir("./etc/")
        .file("./etc/hostname", b"box\n")
        .file("usr/bin/tool", b"#!/bin/sh\n", mode=0o755)
        .symlink("bin", "usr/bin")
        .hardlink("usr/bin/tool2", "usr/bin/tool")
    )
    result = apply_layer(root, layer.stream(), AS_ROOT)
    assert _tree(root) == {
        "bin": "-> usr/bin",
        "etc": "dir",
        "etc/hostname": "box\n",
        "usr": "dir",
        "usr/bin": "dir",
        "usr/bin/tool": "#!/bin/sh\n",
        "usr/bin/tool2": "#!/bin/sh\n",
    }
    assert os.lstat(root / "usr/bin/tool").st_ino == os.lstat(root / "usr/bin/tool2").st_ino
    assert stat.S_IMODE(os.lstat(root / "usr/bin/tool").st_mode) == 0o755
    assert (result.files, result.dirs, result.symlinks, result.hardlinks) == (2, 1, 1, 1)
    assert (result.links, result.bytes, result.whiteouts, result.warnings) == (2, 14, 0, [])
    assert result.written == {
        "etc",
        "etc/hostname",
        "usr",
        "usr/bin",
        "usr/bin/tool",
        "bin",
        "usr/bin/tool2",
    }


def test_parents_resolve_through_image_symlinks(tar: Tar, root: Path) -> None:
    """Merged /usr: an entry under bin/ lands in usr/bin/, the link stays a link."""
    apply_layer(root, tar().dir("usr/bin").symlink("bin", "/usr/bin").stream(), AS_ROOT)
    apply_layer(root, tar().file("bin/ls", b"ls").stream(), AS_ROOT)
    assert os.readlink(root / "bin") == "/usr/bin"
    assert (root / "usr/bin/ls").read_bytes() == b"ls"


def test_whiteout_removes_lower_file_and_tree(tar: Tar, root: Path) -> None:
    lower = tar().file("a/keep", b"k").file("a/gone", b"g").file("d/sub/x", b"x")
    apply_layer(root, lower.stream(), AS_ROOT)
    upper = tar().whiteout("a/.wh.gone").whiteout("./.wh.d").whiteout("a/.wh.never-existed")
    result = apply_layer(root, upper.stream(), AS_ROOT)
    assert _tree(root) == {"a": "dir", "a/keep": "k"}
    assert result.whiteouts == 3
    assert result.files == 0


def test_whiteout_spares_what_the_same_layer_wrote(tar: Tar, root: Path) -> None:
    apply_layer(root, tar().file("f", b"lower").stream(), AS_ROOT)
    upper = tar().file("f", b"upper").file("new", b"n").whiteout(".wh.f").whiteout(".wh.new")
    apply_layer(root, upper.stream(), AS_ROOT)
    assert _tree(root) == {"f": "upper", "new": "n"}


def test_opaque_directory(tar: Tar, root: Path) -> None:
    lower = tar().file("d/old", b"o").file("d/sub/old2", b"o2").file("d/sub/keep", b"lower")
    apply_layer(root, lower.stream(), AS_ROOT)
    upper = tar().file("d/new", b"n").file("d/sub/keep", b"upper").whiteout("d/.wh..wh..opq")
    result = apply_layer(root, upper.stream(), AS_ROOT)
    assert _tree(root) == {"d": "dir", "d/new": "n", "d/sub": "dir", "d/sub/keep": "upper"}
    assert result.whiteouts == 1


def test_opaque_first_then_new_content(tar: Tar, root: Path) -> None:
    apply_layer(root, tar().file("d/old", b"o").stream(), AS_ROOT)
    apply_layer(root, tar().dir("d").whiteout("d/.wh..wh..opq").file("d/n", b"n").stream())
    assert _tree(root) == {"d": "dir", "d/n": "n"}


def test_replacements_between_types(tar: Tar, root: Path) -> None:
    lower = tar().file("d/x", b"x").file("f", b"f").symlink("l", "f").dir("e", mode=0o700)
    apply_layer(root, lower.stream(), AS_ROOT)
    upper = (
        tar()
        .file("d", b"now a file")
        .dir("f")
        .file("l", b"no longer a link")
        .dir("e", mode=0o751, mtime=1_500_000_000)
    )
    apply_layer(root, upper.stream(), AS_ROOT)
    assert _tree(root) == {"d": "now a file", "e": "dir", "f": "dir", "l": "no longer a link"}
    st = os.lstat(root / "e")
    assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (0o751, 1_500_000_000 * 10**9)


def test_root_entry_updates_root_metadata(tar: Tar, root: Path) -> None:
    apply_layer(root, tar().dir("./", mode=0o750, mtime=1_234_567_890).file("a").stream())
    st = os.lstat(root)
    assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (0o750, 1_234_567_890 * 10**9)


def test_modes_with_special_bits(tar: Tar, root: Path) -> None:
    layer = (
        tar()
        .file("suid", b"s", mode=0o4755, uid=0)
        .file("sgid", b"s", mode=0o2711)
        .dir("tmp", mode=0o1777)
        .file("private", b"p", mode=0o600)
        .file("group-writable", b"g", mode=0o664)
    )
    apply_layer(root, layer.stream())
    modes = {n: stat.S_IMODE(os.lstat(root / n).st_mode) for n in _tree(root)}
    assert modes == {
        "suid": 0o4755,
        "sgid": 0o2711,
        "tmp": 0o1777,
        "private": 0o600,
        "group-writable": 0o664,
    }


def test_mtimes_including_directories_symlinks_and_nanoseconds(tar: Tar, root: Path) -> None:
    layer = (
        tar()
        .dir("d", mtime=1_000_000_000)
        .file("d/f", b"x", mtime=1_100_000_000, pax={"mtime": "1100000000.123456789"})
        .symlink("d/l", "f", mtime=1_200_000_000)
        .dir("d/sub", mtime=1_300_000_000)
        .file("d/sub/g", b"y", mtime=1_400_000_000)
    )
    apply_layer(root, layer.stream(), AS_ROOT)
    got = {n: os.lstat(root / n).st_mtime_ns for n in ("d", "d/f", "d/l", "d/sub", "d/sub/g")}
    assert got == {
        "d": 1_000_000_000 * 10**9,
        "d/f": 1_100_000_000_123_456_789,
        "d/l": 1_200_000_000 * 10**9,
        "d/sub": 1_300_000_000 * 10**9,
        "d/sub/g": 1_400_000_000 * 10**9,
    }


def test_user_xattrs(tar: Tar, root: Path) -> None:
    layer = tar().file("f", b"x", xattrs={"user.note": b"hello", "user.bin": b"\x00\xff"})
    layer.dir("d", xattrs={"user.dir": b"yes"})
    apply_layer(root, layer.stream(), AS_ROOT)
    assert os.getxattr(root / "f", "user.note") == b"hello"
    assert os.getxattr(root / "f", "user.bin") == b"\x00\xff"
    assert os.getxattr(root / "d", "user.dir") == b"yes"


def test_parent_times_survive_children_added_and_removed(tar: Tar, root: Path) -> None:
    lower = tar().dir("d", mtime=1_000_000_000).file("d/old", b"o").dir("e", mtime=1_000_000_000)
    apply_layer(root, lower.stream(), AS_ROOT)
    upper = tar().file("d/new", b"n").whiteout("d/.wh.old").whiteout("e/.wh..wh..opq")
    apply_layer(root, upper.stream(), AS_ROOT)
    assert _tree(root) == {"d": "dir", "d/new": "n", "e": "dir"}
    assert os.lstat(root / "d").st_mtime_ns == 1_000_000_000 * 10**9
    assert os.lstat(root / "e").st_mtime_ns == 1_000_000_000 * 10**9


@needs_root
def test_file_capability_survives_chown(tar: Tar, root: Path) -> None:
    """chown clears security.capability, so xattrs must be set after it."""
    cap_net_raw = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)
    layer = tar().file(
        "ping", b"elf", mode=0o755, uid=1000, gid=1000, xattrs={"security.capability": cap_net_raw}
    )
    result = apply_layer(root, layer.stream(), AS_ROOT)
    assert result.warnings == []
    assert os.getxattr(root / "ping", "security.capability") == cap_net_raw
    st = os.lstat(root / "ping")
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o755)


def test_fifo(tar: Tar, root: Path) -> None:
    result = apply_layer(root, tar().fifo("run/pipe", mode=0o620).stream(), AS_ROOT)
    st = os.lstat(root / "run/pipe")
    assert stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o620
    assert result.fifos == 1


@needs_root
def test_owners_and_devices_as_root(tar: Tar, root: Path) -> None:
    layer = (
        tar()
        .file("owned", b"o", uid=1000, gid=1001)
        .file("capped", b"c", uid=1000, gid=0, xattrs={"user.k": b"v"})
        .dir("home/u", uid=1234, gid=1234)
        .symlink("link", "owned", uid=42, gid=43)
        .device("dev/null", 1, 3)
        .device("dev/sda", 8, 0, block=True, mode=0o660, gid=6)
    )
    result = apply_layer(root, layer.stream(), AS_ROOT)
    owner = {
        n: (os.lstat(root / n).st_uid, os.lstat(root / n).st_gid)
        for n in ("owned", "capped", "home/u", "link", "dev/sda")
    }
    assert owner == {
        "owned": (1000, 1001),
        "capped": (1000, 0),
        "home/u": (1234, 1234),
        "link": (42, 43),
        "dev/sda": (0, 6),
    }
    null, sda = os.lstat(root / "dev/null"), os.lstat(root / "dev/sda")
    assert stat.S_ISCHR(null.st_mode) and (os.major(null.st_rdev), os.minor(null.st_rdev)) == (1, 3)
    assert stat.S_ISBLK(sda.st_mode) and (os.major(sda.st_rdev), os.minor(sda.st_rdev)) == (8, 0)
    assert stat.S_IMODE(sda.st_mode) == 0o660
    assert (result.devices, result.warnings) == (2, [])


def test_rootless_mode_records_what_the_filesystem_cannot_hold(tar: Tar, root: Path) -> None:
    record = OwnershipRecord()
    warnings: list[str] = []
    layer = (
        tar()
        .file("plain", b"p", uid=0, gid=0)
        .file("owned", b"o", uid=1000, gid=1000)
        .device("dev/null", 1, 3, mode=0o666)
        .hardlink("owned-too", "owned")
    )
    opts = ApplyOptions(rootless=True, ownership=record, on_warning=warnings.append)
    result = apply_layer(root, layer.stream(), opts)
    null = os.lstat(root / "dev/null")
    assert stat.S_ISREG(null.st_mode) and null.st_size == 0
    assert stat.S_IMODE(null.st_mode) == 0o666
    assert dict(record.items()) == {
        "dev/null": OwnershipEntry(0, 0, stat.S_IFCHR | 0o666, (1, 3)),
        "owned": OwnershipEntry(1000, 1000),
        "owned-too": OwnershipEntry(1000, 1000),
    }
    assert warnings == result.warnings
    assert warnings == [
        "dev/null: character device 1:3 cannot be created without privileges; written as an "
        "empty file (kept in the ownership record)"
    ]
    # A later layer rewriting the file as 0:0 and deleting the device updates the record.
    apply_layer(root, tar().file("owned", b"new").whiteout("dev/.wh.null").stream(), opts)
    assert dict(record.items()) == {"owned-too": OwnershipEntry(1000, 1000)}


def test_ownership_record_file(tmp_path: Path) -> None:
    path = tmp_path / "ownership.json"
    assert len(OwnershipRecord.load(path)) == 0
    record = OwnershipRecord(path)
    record.set("./a//b/", OwnershipEntry(1, 2))
    record.set("a/b/c", OwnershipEntry(3, 4, 0o20644, (1, 5), {"trusted.x": b"\x00\x01"}))
    record.set("z", OwnershipEntry(5, 6))
    record.save()
    assert not [p for p in tmp_path.iterdir() if p.name != "ownership.json"]
    again = OwnershipRecord.load(path)
    assert list(again.items()) == list(record.items())
    assert "a/b" in again and again.get("a/b/c") == record.get("a/b/c")
    again.rename_prefix("a", "moved")
    assert list(again) == ["moved/b", "moved/b/c", "z"]
    again.drop_subtree("moved/b")
    assert list(again) == ["z"]
    again.remove("z")
    assert len(again) == 0


@pytest.mark.parametrize(
    "content", [b"{not json", b'{"version": 2, "entries": {}}', b'{"version":1,"entries":{"a":{}}}']
)
def test_corrupt_ownership_record(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "ownership.json"
    path.write_bytes(content)
    with pytest.raises(UnpackError, match=f"ownership record {path} is corrupt"):
        OwnershipRecord.load(path)


def test_intended_rule(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    st = os.lstat(tmp_path / "f")
    record = OwnershipRecord()
    plain = record.intended("f", st, euid=st.st_uid, egid=st.st_gid)
    assert (plain.uid, plain.gid, plain.mode, plain.rdev) == (0, 0, st.st_mode, None)
    other = record.intended("f", st, euid=st.st_uid + 1, egid=st.st_gid + 1)
    assert (other.uid, other.gid) == (st.st_uid, st.st_gid)
    record.set("f", OwnershipEntry(7, 8, stat.S_IFBLK | 0o600, (8, 1), {"user.a": b"b"}))
    dev = record.intended("f", st)
    assert dev == (7, 8, stat.S_IFBLK | 0o600, (8, 1), {"user.a": b"b"})


def test_layer_reader_into_apply_checks_diff_id(tar: Tar, root: Path) -> None:
    raw = tar().file("a", b"data").bytes()
    diff_id = Digest.from_bytes(raw)
    result = apply_layer(root, LayerReader(io.BytesIO(gzip.compress(raw)), None, diff_id))
    assert result.files == 1
    wrong = Digest.from_bytes(b"other")
    with pytest.raises(DigestMismatchError, match="does not match its diff_id"):
        apply_layer(root / "x", LayerReader(io.BytesIO(gzip.compress(raw)), None, wrong))


def test_apply_layers_in_order(tar: Tar, root: Path) -> None:
    results = apply_layers(
        root,
        [
            tar().file("a", b"1").file("b", b"1").stream(),
            tar().file("a", b"2").whiteout(".wh.b").stream(),
        ],
        AS_ROOT,
    )
    assert _tree(root) == {"a": "2"}
    assert [(r.files, r.whiteouts) for r in results] == [(2, 0), (1, 1)]


def test_truncated_and_invalid_tars(tar: Tar, root: Path) -> None:
    raw = tar().file("big", b"x" * 5000).bytes()
    with pytest.raises(LayerError, match="tar entry 'big' is truncated: the layer ends inside it"):
        apply_layer(root, io.BytesIO(raw[:2048]), AS_ROOT)
    with pytest.raises(LayerError, match="layer is not a valid tar stream"):
        apply_layer(root, io.BytesIO(b"this is not a tar" * 40), AS_ROOT)


def test_unsupported_entry_type(tar: Tar, root: Path) -> None:
    builder = tar(tarfile.GNU_FORMAT)
    info = tarfile.TarInfo("label")
    info.type = tarfile.GNUTYPE_LONGNAME.replace(b"L", b"V")  # a GNU volume header
    builder._tar.addfile(info)
    with pytest.raises(LayerError, match=r"tar entry 'label' has unsupported type b'V'"):
        apply_layer(root, builder.stream(), AS_ROOT)


def test_remove_tree_handles_read_only_directories(tar: Tar, root: Path) -> None:
    apply_layer(root, tar().dir("ro", mode=0o500).file("ro/f").dir("ro/d", mode=0).stream())
    remove_tree(root)
    assert not root.exists()


SCRIPT = textwrap.dedent(
    """
    import json, os, stat, sys
    from boxwright.layer.apply import ApplyOptions, apply_layer
    from boxwright.layer.ownership import OwnershipRecord
    root, tar_path, record_path = sys.argv[1:4]
    record = OwnershipRecord(record_path)
    opts = ApplyOptions(ownership=record)  # rootless by default: euid != 0
    with open(tar_path, "rb") as stream:
        result = apply_layer(root, stream, opts)
    record.save()
    modes = {}
    for name in ("ro", "ro/inner", "ro/inner/f", "etc/passwd", "home/user/file", "dev/null"):
        st = os.lstat(os.path.join(root, name))
        modes[name] = [stat.S_IMODE(st.st_mode), st.st_uid, stat.S_ISREG(st.st_mode)]
    user_ok = os.getxattr(os.path.join(root, "marked"), "user.ok").decode()
    print(json.dumps({"rootless": opts.rootless, "warnings": result.warnings, "modes": modes,
                      "user_ok": user_ok}))
    """
)


def test_apply_as_a_real_unprivileged_user(tar: Tar, unprivileged: User) -> None:
    work = unprivileged.workdir()
    try:
        layer = (
            tar()
            .file("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", uid=0, gid=0)
            .dir("home/user", uid=1000, gid=1000, mode=0o700)
            .file("home/user/file", b"mine", uid=1000, gid=1000)
            .file("marked", b"m", xattrs={"trusted.mark": b"t", "user.ok": b"u"})
            .device("dev/null", 1, 3)
            .dir("ro", mode=0o555)
            .dir("ro/inner", mode=0o500)
            .file("ro/inner/f", b"deep", mode=0o444)
        )
        tar_path = work / "layer.tar"
        tar_path.write_bytes(layer.bytes())
        done = unprivileged.run_python(
            SCRIPT, str(work / "rootfs"), str(tar_path), str(work / "ownership.json")
        )
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        uid = unprivileged.uid
        assert report["rootless"] is True
        assert report["modes"] == {
            "ro": [0o555, uid, False],
            "ro/inner": [0o500, uid, False],
            "ro/inner/f": [0o444, uid, True],
            "etc/passwd": [0o644, uid, True],
            "home/user/file": [0o644, uid, True],
            "dev/null": [0o666, uid, True],
        }
        assert report["warnings"] == [
            "marked: xattr trusted.mark not set (Operation not permitted); kept in the "
            "ownership record",
            "dev/null: character device 1:3 cannot be created without privileges; written "
            "as an empty file (kept in the ownership record)",
        ]
        assert report["user_ok"] == "u"
        record = json.loads((work / "ownership.json").read_text())
        assert record == {
            "version": 1,
            "entries": {
                "dev/null": {"uid": 0, "gid": 0, "mode": stat.S_IFCHR | 0o666, "rdev": [1, 3]},
                "home/user": {"uid": 1000, "gid": 1000},
                "home/user/file": {"uid": 1000, "gid": 1000},
                "marked": {"uid": 0, "gid": 0, "xattrs": {"trusted.mark": "dA=="}},
            },
        }
    finally:
        remove_tree(work)
