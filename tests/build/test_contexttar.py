"""A tar archive unpacked as a build context (``boxwright.build.contexttar``): files,
directories and links only, every name inside the context, bounded, complete."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from boxwright.build.contexttar import is_archive, unpack_context
from boxwright.errors import BuildContextError, UnsafePathError

WHAT = "ctx.tar"


def _archive(path: Path, *entries: tuple[str, bytes, bytes | str]) -> Path:
    """A tar of ``entries``: (name, type, content or link target)."""
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.type, info.mtime, info.mode = kind, 1_000_000, 0o640
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = str(data)
                tar.addfile(info)
            elif kind == tarfile.REGTYPE:
                assert isinstance(data, bytes)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return path


def _unpack(tmp_path: Path, *entries: tuple[str, bytes, bytes | str], limit: int = 1 << 20) -> Path:
    """Unpack ``entries`` into a new directory under ``tmp_path``; return it."""
    number = len(list(tmp_path.glob("root*")))
    root = tmp_path / f"root{number}"
    root.mkdir()
    unpack_context(_archive(tmp_path / f"a{number}.tar", *entries), root, limit, WHAT)
    return root


def test_files_directories_and_links_are_unpacked_as_they_are(tmp_path: Path) -> None:
    root = _unpack(
        tmp_path,
        ("d/", tarfile.DIRTYPE, b""),
        ("d/f", tarfile.REGTYPE, b"content"),
        ("d/hard", tarfile.LNKTYPE, "d/f"),
        ("abs", tarfile.SYMTYPE, "/etc/passwd"),
        ("./rel", tarfile.SYMTYPE, "d/f"),
    )
    f = (root / "d" / "f").lstat()
    assert (root / "d" / "f").read_bytes() == b"content"
    assert stat.S_IMODE(f.st_mode) == 0o640 and f.st_mtime == 1_000_000 and f.st_nlink == 2
    assert os.path.samefile(root / "d" / "hard", root / "d" / "f")
    assert os.readlink(root / "abs") == "/etc/passwd"  # a link as it is, resolved by COPY later
    assert os.readlink(root / "rel") == "d/f"
    assert sorted(os.listdir(root)) == ["abs", "d", "rel"]


@pytest.mark.parametrize("name", ["../escaped", "a/../../escaped", "/etc/escaped"])
def test_names_that_leave_the_context_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(UnsafePathError) as caught:
        _unpack(tmp_path, (name, tarfile.REGTYPE, b"x"))
    assert str(caught.value) == f"{WHAT}: the entry {name!r} leaves the build context"
    assert not (tmp_path / "escaped").exists()


def test_a_hard_link_must_name_a_file_of_the_archive(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.write_text("host only\n")
    with pytest.raises(UnsafePathError) as caught:
        _unpack(tmp_path, ("h", tarfile.LNKTYPE, "../outside"))
    assert str(caught.value) == f"{WHAT}: the entry '../outside' leaves the build context"
    for target in ("missing", "link"):
        with pytest.raises(BuildContextError) as caught:
            _unpack(
                tmp_path,
                ("link", tarfile.SYMTYPE, str(outside)),
                ("h", tarfile.LNKTYPE, target),
            )
        assert str(caught.value) == (
            f"{WHAT}: the hard link 'h' names {target!r}, which is not a file the archive "
            "holds before it"
        )
    assert outside.stat().st_nlink == 1


@pytest.mark.parametrize(
    ("kind", "described"),
    [
        (tarfile.CHRTYPE, "a character device"),
        (tarfile.BLKTYPE, "a block device"),
        (tarfile.FIFOTYPE, "a FIFO"),
    ],
)
def test_devices_and_fifos_are_refused(tmp_path: Path, kind: bytes, described: str) -> None:
    with pytest.raises(BuildContextError) as caught:
        _unpack(tmp_path, ("node", kind, b""))
    assert str(caught.value) == (
        f"{WHAT}: the entry 'node' is {described}; a build context holds only files, "
        "directories and links"
    )
    assert not (tmp_path / "root0" / "node").exists()


def test_a_link_made_earlier_is_followed_inside_the_context_only(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = _unpack(
        tmp_path,
        ("up", tarfile.SYMTYPE, str(outside)),
        ("up/planted", tarfile.REGTYPE, b"x"),
        ("climb", tarfile.SYMTYPE, "../../.."),
        ("climb/planted2", tarfile.REGTYPE, b"y"),
    )
    assert list(outside.iterdir()) == []
    inner = root / str(outside).lstrip("/") / "planted"
    assert inner.read_bytes() == b"x"
    assert (root / "planted2").read_bytes() == b"y"


def test_the_uncompressed_archive_is_bounded(tmp_path: Path) -> None:
    with pytest.raises(BuildContextError) as caught:
        _unpack(tmp_path, ("big", tarfile.REGTYPE, b"\0" * 100_000), limit=50_000)
    assert str(caught.value) == f"{WHAT}: the archive is larger than the limit of 50000 bytes"


def test_what_is_an_archive(tmp_path: Path) -> None:
    text = tmp_path / "Containerfile"
    text.write_text("FROM scratch\n")
    tar = _archive(tmp_path / "a.tar", ("f", tarfile.REGTYPE, b"x"))
    gz = tmp_path / "damaged.gz"
    gz.write_bytes(b"\x1f\x8b\x08" + b"\0" * 5)
    assert (is_archive(text), is_archive(tar), is_archive(gz)) == (False, True, True)


def test_an_entry_the_filesystem_refuses_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BuildContextError) as caught:
        _unpack(tmp_path, ("l", tarfile.SYMTYPE, ""))
    assert str(caught.value) == f"{WHAT}: cannot write the entry 'l': No such file or directory"
