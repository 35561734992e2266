"""Compression detection and the gzip/zstd/none codecs: round trips, multi-member streams,
truncated and corrupt input, determinism and interoperability with the reference codecs."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import random
import tarfile

import pytest
import zstandard

from boxwright.errors import CompressionError
from boxwright.layer.compression import (
    PEEK_SIZE,
    CompressingReader,
    auto_decompress,
    compress_writer,
    decompress,
    detect_compression,
    is_tar_start,
    resolve_compression,
)

# Compressible but not trivial: random words, 3 MiB (spans several 1 MiB codec chunks).
_rng = random.Random(7)
_WORDS = [bytes(_rng.choices(b"abcdefghijklmnop", k=_rng.randint(2, 9))) for _ in range(500)]
DATA = b" ".join(_rng.choices(_WORDS, k=600_000))[: 3 * 1024 * 1024 + 123]


def _compress(data: bytes, compression: str, level: int | None = None) -> bytes:
    out = io.BytesIO()
    writer = compress_writer(out, compression, level)
    writer.write(data)
    writer.close()
    assert not out.closed
    return out.getvalue()


def test_detect_by_magic() -> None:
    assert detect_compression(gzip.compress(b"x")[:8]) == "gzip"
    assert detect_compression(zstandard.ZstdCompressor().compress(b"x")[:8]) == "zstd"
    assert detect_compression(b"etc/passwd\x00\x00") == "none"
    assert detect_compression(b"") == "none"


@pytest.mark.parametrize(
    ("blob", "name"), [(bz2.compress(b"x"), "bzip2"), (lzma.compress(b"x"), "xz")]
)
def test_detect_refuses_bzip2_and_xz(blob: bytes, name: str) -> None:
    with pytest.raises(CompressionError, match=f"layer is {name}-compressed"):
        detect_compression(blob[:8])


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_round_trip(compression: str) -> None:
    blob = _compress(DATA, compression)
    reader, found = auto_decompress(io.BytesIO(blob))
    assert found == compression
    assert reader.read() == DATA
    assert decompress(io.BytesIO(blob), compression).read() == DATA
    if compression != "none":
        assert len(blob) < len(DATA) // 2


def test_gzip_output_is_standard_gzip_and_zstd_standard_zstd() -> None:
    assert gzip.decompress(_compress(DATA, "gzip")) == DATA
    assert gzip.decompress(_compress(DATA, "gzip", level=6)) == DATA
    blob = _compress(DATA, "zstd", level=19)
    assert zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read() == DATA


def test_gzip_levels_trade_size_for_speed() -> None:
    fast, small = _compress(DATA, "gzip"), _compress(DATA, "gzip", level=9)
    assert len(small) < len(fast)
    with pytest.raises(CompressionError, match="gzip level 10 is out of range 0-9"):
        compress_writer(io.BytesIO(), "gzip", 10)
    with pytest.raises(CompressionError, match="zstd level 0 is out of range 1-22"):
        compress_writer(io.BytesIO(), "zstd", 0)


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_output_does_not_depend_on_write_sizes(compression: str) -> None:
    whole = _compress(DATA, compression)
    out = io.BytesIO()
    writer = compress_writer(out, compression)
    pos, rng = 0, random.Random(1)
    while pos < len(DATA):
        step = rng.randint(1, 300_000)
        writer.write(DATA[pos : pos + step])
        pos += step
    writer.close()
    assert out.getvalue() == whole


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_compressing_reader_yields_the_writer_output(compression: str) -> None:
    reader = CompressingReader(io.BytesIO(DATA), compression)
    parts = []
    while chunk := reader.read(70_000):
        parts.append(chunk)
    assert b"".join(parts) == _compress(DATA, compression)


def test_multi_member_gzip_decodes_as_one_stream() -> None:
    blob = gzip.compress(DATA[:1000]) + gzip.compress(DATA[1000:])
    reader, found = auto_decompress(io.BytesIO(blob))
    assert found == "gzip"
    assert reader.read() == DATA


def test_multi_frame_zstd_and_skippable_frames() -> None:
    zc = zstandard.ZstdCompressor()
    skippable = (0x184D2A50).to_bytes(4, "little") + (3).to_bytes(4, "little") + b"abc"
    blob = zc.compress(DATA[:5000]) + skippable + zc.compress(DATA[5000:])
    reader, found = auto_decompress(io.BytesIO(blob))
    assert found == "zstd"
    assert reader.read() == DATA


@pytest.mark.parametrize("threaded", [True, False])
def test_truncated_gzip(threaded: bool) -> None:
    blob = _compress(DATA, "gzip")
    for cut in (len(blob) // 2, len(blob) - 4):
        reader = decompress(io.BytesIO(blob[:cut]), "gzip", threaded=threaded)
        with pytest.raises(CompressionError, match="gzip stream is truncated"):
            reader.read()


@pytest.mark.parametrize("threaded", [True, False])
def test_corrupt_gzip(threaded: bool) -> None:
    blob = bytearray(_compress(DATA, "gzip"))
    blob[len(blob) // 2 : len(blob) // 2 + 64] = bytes(64)
    reader = decompress(io.BytesIO(bytes(blob)), "gzip", threaded=threaded)
    with pytest.raises(CompressionError, match="gzip stream is corrupt"):
        reader.read()


def test_gzip_with_bad_crc() -> None:
    blob = bytearray(gzip.compress(DATA))
    blob[-8:-4] = bytes(4)
    with pytest.raises(CompressionError, match="gzip stream is corrupt: CRC check failed"):
        auto_decompress(io.BytesIO(bytes(blob)))[0].read()


def test_truncated_zstd() -> None:
    blob = _compress(DATA, "zstd")
    for cut in (6, len(blob) // 2, len(blob) - 1):
        reader = decompress(io.BytesIO(blob[:cut]), "zstd")
        with pytest.raises(CompressionError, match="zstd stream is truncated"):
            reader.read()


def test_zstd_with_trailing_garbage_is_corrupt() -> None:
    blob = _compress(DATA, "zstd") + b"garbage!"
    with pytest.raises(CompressionError, match="zstd stream is corrupt"):
        auto_decompress(io.BytesIO(blob))[0].read()


def test_corrupt_zstd_block() -> None:
    zc = zstandard.ZstdCompressor(write_checksum=True)
    blob = bytearray(zc.compress(os.urandom(1000) + DATA[:200_000]))
    blob[200:260] = bytes(60)
    with pytest.raises(CompressionError, match="zstd stream is corrupt"):
        decompress(io.BytesIO(bytes(blob)), "zstd").read()


def test_unknown_compression_name() -> None:
    with pytest.raises(CompressionError, match="unknown compression 'lz4'"):
        decompress(io.BytesIO(b""), "lz4")


def test_auto_decompress_keeps_peeked_bytes_of_plain_streams() -> None:
    reader, found = auto_decompress(io.BytesIO(b"ab"))
    assert (found, reader.read(1), reader.read()) == ("none", b"a", b"b")


# -- detection by frames ----------------------------------------------------------------------


def _skippable(payload: bytes, nibble: int = 0) -> bytes:
    """A zstd skippable frame (magic 0x184D2A50 + ``nibble``) carrying ``payload``."""
    return (
        (0x184D2A50 + nibble).to_bytes(4, "little") + len(payload).to_bytes(4, "little") + payload
    )


def _tar_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


FRAME = zstandard.ZstdCompressor().compress(DATA[:4000])


@pytest.mark.parametrize(
    "blob",
    [
        _skippable(b"") + FRAME,
        _skippable(b"metadata", 0xF) + FRAME,
        _skippable(b"a") + _skippable(b"bc", 7) + _skippable(bytes(100), 0xA) + FRAME,
        _skippable(bytes(4096)) + FRAME,  # the frame lies beyond the bytes looked at
        _skippable(b"x")[:6],  # a cut skippable header: still only zstd starts this way
    ],
    ids=["empty", "last-magic", "several", "longer-than-peek", "cut-header"],
)
def test_skippable_frames_are_zstd(blob: bytes) -> None:
    assert detect_compression(blob[:PEEK_SIZE]) == "zstd"


@pytest.mark.parametrize(
    "prefix",
    [
        _skippable(b"abc") + b"etc/passwd\x00",  # a skippable frame, then no frame at all
        (0x184D2A60).to_bytes(4, "little") + bytes(8),  # one past the skippable range
        (0x184D2A4F).to_bytes(4, "little") + bytes(8),  # one before it
        b"\x1f\x8b\x07" + bytes(10),  # gzip's magic with a method that is not deflate
        b"\x28\xb5\x2f",  # three bytes of the frame magic
    ],
    ids=["garbage-after-skippable", "above-range", "below-range", "not-deflate", "short"],
)
def test_what_only_looks_like_a_frame_is_not_compressed(prefix: bytes) -> None:
    assert detect_compression(prefix) == "none"


def test_gzip_needs_its_deflate_method_byte() -> None:
    assert detect_compression(b"\x1f\x8b\x08\x00") == "gzip"


def test_leading_skippable_frames_decode_to_the_frames_content() -> None:
    zc = zstandard.ZstdCompressor()
    blob = (
        _skippable(b"one")
        + _skippable(bytes(70_000), 3)
        + zc.compress(DATA[:5000])
        + _skippable(b"between", 9)
        + zc.compress(DATA[5000:])
    )
    reader, found = auto_decompress(io.BytesIO(blob))
    assert found == "zstd"
    assert reader.read() == DATA


def test_skippable_frames_alone_are_an_empty_zstd_stream() -> None:
    blob = _skippable(b"abc") + _skippable(b"", 1)
    reader, found = auto_decompress(io.BytesIO(blob))
    assert found == "zstd"
    with pytest.raises(CompressionError) as caught:
        reader.read()
    assert str(caught.value) == "zstd stream is empty: it holds no frame"


def test_is_tar_start() -> None:
    tar = _tar_of({"etc/motd": b"hi\n"})
    assert is_tar_start(tar[:PEEK_SIZE]) is True
    assert is_tar_start(bytes(1024)) is True  # the end blocks of an empty archive
    broken = bytearray(tar[:512])
    broken[0] ^= 1  # the name changes, the stored checksum does not
    assert is_tar_start(bytes(broken)) is False
    assert is_tar_start(tar[:511]) is False
    assert is_tar_start(b"not a tar" * 100) is False


def test_old_signed_tar_checksums_are_accepted() -> None:
    header = bytearray(_tar_of({"ab": b""})[:512])
    header[0:2] = b"\xe9\xff"  # high bytes: the signed sum differs from the unsigned one
    header[148:156] = b" " * 8
    signed = sum(c - 256 if c > 127 else c for c in header)
    assert signed != sum(header)
    header[148:156] = b"%06o\x00 " % signed
    assert is_tar_start(bytes(header)) is True
    header[148:156] = b"%06o\x00 " % (signed + 1)
    assert is_tar_start(bytes(header)) is False


@pytest.mark.parametrize(
    ("blob", "declared", "found"),
    [
        (gzip.compress(b"x"), "zstd", "gzip"),  # the bytes win over the media type
        (_skippable(b"meta") + FRAME, "gzip", "zstd"),
        (_skippable(b"meta") + FRAME, "none", "zstd"),
        (_tar_of({"a": b"a"}), "gzip", "none"),  # a docker archive's plain tar, "gzip"
        (b"anything at all", "none", "none"),  # declared plain: the bytes are taken as they are
    ],
)
def test_resolve_compression_lets_the_bytes_decide(blob: bytes, declared: str, found: str) -> None:
    assert resolve_compression(blob[:PEEK_SIZE], declared) == found


@pytest.mark.parametrize("declared", ["gzip", "zstd"])
def test_resolve_compression_refuses_a_compressed_layer_that_is_nothing(declared: str) -> None:
    blob = b"PK\x03\x04" + bytes(600)  # a zip archive's start: neither gzip, zstd nor tar
    with pytest.raises(CompressionError) as caught:
        resolve_compression(blob[:PEEK_SIZE], declared, "layer sha256:abc")
    assert str(caught.value) == (
        f"layer sha256:abc is declared {declared}-compressed, but its content is neither "
        "gzip, zstd nor a tar archive"
    )
