"""skopeo's ``copy`` flags, accepted with skopeo's meaning: the same command line run by
skopeo 1.9 and by boxwright writes the same result (layer media types, digests, RepoTags,
digest files), or fails for both."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from boxwright.cli.main import main

SKOPEO = shutil.which("skopeo")
pytestmark = [
    pytest.mark.peers,
    pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed"),
]


def _both(tmp_path: Path, flags: list[str], src: str, dest: str) -> tuple[Any, Any]:
    """Run ``copy FLAGS SRC DEST`` with skopeo and boxwright; ``DEST`` holds ``{who}``, which
    becomes ``skopeo`` and ``boxwright``. Returns (skopeo's process, boxwright's result)."""
    assert SKOPEO is not None
    theirs = subprocess.run(
        [SKOPEO, "copy", "-q", *flags, src, dest.format(who=tmp_path / "skopeo")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    ours = CliRunner().invoke(
        main, ["copy", "-q", *flags, src, dest.format(who=tmp_path / "boxwright")]
    )
    return theirs, ours


def _layer_types(path: Path) -> list[str]:
    """The layer media types of the one image of an ``oci:`` layout or a ``dir:``."""
    if (path / "index.json").exists():
        index = json.loads((path / "index.json").read_text())
        digest = index["manifests"][0]["digest"].split(":")[1]
        manifest = json.loads((path / "blobs" / "sha256" / digest).read_text())
    else:
        manifest = json.loads((path / "manifest.json").read_text())
    return [layer["mediaType"] for layer in manifest["layers"]]


@pytest.mark.parametrize(
    ("flags", "source", "dest", "expected"),
    [
        # --dest-compress-format rewrites every layer, --dest-compress or not
        (["--dest-compress-format", "zstd"], "oci", "oci:{who}:x", "tar+zstd"),
        (["--dest-compress", "--dest-compress-format", "zstd"], "oci", "oci:{who}:x", "tar+zstd"),
        # --dest-compress alone compresses what comes uncompressed, into dir: too
        (["--dest-compress"], "docker-archive", "dir:{who}", "tar.gzip"),
        (["--dest-compress"], "oci-zstd", "dir:{who}", "tar+zstd"),
        (["--dest-decompress"], "oci", "dir:{who}", "tar"),
    ],
)
def test_compression_flags_mean_what_they_mean_in_skopeo(
    peer_images: Any, tmp_path: Path, flags: list[str], source: str, dest: str, expected: str
) -> None:
    theirs, ours = _both(tmp_path, flags, peer_images.refs[source], dest)
    assert theirs.returncode == 0, theirs.stderr
    assert ours.exit_code == 0, ours.stderr
    skopeo_types = _layer_types(tmp_path / "skopeo")
    assert _layer_types(tmp_path / "boxwright") == skopeo_types
    assert all(t.endswith(expected) for t in skopeo_types), skopeo_types


def test_preserve_digests_keeps_or_fails_as_skopeo(peer_images: Any, tmp_path: Path) -> None:
    src = peer_images.refs["oci"]
    source_digest = json.loads((peer_images.oci / "index.json").read_text())["manifests"][0][
        "digest"
    ]
    # preserving wins over a format or a compression asked for, in skopeo and here
    for flags, tag in (
        (["--preserve-digests"], "a"),
        (["--preserve-digests", "-f", "v2s2"], "b"),
        (["--preserve-digests", "--dest-compress-format", "zstd"], "c"),
    ):
        theirs, ours = _both(tmp_path, flags, src, f"oci:{{who}}:{tag}")
        assert theirs.returncode == 0 and ours.exit_code == 0, (theirs.stderr, ours.stderr)
        skopeo_index = json.loads((tmp_path / "skopeo" / "index.json").read_text())
        assert skopeo_index["manifests"][-1]["digest"] == source_digest
        assert ours.stdout.strip() == source_digest
    assert "WARNING: preserving digests: format ignored (as skopeo ignores them)" in (
        CliRunner()
        .invoke(
            main, ["copy", "-q", "--preserve-digests", "-f", "v2s2", src, f"oci:{tmp_path}/w:x"]
        )
        .stderr
    )
    # a destination that cannot hold the manifest as it is: both fail, nothing is written
    theirs, ours = _both(tmp_path, ["--preserve-digests"], src, "docker-archive:{who}.tar")
    assert theirs.returncode != 0 and ours.exit_code == 1
    assert ours.stderr.startswith(f"Error: cannot preserve the digest of {source_digest}")
    assert not (tmp_path / "boxwright.tar").exists()


def test_digestfile_holds_the_same_bytes(peer_images: Any, tmp_path: Path) -> None:
    src = peer_images.refs["oci"]
    assert SKOPEO is not None
    subprocess.run(
        [
            SKOPEO,
            "copy",
            "-q",
            "--digestfile",
            str(tmp_path / "s.digest"),
            src,
            f"oci:{tmp_path / 's'}:x",
        ],
        check=True,
        timeout=120,
    )
    ours = CliRunner().invoke(
        main,
        ["copy", "-q", "--digestfile", str(tmp_path / "b.digest"), src, f"oci:{tmp_path / 'b'}:x"],
    )
    assert ours.exit_code == 0, ours.stderr
    written = (tmp_path / "b.digest").read_bytes()
    assert written == (tmp_path / "s.digest").read_bytes()
    assert written.decode() == ours.stdout.strip()


def test_additional_tags_go_into_repo_tags(peer_images: Any, tmp_path: Path) -> None:
    flags = ["--additional-tag", "localhost/b:2", "--additional-tag", "quay.io/c/d:3"]
    theirs, ours = _both(
        tmp_path, flags, peer_images.refs["oci"], "docker-archive:{who}.tar:localhost/a:1"
    )
    assert theirs.returncode == 0 and ours.exit_code == 0, (theirs.stderr, ours.stderr)

    def repo_tags(path: Path) -> list[str]:
        with tarfile.open(path) as tar:
            member = tar.extractfile("manifest.json")
            assert member is not None
            return list(json.load(member)[0]["RepoTags"])

    assert repo_tags(tmp_path / "boxwright.tar") == repo_tags(tmp_path / "skopeo.tar")
    assert repo_tags(tmp_path / "boxwright.tar") == [
        "localhost/a:1",
        "localhost/b:2",
        "quay.io/c/d:3",
    ]
    refused = CliRunner().invoke(
        main,
        ["copy", "--additional-tag", "b:2", peer_images.refs["oci"], f"oci:{tmp_path / 'o'}:x"],
    )
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: --additional-tag names images in a docker-archive:")


def test_multi_arch_and_remove_signatures(
    peer_images: Any, tmp_path: Path, oci_index_writer: Any
) -> None:
    layout = tmp_path / "layout"
    shutil.copytree(peer_images.oci, layout)
    host = subprocess.run(["uname", "-m"], capture_output=True, text=True, check=True).stdout
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(host.strip(), host.strip())
    other = "s390x" if arch != "s390x" else "arm64"
    platforms = [{"os": "linux", "architecture": a} for a in (other, arch)]
    index = oci_index_writer(layout, platforms, "multi", source_ref=peer_images.tag)
    src = f"oci:{layout}:multi"
    for flags, dest in (
        (["--multi-arch", "all"], "oci:{who}:all"),
        (["--multi-arch", "system", "--remove-signatures"], "oci:{who}:one"),
        (["--all"], "oci:{who}:all2"),
    ):
        theirs, ours = _both(tmp_path, flags, src, dest)
        assert theirs.returncode == 0 and ours.exit_code == 0, (theirs.stderr, ours.stderr)
        tag = dest.rsplit(":", 1)[1]
        entries = json.loads((tmp_path / "skopeo" / "index.json").read_text())["manifests"]
        skopeo_digest = next(
            e["digest"]
            for e in entries
            if e["annotations"]["org.opencontainers.image.ref.name"] == tag
        )
        assert ours.stdout.strip() == skopeo_digest
        if tag.startswith("all"):
            assert skopeo_digest == index["digest"]
    both = CliRunner().invoke(main, ["copy", "--all", "--multi-arch", "all", src, "oci:/x:y"])
    assert both.exit_code == 1
    assert both.stderr == "Error: --all and --multi-arch cannot be used together (as in skopeo)\n"


def test_old_and_skopeo_spellings_of_dest_compress(peer_images: Any, tmp_path: Path) -> None:
    src = peer_images.refs["oci"]
    old = CliRunner().invoke(
        main, ["copy", "-q", "--dest-compress=zstd", src, f"oci:{tmp_path / 'o'}:x"]
    )
    assert old.exit_code == 0, old.stderr
    assert set(_layer_types(tmp_path / "o")) == {"application/vnd.oci.image.layer.v1.tar+zstd"}
    # skopeo's boolean: a separate word is an argument, so three arguments are too many
    spaced = CliRunner().invoke(
        main, ["copy", "--dest-compress", "zstd", src, f"oci:{tmp_path}/p:x"]
    )
    assert spaced.exit_code == 2
    assert "Got unexpected extra argument" in spaced.stderr
    off = CliRunner().invoke(
        main, ["copy", "-q", "--dest-compress=false", src, f"oci:{tmp_path / 'q'}:x"]
    )
    assert off.exit_code == 0, off.stderr
