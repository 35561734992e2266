"""unpack_image: the same tree as umoci unpack, bundles, state, refusals and cleanup."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from unpack_helpers import UmociImage, assert_same_tree, manifest_of, run, umoci

from boxwright.errors import BoxwrightError, UnpackError, UsageError
from boxwright.unpack import UnpackState, state_dir_for, unpack_image


@pytest.mark.peers
def test_rootfs_matches_umoci_unpack(
    umoci_image: UmociImage, umoci_unpacked: Path, tmp_path: Path
) -> None:
    result = unpack_image(umoci_image.ref, tmp_path / "rootfs", rootless=False)
    assert result.rootfs == tmp_path / "rootfs"
    assert result.bundle is None
    assert result.layers == 3
    assert result.rootless is False
    assert_same_tree(tmp_path / "rootfs", umoci_unpacked / "rootfs")
    # Spot checks that the comparison covered what matters.
    assert os.readlink(tmp_path / "rootfs/data/links/abs") == "/etc/hostname"
    assert (tmp_path / "rootfs/old/fresh").read_text() == "fresh\n"
    assert not (tmp_path / "rootfs/old/keep").exists()  # removed by the opaque directory
    assert os.getxattr(tmp_path / "rootfs/data/xattr", "user.boxwright") == b"yes"
    # The state lives beside the rootfs, never in it.
    assert result.state_dir == tmp_path / ".rootfs.boxwright"
    assert sorted(os.listdir(result.state_dir)) == [
        "image-config.json",
        "image-manifest.json",
        "ownership.json",
        "snapshot.json",
        "state.json",
    ]
    state = UnpackState.load(result.rootfs)
    manifest, _ = manifest_of(umoci_image.layout, umoci_image.tag)
    assert state.manifest_digest == result.manifest_digest
    assert json.loads(state.read_manifest()) == manifest
    assert state.bundle is False and state.rootless is False
    assert state.source == f"oci:{umoci_image.layout}:{umoci_image.tag}"


@pytest.mark.peers
def test_bundle_matches_umoci_bundle(
    umoci_image: UmociImage, umoci_unpacked: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    result = unpack_image(umoci_image.ref, bundle, bundle=True, rootless=False)
    assert result.bundle == bundle and result.rootfs == bundle / "rootfs"
    assert result.state_dir == bundle / ".rootfs.boxwright"
    assert sorted(os.listdir(bundle)) == [".rootfs.boxwright", "config.json", "rootfs"]
    assert_same_tree(bundle / "rootfs", umoci_unpacked / "rootfs")
    ours = json.loads((bundle / "config.json").read_text())
    theirs = json.loads((umoci_unpacked / "config.json").read_text())
    assert (
        ours["process"]["user"]
        == theirs["process"]["user"]
        == {
            "uid": 1000,
            "gid": 1000,
            "additionalGids": [10, 50],
        }
    )
    assert ours["process"]["args"] == theirs["process"]["args"] == ["/bin/sh", "-c", "echo hi"]
    assert ours["process"]["cwd"] == "/home/alice"
    assert "FOO=bar" in ours["process"]["env"]
    assert "HOME=/home/alice" in ours["process"]["env"]
    assert ours["root"]["path"] == "rootfs"


def test_non_empty_destination_is_refused_and_kept(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "mine").write_text("precious")
    with pytest.raises(UsageError, match="is not empty"):
        unpack_image("oci:/nonexistent:x", dest)
    assert (dest / "mine").read_text() == "precious"
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="exists and is not a directory"):
        unpack_image("oci:/nonexistent:x", tmp_path / "file")


def _corrupt_last_layer(layout: Path) -> None:
    """Flip one byte in the middle of the last layer's blob (same name, same size)."""
    manifest, _ = manifest_of(layout, "t")
    algo, hexd = manifest["layers"][-1]["digest"].split(":")
    blob = layout / "blobs" / algo / hexd
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))


@pytest.mark.peers
def test_corrupt_layer_leaves_no_partial_tree(umoci_image: UmociImage, tmp_path: Path) -> None:
    image = umoci_image.copy_to(tmp_path / "layout")
    _corrupt_last_layer(image.layout)
    with pytest.raises(BoxwrightError, match=r"does not match|corrupt|CRC"):
        unpack_image(image.ref, tmp_path / "new", rootless=False)
    assert not (tmp_path / "new").exists()
    assert not state_dir_for(tmp_path / "new").exists()
    # A given empty directory stays, and stays empty.
    (tmp_path / "empty").mkdir()
    with pytest.raises(BoxwrightError):
        unpack_image(image.ref, tmp_path / "empty", bundle=True, rootless=False)
    assert os.listdir(tmp_path / "empty") == []


