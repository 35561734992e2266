"""A copy that decompresses a layer checks it against the config's diff_id, and knows a
layer's compression by its frames.

Every way the pipeline decompresses a layer (``--dest-compress`` in any direction, a
``--format`` conversion that must recompress, a plain layer gzipped for an OCI layout, a
docker archive that wants plain tars) fails with the exact :class:`DigestMismatchError`
when the content is not what ``rootfs.diff_ids`` says, and leaves the destination's
``index.json`` as it was. zstd layers that start with skippable frames are zstd, copied
unchanged or recompressed, and what the recompression writes reads back with umoci and skopeo.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import zstandard
from click.testing import CliRunner
from copy_helpers import (
    OCI_CONFIG,
    OCI_MANIFEST,
    UMOCI,
    LayoutWriter,
    make_tar,
    needs_skopeo,
    needs_umoci,
    sha256,
    skopeo,
    skopeo_json,
)

from boxwright.cli.main import main
from boxwright.copy import CopyOptions, copy_image
from boxwright.errors import CompressionError, DigestMismatchError, ImageNotFoundError
from boxwright.layer.compression import compress_writer

OCI_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_TYPES = {
    "gzip": "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "none": "application/vnd.docker.image.rootfs.diff.tar",
}

BASE = make_tar({"etc/base": b"base layer\n" * 200})
"""Layer 0 of every test image: its content matches its diff_id."""
TOP = make_tar({"etc/top": b"top layer\n" * 300, "usr/bin/tool": b"#!/bin/sh\n"})
"""Layer 1's real content."""
CLAIMED = make_tar({"etc/top": b"what the config claims\n"})
"""The tar whose digest a broken config lists as layer 1's diff_id."""


def skippable(payload: bytes, nibble: int = 0) -> bytes:
    """A zstd skippable frame (magic 0x184D2A50 + ``nibble``) carrying ``payload``."""
    magic = (0x184D2A50 + nibble).to_bytes(4, "little")
    return magic + len(payload).to_bytes(4, "little") + payload


def compressed(tar: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(tar, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor().compress(tar)
    return tar


def boxwright_compressed(tar: bytes, compression: str) -> bytes:
    """What boxwright's own compressor makes of ``tar`` at its default level."""
    out = io.BytesIO()
    writer = compress_writer(out, compression)
    writer.write(tar)
    writer.close()
    return out.getvalue()


def write_image(
    root: Path,
    layers: list[tuple[bytes, str]],
    diff_ids: list[str],
    *,
    docker: bool = False,
    tag: str = "img",
) -> dict[str, Any]:
    """An image of ``layers`` (blob bytes, media type) whose config lists ``diff_ids``, tagged
    ``tag`` in the OCI layout ``root``; returns the manifest document."""
    writer = LayoutWriter(root)
    config = writer.json_blob(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
        },
        DOCKER_CONFIG if docker else OCI_CONFIG,
    )
    doc = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST if docker else OCI_MANIFEST,
        "config": config,
        "layers": [writer.blob(data, media_type) for data, media_type in layers],
    }
    manifest = writer.json_blob(doc, doc["mediaType"])
    writer.index_json([{**manifest, "annotations": {"org.opencontainers.image.ref.name": tag}}])
    return doc


def blobs(layout: Path) -> set[str]:
    folder = layout / "blobs" / "sha256"
    return {f"sha256:{p.name}" for p in folder.iterdir()} if folder.exists() else set()


def assert_content_addressed(layout: Path) -> None:
    """Every blob of ``layout`` is named by the sha256 of its bytes."""
    for digest in blobs(layout):
        data = (layout / "blobs" / "sha256" / digest[7:]).read_bytes()
        assert sha256(data) == digest


def manifest_of(layout: Path, tag: str) -> dict[str, Any]:
    index = json.loads((layout / "index.json").read_text())
    for entry in index["manifests"]:
        if entry["annotations"]["org.opencontainers.image.ref.name"] == tag:
            data: dict[str, Any] = json.loads(
                (layout / "blobs" / "sha256" / entry["digest"][7:]).read_bytes()
            )
            return data
    raise AssertionError(f"no {tag} in {layout}")


def blob_bytes(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest[7:]).read_bytes()


# -- a layer whose content is not its diff_id ---------------------------------------------------

# (source compression, copy options, compression layer 0 is rewritten to, family)
MISMATCH_CASES = [
    pytest.param("gzip", CopyOptions(dest_compress="zstd"), "zstd", False, id="gzip-to-zstd"),
    pytest.param("zstd", CopyOptions(dest_compress="gzip"), "gzip", False, id="zstd-to-gzip"),
    pytest.param("gzip", CopyOptions(dest_compress="none"), "none", False, id="gzip-to-none"),
    pytest.param("none", CopyOptions(dest_compress="gzip"), "gzip", False, id="none-to-gzip"),
    pytest.param("zstd", CopyOptions(format="v2s2"), "gzip", False, id="oci-zstd-to-v2s2"),
    pytest.param(
        "gzip", CopyOptions(format="oci", dest_compress="zstd"), "zstd", True, id="v2s2-to-oci"
    ),
    pytest.param("none", CopyOptions(), "gzip", False, id="plain-gzipped-for-a-layout"),
]


