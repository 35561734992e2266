"""repack_image: exactly the changes, accepted by umoci and skopeo, refreshed state."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest
from unpack_helpers import (
    UmociImage,
    assert_same_tree,
    layer_entries,
    manifest_of,
    run,
    umoci,
)

from boxwright.errors import UnpackError, UsageError
from boxwright.unpack import HistoryOptions, UnpackState, repack_image, unpack_image

pytestmark = pytest.mark.peers


@pytest.fixture
def unpacked(umoci_image: UmociImage, tmp_path: Path) -> tuple[UmociImage, Path]:
    """A private copy of the umoci image, unpacked by boxwright as a bundle."""
    image = umoci_image.copy_to(tmp_path / "layout")
    unpack_image(image.ref, tmp_path / "bundle", bundle=True, rootless=False)
    return image, tmp_path / "bundle"


def _change(rootfs: Path) -> None:
    (rootfs / "added.txt").write_text("added\n")
    (rootfs / "newdir").mkdir()
    (rootfs / "newdir/f").write_text("f\n")
    (rootfs / "change_me").write_text("changed again\n")
    os.chmod(rootfs / "chmod_me", 0o640)
    (rootfs / "srv/odd").unlink()
    shutil.rmtree(rootfs / "data/links")


def test_new_layer_holds_exactly_the_changes(
    unpacked: tuple[UmociImage, Path], tmp_path: Path
) -> None:
    image, bundle = unpacked
    _change(bundle / "rootfs")
    result = repack_image(bundle, f"oci:{image.layout}:t2")
    manifest, config = manifest_of(image.layout, "t2")
    base_manifest, base_config = manifest_of(image.layout, "t")
    assert result.layers == len(manifest["layers"]) == 4
    assert manifest["layers"][:3] == base_manifest["layers"]
    assert manifest["layers"][3]["digest"] == str(result.layer.digest)
    assert manifest["layers"][3]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert config["rootfs"]["diff_ids"] == [*base_config["rootfs"]["diff_ids"], str(result.diff_id)]
    assert config["history"][:-1] == base_config["history"]
    assert config["history"][-1]["created_by"] == "boxwright repack"
    assert config["config"] == base_config["config"]
    entries = layer_entries(image.layout, manifest["layers"][3]["digest"])
    assert sorted(entries) == [
        "added.txt",
        "change_me",
        "chmod_me",
        "data",
        "data/.wh.links",
        "new/h3",  # its hardlink siblings data/links/h1, h2 were deleted: link count (ctime)
        "newdir",
        "newdir/f",
        "srv",
        "srv/.wh.odd",
    ]
    assert entries["chmod_me"].mode == 0o640
    assert result.deleted == ("data/links", "srv/odd")
    # umoci unpacks the result into the same tree, and skopeo reads it.
    umoci("unpack", "--image", f"{image.layout}:t2", tmp_path / "check")
    assert_same_tree(bundle / "rootfs", tmp_path / "check/rootfs")
    skopeo = shutil.which("skopeo")
    if skopeo is not None:
        info = json.loads(run(skopeo, "inspect", f"oci:{image.layout}:t2").stdout)
        assert info["Layers"] == [d["digest"] for d in manifest["layers"]]


def test_second_repack_captures_only_newer_changes(unpacked: tuple[UmociImage, Path]) -> None:
    image, bundle = unpacked
    _change(bundle / "rootfs")
    repack_image(bundle, f"oci:{image.layout}:t2")
    state = UnpackState.load(bundle / "rootfs")
    assert state.source == f"oci:{image.layout}:t2"
    (bundle / "rootfs/etc/hostname").write_text("other\n")
    result = repack_image(bundle, f"oci:{image.layout}:t3")
    manifest, _config = manifest_of(image.layout, "t3")
    assert len(manifest["layers"]) == 5
    assert manifest["layers"][:4] == manifest_of(image.layout, "t2")[0]["layers"]
    assert sorted(layer_entries(image.layout, str(result.layer.digest))) == ["etc/hostname"]


def test_no_changes_give_an_empty_layer(unpacked: tuple[UmociImage, Path]) -> None:
    image, bundle = unpacked
    result = repack_image(bundle, f"oci:{image.layout}:same")
    assert (result.added, result.modified, result.deleted) == ((), (), ())
    assert layer_entries(image.layout, str(result.layer.digest)) == {}
    manifest, config = manifest_of(image.layout, "same")
    assert len(manifest["layers"]) == 4
    assert len(config["rootfs"]["diff_ids"]) == 4


def test_history_compression_and_timestamp(unpacked: tuple[UmociImage, Path]) -> None:
    image, bundle = unpacked
    (bundle / "rootfs/late").write_text("late\n")
    os.utime(bundle / "rootfs/late", (2_000_000_000, 2_000_000_000))
    history = HistoryOptions(created_by="make it", author="me", comment="why")
    result = repack_image(
        bundle,
        f"oci:{image.layout}:z",
        history=history,
        compression="zstd",
        clamp_mtime=1_000_000_000,
    )
    manifest, config = manifest_of(image.layout, "z")
    assert manifest["layers"][-1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    assert config["history"][-1] == {
        "created": "2001-09-09T01:46:40Z",
        "created_by": "make it",
        "author": "me",
        "comment": "why",
    }
    entries = layer_entries(image.layout, str(result.layer.digest))
    assert entries["late"].mtime == 1_000_000_000


def test_repack_to_another_layout_copies_the_base_layers(
    unpacked: tuple[UmociImage, Path], tmp_path: Path
) -> None:
    _image, bundle = unpacked
    _change(bundle / "rootfs")
    repack_image(bundle, f"oci:{tmp_path / 'elsewhere'}:new", compression="none")
    manifest, _ = manifest_of(tmp_path / "elsewhere", "new")
    assert manifest["layers"][-1]["mediaType"] == "application/vnd.oci.image.layer.v1.tar"
    for layer in manifest["layers"]:
        algo, hexd = layer["digest"].split(":")
        assert (tmp_path / "elsewhere/blobs" / algo / hexd).stat().st_size == layer["size"]
    umoci("unpack", "--image", f"{tmp_path / 'elsewhere'}:new", tmp_path / "check")
    assert_same_tree(bundle / "rootfs", tmp_path / "check/rootfs")


def test_repack_of_a_plain_rootfs(umoci_image: UmociImage, tmp_path: Path) -> None:
    image = umoci_image.copy_to(tmp_path / "layout")
    unpack_image(image.ref, tmp_path / "root", rootless=False)
    (tmp_path / "root/hello").write_text("hi\n")
    result = repack_image(tmp_path / "root", f"oci:{image.layout}:plain")
    assert sorted(layer_entries(image.layout, str(result.layer.digest))) == ["hello"]


def test_repack_refuses_what_unpack_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "random").mkdir()
    with pytest.raises(UnpackError, match="was not unpacked by boxwright"):
        repack_image(tmp_path / "random", f"oci:{tmp_path}/out:x")


def test_corrupt_state_is_a_clear_error(unpacked: tuple[UmociImage, Path]) -> None:
    image, bundle = unpacked
    (bundle / ".rootfs.boxwright/image-config.json").write_text("{}")
    with pytest.raises(UnpackError, match=r"image-config\.json is corrupt"):
        repack_image(bundle, f"oci:{image.layout}:x")


def test_unknown_compression_is_a_usage_error(unpacked: tuple[UmociImage, Path]) -> None:
    image, bundle = unpacked
    with pytest.raises(UsageError, match="unknown compression 'xz'"):
        repack_image(bundle, f"oci:{image.layout}:x", compression="xz")


def test_layer_tar_is_a_plain_valid_tar(unpacked: tuple[UmociImage, Path], tmp_path: Path) -> None:
    image, bundle = unpacked
    (bundle / "rootfs/x").write_text("x\n")
    result = repack_image(bundle, f"oci:{image.layout}:v")
    algo, hexd = str(result.layer.digest).split(":")
    with tarfile.open(image.layout / "blobs" / algo / hexd, "r:gz") as tar:
        (member,) = tar.getmembers()
    assert (member.name, member.uid, member.gid, member.mode) == ("x", 0, 0, 0o644)


def test_repack_into_an_oci_archive_unpacks_to_the_same_tree(
    unpacked: tuple[UmociImage, Path], tmp_path: Path
) -> None:
    _image, bundle = unpacked
    _change(bundle / "rootfs")
    archive = tmp_path / "out.tar"
    repack_image(bundle, f"oci-archive:{archive}:new")
    skopeo = shutil.which("skopeo")
    if skopeo is not None:
        info = json.loads(run(skopeo, "inspect", f"oci-archive:{archive}:new").stdout)
        assert len(info["Layers"]) == 4
    again = unpack_image(f"oci-archive:{archive}:new", tmp_path / "again", rootless=False)
    assert_same_tree(bundle / "rootfs", again.rootfs)
