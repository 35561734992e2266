"""Applying as root skips a chown only when it would change nothing: the new file already
has the owner the entry names. Setgid directories (whose group new files inherit) and
directories whose group is set later in the same layer must still get the entry's group."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from boxwright.layer.apply import ApplyOptions, apply_layer

AS_ROOT = ApplyOptions(rootless=False)
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
Tar = Callable[..., Any]


def _owner(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_uid, st.st_gid


@needs_root
def test_owners_under_setgid_and_foreign_group_directories(tar: Tar, root: Path) -> None:
    lower = tar().dir("sg", mode=0o2775, gid=1234).dir("foreign", mode=0o755, gid=1234)
    apply_layer(root, lower.stream(), AS_ROOT)
    assert os.stat(root / "sg").st_mode & stat.S_ISGID
    upper = (
        tar()
        .file("sg/zero", b"a", gid=0)
        .file("sg/inherited", b"b", gid=1234)
        .file("sg/suid", b"c", mode=0o4755, uid=0, gid=0)
        .file("foreign/zero", b"d", gid=0)
        .file("top", b"e")
        .file("other", b"f", uid=7, gid=0)
    )
    apply_layer(root, upper.stream(), AS_ROOT)
    owners = {n: _owner(root / n) for n in ("sg/zero", "sg/inherited", "sg/suid")}
    owners |= {n: _owner(root / n) for n in ("foreign/zero", "top", "other")}
    assert owners == {
        "sg/zero": (0, 0),
        "sg/inherited": (0, 1234),
        "sg/suid": (0, 0),
        "foreign/zero": (0, 0),
        "top": (0, 0),
        "other": (7, 0),
    }
    assert stat.S_IMODE(os.lstat(root / "sg/suid").st_mode) == 0o4755


@needs_root
def test_directory_made_setgid_later_in_the_layer(tar: Tar, root: Path) -> None:
    layer = (
        tar()
        .file("d/first", b"1", gid=0)  # "d" created implicitly: plain, group 0
        .dir("d", mode=0o2755, gid=99)  # now setgid with group 99
        .file("d/second", b"2", gid=0)  # the kernel gives group 99: a chown is needed
        .file("d/third", b"3", gid=99)
    )
    apply_layer(root, layer.stream(), AS_ROOT)
    assert [_owner(root / "d" / n) for n in ("first", "second", "third")] == [
        (0, 0),
        (0, 0),
        (0, 99),
    ]


def test_entries_from_a_raw_ustar_stream(root: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo("a/" + "p" * 120 + "/f")  # a name that needs the prefix field
        info.size, info.mode, info.mtime = 2, 0o640, 1_500_000_000
        archive.addfile(info, io.BytesIO(b"ok"))
    result = apply_layer(root, io.BytesIO(out.getvalue()), ApplyOptions(rootless=True))
    path = root / "a" / ("p" * 120) / "f"
    assert path.read_bytes() == b"ok"
    st = os.lstat(path)
    assert (stat.S_IMODE(st.st_mode), st.st_mtime_ns) == (0o640, 1_500_000_000 * 10**9)
    assert (result.files, result.bytes) == (1, 2)
