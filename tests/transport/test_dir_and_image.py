"""dir: read and write (with indexes), and Image's derivations: platform choice, schema 1."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from boxwright.errors import ImageNotFoundError, ManifestError, TransportError
from boxwright.oci import mediatype as mt
from boxwright.oci.platform import Platform
from boxwright.transport.dir import DirSource
from boxwright.transport.image import open_image
from boxwright.transport.reference import parse_transport_reference

Mirror = Callable[..., Any]


def _multi_layout(peer_images: Any, tmp_path: Path, writer: Callable[..., Any]) -> Path:
    layout = tmp_path / "layout"
    shutil.copytree(peer_images.oci, layout)
    platforms = [
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm", "variant": "v7"},
    ]
    writer(layout, platforms, "multi", source_ref="latest")
    return layout


def test_dir_holds_an_index_and_its_children(
    peer_images: Any,
    oci_index_writer: Callable[..., Any],
    mirror: Mirror,
    skopeo: Callable[..., Any],
    tmp_path: Path,
) -> None:
    layout = _multi_layout(peer_images, tmp_path, oci_index_writer)
    source = parse_transport_reference(f"oci:{layout}:multi").open_source()
    out = tmp_path / "dir"
    top = mirror(source, parse_transport_reference(f"dir:{out}").open_destination())
    index_raw = (out / "manifest.json").read_bytes()
    assert hashlib.sha256(index_raw).hexdigest() == top.digest.hex
    children = sorted(p.name for p in out.glob("*.manifest.json"))
    assert len(children) == 2
    assert (out / "version").read_text() == "Directory Transport Version: 1.1\n"
    assert skopeo("inspect", "--raw", f"dir:{out}")["mediaType"] == mt.OCI_INDEX
    arm = open_image(DirSource(out), Platform.parse("linux/arm/v7"))
    assert arm.config.architecture == "arm"
    info = skopeo("inspect", "--override-arch", "arm", "--override-variant", "v7", f"dir:{out}")
    assert info["Layers"] == [str(d.digest) for d in arm.layers]


def test_dir_overwrite_keeps_old_image_until_commit(
    peer_images: Any, mirror: Mirror, tmp_path: Path
) -> None:
    out = tmp_path / "dir"
    shutil.copytree(peer_images.dir, out)
    old_manifest = (out / "manifest.json").read_bytes()
    dest = parse_transport_reference(f"dir:{out}").open_destination()
    source = parse_transport_reference(peer_images.refs["oci"]).open_source()
    image = open_image(source)
    with source.get_blob(image.layers[0]) as stream:
        dest.put_blob(stream, image.layers[0])
    # Not committed yet: the old image is still whole.
    assert (out / "manifest.json").read_bytes() == old_manifest
    old = open_image(DirSource(out))
    with old.open_layer_uncompressed(0) as f:
        while f.read(1 << 20):
            pass
    mirror(source, dest)
    expected = {"version", "manifest.json", image.manifest.config.digest.hex}
    expected |= {d.digest.hex for d in image.layers}
    assert {p.name for p in out.iterdir()} == expected
    assert open_image(DirSource(out)).manifest.raw == image.manifest.raw


def test_dir_refuses_foreign_directory(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(TransportError, match="not a dir: image"):
        parse_transport_reference(f"dir:{tmp_path}").open_destination()
    assert [p.name for p in tmp_path.iterdir()] == ["precious.txt"]
    with pytest.raises(ImageNotFoundError, match=r"no manifest\.json"):
        DirSource(tmp_path)
    (tmp_path / "manifest.json").write_text('{"hello": 1}')
    with pytest.raises(ManifestError, match="not a recognized manifest"):
        DirSource(tmp_path).get_manifest()


def _v1(layer_id: str, parent: str, cmd: str, extra: dict[str, Any] | None = None) -> str:
    obj: dict[str, Any] = {
        "id": layer_id,
        "created": "2024-01-02T03:04:05Z",
        "container_config": {"Cmd": ["/bin/sh", "-c", cmd]},
    }
    if parent:
        obj["parent"] = parent
    obj.update(extra or {})
    return json.dumps(obj)


def test_schema1_image_presents_itself_as_schema2(peer_images: Any, tmp_path: Path) -> None:
    """A dir: holding an unsigned schema 1 manifest over gzip layers (as old registries had)."""
    source_image = open_image(parse_transport_reference(peer_images.refs["dir"]).open_source())
    out = tmp_path / "s1"
    out.mkdir()
    (out / "version").write_text("Directory Transport Version: 1.1\n")
    blobs = []
    for i in range(len(source_image.layers)):
        with source_image.open_layer(i) as f:
            data = gzip.compress(f.read(), compresslevel=1, mtime=0)
        digest = hashlib.sha256(data).hexdigest()
        (out / digest).write_bytes(data)
        blobs.append((f"sha256:{digest}", len(data)))
    ids = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(3)]
    top_extra = {"architecture": "amd64", "os": "linux", "config": {"Env": ["A=1"]}}
    history = [
        _v1(ids[2], ids[1], "top", top_extra),
        _v1(ids[1], ids[0], "middle"),
        _v1(ids[0], "", "base"),
    ]
    manifest = {
        "schemaVersion": 1,
        "name": "library/old",
        "tag": "1",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": d} for d, _ in reversed(blobs)],
        "history": [{"v1Compatibility": h} for h in history],
    }
    (out / "manifest.json").write_text(json.dumps(manifest))

    image = open_image(DirSource(out))
    assert image.schema1 is not None
    assert image.manifest.media_type == mt.DOCKER_MANIFEST
    assert image.diff_ids == source_image.diff_ids
    assert [(str(d.digest), d.size) for d in image.layers] == blobs
    assert all(d.media_type == mt.DOCKER_LAYER_GZIP for d in image.layers)
    assert image.config.config.env == ("A=1",)
    assert [h.created_by for h in image.config.history] == [
        "/bin/sh -c base",
        "/bin/sh -c middle",
        "/bin/sh -c top",
    ]
    assert image.manifest.config.digest.hex == hashlib.sha256(image.config_bytes).hexdigest()
    with image.open_layer_uncompressed(2) as f:
        while f.read(1 << 20):
            pass


def test_open_image_by_digest_and_bad_layer_index(peer_images: Any) -> None:
    source = parse_transport_reference(peer_images.refs["oci"]).open_source()
    image = open_image(source)
    again = open_image(source, digest=image.manifest_digest)
    assert again.manifest.raw == image.manifest.raw
    with pytest.raises(ManifestError, match="has 3 layers, no layer 7"):
        image.open_layer(7)