@pytest.mark.parametrize(("source", "options", "rewritten", "docker"), MISMATCH_CASES)
def test_a_layer_that_is_not_its_diff_id_fails_the_copy(
    tmp_path: Path, source: str, options: CopyOptions, rewritten: str, docker: bool
) -> None:
    types = DOCKER_TYPES if docker else OCI_TYPES
    bad = compressed(TOP, source)
    write_image(
        tmp_path / "src",
        [(compressed(BASE, source), types[source]), (bad, types[source])],
        [sha256(BASE), sha256(CLAIMED)],
        docker=docker,
    )
    out = tmp_path / "out"
    write_image(
        out, [(gzip.compress(BASE, mtime=0), OCI_TYPES["gzip"])], [sha256(BASE)], tag="keep"
    )
    index_before = (out / "index.json").read_bytes()
    blobs_before = blobs(out)

    with pytest.raises(DigestMismatchError) as caught:
        copy_image(f"oci:{tmp_path / 'src'}:img", f"oci:{out}:x", options)

    assert type(caught.value) is DigestMismatchError
    assert str(caught.value) == (
        f"layer {sha256(bad)} does not match rootfs.diff_ids[1] of its image config: "
        f"expected {sha256(CLAIMED)}, its content is {sha256(TOP)}"
    )
    assert (out / "index.json").read_bytes() == index_before
    # Only layer 0, correct and rewritten, may have been stored: never layer 1, nor a config
    # or a manifest naming it.
    assert blobs(out) - blobs_before <= {sha256(boxwright_compressed(BASE, rewritten))}
    assert_content_addressed(out)
    with pytest.raises(ImageNotFoundError):
        copy_image(f"oci:{out}:x", f"oci:{tmp_path / 'again'}:y")


@pytest.mark.parametrize("quiet", [True, False])
def test_the_cli_prints_the_mismatch_as_one_line(tmp_path: Path, quiet: bool) -> None:
    bad = gzip.compress(TOP, mtime=0)
    write_image(
        tmp_path / "src",
        [(gzip.compress(BASE, mtime=0), OCI_TYPES["gzip"]), (bad, OCI_TYPES["gzip"])],
        [sha256(BASE), sha256(CLAIMED)],
    )
    out = tmp_path / "out"
    args = ["--dest-compress-format", "zstd", f"oci:{tmp_path / 'src'}:img", f"oci:{out}:x"]
    result = CliRunner().invoke(main, ["copy", *(["-q"] if quiet else []), *args])
    assert result.exit_code == 1
    assert result.stdout == ""
    line = (
        f"Error: layer {sha256(bad)} does not match rootfs.diff_ids[1] of its image config: "
        f"expected {sha256(CLAIMED)}, its content is {sha256(TOP)}"
    )
    if quiet:
        assert result.stderr == line + "\n"
    else:  # the progress of layer 0, which may have finished first, then the error
        *progress, last = result.stderr.splitlines()
        assert last == line
        assert all(p.startswith("Copying blob sha256:") for p in progress)
    assert not (out / "index.json").exists()


def test_a_docker_archive_destination_gets_no_archive(tmp_path: Path) -> None:
    """A docker archive wants plain tars: every gzip layer is decompressed, and checked."""
    bad = gzip.compress(TOP, mtime=0)
    write_image(
        tmp_path / "src",
        [(gzip.compress(BASE, mtime=0), OCI_TYPES["gzip"]), (bad, OCI_TYPES["gzip"])],
        [sha256(BASE), sha256(CLAIMED)],
    )
    archive = tmp_path / "image.tar"
    with pytest.raises(DigestMismatchError) as caught:
        copy_image(f"oci:{tmp_path / 'src'}:img", f"docker-archive:{archive}:app:1")
    assert str(caught.value) == (
        f"layer {sha256(bad)} does not match rootfs.diff_ids[1] of its image config: "
        f"expected {sha256(CLAIMED)}, its content is {sha256(TOP)}"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_a_blob_shared_by_two_images_is_checked_for_each(tmp_path: Path) -> None:
    """The same blob in two images of an index moves once; the image whose config lists
    another diff_id for it still fails."""
    writer = LayoutWriter(tmp_path / "src")
    layer = writer.blob(gzip.compress(TOP, mtime=0), OCI_TYPES["gzip"])
    entries = []
    for arch, diff_id in (("amd64", sha256(TOP)), ("arm64", sha256(CLAIMED))):
        config = writer.json_blob(
            {
                "architecture": arch,
                "os": "linux",
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            },
            OCI_CONFIG,
        )
        doc = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]}
        entry = writer.json_blob(doc, OCI_MANIFEST)
        entries.append({**entry, "platform": {"architecture": arch, "os": "linux"}})
    index = writer.json_blob(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        },
        "application/vnd.oci.image.index.v1+json",
    )
    writer.index_json([{**index, "annotations": {"org.opencontainers.image.ref.name": "img"}}])
    out = tmp_path / "out"
    with pytest.raises(DigestMismatchError) as caught:
        copy_image(
            f"oci:{tmp_path / 'src'}:img",
            f"oci:{out}:x",
            CopyOptions(all_platforms=True, dest_compress="zstd", parallel=1),
        )
    assert str(caught.value) == (
        f"layer {layer['digest']} does not match rootfs.diff_ids[0] of its image config: "
        f"expected {sha256(CLAIMED)}, its content is {sha256(TOP)}"
    )
    assert not (out / "index.json").exists()


