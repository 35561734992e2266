"""Archive transports on crafted input: several images, compressed layers, hostile paths."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from boxwright.errors import (
    BlobNotFoundError,
    ImageNotFoundError,
    ManifestError,
    TransportError,
    UnsafePathError,
)
from boxwright.transport.image import open_image
from boxwright.transport.reference import parse_transport_reference


def _members(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isreg()
        }


def _write(path: Path, files: dict[str, bytes], links: dict[str, str] | None = None) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return path


def _base(peer_images: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
    files = _members(peer_images.docker_archive)
    item = json.loads(files["manifest.json"])[0]
    return files, item


def test_several_images_in_one_docker_archive(peer_images: Any, tmp_path: Path) -> None:
    files, item = _base(peer_images)
    config = json.loads(files[item["Config"]])
    config["config"]["Labels"]["second"] = "yes"
    second_config = json.dumps(config).encode()
    files["second.json"] = second_config
    # The second image keeps its layers in the old layout: ID/layer.tar links to HEX.tar.
    links = {f"old{i}/layer.tar": f"../{name}" for i, name in enumerate(item["Layers"])}
    second = {
        "Config": "second.json",
        "RepoTags": ["example.com/two:1", "two:latest"],
        "Layers": [f"old{i}/layer.tar" for i in range(len(item["Layers"]))],
    }
    files["manifest.json"] = json.dumps([item, second]).encode()
    archive = _write(tmp_path / "two.tar", files, links)

    with pytest.raises(ImageNotFoundError, match=r"holds 2 images.*two:latest"):
        parse_transport_reference(f"docker-archive:{archive}").open_source()
    for text in (f"docker-archive:{archive}:two", f"docker-archive:{archive}:@1"):
        image = open_image(parse_transport_reference(text).open_source())
        assert image.config.config.labels["second"] == "yes"
        assert image.config_bytes == second_config
        for i in range(len(image.layers)):
            with image.open_layer_uncompressed(i) as f:
                while f.read(1 << 20):
                    pass
    first = open_image(
        parse_transport_reference(
            f"docker-archive:{archive}:{peer_images.docker_name}"
        ).open_source()
    )
    assert "second" not in first.config.config.labels
    with pytest.raises(ImageNotFoundError, match=r"tagged docker\.io/library/three:latest"):
        parse_transport_reference(f"docker-archive:{archive}:three").open_source()


def test_compressed_layer_files_are_accepted(peer_images: Any, tmp_path: Path) -> None:
    files, item = _base(peer_images)
    plain = files[item["Layers"][0]]
    files[item["Layers"][0]] = gzip.compress(plain, compresslevel=1)
    archive = _write(tmp_path / "gz.tar", files)
    image = open_image(parse_transport_reference(f"docker-archive:{archive}").open_source())
    assert image.layers[0].size == len(plain)
    assert image.layers[0].digest == image.diff_ids[0]
    with image.open_layer(0) as f:
        assert f.read() == plain
        assert f.read() == b""


@pytest.mark.parametrize("bad", ["../x.tar", "/etc/passwd", "a/../../x.tar"])
def test_layer_path_leaving_the_archive_is_refused(
    peer_images: Any, tmp_path: Path, bad: str
) -> None:
    files, item = _base(peer_images)
    item["Layers"][1] = bad
    files["manifest.json"] = json.dumps([item]).encode()
    archive = _write(tmp_path / "evil.tar", files)
    with pytest.raises(UnsafePathError, match="outside the archive"):
        parse_transport_reference(f"docker-archive:{archive}").open_source()


def test_link_leaving_the_archive_is_refused(peer_images: Any, tmp_path: Path) -> None:
    files, item = _base(peer_images)
    item["Layers"][0] = "evil/layer.tar"
    files["manifest.json"] = json.dumps([item]).encode()
    archive = _write(tmp_path / "evil.tar", files, {"evil/layer.tar": "../../outside.tar"})
    with pytest.raises(UnsafePathError, match="outside"):
        parse_transport_reference(f"docker-archive:{archive}").open_source()


@pytest.mark.parametrize(
    ("manifest", "error", "message"),
    [
        (b"{", ManifestError, "not valid JSON"),
        (b"{}", ManifestError, "JSON array"),
        (b'[{"Config": 3}]', ManifestError, "Config must be a file name"),
        (b'[{"Config": "missing.json", "Layers": []}]', BlobNotFoundError, "missing.json"),
    ],
)
def test_bad_manifest_json(
    peer_images: Any, tmp_path: Path, manifest: bytes, error: type[Exception], message: str
) -> None:
    files, _ = _base(peer_images)
    files["manifest.json"] = manifest
    archive = _write(tmp_path / "bad.tar", files)
    with pytest.raises(error, match=message):
        parse_transport_reference(f"docker-archive:{archive}").open_source()


def test_layer_count_mismatch(peer_images: Any, tmp_path: Path) -> None:
    files, item = _base(peer_images)
    item["Layers"] = item["Layers"][:2]
    files["manifest.json"] = json.dumps([item]).encode()
    archive = _write(tmp_path / "short.tar", files)
    with pytest.raises(ManifestError, match=r"2 layers in manifest\.json but 3 diff_ids"):
        parse_transport_reference(f"docker-archive:{archive}").open_source()


@pytest.mark.parametrize("fmt", ["oci-archive", "docker-archive"])
def test_truncated_archive(peer_images: Any, tmp_path: Path, fmt: str) -> None:
    source = peer_images.oci_archive if fmt == "oci-archive" else peer_images.docker_archive
    data = source.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(TransportError, match=r"truncated|not a readable tar"):
        parse_transport_reference(f"{fmt}:{cut}").open_source()


def test_oci_archive_is_read_in_place(peer_images: Any, tmp_path: Path) -> None:
    """No extraction: nothing is written while the archive is read."""
    archive = tmp_path / "in-place.tar"
    archive.write_bytes(peer_images.oci_archive.read_bytes())
    image = open_image(parse_transport_reference(f"oci-archive:{archive}:latest").open_source())
    for i in range(len(image.layers)):
        with image.open_layer_uncompressed(i) as f:
            while f.read(1 << 20):
                pass
    assert [p.name for p in tmp_path.iterdir()] == ["in-place.tar"]


def test_not_an_archive(tmp_path: Path) -> None:
    (tmp_path / "junk.tar").write_bytes(b"\x00garbage" * 100)
    with pytest.raises(TransportError):
        parse_transport_reference(f"docker-archive:{tmp_path}/junk.tar").open_source()
    with pytest.raises(ImageNotFoundError, match="does not exist"):
        parse_transport_reference(f"oci-archive:{tmp_path}/none.tar").open_source()
    with pytest.raises(ImageNotFoundError, match=r"no manifest\.json"):
        parse_transport_reference(f"docker-archive:{_write(tmp_path / 'e.tar', {})}").open_source()
