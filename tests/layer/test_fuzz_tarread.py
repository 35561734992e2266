"""Fuzz tests of the tar header reader every layer passes through.

Parsers covered (the bytes are a layer from an image, an archive or a build):

* ``layer/tarread.py``: ``TarReader`` (ustar, GNU and PAX headers, base-256 numbers, long
  names, global headers), ``parse_pax_records``, ``parse_pax_time``;
* ``transport/tarindex.py``: ``TarIndex`` (the index of an ``oci-archive:`` or
  ``docker-archive:`` file read in place) and ``clean_member_name``.

The property (see ``tests/boxwright_testing/fuzz.py``): for any stream, reading every entry and its
content ends with the entries or a :class:`LayerError` — never another exception and never
a hang. Headers are generated with random fields over a valid checksum, so the reader goes
past the checksum check into every field.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from boxwright.errors import BoxwrightError, LayerError
from boxwright.layer.tarread import TarReader, parse_pax_records, parse_pax_time
from boxwright_testing.fuzz import fuzz, outcome

pytestmark = fuzz

_FIELDS = (  # name, size in bytes
    ("name", 100),
    ("mode", 8),
    ("uid", 8),
    ("gid", 8),
    ("size", 12),
    ("mtime", 12),
    ("chksum", 8),
    ("type", 1),
    ("linkname", 100),
    ("magic", 6),
    ("version", 2),
    ("uname", 32),
    ("gname", 32),
    ("devmajor", 8),
    ("devminor", 8),
    ("prefix", 155),
)


def _octal(width: int) -> st.SearchStrategy[bytes]:
    return st.integers(0, 8 ** (width - 1) - 1).map(lambda n: b"%0*o\x00" % (width - 1, n))


def _number(width: int) -> st.SearchStrategy[bytes]:
    """A numeric field: octal, base-256 (positive or negative), blanks, or junk."""
    return st.one_of(
        _octal(width),
        _octal(width),
        st.binary(min_size=width - 1, max_size=width - 1).map(lambda b: b"\x80" + b),
        st.binary(min_size=width - 1, max_size=width - 1).map(lambda b: b"\xff" + b),
        st.sampled_from([b"", b" " * width, b"0" * width, b"7" * width, b"8", b"-1", b"\xb2"]),
        st.binary(max_size=width),
    )


def _text(width: int) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.sampled_from([b"", b"a", b"dir/", b"../x", b"/abs", b".", b"a\x00b", b"\xff\xfe"]),
        st.binary(max_size=width),
    )


_SIZES = st.one_of(
    st.integers(0, 1100).map(lambda n: b"%011o\x00" % n),
    _number(12),
)
_TYPES = st.sampled_from([*b"0123456\x007xgXLKSDVMN", 0x80, 0xFF]).map(lambda t: bytes([t]))


def _pad(value: bytes, width: int) -> bytes:
    return value[:width].ljust(width, b"\x00")


@st.composite
def headers(draw: st.DrawFn) -> bytes:
    """One 512-byte header with random fields and a checksum that matches them."""
    values = {
        "name": draw(_text(100)),
        "mode": draw(_number(8)),
        "uid": draw(_number(8)),
        "gid": draw(_number(8)),
        "size": draw(_SIZES),
        "mtime": draw(_number(12)),
        "type": draw(_TYPES),
        "linkname": draw(_text(100)),
        "magic": draw(st.sampled_from([b"ustar\x00", b"ustar ", b"", b"junk"])),
        "version": draw(st.sampled_from([b"00", b" \x00", b""])),
        "uname": draw(_text(32)),
        "gname": draw(_text(32)),
        "devmajor": draw(_number(8)),
        "devminor": draw(_number(8)),
        "prefix": draw(_text(155)),
    }
    block = bytearray()
    for name, width in _FIELDS:
        block += b" " * 8 if name == "chksum" else _pad(values[name], width)
    block += bytes(12)
    how = draw(st.sampled_from(["unsigned", "unsigned", "signed", "base256", "random"]))
    if how == "signed":
        total = sum(b - 256 if b > 127 else b for b in block)
        chksum = b"%06o\x00 " % (total & 0o777777)
    elif how == "base256":
        chksum = b"\x80" + sum(block).to_bytes(7, "big")
    elif how == "random":
        chksum = draw(st.binary(min_size=8, max_size=8))
    else:
        chksum = b"%06o\x00 " % sum(block)
    block[148:156] = chksum
    return bytes(block)


def _pax_record(key: bytes, value: bytes) -> bytes:
    body = b" " + key + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length)) + len(body) != length:
        length = len(str(length)) + len(body)
    return str(length).encode() + body


_PAX_KEYS = st.sampled_from(
    [
        b"path",
        b"linkpath",
        b"size",
        b"uid",
        b"gid",
        b"mtime",
        b"atime",
        b"SCHILY.xattr.user.a",
        b"GNU.sparse.size",
        b"comment",
        b"",
    ]
)
_PAX_VALUES = st.one_of(
    st.sampled_from(
        [
            b"1",
            b"-1",
            b"0.5",
            b"1e9",
            b"99999999999999999999999",
            b"9" * 5000,
            b"1_0",
            b" 7 ",
            b"\xb2",
            b"\xff",
            b"a/b",
            b"",
            b"1700000000.123456789123",
            b"-0.000000001",
        ]
    ),
    st.binary(max_size=30),
)
_pax_payload = st.one_of(
    st.lists(st.builds(_pax_record, _PAX_KEYS, _PAX_VALUES), max_size=4).map(b"".join),
    st.binary(max_size=80),
)


@st.composite
def members(draw: st.DrawFn) -> bytes:
    """One header and the content its size field promises (or a PAX/long-name payload)."""
    header = bytearray(draw(headers()))
    kind = header[156:157]
    if kind in (b"x", b"g", b"X", b"L", b"K") and draw(st.booleans()):
        payload = draw(_pax_payload) if kind in (b"x", b"g", b"X") else draw(_text(300))
        header[124:136] = b"%011o\x00" % len(payload)
        header[148:156] = b" " * 8
        header[148:156] = b"%06o\x00 " % sum(header)
        return bytes(header) + payload + bytes(-len(payload) % 512)
    content = draw(st.binary(max_size=600))
    return bytes(header) + content + bytes(-len(content) % 512)


@st.composite
def archives(draw: st.DrawFn) -> bytes:
    """Members, then the end blocks, or an abrupt end, or trailing junk."""
    data = b"".join(draw(st.lists(members(), max_size=3)))
    end = draw(st.sampled_from(["blocks", "none", "cut", "junk"]))
    if end == "blocks":
        data += bytes(1024)
    elif end == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif end == "junk":
        data += draw(st.binary(max_size=600))
    return data


def _read_all(data: bytes, read_size: int) -> list[tuple[str, bytes]]:
    reader = TarReader(io.BytesIO(data), read_size=read_size)
    out = []
    taken = 0
    while (entry := reader.next()) is not None:
        assert isinstance(entry.name, str) and entry.size >= 0 and entry.uid >= 0 and entry.gid >= 0
        content = (
            reader.read_content(limit=1 << 16) if taken % 2 == 0 and entry.size < 1 << 16 else b""
        )
        taken += 1
        out.append((entry.name, content))
    reader.drain()
    return out


@given(archives(), st.sampled_from([512, 777, 4096, 1 << 20]))
@example(b"", 512)
@example(bytes(511), 512)
def test_any_archive_reads_to_its_end_or_raises_a_layer_error(data: bytes, read_size: int) -> None:
    outcome(_read_all, data, read_size, errors=LayerError)


@given(st.binary(max_size=2048), st.sampled_from([512, 1000]))
def test_any_bytes_read_or_raise_a_layer_error(data: bytes, read_size: int) -> None:
    outcome(_read_all, data, read_size, errors=LayerError)


@given(_pax_payload)
def test_any_pax_payload_is_records_or_a_layer_error(data: bytes) -> None:
    records = outcome(parse_pax_records, data, "here", errors=LayerError)
    if isinstance(records, dict):
        assert all(isinstance(k, str) and isinstance(v, bytes) for k, v in records.items())


@given(
    st.one_of(
        st.text(max_size=30),
        st.sampled_from(["\u00b2", "1.\u00b2", "\u0661", "9" * 5000, "0." + "9" * 5000]),
    )
)
def test_any_pax_time_is_nanoseconds_or_a_value_error(text: str) -> None:
    # parse_pax_time is internal to the reader, which turns its ValueError into a LayerError.
    try:
        value = parse_pax_time(text)
    except ValueError:
        return
    assert isinstance(value, int)


@given(archives())
def test_any_archive_file_is_indexed_or_refused_with_a_typed_error(data: bytes) -> None:
    from boxwright.transport.tarindex import TarIndex

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "archive.tar"
        path.write_bytes(data)
        index = outcome(TarIndex, path, errors=BoxwrightError)
        if isinstance(index, TarIndex):
            for name in list(index.members)[:4]:
                if outcome(index.find, name, errors=BoxwrightError) is not None:
                    outcome(index.read, name, 1 << 16, errors=BoxwrightError)


# -- crashes the fuzzers found, kept as exact regressions ---------------------------------------


@pytest.mark.parametrize("data", [bytes(511)])
def test_regressions_are_layer_errors(data: bytes) -> None:
    with pytest.raises(LayerError):
        _read_all(data, 512)


def _header(size_field: bytes, kind: bytes = b"0") -> bytes:
    """A ustar header of type ``kind`` named ``a`` with ``size_field`` and a valid checksum."""
    block = bytearray(512)
    block[0:1] = b"a"
    block[100:124] = b"0000644\x000000000\x000000000\x00"
    block[124:136] = size_field
    block[136:148] = b"00000000000\x00"
    block[156:157] = kind
    block[257:265] = b"ustar\x0000"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\x00 " % sum(block)
    return bytes(block)


@pytest.mark.parametrize(
    "size_field",
    [
        b"\xff" + bytes(11),  # tarfile seeked to a negative offset: ValueError
        b"\xff" * 12,  # -1: tarfile made it a member of size -1
    ],
)
def test_archive_member_with_a_negative_base256_size_is_a_transport_error(
    tmp_path: Path, size_field: bytes
) -> None:
    from boxwright.errors import TransportError
    from boxwright.transport.tarindex import TarIndex

    path = tmp_path / "archive.tar"
    path.write_bytes(_header(size_field) + bytes(1024))
    with pytest.raises(TransportError, match="negative size"):
        TarIndex(path)
    with pytest.raises(LayerError, match="negative size"):
        _read_all(path.read_bytes(), 512)


@pytest.mark.parametrize("kind", [b"L", b"K", b"x", b"g"])
def test_extended_header_with_a_huge_base256_size_is_a_typed_error(
    tmp_path: Path, kind: bytes
) -> None:
    # tarfile raised OverflowError ("cannot fit 'int' into an index-sized integer").
    from boxwright.errors import TransportError
    from boxwright.transport.tarindex import TarIndex

    path = tmp_path / "archive.tar"
    path.write_bytes(_header(b"\xff" + bytes(11), kind) + _header(b"%011o\x00" % 0) + bytes(1024))
    with pytest.raises(TransportError, match="corrupt header"):
        TarIndex(path)
    with pytest.raises(LayerError, match="negative size"):
        _read_all(path.read_bytes(), 512)