def test_a_gzip_variant_known_to_the_cache_is_checked_too(tmp_path: Path) -> None:
    """A plain layer the destination already holds gzipped (the blob-info cache knows the
    pair) is not compressed again, but the config's diff_id is still compared with it."""
    write_image(tmp_path / "good", [(TOP, OCI_TYPES["none"])], [sha256(TOP)])
    out = tmp_path / "out"
    copy_image(f"oci:{tmp_path / 'good'}:img", f"oci:{out}:good")
    index_before = (out / "index.json").read_bytes()
    write_image(tmp_path / "src", [(TOP, OCI_TYPES["none"])], [sha256(CLAIMED)])
    with pytest.raises(DigestMismatchError) as caught:
        copy_image(f"oci:{tmp_path / 'src'}:img", f"oci:{out}:x")
    assert str(caught.value) == (
        f"layer {sha256(TOP)} does not match rootfs.diff_ids[0] of its image config: "
        f"expected {sha256(CLAIMED)}, its content is {sha256(TOP)}"
    )
    assert (out / "index.json").read_bytes() == index_before


def test_a_layer_declared_compressed_that_is_nothing_fails_a_plain_copy(tmp_path: Path) -> None:
    junk = b"PK\x03\x04" + bytes(2000)  # a zip's start: neither gzip, zstd nor a tar
    write_image(
        tmp_path / "src",
        [(gzip.compress(BASE, mtime=0), OCI_TYPES["gzip"]), (junk, OCI_TYPES["gzip"])],
        [sha256(BASE), sha256(junk)],
    )
    with pytest.raises(CompressionError) as caught:
        copy_image(f"oci:{tmp_path / 'src'}:img", f"dir:{tmp_path / 'out'}")
    assert str(caught.value) == (
        f"layer {sha256(junk)} is declared gzip-compressed, but its content is neither gzip, "
        "zstd nor a tar archive"
    )
    assert not (tmp_path / "out" / "manifest.json").exists()


# -- zstd layers that start with skippable frames ---------------------------------------------

SKIPPABLE_PREFIXES = [
    pytest.param(skippable(b"boxwright"), id="one"),
    pytest.param(
        skippable(b"") + skippable(b"index", 7) + skippable(bytes(5000), 0xF), id="several"
    ),
]


def skippable_zstd_image(root: Path, prefix: bytes, media_type: str = OCI_TYPES["zstd"]) -> bytes:
    """A one-layer image ``img`` whose zstd layer starts with ``prefix`` (skippable frames)
    and holds two frames with a skippable one between them; returns the layer blob."""
    zc = zstandard.ZstdCompressor()
    half = len(TOP) // 2
    blob = prefix + zc.compress(TOP[:half]) + skippable(b"between", 3) + zc.compress(TOP[half:])
    write_image(root, [(blob, media_type)], [sha256(TOP)])
    return blob


@pytest.mark.parametrize("prefix", SKIPPABLE_PREFIXES)
def test_a_skippable_framed_zstd_layer_is_copied_as_zstd(tmp_path: Path, prefix: bytes) -> None:
    blob = skippable_zstd_image(tmp_path / "src", prefix)
    for dest in ("oci", "dir"):
        out = tmp_path / dest
        ref = f"oci:{out}:x" if dest == "oci" else f"dir:{out}"
        result = copy_image(f"oci:{tmp_path / 'src'}:img", ref)
        assert not result.images[0].converted
        assert result.images[0].layers[0].media_type == OCI_TYPES["zstd"]
        assert str(result.images[0].layers[0].digest) == sha256(blob)


