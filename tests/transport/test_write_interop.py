"""What boxwright's destinations write is accepted by skopeo (inspect and copy)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from boxwright.errors import TransportError
from boxwright.transport.image import open_image
from boxwright.transport.reference import parse_transport_reference

Mirror = Callable[..., Any]


def _run(*args: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("src_fmt", "dst_template"),
    [
        ("oci", "oci:{tmp}/layout:copy"),
        ("oci-zstd", "oci:{tmp}/layout"),
        ("oci", "oci-archive:{tmp}/image.tar:copy"),
        ("oci-archive", "dir:{tmp}/dir"),
        ("dir", "oci:{tmp}/layout:v1"),
        ("docker-archive", "docker-archive:{tmp}/out.tar:example.com/app:v1"),
        ("docker-archive", "dir:{tmp}/dir"),
    ],
)
def test_written_image_is_accepted_by_skopeo(
    peer_images: Any,
    mirror: Mirror,
    skopeo: Callable[..., Any],
    tmp_path: Path,
    src_fmt: str,
    dst_template: str,
) -> None:
    src_ref = parse_transport_reference(peer_images.refs[src_fmt])
    dst_text = dst_template.format(tmp=tmp_path)
    source = src_ref.open_source()
    dest = parse_transport_reference(dst_text).open_destination()
    try:
        top = mirror(source, dest)
    finally:
        dest.close()
    original = open_image(source)

    info = skopeo("inspect", dst_text)
    if not dst_text.startswith("docker-archive:"):
        # skopeo generates a docker archive's manifest itself (labelling layers tar.gzip).
        assert info["Digest"] == str(top.digest)
    assert info["Layers"] == [str(d.digest) for d in original.layers]
    assert info["Env"] == list(peer_images.env)
    config = skopeo("inspect", "--config", dst_text)
    assert config["rootfs"]["diff_ids"] == [str(d) for d in original.diff_ids]

    # skopeo can copy it on (reading every blob and verifying it) ...
    again = tmp_path / "again"
    _run("skopeo", "copy", "--quiet", dst_text, f"oci:{again}:x")
    # ... and boxwright reads the result back bit for bit.
    back = open_image(parse_transport_reference(dst_text).open_source())
    assert back.manifest.raw == original.manifest.raw
    assert back.config_bytes == original.config_bytes


def test_skopeo_copies_boxwright_layout_to_docker_archive(
    peer_images: Any, mirror: Mirror, skopeo: Callable[..., Any], tmp_path: Path
) -> None:
    source = parse_transport_reference(peer_images.refs["oci"]).open_source()
    dest = parse_transport_reference(f"oci:{tmp_path}/layout:v1").open_destination()
    mirror(source, dest)
    archive = tmp_path / "d.tar"
    _run(
        "skopeo", "copy", "--quiet", f"oci:{tmp_path}/layout:v1", f"docker-archive:{archive}:a/b:c"
    )
    ours = open_image(parse_transport_reference(f"docker-archive:{archive}:a/b:c").open_source())
    theirs = skopeo("inspect", f"docker-archive:{archive}")
    assert theirs["Layers"] == [str(d) for d in ours.diff_ids]


def test_docker_archive_with_several_tags(
    peer_images: Any, mirror: Mirror, skopeo: Callable[..., Any], tmp_path: Path
) -> None:
    from boxwright.transport.docker_archive import DockerArchiveDestination

    source = parse_transport_reference(peer_images.refs["docker-archive"]).open_source()
    out = tmp_path / "tags.tar"
    dest = DockerArchiveDestination(out, "app:1", additional_tags=["example.com/app:2"])
    try:
        mirror(source, dest)
    finally:
        dest.close()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]
    for tag in ("docker.io/library/app:1", "example.com/app:2"):
        ours = parse_transport_reference(f"docker-archive:{out}:{tag}").open_source()
        assert ours.get_manifest() == source.get_manifest()
        info = skopeo("inspect", f"docker-archive:{out}:{tag}")
        assert info["Layers"] == [str(d.digest) for d in open_image(source).layers]
    with pytest.raises(TransportError, match="does not modify existing archives"):
        DockerArchiveDestination(out, "app:3")


def test_oci_archive_destination_replaces_the_file_atomically(
    peer_images: Any, mirror: Mirror, tmp_path: Path
) -> None:
    out = tmp_path / "o.tar"
    out.write_bytes(b"old content")
    source = parse_transport_reference(peer_images.refs["oci"]).open_source()
    dest = parse_transport_reference(f"oci-archive:{out}:new").open_destination()
    assert out.read_bytes() == b"old content"  # nothing visible before commit
    mirror(source, dest)
    dest.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.tar"]
    back = parse_transport_reference(f"oci-archive:{out}:new").open_source()
    assert back.get_manifest() == source.get_manifest()


def test_uncommitted_archive_destinations_leave_nothing(peer_images: Any, tmp_path: Path) -> None:
    for text in (f"oci-archive:{tmp_path}/a.tar", f"docker-archive:{tmp_path}/d.tar"):
        dest = parse_transport_reference(text).open_destination()
        source = parse_transport_reference(peer_images.refs["docker-archive"]).open_source()
        layer = open_image(source).layers[1]
        with source.get_blob(layer) as stream:
            dest.put_blob(stream, layer)
        dest.close()
    assert list(tmp_path.iterdir()) == []
