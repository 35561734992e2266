"""Images written by the real peers (buildah, then skopeo into each format) read by boxwright."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
from typing import Any

import pytest

from boxwright.oci import mediatype as mt
from boxwright.transport.image import open_image
from boxwright.transport.reference import parse_transport_reference

FORMATS = ["oci", "oci-zstd", "oci-archive", "docker-archive", "dir"]


def _layer_names(image: Any, i: int) -> dict[str, tarfile.TarInfo]:
    with image.open_layer_uncompressed(i) as f:
        data = f.read()
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name.removeprefix("./"): m for m in tar.getmembers()}


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_reads_the_same_image(peer_images: Any, fmt: str) -> None:
    source = parse_transport_reference(peer_images.refs[fmt]).open_source()
    try:
        image = open_image(source)
        config = image.config
        assert config.config.env == peer_images.env
        assert config.config.entrypoint == peer_images.entrypoint
        assert config.config.cmd == peer_images.cmd
        assert config.config.working_dir == peer_images.working_dir
        for key, value in peer_images.labels.items():
            assert config.config.labels[key] == value
        assert len(image.layers) == peer_images.layer_count == len(image.diff_ids)
        created_by = [h.created_by for h in config.history if not h.empty_layer]
        assert created_by[-1] == "COPY motd /etc/motd"
        assert hashlib.sha256(image.config_bytes).hexdigest() == image.manifest.config.digest.hex
        # Every blob, compressed and uncompressed, verifies (readers raise at EOF otherwise).
        for i, layer in enumerate(image.layers):
            with image.open_layer(layer) as f:
                blob = f.read()
            assert len(blob) == layer.size
            assert hashlib.sha256(blob).hexdigest() == layer.digest.hex
            with image.open_layer_uncompressed(i) as f:
                tar_bytes = f.read()
            assert hashlib.sha256(tar_bytes).hexdigest() == image.diff_ids[i].hex
    finally:
        source.close()


def test_formats_agree_on_diff_ids_and_config(peer_images: Any) -> None:
    seen = {}
    for fmt in FORMATS:
        source = parse_transport_reference(peer_images.refs[fmt]).open_source()
        image = open_image(source)
        seen[fmt] = (image.diff_ids, image.manifest.config.digest)
    assert len(set(seen.values())) == 1, seen


def test_layers_hold_what_buildah_put_in_them(peer_images: Any) -> None:
    image = open_image(parse_transport_reference(peer_images.refs["oci"]).open_source())
    base = _layer_names(image, 0)
    assert base["bin/sh"].issym() and base["bin/sh"].linkname == "busybox"
    assert base["usr/bin/suid"].mode & 0o7777 == 0o4755
    assert base["tmp"].mode & 0o7777 == 0o1777
    hard = base["data/hard"] if base["data/hard"].islnk() else base["data/a.txt"]
    assert hard.islnk() and {hard.name, hard.linkname} == {"data/a.txt", "data/hard"}
    second = _layer_names(image, 1)
    assert "data/.wh.b.txt" in second
    assert "data/c.txt" in second
    assert set(_layer_names(image, 2)) >= {"etc/motd"}


def test_docker_archive_manifest_is_generated_from_the_tar(peer_images: Any) -> None:
    source = parse_transport_reference(peer_images.refs["docker-archive"]).open_source()
    raw, media_type = source.get_manifest()
    assert media_type == mt.DOCKER_MANIFEST
    assert json.loads(raw)["config"]["mediaType"] == mt.DOCKER_CONFIG
    image = open_image(source)
    assert [d.digest for d in image.layers] == list(image.diff_ids)
    # Labelled as containers/image labels them, so the digest is skopeo's too.
    assert all(d.media_type == mt.DOCKER_LAYER_GZIP for d in image.layers)
    theirs = subprocess.run(
        ["skopeo", "inspect", "--raw", peer_images.refs["docker-archive"]],
        capture_output=True,
        check=True,
    ).stdout
    assert raw == theirs
    assert source.repo_tags == (peer_images.docker_name,)  # type: ignore[attr-defined]


def test_docker_archive_selects_by_tag_and_index(peer_images: Any) -> None:
    by_tag = parse_transport_reference(
        f"docker-archive:{peer_images.docker_archive}:{peer_images.docker_name}"
    ).open_source()
    by_index = parse_transport_reference(
        f"docker-archive:{peer_images.docker_archive}:@0"
    ).open_source()
    assert by_tag.get_manifest() == by_index.get_manifest()