@pytest.mark.parametrize("prefix", SKIPPABLE_PREFIXES)
def test_a_skippable_framed_zstd_layer_labelled_gzip_is_relabelled_zstd(
    tmp_path: Path, prefix: bytes
) -> None:
    blob = skippable_zstd_image(tmp_path / "src", prefix, OCI_TYPES["gzip"])
    result = copy_image(f"oci:{tmp_path / 'src'}:img", f"oci:{tmp_path / 'out'}:x")
    layer = manifest_of(tmp_path / "out", "x")["layers"][0]
    assert (layer["mediaType"], layer["digest"]) == (OCI_TYPES["zstd"], sha256(blob))
    assert result.images[0].converted


@pytest.mark.parametrize("prefix", SKIPPABLE_PREFIXES)
@pytest.mark.parametrize("target", ["gzip", "none"])
def test_a_skippable_framed_zstd_layer_recompresses(
    tmp_path: Path, prefix: bytes, target: str
) -> None:
    skippable_zstd_image(tmp_path / "src", prefix)
    out = tmp_path / "out"
    copy_image(f"oci:{tmp_path / 'src'}:img", f"oci:{out}:x", CopyOptions(dest_compress=target))
    manifest = manifest_of(out, "x")
    layer = manifest["layers"][0]
    stored = blob_bytes(out, layer["digest"])
    assert layer["mediaType"] == OCI_TYPES[target]
    assert stored == boxwright_compressed(TOP, target)
    config = json.loads(blob_bytes(out, manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [sha256(TOP)]


@pytest.mark.parametrize("target", ["gzip", "none"])
def test_a_skippable_framed_zstd_layer_checks_its_diff_id(tmp_path: Path, target: str) -> None:
    zc = zstandard.ZstdCompressor()
    blob = skippable(b"meta") + zc.compress(TOP)
    write_image(tmp_path / "src", [(blob, OCI_TYPES["zstd"])], [sha256(CLAIMED)])
    with pytest.raises(DigestMismatchError) as caught:
        copy_image(
            f"oci:{tmp_path / 'src'}:img",
            f"oci:{tmp_path / 'out'}:x",
            CopyOptions(dest_compress=target),
        )
    assert str(caught.value) == (
        f"layer {sha256(blob)} does not match rootfs.diff_ids[0] of its image config: "
        f"expected {sha256(CLAIMED)}, its content is {sha256(TOP)}"
    )
    assert not (tmp_path / "out" / "index.json").exists()


# -- what a recompression writes, read by the peers ---------------------------------------------


@needs_umoci
@pytest.mark.parametrize("target", ["gzip", "none"])
def test_umoci_unpacks_a_recompressed_skippable_framed_layer(tmp_path: Path, target: str) -> None:
    """umoci checks every layer against its diff_id while it unpacks."""
    skippable_zstd_image(tmp_path / "src", SKIPPABLE_PREFIXES[1].values[0])  # type: ignore[arg-type]
    out = tmp_path / "out"
    copy_image(f"oci:{tmp_path / 'src'}:img", f"oci:{out}:x", CopyOptions(dest_compress=target))
    assert UMOCI is not None
    bundle = tmp_path / "bundle"
    subprocess.run(
        [UMOCI, "--log", "error", "unpack", "--rootless", "--image", f"{out}:x", str(bundle)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    assert (bundle / "rootfs" / "etc" / "top").read_bytes() == b"top layer\n" * 300
    assert (bundle / "rootfs" / "usr" / "bin" / "tool").read_bytes() == b"#!/bin/sh\n"


@needs_skopeo
def test_skopeo_copies_a_recompressed_image(tmp_path: Path) -> None:
    """zstd layers (one behind a skippable frame) converted to Docker schema 2 are gzipped;
    skopeo copies the result, verifying every blob, and inspects it."""
    zc = zstandard.ZstdCompressor()
    write_image(
        tmp_path / "src",
        [
            (zc.compress(BASE), OCI_TYPES["zstd"]),
            (skippable(b"meta") + zc.compress(TOP), OCI_TYPES["zstd"]),
        ],
        [sha256(BASE), sha256(TOP)],
    )
    out = tmp_path / "out"
    result = copy_image(f"oci:{tmp_path / 'src'}:img", f"dir:{out}", CopyOptions(format="v2s2"))
    assert [layer.media_type for layer in result.images[0].layers] == [DOCKER_TYPES["gzip"]] * 2
    skopeo("copy", f"dir:{out}", f"dir:{tmp_path / 'again'}")
    raw = (tmp_path / "again" / "manifest.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == result.digest.hex
    info = skopeo_json("inspect", f"dir:{out}")
    assert info["Layers"] == [str(layer.digest) for layer in result.images[0].layers]
    for layer, tar in zip(result.images[0].layers, (BASE, TOP), strict=True):
        assert gzip.decompress((tmp_path / "again" / layer.digest.hex).read_bytes()) == tar
