"""The struct-based tar reader: agrees with tarfile on what real tools write (ustar, GNU, PAX,
long names, base-256 numbers, xattrs, devices) and fails on hostile input with a typed error
naming the entry or the offset."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boxwright.errors import LayerError
from boxwright.layer.tarread import (
    MAX_SPECIAL_SIZE,
    TarEntry,
    TarReader,
    parse_pax_records,
    parse_pax_time,
)

FORMATS = {"ustar": tarfile.USTAR_FORMAT, "gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT}


def _entries(raw: bytes, read_size: int = 1 << 20) -> list[tuple[TarEntry, bytes]]:
    reader = TarReader(io.BytesIO(raw), read_size)
    out = []
    while (entry := reader.next()) is not None:
        out.append((entry, reader.read_content() if entry.type == b"0" else b""))
    reader.drain()
    return out


def _build(fmt: int, infos: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as archive:
        for info, data in infos:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def _info(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mtime = 1_600_000_000
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def _sample(fmt: int) -> bytes:
    long_dir = "d" * 60 + "/" + "e" * 60  # > 100 bytes: prefix field (ustar) or L/x (gnu/pax)
    infos: list[tuple[tarfile.TarInfo, bytes | None]] = [
        (_info("etc/", tarfile.DIRTYPE, mode=0o755), None),
        (_info("etc/hosts", mode=0o644, size=5, uid=12, gid=34), b"hosts"),
        (_info(f"{long_dir}/file.txt", mode=0o600, size=3), b"abc"),
        (_info("bin/sh", tarfile.SYMTYPE, linkname="/bin/busybox", mode=0o777), None),
        (_info("bin/ash", tarfile.LNKTYPE, linkname="bin/sh", mode=0o777), None),
        (_info("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666), None),
        (_info("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0, mode=0o660), None),
        (_info("run/fifo", tarfile.FIFOTYPE, mode=0o644), None),
        (_info("usr/bin/passwd", mode=0o4755, size=0), b""),
        (_info("big/empty", mode=0o644, size=70000), b"z" * 70000),
    ]
    return _build(fmt, infos)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("read_size", [512, 1000, 1 << 20])
def test_agrees_with_tarfile(fmt: str, read_size: int) -> None:
    raw = _sample(FORMATS[fmt])
    ours = _entries(raw, read_size)
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
        theirs = archive.getmembers()
        contents = [
            archive.extractfile(m).read() if m.isreg() else b""  # type: ignore[union-attr]
            for m in theirs
        ]
    assert len(ours) == len(theirs) == 10
    for (entry, data), member, content in zip(ours, theirs, contents, strict=True):
        assert entry.name.rstrip("/") == member.name
        assert entry.type == (b"0" if member.isreg() else member.type)
        assert (entry.mode, entry.uid, entry.gid) == (member.mode, member.uid, member.gid)
        assert entry.mtime_ns == entry.atime_ns == member.mtime * 1_000_000_000
        assert entry.linkname == member.linkname
        assert (entry.devmajor, entry.devminor) == (member.devmajor, member.devminor)
        assert entry.size == (member.size if member.isreg() else 0)
        assert data == content
        assert entry.xattrs is None


def test_pax_records_override_and_carry_xattrs() -> None:
    info = _info("x", size=2)
    info.pax_headers = {
        "path": "déjà/vu",
        "mtime": "1700000000.123456789",
        "atime": "-1.5",
        "uid": "4000000000",
        "gid": "7",
        "SCHILY.xattr.user.note": "hello",
        "SCHILY.xattr.security.capability": "\x01\x00\x00\x02",
    }
    link = _info("l", tarfile.SYMTYPE, linkname="short")
    link.pax_headers = {"linkpath": "t" * 300}
    raw = _build(tarfile.PAX_FORMAT, [(info, b"hi"), (link, None)])
    (entry, data), (symlink, _) = _entries(raw)
    assert entry.name == "déjà/vu"
    assert data == b"hi"
    assert entry.mtime_ns == 1_700_000_000_123_456_789
    assert entry.atime_ns == -1_500_000_000
    assert (entry.uid, entry.gid) == (4_000_000_000, 7)
    assert entry.xattrs == {
        "user.note": b"hello",
        "security.capability": b"\x01\x00\x00\x02",
    }
    assert symlink.linkname == "t" * 300


def test_gnu_long_names_and_base256_numbers() -> None:
    info = _info("n" * 150 + "/file", size=1, uid=1 << 40, gid=2**21 + 5, mtime=-86400)
    link = _info("h", tarfile.LNKTYPE, linkname="k" * 200)
    raw = _build(tarfile.GNU_FORMAT, [(info, b"!"), (link, None)])
    (entry, data), (hard, _) = _entries(raw)
    assert entry.name == "n" * 150 + "/file"
    assert (entry.uid, entry.gid) == (1 << 40, 2**21 + 5)
    assert entry.mtime_ns == -86400 * 1_000_000_000
    assert data == b"!"
    assert hard.type == b"1"
    assert hard.linkname == "k" * 200


def test_global_pax_records_apply_to_later_entries() -> None:
    out = io.BytesIO()
    with tarfile.open(
        fileobj=out, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"uid": "77"}
    ) as archive:
        archive.addfile(_info("a"))
        archive.addfile(_info("b", uid=5))
    assert [(e.name, e.uid) for e, _ in _entries(out.getvalue())] == [("a", 77), ("b", 77)]


def _header(name: bytes, kind: bytes = b"0", size: int = 0, **raw_fields: bytes) -> bytearray:
    """A ustar header with a correct checksum; ``raw_fields`` overwrite byte ranges given by
    name (mode, uid, gid, size, mtime, prefix) before the checksum is computed."""
    block = bytearray(512)
    block[0 : len(name)] = name
    block[100:108] = b"0000644\x00"
    block[108:116] = b"0000000\x00"
    block[116:124] = b"0000000\x00"
    block[124:136] = b"%011o\x00" % size
    block[136:148] = b"13000000000\x00"
    block[156:157] = kind
    block[257:265] = b"ustar\x0000"
    spans = {"mode": (100, 108), "uid": (108, 116), "size": (124, 136), "prefix": (345, 500)}
    for key, value in raw_fields.items():
        start, end = spans[key]
        block[start : start + len(value)] = value
        block[start + len(value) : end] = bytes(end - start - len(value))
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    return block


def test_ustar_prefix_field_is_joined() -> None:
    raw = bytes(_header(b"file", prefix=b"some/dir")) + bytes(1024)
    assert [e.name for e, _ in _entries(raw)] == ["some/dir/file"]


def test_signed_checksums_are_accepted() -> None:
    block = _header(b"\xe9t\xe9")  # bytes >= 128: signed and unsigned sums differ
    block[148:156] = b" " * 8
    signed = sum(b - 256 if b > 127 else b for b in block)
    block[148:156] = b"%06o\x00 " % signed
    assert [e.name for e, _ in _entries(bytes(block) + bytes(1024))] == ["\udce9t\udce9"]


def test_old_style_directory_and_contiguous_file_types() -> None:
    raw = bytes(_header(b"olddir/", b"\x00")) + bytes(_header(b"c", b"7")) + bytes(1024)
    assert [(e.name, e.type) for e, _ in _entries(raw)] == [("olddir/", b"5"), ("c", b"0")]


def test_end_without_zero_blocks_and_empty_stream() -> None:
    assert _entries(b"") == []
    raw = bytes(_header(b"a", size=3)) + b"abc" + bytes(509)
    assert [(e.name, d) for e, d in _entries(raw)] == [("a", b"abc")]


def test_content_not_taken_is_skipped_and_copy_to_writes_it(tmp_path: Path) -> None:
    raw = (
        bytes(_header(b"a", size=700))
        + b"A" * 700
        + bytes(324)
        + bytes(_header(b"b", size=1500))
        + b"B" * 1500
        + bytes(548)
        + bytes(1024)
    )
    reader = TarReader(io.BytesIO(raw), 600)
    assert reader.next() is not None  # "a": content left unread
    entry = reader.next()
    assert entry is not None and entry.name == "b"
    fd = os.open(tmp_path / "b", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        assert reader.copy_to(fd) == 1500
    finally:
        os.close(fd)
    assert (tmp_path / "b").read_bytes() == b"B" * 1500
    assert reader.next() is None
    assert reader.next() is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (bytes(_header(b"a"))[:300], r"it ends inside the header at offset 0"),
        (b"x" * 512, r"the header at offset 0 has an invalid checksum field"),
        (
            bytes(_header(b"ok")) + b"garbage!" * 64,
            r"the header at offset 512 has an invalid checksum field",
        ),
        (
            bytes(_header(b"ok")) + bytes(_header(b"b")).replace(b"b", b"c", 1),
            r"the header at offset 512 has a bad checksum",
        ),
        (bytes(_header(b"a", size=5000)) + b"x" * 100, r"tar entry 'a' is truncated"),
        (bytes(_header(b"a", mode=b"07z4\x00")) + bytes(1024), r"invalid mode field"),
        (bytes(_header(b"a", size=0, uid=b"-1\x00")) + bytes(1024), r"invalid uid field"),
        (bytes(_header(b"s", b"S")) + bytes(1024), r"tar entry 's' is a GNU sparse file"),
        (
            bytes(_header(b"pax", b"x", size=MAX_SPECIAL_SIZE + 1)),
            r"has a PAX header of 1048577 bytes, more than the limit",
        ),
        (
            bytes(_header(b"pax", b"x", size=10)) + b"99 path=a\n" + bytes(502) + bytes(1024),
            r"has a bad PAX record",
        ),
        (
            bytes(_header(b"L", b"L", size=5)) + b"long\x00" + bytes(507),
            r"it ends after an extended header, before the entry it describes",
        ),
        (bytes(_header(b"L", b"L", size=900)) + b"x" * 600, r"the layer ends inside a GNU long"),
    ],
)
def test_hostile_input_is_a_layer_error(raw: bytes, message: str) -> None:
    with pytest.raises(LayerError, match=message):
        _entries(raw)


def test_huge_content_is_not_read_into_memory() -> None:
    raw = bytes(_header(b"huge", size=8**11 - 1)) + b"x" * 4096  # claims 8 GiB, holds 4 KiB
    reader = TarReader(io.BytesIO(raw))
    entry = reader.next()
    assert entry is not None and entry.size == 8**11 - 1
    with pytest.raises(LayerError, match=r"'huge' holds 8589934591 bytes, more than the"):
        reader.read_content()
    with pytest.raises(LayerError, match=r"tar entry 'huge' is truncated"):
        reader.next()  # skipping the content finds the end of the stream first


def test_pax_sparse_and_bad_times_are_refused() -> None:
    sparse = _info("s", size=0)
    sparse.pax_headers = {"GNU.sparse.major": "1"}
    with pytest.raises(LayerError, match=r"tar entry 's' is a sparse file \(PAX GNU.sparse\)"):
        _entries(_build(tarfile.PAX_FORMAT, [(sparse, b"")]))
    timed = _info("t")
    timed.pax_headers = {"mtime": "12x"}
    with pytest.raises(LayerError, match=r"tar entry 't' has an invalid time"):
        _entries(_build(tarfile.PAX_FORMAT, [(timed, None)]))


def test_pax_helpers() -> None:
    assert parse_pax_records(b"10 path=a\n11 uid=100\n" + bytes(20), "x") == {
        "path": b"a",
        "uid": b"100",
    }
    assert parse_pax_time("1.5") == 1_500_000_000
    assert parse_pax_time("-0.000000001") == -1
    assert parse_pax_time("42") == 42_000_000_000
    for bad in ("", ".", "1e9", "1.2.3", "--1"):
        with pytest.raises(ValueError, match="invalid time"):
            parse_pax_time(bad)
    for record in (b"5 a=b\n", b"0 x=y\n", b"8 noeq\n", b"x path=a\n"):
        with pytest.raises(LayerError, match="bad PAX record"):
            parse_pax_records(record, "here")


_names = st.lists(
    st.text(
        alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"),
        min_size=1,
        max_size=40,
    ).filter(lambda s: s not in (".", "..")),
    min_size=1,
    max_size=6,
)


@settings(max_examples=60, deadline=None)
@given(
    parts=_names,
    size=st.integers(min_value=0, max_value=3000),
    uid=st.integers(min_value=0, max_value=2**32),
    fmt=st.sampled_from([tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]),
    read_size=st.sampled_from([512, 777, 1 << 16]),
)
def test_random_entries_round_trip(
    parts: list[str], size: int, uid: int, fmt: int, read_size: int
) -> None:
    name = "/".join(parts)
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    raw = _build(fmt, [(_info(name, size=size, uid=uid, gid=uid // 3), data)])
    [(entry, content)] = _entries(raw, read_size)
    assert (entry.name, entry.uid, entry.gid, content) == (name, uid, uid // 3, data)