@pytest.mark.peers
def test_unresolvable_user_fails_the_bundle_and_cleans_up(
    umoci_image: UmociImage, tmp_path: Path
) -> None:
    image = umoci_image.copy_to(tmp_path / "layout")
    umoci("config", "--image", f"{image.layout}:t", "--config.user", "mallory")
    with pytest.raises(UnpackError, match="cannot resolve user 'mallory'"):
        unpack_image(image.ref, tmp_path / "bundle", bundle=True, rootless=False)
    assert not (tmp_path / "bundle").exists()


@pytest.mark.peers
def test_stale_state_is_replaced_but_foreign_directories_are_not(
    umoci_image: UmociImage, tmp_path: Path
) -> None:
    first = unpack_image(umoci_image.ref, tmp_path / "root", rootless=False)
    shutil.rmtree(first.rootfs)
    second = unpack_image(umoci_image.ref, tmp_path / "root", rootless=False)
    assert UnpackState.load(second.rootfs).manifest_digest == first.manifest_digest
    (tmp_path / ".other.boxwright").mkdir()
    (tmp_path / ".other.boxwright/keep").write_text("x")
    with pytest.raises(UsageError, match="not a boxwright state directory"):
        unpack_image(umoci_image.ref, tmp_path / "other", rootless=False)
    assert (tmp_path / ".other.boxwright/keep").read_text() == "x"


@pytest.mark.peers
def test_progress_reports_each_layer(umoci_image: UmociImage, tmp_path: Path) -> None:
    events: list[tuple[str, str, int, Any]] = []
    unpack_image(
        umoci_image.ref,
        tmp_path / "r",
        rootless=False,
        on_progress=lambda *e: events.append(e),
    )
    manifest, _ = manifest_of(umoci_image.layout, "t")
    want: list[tuple[str, str, int, Any]] = []
    for layer in manifest["layers"]:
        want += [
            ("start", layer["digest"], 0, layer["size"]),
            ("done", layer["digest"], layer["size"], layer["size"]),
        ]
    assert events == want


@pytest.mark.peers
def test_unpack_from_an_oci_archive(
    umoci_image: UmociImage, umoci_unpacked: Path, tmp_path: Path
) -> None:
    archive = tmp_path / "image.tar"
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.skip("skopeo is not installed")
    run(skopeo, "copy", umoci_image.ref, f"oci-archive:{archive}:t")
    result = unpack_image(f"oci-archive:{archive}:t", tmp_path / "r", rootless=False)
    assert_same_tree(result.rootfs, umoci_unpacked / "rootfs")
    assert UnpackState.load(result.rootfs).source.startswith(f"oci-archive:{archive}")


@pytest.mark.peers
def test_bundle_user_from_a_hostile_passwd_symlink_is_read_inside(tmp_path: Path) -> None:
    """An image whose /etc/passwd -> /etc/shadow: the image's shadow is read, not the host's."""
    layout = tmp_path / "layout"
    umoci("init", "--layout", layout)
    umoci("new", "--image", f"{layout}:t")
    umoci("unpack", "--image", f"{layout}:t", tmp_path / "b")
    etc = tmp_path / "b/rootfs/etc"
    etc.mkdir()
    os.symlink("/etc/shadow", etc / "passwd")
    (etc / "shadow").write_text("root:x:7:8::/inside:/bin/sh\n")
    umoci("repack", "--image", f"{layout}:t", tmp_path / "b")
    umoci("config", "--image", f"{layout}:t", "--config.user", "root")
    unpack_image(f"oci:{layout}:t", tmp_path / "bundle", bundle=True, rootless=False)
    spec = json.loads((tmp_path / "bundle/config.json").read_text())
    assert spec["process"]["user"]["uid"] == 7
    assert spec["process"]["user"]["gid"] == 8
    assert "HOME=/inside" in spec["process"]["env"]


@pytest.mark.peers
def test_unpack_an_open_image(umoci_image: UmociImage, tmp_path: Path) -> None:
    from boxwright.transport.image import open_image
    from boxwright.transport.reference import parse_transport_reference

    source = parse_transport_reference(umoci_image.ref).open_source()
    try:
        result = unpack_image(open_image(source), tmp_path / "r", rootless=False)
    finally:
        source.close()
    assert result.layers == 3
    assert UnpackState.load(result.rootfs).source == umoci_image.ref
