"""Digest pairs in the blob-info cache: recorded by copies that (de)compress, used to reuse.

A copy that recompresses a layer records, from the bytes it decompressed, the source blob and
the new blob ↔ the diff_id (with compressions and sizes). A later copy that would recompress
the same layer to the same compression finds, through the cache, the blob the destination
already holds, and uses it: nothing is compressed and nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from copy_helpers import sha256

import boxwright.layer.compression
from boxwright.copy import CopyOptions, copy_image
from boxwright.oci.digest import Digest
from boxwright.transport.blobinfocache import BlobInfoCache
from boxwright.transport.options import TransportOptions

GZIP_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def _manifest(layout: Path, tag: str) -> dict[str, Any]:
    index = json.loads((layout / "index.json").read_text())
    [entry] = [
        m
        for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    ]
    manifest: dict[str, Any] = json.loads(_blob(layout, entry["digest"]).read_bytes())
    manifest["digest"] = entry["digest"]
    return manifest


def _blob(layout: Path, digest: str) -> Path:
    algorithm, hex_ = digest.split(":")
    return layout / "blobs" / algorithm / hex_


def _diff_ids(layout: Path, manifest: dict[str, Any]) -> list[str]:
    config = json.loads(_blob(layout, manifest["config"]["digest"]).read_bytes())
    diff_ids: list[str] = config["rootfs"]["diff_ids"]
    return diff_ids


def _digest(data: bytes) -> Digest:
    return Digest.parse(sha256(data))


def _no_compression(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a layer was compressed although the destination had it")

    monkeypatch.setattr(boxwright.layer.compression, "CompressingReader", refuse)


# -- the cache itself ---------------------------------------------------------------------------


def test_pairs_with_compression_and_size_survive_a_flush(tmp_path: Path) -> None:
    path = tmp_path / "cache.json"
    plain, gz, zst = (_digest(name) for name in (b"tar", b"gz", b"zst"))
    cache = BlobInfoCache(path)
    cache.record_digest_pair(gz, plain, compression="gzip", size=10)
    cache.record_digest_pair(zst, plain, compression="zstd", size=9)
    cache.record_blob_info(plain, "none", 30)
    cache.flush()
    again = BlobInfoCache(path)
    assert again.uncompressed_digest(gz) == plain
    assert again.uncompressed_digest(zst) == plain
    assert again.compressed_variants(plain) == [
        (gz, "gzip", 10),
        (zst, "zstd", 9),
        (plain, "none", 30),
    ]
    assert again.compressed_variants(gz) == []


def test_malformed_blob_records_are_dropped(tmp_path: Path) -> None:
    plain, gz = _digest(b"tar"), _digest(b"gz")
    path = tmp_path / "cache.json"
    path.write_text(
        json.dumps(
            {
                "version": 1,
                "uncompressed": {str(gz): str(plain), "sha256:zz": str(plain)},
                "blobs": {str(gz): ["gzip", -1], "sha256:zz": ["gzip", 3], str(plain): "x"},
            }
        )
    )
    cache = BlobInfoCache(path)
    assert cache.compressed_variants(plain) == []  # no usable size for gz, zz is no digest
    cache.record_digest_pair(gz, plain, compression="gzip", size=4)
    assert cache.compressed_variants(plain) == [(gz, "gzip", 4)]


# -- recorded by the copy pipeline ----------------------------------------------------------


def test_recompressing_records_both_blobs_against_the_checked_diff_id(
    peer_layout: Path, tmp_path: Path, _private_blob_info_cache: Path
) -> None:
    out = tmp_path / "zstd"
    copy_image(f"oci:{peer_layout}:latest", f"oci:{out}:z", CopyOptions(dest_compress="zstd"))
    source = _manifest(peer_layout, "latest")
    written = _manifest(out, "z")
    cache = BlobInfoCache(_private_blob_info_cache)  # what the copy flushed to the file
    for old, new, diff_id in zip(
        source["layers"], written["layers"], _diff_ids(out, written), strict=True
    ):
        plain = Digest.parse(diff_id)
        assert cache.uncompressed_digest(Digest.parse(old["digest"])) == plain
        assert cache.uncompressed_digest(Digest.parse(new["digest"])) == plain
        variants = cache.compressed_variants(plain)
        assert (Digest.parse(old["digest"]), "gzip", old["size"]) in variants
        assert (Digest.parse(new["digest"]), "zstd", new["size"]) in variants
        [(_, _, tar_size)] = [v for v in variants if v[1] == "none"]
        assert tar_size > new["size"]


def test_a_copy_without_recompression_records_nothing(
    peer_layout: Path, tmp_path: Path, _private_blob_info_cache: Path
) -> None:
    copy_image(f"oci:{peer_layout}:latest", f"oci:{tmp_path / 'o'}:x")
    assert not _private_blob_info_cache.exists()


# -- used by the copy pipeline --------------------------------------------------------------


def test_a_destination_holding_the_zstd_variant_gets_it_without_recompression(
    peer_layout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "first"
    copy_image(f"oci:{peer_layout}:latest", f"oci:{first}:z", CopyOptions(dest_compress="zstd"))
    # The destination gets the zstd image (no recompression: its blobs are zstd already) ...
    dest = tmp_path / "dest"
    copy_image(f"oci:{first}:z", f"oci:{dest}:old")
    # ... and then the gzip source with --dest-compress zstd: the cache names the zstd blobs.
    _no_compression(monkeypatch)
    result = copy_image(
        f"oci:{peer_layout}:latest", f"oci:{dest}:new", CopyOptions(dest_compress="zstd")
    )
    expected = _manifest(first, "z")
    assert str(result.digest) == expected["digest"]
    assert result.blobs_written == ()
    assert [str(d) for d in result.blobs_skipped] == [
        *(layer["digest"] for layer in expected["layers"]),
        expected["config"]["digest"],
    ]


def test_the_plain_variant_is_reused_for_dest_compress_none(
    peer_layout: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = tmp_path / "plain"
    copy_image(f"oci:{peer_layout}:latest", f"oci:{first}:p", CopyOptions(dest_compress="none"))
    expected = _manifest(first, "p")
    assert [layer["digest"] for layer in expected["layers"]] == _diff_ids(first, expected)

    def no_decompression(*args: object, **kwargs: object) -> None:
        raise AssertionError("a layer was decompressed although the destination had it")

    import boxwright.layer.streams

    monkeypatch.setattr(boxwright.layer.streams, "LayerReader", no_decompression)
    result = copy_image(
        f"oci:{peer_layout}:latest", f"oci:{first}:again", CopyOptions(dest_compress="none")
    )
    assert str(result.digest) == expected["digest"]
    assert result.blobs_written == ()


def test_a_cached_variant_the_destination_lacks_is_not_used(
    peer_layout: Path, tmp_path: Path, _private_blob_info_cache: Path
) -> None:
    first = tmp_path / "first"
    copy_image(f"oci:{peer_layout}:latest", f"oci:{first}:z", CopyOptions(dest_compress="zstd"))
    other = tmp_path / "other"
    result = copy_image(
        f"oci:{peer_layout}:latest", f"oci:{other}:z", CopyOptions(dest_compress="zstd")
    )
    expected = _manifest(first, "z")
    assert str(result.digest) == expected["digest"]  # zstd is deterministic: same blobs
    assert len(result.blobs_written) == len(expected["layers"]) + 1
    for layer in expected["layers"]:
        assert sha256(_blob(other, layer["digest"]).read_bytes()) == layer["digest"]


def test_a_wrong_size_in_the_cache_is_not_trusted(
    peer_layout: Path, tmp_path: Path, _private_blob_info_cache: Path
) -> None:
    first = tmp_path / "first"
    copy_image(f"oci:{peer_layout}:latest", f"oci:{first}:z", CopyOptions(dest_compress="zstd"))
    data = json.loads(_private_blob_info_cache.read_text())
    for info in data["blobs"].values():
        info[1] += 1
    _private_blob_info_cache.write_text(json.dumps(data))
    edited = BlobInfoCache(_private_blob_info_cache)
    assert len(edited.compressed_variants(_any_diff_id(first))) == 3
    from boxwright.transport import blobinfocache

    blobinfocache._SHARED.clear()  # the copy must read the edited file
    result = copy_image(
        f"oci:{peer_layout}:latest", f"oci:{first}:again", CopyOptions(dest_compress="zstd")
    )
    expected = _manifest(first, "z")
    assert str(result.digest) == expected["digest"]
    # The cached sizes did not match the files, so the layers were compressed and written
    # again (to the same digests); only the config was already there.
    assert [str(d) for d in result.blobs_written] == [
        layer["digest"] for layer in expected["layers"]
    ]
    assert [str(d) for d in result.blobs_skipped] == [expected["config"]["digest"]]


def _any_diff_id(layout: Path) -> Digest:
    return Digest.parse(_diff_ids(layout, _manifest(layout, "z"))[0])


def test_a_copy_with_the_cache_disabled_neither_records_nor_reuses(
    peer_layout: Path, tmp_path: Path, _private_blob_info_cache: Path
) -> None:
    off = TransportOptions(use_blob_info_cache=False)
    out = tmp_path / "o"
    copy_image(
        f"oci:{peer_layout}:latest",
        f"oci:{out}:z",
        CopyOptions(dest_compress="zstd", dest_options=off),
    )
    assert not _private_blob_info_cache.exists()
