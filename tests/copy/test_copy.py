"""The copy pipeline against real layouts: byte-exact copies, skipping, conversions,
recompression, index handling, schema 1, failures, and what skopeo makes of the results."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import IO, Any

import pytest
from copy_helpers import (
    OCI_INDEX,
    OCI_MANIFEST,
    MultiLayout,
    file_digest,
    needs_skopeo,
    sha256,
    skopeo,
    skopeo_json,
)

from boxwright.copy import CopyOptions, CopyResult, ProgressEvent, copy_image
from boxwright.errors import (
    DigestMismatchError,
    ImageNotFoundError,
    InvalidReferenceError,
    PlatformNotFoundError,
    UsageError,
)
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.platform import Platform
from boxwright.transport.base import ImageDestination
from boxwright.transport.reference import parse_transport_reference

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}


def blob_path(layout: Path, digest: str) -> Path:
    algorithm, hexpart = digest.split(":")
    return layout / "blobs" / algorithm / hexpart


def read_manifest(layout: Path, name: str) -> tuple[bytes, dict[str, Any]]:
    """The raw bytes and JSON of the manifest ``name`` refers to in a layout."""
    index = json.loads((layout / "index.json").read_text())
    for entry in index["manifests"]:
        if entry.get("annotations", {}).get("org.opencontainers.image.ref.name") == name:
            raw = blob_path(layout, entry["digest"]).read_bytes()
            return raw, json.loads(raw)
    raise AssertionError(f"{name} not in {layout}")


def read_config(layout: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(blob_path(layout, manifest["config"]["digest"]).read_bytes())
    return data


def ref_names(layout: Path) -> list[str]:
    index = json.loads((layout / "index.json").read_text())
    return [
        e.get("annotations", {}).get("org.opencontainers.image.ref.name")
        for e in index["manifests"]
    ]


class CountingDestination:
    """A real destination, wrapped to count ``put_blob`` calls."""

    def __init__(self, inner: ImageDestination) -> None:
        self.inner = inner
        self.put_blobs: list[str] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor | None = None) -> Descriptor:
        with self._lock:
            self.put_blobs.append(str(descriptor.digest) if descriptor else "?")
        return self.inner.put_blob(stream, descriptor)


def copy_counting(
    src: str, dst: str, options: CopyOptions | None = None
) -> tuple[CopyResult, list[str]]:
    dest = CountingDestination(parse_transport_reference(dst).open_destination())
    try:
        result = copy_image(src, dest, options)  # type: ignore[arg-type]
    finally:
        dest.close()
    return result, dest.put_blobs


# -- byte-exact copies and skipping -------------------------------------------------------------


def test_copy_keeps_the_manifest_bytes(peer_layout: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = copy_image(f"oci:{peer_layout}:latest", f"oci:{out}:copied")
    src_raw, src = read_manifest(peer_layout, "latest")
    dst_raw, _ = read_manifest(out, "copied")
    assert dst_raw == src_raw
    assert result.digest.__str__() == sha256(src_raw)
    assert result.media_type == OCI_MANIFEST
    wanted = [layer["digest"] for layer in src["layers"]] + [src["config"]["digest"]]
    assert sorted(str(d) for d in result.blobs_written) == sorted(wanted)
    assert result.blobs_skipped == ()
    for digest in wanted:
        assert file_digest(blob_path(out, digest)) == digest


def test_second_copy_puts_no_blob(peer_layout: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    first, puts = copy_counting(f"oci:{peer_layout}:latest", f"oci:{out}:one")
    assert len(puts) == 3  # two layers and the config
    paths = [blob_path(out, str(d)) for d in first.blobs_written]
    mtimes = {p: p.stat().st_mtime_ns for p in paths}
    second, puts = copy_counting(f"oci:{peer_layout}:latest", f"oci:{out}:two")
    assert puts == []
    assert second.blobs_written == ()
    assert set(second.blobs_skipped) == set(first.blobs_written)
    assert second.digest == first.digest
    for path, mtime in mtimes.items():
        assert path.stat().st_mtime_ns == mtime
    assert sorted(ref_names(out)) == ["one", "two"]


def test_progress_events_describe_every_step(peer_layout: Path, tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    lock = threading.Lock()

    def record(event: ProgressEvent) -> None:
        with lock:
            events.append(event)

    result = copy_image(
        f"oci:{peer_layout}:latest", f"oci:{tmp_path / 'o'}:x", CopyOptions(on_progress=record)
    )
    _, manifest = read_manifest(peer_layout, "latest")
    big = max(manifest["layers"], key=lambda layer: layer["size"])
    kinds = [e.kind for e in events if str(e.digest) == big["digest"]]
    assert kinds[0] == "started" and kinds[-1] == "done"
    assert "progress" in kinds  # the big layer is over 1 MiB
    done = [e for e in events if e.kind == "done"]
    assert {str(e.digest) for e in done} == {str(d) for d in result.blobs_written}
    assert all(e.done == e.total for e in done)
    assert events[-1].kind == "manifest" and events[-1].digest == result.digest


# -- recompression --------------------------------------------------------------------------------


@needs_skopeo
@pytest.mark.parametrize("chain", [("zstd", "none", "gzip"), ("none", "zstd")])
def test_recompression_keeps_diff_ids(
    peer_layout: Path, tmp_path: Path, chain: tuple[str, ...]
) -> None:
    _, original = read_manifest(peer_layout, "latest")
    diff_ids = read_config(peer_layout, original)["rootfs"]["diff_ids"]
    src = f"oci:{peer_layout}:latest"
    for step, compression in enumerate(chain):
        out = tmp_path / f"step{step}"
        result = copy_image(src, f"oci:{out}:x", CopyOptions(dest_compress=compression))
        raw, manifest = read_manifest(out, "x")
        assert result.digest.__str__() == sha256(raw)
        assert manifest["config"] == original["config"]  # the config does not change
        assert read_config(out, manifest)["rootfs"]["diff_ids"] == diff_ids
        for layer, diff_id in zip(manifest["layers"], diff_ids, strict=True):
            assert layer["mediaType"] == LAYER_TYPES[compression]
            path = blob_path(out, layer["digest"])
            assert file_digest(path) == layer["digest"]
            assert path.stat().st_size == layer["size"]
            if compression == "none":
                assert layer["digest"] == diff_id
            else:
                assert layer["digest"] != diff_id
        inspected = skopeo_json("inspect", f"oci:{out}:x")
        assert inspected["Layers"] == [layer["digest"] for layer in manifest["layers"]]
        # skopeo verifies every blob while copying: the result must be self-consistent.
        skopeo("copy", "--quiet", f"oci:{out}:x", f"oci:{tmp_path / 'check'}:s{step}")
        src = f"oci:{out}:x"


def test_recompression_is_deterministic_whatever_the_parallelism(
    peer_layout: Path, tmp_path: Path
) -> None:
    digests = set()
    for parallel in (1, 6):
        result = copy_image(
            f"oci:{peer_layout}:latest",
            f"oci:{tmp_path / str(parallel)}:x",
            CopyOptions(dest_compress="gzip", compression_level=2, parallel=parallel),
        )
        digests.add(result.digest)
    assert len(digests) == 1


def test_recompression_to_same_compression_is_a_plain_copy(
    peer_layout: Path, tmp_path: Path
) -> None:
    src_raw, _ = read_manifest(peer_layout, "latest")
    result = copy_image(
        f"oci:{peer_layout}:latest", f"oci:{tmp_path / 'o'}:x", CopyOptions(dest_compress="gzip")
    )
    assert str(result.digest) == sha256(src_raw)


# -- format conversion ------------------------------------------------------------------------


@needs_skopeo
def test_oci_to_v2s2_and_back(peer_layout: Path, tmp_path: Path) -> None:
    _, src = read_manifest(peer_layout, "latest")
    config = read_config(peer_layout, src)
    docker = tmp_path / "docker"
    result = copy_image(f"oci:{peer_layout}:latest", f"oci:{docker}:d", CopyOptions(format="v2s2"))
    raw, manifest = read_manifest(docker, "d")
    assert manifest["mediaType"] == DOCKER_MANIFEST
    assert manifest["config"]["mediaType"] == DOCKER_CONFIG
    # OCI to Docker keeps the config bytes (containers/image does too).
    assert manifest["config"]["digest"] == src["config"]["digest"]
    assert [layer["digest"] for layer in manifest["layers"]] == [
        layer["digest"] for layer in src["layers"]
    ]
    assert {layer["mediaType"] for layer in manifest["layers"]} == {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    }
    assert result.images[0].converted
    # skopeo makes the same Docker manifest from the same source.
    peer = tmp_path / "peer"
    skopeo("copy", "--quiet", "--format", "v2s2", f"oci:{peer_layout}:latest", f"oci:{peer}:d")
    assert raw == read_manifest(peer, "d")[0]

    back = tmp_path / "back"
    copy_image(f"oci:{docker}:d", f"oci:{back}:b", CopyOptions(format="oci"))
    _, manifest = read_manifest(back, "b")
    assert manifest["mediaType"] == OCI_MANIFEST
    back_config = read_config(back, manifest)
    assert back_config["rootfs"] == config["rootfs"]
    assert back_config["history"] == config["history"]
    assert back_config["config"] == config["config"]


def test_zstd_to_v2s2_is_recompressed_to_gzip(peer_layout: Path, tmp_path: Path) -> None:
    zstd = tmp_path / "zstd"
    copy_image(f"oci:{peer_layout}:latest", f"oci:{zstd}:z", CopyOptions(dest_compress="zstd"))
    docker = tmp_path / "docker"
    copy_image(f"oci:{zstd}:z", f"oci:{docker}:d", CopyOptions(format="v2s2"))
    _, manifest = read_manifest(docker, "d")
    assert {layer["mediaType"] for layer in manifest["layers"]} == {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    }
    for layer in manifest["layers"]:
        assert blob_path(docker, layer["digest"]).read_bytes()[:2] == b"\x1f\x8b"


def test_zstd_in_v2s2_asked_explicitly_is_refused(peer_layout: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    with pytest.raises(UsageError, match="cannot hold zstd"):
        copy_image(
            f"oci:{peer_layout}:latest",
            f"oci:{out}:x",
            CopyOptions(format="v2s2", dest_compress="zstd"),
        )
    assert not (out / "index.json").exists() or "x" not in ref_names(out)


# -- indexes ----------------------------------------------------------------------------------


def test_all_platforms_copies_the_index_and_every_image(
    multi_layout: MultiLayout, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = copy_image(multi_layout.ref, f"oci:{out}:m", CopyOptions(all_platforms=True))
    raw, index = read_manifest(out, "m")
    assert raw == blob_path(multi_layout.path, multi_layout.index["digest"]).read_bytes()
    assert result.media_type == OCI_INDEX
    assert [i.platform.architecture for i in result.images if i.platform] == ["amd64", "arm64"]
    for child in index["manifests"]:
        manifest = json.loads(blob_path(out, child["digest"]).read_bytes())
        for blob in [manifest["config"], *manifest["layers"]]:
            assert file_digest(blob_path(out, blob["digest"])) == blob["digest"]
    # The shared layer file content differs per arch, so 2 layers + 2 configs were written.
    assert len(result.blobs_written) == 4


def test_all_platforms_with_recompression_rebuilds_the_index(
    multi_layout: MultiLayout, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = copy_image(
        multi_layout.ref, f"oci:{out}:m", CopyOptions(all_platforms=True, dest_compress="zstd")
    )
    _, index = read_manifest(out, "m")
    assert index["mediaType"] == OCI_INDEX
    assert [c["platform"] for c in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux"},
    ]
    for child, image in zip(index["manifests"], result.images, strict=True):
        assert child["digest"] == str(image.descriptor.digest)
        manifest = json.loads(blob_path(out, child["digest"]).read_bytes())
        assert manifest["layers"][0]["mediaType"] == LAYER_TYPES["zstd"]


@pytest.mark.parametrize("arch", ["amd64", "arm64"])
def test_platform_selects_one_image(multi_layout: MultiLayout, tmp_path: Path, arch: str) -> None:
    out = tmp_path / "out"
    result = copy_image(
        multi_layout.ref, f"oci:{out}:one", CopyOptions(platform=Platform("linux", arch))
    )
    raw, manifest = read_manifest(out, "one")
    assert sha256(raw) == multi_layout.children[arch]["digest"]
    assert manifest["mediaType"] == OCI_MANIFEST
    assert str(result.digest) == multi_layout.children[arch]["digest"]


def test_missing_platform_is_a_clear_error(multi_layout: MultiLayout, tmp_path: Path) -> None:
    with pytest.raises(PlatformNotFoundError, match=r"linux/s390x.*linux/amd64, linux/arm64"):
        copy_image(
            multi_layout.ref,
            f"oci:{tmp_path / 'o'}:x",
            CopyOptions(platform=Platform("linux", "s390x")),
        )


def test_all_and_platform_together_are_refused(multi_layout: MultiLayout, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--all"):
        copy_image(
            multi_layout.ref,
            f"oci:{tmp_path / 'o'}:x",
            CopyOptions(all_platforms=True, platform=Platform("linux", "amd64")),
        )


# -- failures ---------------------------------------------------------------------------------


def test_corrupt_blob_fails_and_commits_nothing(layout_copy: Path, tmp_path: Path) -> None:
    _, manifest = read_manifest(layout_copy, "latest")
    victim = blob_path(layout_copy, manifest["layers"][0]["digest"])
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.chmod(0o644)
    victim.write_bytes(bytes(data))
    out = tmp_path / "out"
    with pytest.raises(DigestMismatchError):
        copy_image(f"oci:{layout_copy}:latest", f"oci:{out}:x")
    assert not (out / "index.json").exists() or ref_names(out) == []
    with pytest.raises(ImageNotFoundError):
        copy_image(f"oci:{out}:x", f"oci:{tmp_path / 'again'}:y")
    if (out / "blobs" / "sha256").exists():
        assert not (out / "blobs" / "sha256" / victim.name).exists()


def test_unknown_transport(tmp_path: Path) -> None:
    with pytest.raises(InvalidReferenceError, match="unknown transport 'nope'"):
        copy_image("nope:thing", f"oci:{tmp_path}:x")


def test_missing_tag(peer_layout: Path, tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError, match="missing"):
        copy_image(f"oci:{peer_layout}:missing", f"oci:{tmp_path / 'o'}:x")
    assert not (tmp_path / "o" / "index.json").exists() or ref_names(tmp_path / "o") == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (CopyOptions(format="v1"), "unknown manifest format"),
        (CopyOptions(dest_compress="xz"), "unknown compression"),
        (CopyOptions(parallel=0), "at least 1"),
        (CopyOptions(compression_level=5), "needs --dest-compress"),
        (CopyOptions(dest_compress="zstd", compression_level=30), "out of range 1-22"),
    ],
)
def test_bad_options_are_refused(options: CopyOptions, message: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=message):
        copy_image(f"oci:{tmp_path}/a:x", f"oci:{tmp_path}/b:x", options)


# -- schema 1 ---------------------------------------------------------------------------------


@needs_skopeo
def test_schema1_source_is_converted_like_skopeo_does(schema1_dir: Path, tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    result = copy_image(f"dir:{schema1_dir}", f"oci:{ours}:s1")
    theirs = tmp_path / "theirs"
    skopeo("copy", "--quiet", f"dir:{schema1_dir}", f"oci:{theirs}:s1")
    _, manifest = read_manifest(ours, "s1")
    _, peer = read_manifest(theirs, "s1")
    assert manifest["mediaType"] == OCI_MANIFEST
    assert [layer["digest"] for layer in manifest["layers"]] == [
        layer["digest"] for layer in peer["layers"]
    ]
    config, peer_config = read_config(ours, manifest), read_config(theirs, peer)
    assert config["rootfs"] == peer_config["rootfs"]
    assert config["history"] == peer_config["history"]
    assert config["config"] == peer_config["config"]
    assert len(config["history"]) == 3 and config["history"][1]["empty_layer"] is True
    assert (
        result.images[0].layers[0].size
        == blob_path(ours, manifest["layers"][0]["digest"]).stat().st_size
    )


# -- interop: every local transport, checked by skopeo ----------------------------------------

DESTINATIONS = {
    "oci": lambda d: f"oci:{d / 'layout'}:copied",
    "oci-archive": lambda d: f"oci-archive:{d / 'image.tar'}:copied",
    "docker-archive": lambda d: f"docker-archive:{d / 'docker.tar'}:example/copied:1",
    "dir": lambda d: f"dir:{d / 'dir'}",
}


@needs_skopeo
@pytest.mark.parametrize("kind", list(DESTINATIONS))
def test_skopeo_accepts_what_boxwright_copies(peer_images: Any, tmp_path: Path, kind: str) -> None:
    from boxwright.inspect import raw_manifest

    dst = DESTINATIONS[kind](tmp_path)
    result = copy_image(peer_images.refs["oci"], dst)
    ours = json.loads(raw_manifest(dst))
    inspected = skopeo_json("inspect", dst)
    assert inspected["Layers"] == [layer["digest"] for layer in ours["layers"]]
    # A docker archive stores no manifest: reading one back gives the manifest skopeo would
    # make (layers labelled gzip, as containers/image does), not the one the copy wrote.
    if kind == "docker-archive":
        assert inspected["Digest"] == sha256(raw_manifest(dst))
    else:
        assert str(result.digest) == sha256(raw_manifest(dst))
        assert inspected["Digest"] == str(result.digest)
    skopeo("copy", "--quiet", dst, f"oci:{tmp_path / 'check'}:c")

    # And back to OCI: diff_ids, history and the container config survive the round trip.
    back = tmp_path / "back"
    copy_image(dst, f"oci:{back}:b")
    _, original = read_manifest(peer_images.oci, peer_images.tag)
    _, manifest = read_manifest(back, "b")
    before, after = read_config(peer_images.oci, original), read_config(back, manifest)
    assert after["rootfs"] == before["rootfs"]
    assert after["history"] == before["history"]
    assert after["config"] == before["config"]


@needs_skopeo
def test_boxwright_reads_what_skopeo_writes(peer_images: Any, tmp_path: Path) -> None:
    """Every peer-made format copies to OCI with the same diff_ids."""
    _, original = read_manifest(peer_images.oci, peer_images.tag)
    want = read_config(peer_images.oci, original)["rootfs"]["diff_ids"]
    for name, ref in peer_images.refs.items():
        out = tmp_path / name
        copy_image(ref, f"oci:{out}:x")
        _, manifest = read_manifest(out, "x")
        assert read_config(out, manifest)["rootfs"]["diff_ids"] == want, name
        assert skopeo_json("inspect", f"oci:{out}:x")["Layers"] == [
            layer["digest"] for layer in manifest["layers"]
        ]


def test_a_layer_labelled_with_the_wrong_compression_is_relabelled(tmp_path: Path) -> None:
    """Docker archives call uncompressed layers gzip; the copy labels what the bytes are."""
    from copy_helpers import OCI_CONFIG, LayoutWriter, make_tar

    src = tmp_path / "src"
    writer = LayoutWriter(src)
    tar = make_tar({"etc/plain": b"not compressed\n"})
    layer = writer.blob(tar, LAYER_TYPES["gzip"])  # the label lies: the bytes are a plain tar
    config = writer.json_blob(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [sha256(tar)]},
        },
        OCI_CONFIG,
    )
    manifest = writer.json_blob(
        {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]},
        OCI_MANIFEST,
    )
    writer.index_json([dict(manifest, annotations={"org.opencontainers.image.ref.name": "x"})])
    out = tmp_path / "out"
    result = copy_image(f"oci:{src}:x", f"dir:{out}")  # dir: keeps layers as they are
    copied = json.loads((out / "manifest.json").read_bytes())
    assert copied["layers"] == [dict(layer, mediaType=LAYER_TYPES["none"])]
    assert result.images[0].converted


@pytest.mark.parametrize("spelled", ["plainly", "with-escapes"])
def test_a_mislabelled_layer_the_destination_has_is_relabelled_however_its_diff_id_is_spelled(
    tmp_path: Path, spelled: str
) -> None:
    """A plain tar labelled gzip that the destination already holds is labelled a tar in the
    stored manifest, found from its config's diff_id whether the config writes that digest
    out or spells it with JSON ``\\u`` escapes."""
    from copy_helpers import OCI_CONFIG, LayoutWriter, make_tar

    from boxwright.store.pullpush import pull
    from boxwright.store.store import Store

    tar = make_tar({"etc/plain": b"not compressed\n"})
    diff_id = sha256(tar)
    written = diff_id if spelled == "plainly" else diff_id.replace("sha256", "\\u0073ha256")
    store = Store(tmp_path / "root")
    for n in (1, 2):  # two images with the same layer: the second finds it in the store
        writer = LayoutWriter(tmp_path / f"src{n}")
        layer = writer.blob(tar, LAYER_TYPES["gzip"])
        config_raw = (
            f'{{"architecture":"amd64","os":"linux","created":"2024-01-0{n}T00:00:00Z",'
            f'"rootfs":{{"type":"layers","diff_ids":["{written}"]}}}}'
        ).encode()
        config = writer.blob(config_raw, OCI_CONFIG)
        manifest = writer.json_blob(
            {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config, "layers": [layer]},
            OCI_MANIFEST,
        )
        writer.index_json([dict(manifest, annotations={"org.opencontainers.image.ref.name": "x"})])
        record = pull(f"oci:{tmp_path / f'src{n}'}:x", store=store)
        stored = json.loads(store.images.manifest(record))
        assert stored["layers"] == [dict(layer, mediaType=LAYER_TYPES["none"])], n


def test_uncompressed_layers_are_gzipped_into_an_oci_layout(
    peer_images: Any, tmp_path: Path
) -> None:
    """As skopeo does: an OCI layout destination compresses layers that arrive plain."""
    import gzip

    out = tmp_path / "out"
    result = copy_image(peer_images.refs["docker-archive"], f"oci:{out}:x")
    _, copied = read_manifest(out, "x")
    config = read_config(out, copied)
    assert [layer["mediaType"] for layer in copied["layers"]] == [
        "application/vnd.oci.image.layer.v1.tar+gzip"
    ] * len(config["rootfs"]["diff_ids"])
    for layer, diff_id in zip(copied["layers"], config["rootfs"]["diff_ids"], strict=True):
        blob = blob_path(out, layer["digest"]).read_bytes()
        assert blob[:2] == b"\x1f\x8b"
        assert sha256(blob) == layer["digest"] and len(blob) == layer["size"]
        assert sha256(gzip.decompress(blob)) == diff_id
    assert len(result.images[0].layers) == len(copied["layers"])


def test_a_docker_archive_layer_is_labelled_uncompressed_when_the_destination_has_it(
    tmp_path: Path,
) -> None:
    """A docker archive's layers are labelled gzip (as containers/image labels them) but are
    plain tars: the stored manifest says so, whether the blob was copied or was there."""
    from boxwright.store.pullpush import pull
    from boxwright.store.store import Store
    from boxwright_testing.store_images import make_oci_image

    for layers in (1, 2):  # the same first layer in both
        make_oci_image(tmp_path / f"src{layers}", "img", layers=layers)
        copy_image(
            f"oci:{tmp_path / f'src{layers}'}:img",
            f"docker-archive:{tmp_path / f'{layers}.tar'}:app:{layers}",
        )
    store = Store(tmp_path / "root")
    for layers in (1, 2):
        record = pull(f"docker-archive:{tmp_path / f'{layers}.tar'}", store=store)
        manifest = json.loads(store.images.manifest(record))
        assert [layer["mediaType"] for layer in manifest["layers"]] == [
            "application/vnd.docker.image.rootfs.diff.tar"
        ] * layers
