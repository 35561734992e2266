"""The threaded LayerReader (read, inflate and hash in a worker): the same bytes and digests
as the plain reader, the same verification (errors raised in the consumer, from the read
that reaches them), workers that stop on close, and ordered read-ahead across layers."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import threading
import time
from pathlib import Path
from typing import IO

import pytest
import zstandard

from boxwright.errors import CompressionError, DigestMismatchError
from boxwright.layer.compression import PEEK_SIZE
from boxwright.layer.streams import (
    PUMP_CHUNK,
    LayerDigests,
    LayerReader,
    LayerWriter,
    write_layer_file,
)
from boxwright.oci.digest import Digest, VerifyingReader

# Incompressible-ish content a few chunks long, so the worker runs ahead of the reader.
PLAIN = hashlib.sha256(b"seed").digest() * ((3 * PUMP_CHUNK + 12345) // 32)
DIFF_ID = Digest("sha256", hashlib.sha256(PLAIN).hexdigest())
GZ = gzip.compress(PLAIN, compresslevel=1)
COMPRESSED = {"gzip": GZ, "zstd": zstandard.ZstdCompressor().compress(PLAIN), "none": PLAIN}


def _workers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("boxwright-")]


class _Recording(io.RawIOBase):
    """A readable that records how many bytes were read from it, and when."""

    def __init__(self, data: bytes) -> None:
        super().__init__()
        self._data = io.BytesIO(data)
        self.taken = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._data.read(size)
        self.taken += len(data)
        return data


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
@pytest.mark.parametrize("size", [7, 4096, PUMP_CHUNK, 4 * PUMP_CHUNK])
def test_same_bytes_and_digests_as_the_plain_reader(compression: str, size: int) -> None:
    blob = COMPRESSED[compression]
    digest = Digest("sha256", hashlib.sha256(blob).hexdigest())
    reader = LayerReader(io.BytesIO(blob), None, DIFF_ID, expected_digest=digest, threaded=True)
    parts = []
    while chunk := reader.read(size):
        assert len(chunk) <= size
        parts.append(chunk)
    assert b"".join(parts) == PLAIN
    result = reader.result()
    reader.close()
    assert (result.digest, result.size, result.diff_id) == (digest, len(blob), DIFF_ID)
    assert (result.uncompressed_size, result.compression) == (len(PLAIN), compression)
    assert _workers() == []


def test_diff_id_mismatch_is_raised_by_the_read_reaching_the_end() -> None:
    wrong = Digest("sha256", "0" * 64)
    reader = LayerReader(io.BytesIO(GZ), None, wrong, threaded=True)
    got = 0
    with pytest.raises(DigestMismatchError, match="does not match its diff_id"):
        while chunk := reader.read(PUMP_CHUNK):
            got += len(chunk)
    assert got == len(PLAIN)  # every byte came before the error
    reader.close()


def test_verifying_source_is_trusted_and_its_mismatch_surfaces() -> None:
    good = Digest("sha256", hashlib.sha256(GZ).hexdigest())
    reader = LayerReader(
        VerifyingReader(io.BytesIO(GZ), good, len(GZ)), None, DIFF_ID, threaded=True
    )
    assert reader.result().digest == good
    reader.close()
    bad = Digest("sha256", "1" * 64)
    reader = LayerReader(
        VerifyingReader(io.BytesIO(GZ), bad, len(GZ)), None, DIFF_ID, threaded=True
    )
    with pytest.raises(DigestMismatchError, match="blob content does not match its digest"):
        reader.result()
    reader.close()
    assert _workers() == []


def test_corrupt_and_truncated_gzip_raise_compression_errors() -> None:
    corrupt = GZ[:100] + bytes(200) + GZ[300:]
    for blob, message in ((corrupt, "gzip stream is corrupt"), (GZ[:-20], "truncated")):
        reader = LayerReader(io.BytesIO(blob), "gzip", DIFF_ID, threaded=True)
        with pytest.raises(CompressionError, match=message):
            reader.result()
        with pytest.raises(CompressionError, match=message):  # and again: the error stays
            reader.read(10)
        reader.close()


def test_close_before_the_end_stops_the_worker() -> None:
    big = os.urandom(1 << 16) * 600  # ~39 MB: the worker fills its queue and waits
    source = _Recording(big)
    reader = LayerReader(source, "none", None, threaded=True)
    assert reader.read(10) == big[:10]
    time.sleep(0.1)
    assert 0 < source.taken < len(big)
    reader.close()
    assert _workers() == []


def test_start_after_reads_the_next_layer_only_once_the_first_is_read() -> None:
    big = os.urandom(1 << 16) * 600  # ~39 MB: more than the first reader may hold ready
    big_id = Digest("sha256", hashlib.sha256(big).hexdigest())
    first_source = _Recording(big)
    second_source = _Recording(GZ)
    first = LayerReader(first_source, "none", big_id, threaded=True)
    second = LayerReader(second_source, None, DIFF_ID, threaded=True, start_after=first)
    time.sleep(0.2)
    assert first_source.taken < len(big)  # the first worker waits for its consumer
    assert second_source.taken <= PEEK_SIZE  # only the first bytes the constructor peeks at
    assert first.result().diff_id == big_id
    assert first_source.taken == len(big)
    assert second.result().diff_id == DIFF_ID
    first.close()
    second.close()
    assert _workers() == []


def test_a_waiting_reader_can_be_closed_first() -> None:
    first = LayerReader(io.BytesIO(GZ), None, DIFF_ID, threaded=True)
    second = LayerReader(io.BytesIO(GZ), None, DIFF_ID, threaded=True, start_after=first)
    second.close()  # its worker never started: closing must not wait for the first
    first.close()
    assert _workers() == []


def test_memory_stays_bounded_when_the_consumer_stalls() -> None:
    big = os.urandom(1 << 16) * 600  # ~39 MB, far more than the queue may hold
    reader = LayerReader(io.BytesIO(big), "none", None, threaded=True)
    time.sleep(0.2)
    pump = reader._pump
    assert pump is not None
    assert pump._ready.qsize() <= 16
    assert len(pump._backlog) <= 17
    reader.close()


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_threaded_writer_writes_the_same_blob_as_the_plain_one(compression: str) -> None:
    outs = {True: io.BytesIO(), False: io.BytesIO()}
    results = {}
    for threaded, out in outs.items():
        writer = LayerWriter(out, compression, threaded=threaded)
        buffer = bytearray()
        for start in range(0, len(PLAIN), 70_001):  # a reused buffer, refilled after each write
            buffer[:] = PLAIN[start : start + 70_001]
            assert writer.write(buffer) == len(buffer)
        results[threaded] = writer.close()
    assert outs[True].getvalue() == outs[False].getvalue()
    blob = outs[True].getvalue()
    assert (
        results[True]
        == results[False]
        == LayerDigests(
            Digest("sha256", hashlib.sha256(blob).hexdigest())
            if compression != "none"
            else DIFF_ID,
            len(blob),
            DIFF_ID,
            len(PLAIN),
            compression,
        )
    )
    assert _workers() == []


class _FailingSink(io.RawIOBase):
    """A writable whose second write fails as a full disk does."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def writable(self) -> bool:
        return True

    def write(self, data: object) -> int:
        self.writes += 1
        if self.writes > 1:
            raise OSError(28, "No space left on device")
        return len(data)  # type: ignore[arg-type]


def test_threaded_writer_raises_the_workers_error_in_the_producer() -> None:
    sink = _FailingSink()
    writer = LayerWriter(sink, "none", threaded=True)  # type: ignore[arg-type]
    with pytest.raises(OSError, match="No space left on device"):
        for start in range(0, len(PLAIN), PUMP_CHUNK):
            writer.write(PLAIN[start : start + PUMP_CHUNK])
        writer.close()
    assert sink.writes == 2
    assert _workers() == []


def test_write_layer_file_stops_its_worker_when_the_producer_fails(tmp_path: Path) -> None:
    def produce(tar: IO[bytes]) -> None:
        tar.write(PLAIN)
        raise RuntimeError("the tree changed")

    with pytest.raises(RuntimeError, match="the tree changed"):
        write_layer_file(tmp_path / "layer", "gzip", produce)
    assert _workers() == []
