"""One-pass layer digests: LayerWriter and LayerReader agree with hashlib, gzip, zstd and
with the digests umoci records for the same tar."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import IO

import pytest
import zstandard

from boxwright.errors import DigestMismatchError
from boxwright.layer.streams import LayerDigests, LayerReader, LayerWriter, write_layer_file
from boxwright.oci.digest import Digest


def _tar_bytes() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for i in range(40):
            data = (f"file {i}\n" * (i * 97 + 1)).encode()
            info = tarfile.TarInfo(f"dir{i % 4}/f{i}.txt")
            info.size, info.mtime = len(data), 1_600_000_000
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


TAR = _tar_bytes()
DIFF_ID = Digest("sha256", hashlib.sha256(TAR).hexdigest())


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_writer_digests_match_hashlib(compression: str) -> None:
    out = io.BytesIO()
    writer = LayerWriter(out, compression)
    for start in range(0, len(TAR), 5000):
        writer.write(TAR[start : start + 5000])
    result = writer.close()
    blob = out.getvalue()
    assert result == LayerDigests(
        Digest("sha256", hashlib.sha256(blob).hexdigest()),
        len(blob),
        DIFF_ID,
        len(TAR),
        compression,
    )
    assert writer.result() is result
    if compression == "gzip":
        assert gzip.decompress(blob) == TAR
    elif compression == "zstd":
        assert zstandard.ZstdDecompressor().stream_reader(io.BytesIO(blob)).read() == TAR
    else:
        assert blob == TAR


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_write_layer_file_holds_the_blob_its_digests_name(tmp_path: Path, compression: str) -> None:
    def produce(tar: IO[bytes]) -> str:
        for start in range(0, len(TAR), 7000):
            tar.write(TAR[start : start + 7000])
        return "produced"

    path = tmp_path / "layer"
    digests, produced = write_layer_file(path, compression, produce)
    blob = path.read_bytes()
    assert produced == "produced"
    assert digests == LayerDigests(
        Digest("sha256", hashlib.sha256(blob).hexdigest()),
        len(blob),
        DIFF_ID,
        len(TAR),
        compression,
    )
    with path.open("rb") as stream:
        reader = LayerReader(stream, None, DIFF_ID, expected_digest=digests.digest)
        assert reader.read() == TAR


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_reader_verifies_and_measures(compression: str) -> None:
    out = io.BytesIO()
    with LayerWriter(out, compression) as writer:
        writer.write(TAR)
    written = writer.result()
    reader = LayerReader(io.BytesIO(out.getvalue()), None, DIFF_ID, expected_digest=written.digest)
    assert reader.compression == compression
    assert reader.read() == TAR
    assert reader.result() == written


def test_reader_on_python_gzip_output() -> None:
    blob = gzip.compress(TAR, mtime=0)
    reader = LayerReader(io.BytesIO(blob), "gzip", DIFF_ID)
    got = reader.result()
    assert got.digest == Digest("sha256", hashlib.sha256(blob).hexdigest())
    assert (got.size, got.diff_id, got.uncompressed_size) == (len(blob), DIFF_ID, len(TAR))


def test_reader_rejects_wrong_diff_id() -> None:
    wrong = Digest("sha256", "0" * 64)
    reader = LayerReader(io.BytesIO(gzip.compress(TAR)), "gzip", wrong)
    with pytest.raises(DigestMismatchError, match=f"expected {wrong}, got {DIFF_ID}"):
        reader.read()


def test_reader_rejects_wrong_blob_digest() -> None:
    blob = gzip.compress(TAR)
    wrong = Digest("sha256", "1" * 64)
    reader = LayerReader(io.BytesIO(blob), None, DIFF_ID, expected_digest=wrong)
    with pytest.raises(DigestMismatchError, match="layer blob does not match its digest"):
        reader.result()


@pytest.mark.parametrize("threaded", [False, True])
def test_reader_detects_zstd_behind_skippable_frames(threaded: bool) -> None:
    """pzstd and zstd's seekable format put skippable frames before or between frames."""
    skippable = b"".join(
        (0x184D2A50 + n).to_bytes(4, "little") + len(p).to_bytes(4, "little") + p
        for n, p in ((0, b"index"), (5, bytes(3000)))
    )
    blob = skippable + zstandard.ZstdCompressor().compress(TAR)
    digest = Digest("sha256", hashlib.sha256(blob).hexdigest())
    reader = LayerReader(io.BytesIO(blob), None, DIFF_ID, expected_digest=digest, threaded=threaded)
    assert reader.compression == "zstd"
    assert reader.read() == TAR
    assert reader.result() == LayerDigests(digest, len(blob), DIFF_ID, len(TAR), "zstd")
    reader.close()


def test_reader_counts_trailing_bytes_after_tar_end() -> None:
    """A consumer that stops at the tar end marker still gets the whole blob verified."""
    blob = gzip.compress(TAR)
    reader = LayerReader(io.BytesIO(blob), "gzip", DIFF_ID)
    with tarfile.open(fileobj=reader, mode="r|") as archive:
        names = [m.name for m in archive]
    assert len(names) == 40
    assert reader.result().diff_id == DIFF_ID


@pytest.mark.skipif(shutil.which("umoci") is None, reason="umoci is not installed")
def test_digests_agree_with_umoci(tmp_path: Path) -> None:
    layout, layer = tmp_path / "img", tmp_path / "layer.tar"
    layer.write_bytes(TAR)
    for args in (
        ["init", "--layout", str(layout)],
        ["new", "--image", f"{layout}:t"],
        ["raw", "add-layer", "--image", f"{layout}:t", str(layer)],
    ):
        subprocess.run(["umoci", *args], check=True, capture_output=True)

    def blob(digest: str) -> Path:
        return layout / "blobs" / "sha256" / digest.split(":")[1]

    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(blob(index["manifests"][0]["digest"]).read_text())
    config = json.loads(blob(manifest["config"]["digest"]).read_text())
    umoci_layer = manifest["layers"][0]
    assert config["rootfs"]["diff_ids"] == [str(DIFF_ID)]
    with blob(umoci_layer["digest"]).open("rb") as stream:
        got = LayerReader(stream, None, DIFF_ID).result()
    assert (str(got.digest), got.size, got.compression) == (
        umoci_layer["digest"],
        umoci_layer["size"],
        "gzip",
    )
    writer = LayerWriter(io.BytesIO(), "gzip")
    writer.write(TAR)
    assert writer.close().diff_id == DIFF_ID
