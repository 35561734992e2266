"""The oci: transport: names, several images, nested indexes, concurrent writers, hostile input."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from boxwright.errors import (
    BlobNotFoundError,
    DigestMismatchError,
    ImageNotFoundError,
    InvalidReferenceError,
    ManifestError,
    PlatformNotFoundError,
    TransportError,
)
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.platform import Platform
from boxwright.transport.image import open_image
from boxwright.transport.oci_layout import (
    REF_NAME_ANNOTATION,
    OCILayoutDestination,
    OCILayoutSource,
    add_index_entry,
)
from boxwright.transport.reference import parse_transport_reference

Mirror = Callable[..., Any]
SRC = Path(__file__).resolve().parents[2] / "src"


def _layout(peer_images: Any, tmp_path: Path) -> Path:
    dst = tmp_path / "layout"
    shutil.copytree(peer_images.oci, dst)
    return dst


def _index(layout: Path) -> dict[str, Any]:
    return json.loads((layout / "index.json").read_text())


def _names(layout: Path) -> list[str | None]:
    return [e.get("annotations", {}).get(REF_NAME_ANNOTATION) for e in _index(layout)["manifests"]]


def test_several_images_in_one_layout(
    peer_images: Any, mirror: Mirror, skopeo: Callable[..., Any], tmp_path: Path
) -> None:
    layout = tmp_path / "multi"
    for tag, fmt in (("gzip", "oci"), ("zstd", "oci-zstd"), ("plain", "dir")):
        source = parse_transport_reference(peer_images.refs[fmt]).open_source()
        mirror(source, parse_transport_reference(f"oci:{layout}:{tag}").open_destination())
    assert _names(layout) == ["gzip", "zstd", "plain"]
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    types = set()
    for tag in ("gzip", "zstd", "plain"):
        image = open_image(parse_transport_reference(f"oci:{layout}:{tag}").open_source())
        types.add(image.layers[0].media_type)
        assert skopeo("inspect", f"oci:{layout}:{tag}")["Digest"] == str(image.manifest_digest)
    assert types == {mt.OCI_LAYER_GZIP, mt.OCI_LAYER_ZSTD, mt.OCI_LAYER}
    by_index = parse_transport_reference(f"oci:{layout}:@1").open_source()
    by_name = parse_transport_reference(f"oci:{layout}:zstd").open_source()
    assert by_index.get_manifest() == by_name.get_manifest()
    with pytest.raises(ImageNotFoundError, match=r"holds 3 images.*gzip, zstd, plain"):
        parse_transport_reference(f"oci:{layout}").open_source()
    with pytest.raises(ImageNotFoundError, match="no image named 'nope'"):
        parse_transport_reference(f"oci:{layout}:nope").open_source()
    with pytest.raises(ImageNotFoundError, match="only 3 entries"):
        parse_transport_reference(f"oci:{layout}:@3").open_source()


def test_retagging_moves_the_name_as_skopeo_does(
    peer_images: Any, mirror: Mirror, tmp_path: Path
) -> None:
    layout = tmp_path / "retag"
    gzip = parse_transport_reference(peer_images.refs["oci"]).open_source()
    zstd = parse_transport_reference(peer_images.refs["oci-zstd"]).open_source()
    first = mirror(gzip, OCILayoutDestination(layout, "v1"))
    second = mirror(zstd, OCILayoutDestination(layout, "v1"))
    entries = _index(layout)["manifests"]
    assert [(e["digest"], e.get("annotations")) for e in entries] == [
        (str(first.digest), None),
        (str(second.digest), {REF_NAME_ANNOTATION: "v1"}),
    ]
    # Writing the first image again under a name re-uses its untagged entry.
    mirror(gzip, OCILayoutDestination(layout, "again"))
    assert _names(layout) == ["again", "v1"]


def test_add_index_entry_rules() -> None:
    d = [Digest.from_bytes(bytes([i])) for i in range(3)]

    def entry(i: int, name: str = "") -> Descriptor:
        ann = {REF_NAME_ANNOTATION: name} if name else {}
        return Descriptor(mt.OCI_MANIFEST, d[i], 10, annotations=ann)

    assert add_index_entry([entry(0, "a")], entry(1, "b")) == [entry(0, "a"), entry(1, "b")]
    assert add_index_entry([entry(0, "a")], entry(1, "a")) == [entry(0), entry(1, "a")]
    assert add_index_entry([entry(0), entry(2, "x")], entry(0, "a")) == [
        entry(0, "a"),
        entry(2, "x"),
    ]
    assert add_index_entry([entry(0, "a")], entry(0)) == [entry(0, "a"), entry(0)]


def test_multi_platform_and_nested_indexes(
    peer_images: Any, oci_index_writer: Callable[..., Any], tmp_path: Path
) -> None:
    layout = _layout(peer_images, tmp_path)
    platforms = [
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm64", "variant": "v8"},
    ]
    index_desc = oci_index_writer(layout, platforms, "multi", source_ref="latest")
    # An index whose only entry is the multi-platform index: nested two levels.
    outer = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [{k: index_desc[k] for k in ("mediaType", "digest", "size")}],
    }
    raw = json.dumps(outer).encode()
    digest = Digest.from_bytes(raw)
    (layout / "blobs" / "sha256" / digest.hex).write_bytes(raw)
    top = _index(layout)
    top["manifests"].append(
        {
            "mediaType": mt.OCI_INDEX,
            "digest": str(digest),
            "size": len(raw),
            "annotations": {REF_NAME_ANNOTATION: "nested"},
        }
    )
    (layout / "index.json").write_text(json.dumps(top))

    for name in ("multi", "nested"):
        source = parse_transport_reference(f"oci:{layout}:{name}").open_source()
        arm = open_image(source, Platform.parse("linux/arm64"))
        assert (arm.config.architecture, arm.config.variant) == ("arm64", "v8")
        amd = open_image(source, Platform.parse("linux/amd64"))
        assert amd.config.architecture == "amd64"
        assert amd.index is not None and len(amd.index.manifests) == 2
        assert amd.diff_ids == arm.diff_ids
        with pytest.raises(PlatformNotFoundError, match="linux/amd64, linux/arm64/v8"):
            open_image(source, Platform.parse("linux/s390x"))


def test_missing_blob_is_blob_not_found(peer_images: Any, tmp_path: Path) -> None:
    layout = _layout(peer_images, tmp_path)
    image = open_image(OCILayoutSource.open(layout, "latest"))
    (layout / "blobs" / "sha256" / image.layers[1].digest.hex).unlink()
    with pytest.raises(BlobNotFoundError, match=str(image.layers[1].digest)):
        image.open_layer(1)
    (layout / "blobs" / "sha256" / image.manifest.config.digest.hex).unlink()
    with pytest.raises(BlobNotFoundError):
        _ = open_image(OCILayoutSource.open(layout, "latest")).config


def test_blob_with_wrong_content_fails_on_read(peer_images: Any, tmp_path: Path) -> None:
    layout = _layout(peer_images, tmp_path)
    image = open_image(OCILayoutSource.open(layout, "latest"))
    layer = image.layers[1]
    path = layout / "blobs" / "sha256" / layer.digest.hex
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with image.open_layer(1) as f, pytest.raises(DigestMismatchError, match="does not match"):
        while f.read(4096):
            pass
    path.write_bytes(bytes(data) + b"x")
    with image.open_layer(1) as f, pytest.raises(DigestMismatchError, match="longer"):
        while f.read():
            pass


@pytest.mark.parametrize("bad", ["sha256:../../../../etc/passwd", "sha256:" + "A" * 64, "md5:abc"])
def test_hostile_digest_in_index_is_rejected_before_any_path(
    peer_images: Any, tmp_path: Path, bad: str
) -> None:
    layout = _layout(peer_images, tmp_path)
    top = _index(layout)
    top["manifests"][0]["digest"] = bad
    (layout / "index.json").write_text(json.dumps(top))
    with pytest.raises(ManifestError, match="digest"):
        OCILayoutSource.open(layout, "latest")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (b'{"schemaVersion": 2, "manifests": {}}', "manifests must be an array"),
        (b'{"schemaVersion": 2, "manifests": [{"digest": "sha256:00", "size": 1}]}', "digest"),
    ],
)
def test_malformed_index_json(
    peer_images: Any, tmp_path: Path, content: bytes, message: str
) -> None:
    layout = _layout(peer_images, tmp_path)
    (layout / "index.json").write_bytes(content)
    with pytest.raises(ManifestError, match=message):
        parse_transport_reference(f"oci:{layout}:latest").open_source()
    # A writer refuses to replace an index.json it cannot read.
    dest = OCILayoutDestination(layout, "new")
    manifest = dest.put_manifest(b"{}", mt.OCI_MANIFEST)
    with pytest.raises(ManifestError, match="refusing to overwrite"):
        dest.commit(manifest)
    assert (layout / "index.json").read_bytes() == content


def test_not_a_layout(tmp_path: Path) -> None:
    with pytest.raises(ImageNotFoundError, match="does not exist"):
        parse_transport_reference(f"oci:{tmp_path}/none").open_source()
    (tmp_path / "index.json").write_text('{"schemaVersion":2,"manifests":[]}')
    with pytest.raises(ImageNotFoundError, match="no oci-layout file"):
        parse_transport_reference(f"oci:{tmp_path}").open_source()
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(TransportError, match="non-empty directory without an oci-layout"):
        parse_transport_reference(f"oci:{tmp_path}:x").open_destination()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index.json", "notes.txt"]
    (tmp_path / "oci-layout").write_text('{"imageLayoutVersion":"2.0.0"}')
    with pytest.raises(ManifestError, match="unsupported imageLayoutVersion"):
        parse_transport_reference(f"oci:{tmp_path}").open_source()
    with pytest.raises(InvalidReferenceError):
        parse_transport_reference(f"oci:{tmp_path}:@1").open_destination()


def test_commit_without_stored_manifest_is_refused(tmp_path: Path) -> None:
    dest = OCILayoutDestination(tmp_path / "l", "x")
    ghost = Descriptor(mt.OCI_MANIFEST, Digest.from_bytes(b"ghost"), 5)
    with pytest.raises(BlobNotFoundError, match="was not stored"):
        dest.commit(ghost)
    assert not (tmp_path / "l" / "index.json").exists()


_WRITER = """
import sys
from boxwright.oci import mediatype as mt
from boxwright.transport.oci_layout import OCILayoutDestination
layout, worker = sys.argv[1], int(sys.argv[2])
for i in range(15):
    dest = OCILayoutDestination(layout, f"w{worker}-{i}")
    raw = b'{"schemaVersion":2,"worker":%d,"i":%d}' % (worker, i)
    top = dest.put_manifest(raw, mt.OCI_MANIFEST)
    dest.commit(top)
"""


def test_concurrent_writers_lose_no_entry(tmp_path: Path) -> None:
    layout = tmp_path / "shared"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, str(layout), str(w)], env=env)
        for w in range(6)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0] * 6
    names = _names(layout)
    assert sorted(n for n in names if n) == sorted(f"w{w}-{i}" for w in range(6) for i in range(15))


_SLOW_BLOB = """
import sys, time
from boxwright.transport.oci_layout import OCILayoutDestination

class Endless:
    def read(self, n=-1):
        time.sleep(0.002)
        return b"x" * (1 << 16)

dest = OCILayoutDestination(sys.argv[1], "killed")
print("writing", flush=True)
dest.put_blob(Endless())
"""


def test_sigkill_during_a_blob_write_leaves_no_visible_partial_blob(
    peer_images: Any, tmp_path: Path
) -> None:
    layout = _layout(peer_images, tmp_path)
    before = sorted((layout / "blobs" / "sha256").iterdir())
    env = dict(os.environ, PYTHONPATH=str(SRC))
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_BLOB, str(layout)], env=env, stdout=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.readline() == b"writing\n"
    deadline = time.monotonic() + 30
    temps: list[Path] = []
    while time.monotonic() < deadline:
        temps = [p for p in (layout / "blobs").iterdir() if p.name.startswith(".tmp-")]
        if temps and temps[0].stat().st_size > (1 << 20):
            break
        time.sleep(0.01)
    assert temps, "the writer never started its temporary file"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    assert sorted((layout / "blobs" / "sha256").iterdir()) == before
    assert all(p.name.startswith(".tmp-") for p in (layout / "blobs").iterdir() if p.is_file())
    image = open_image(OCILayoutSource.open(layout, "latest"))
    with image.open_layer_uncompressed(0) as f:
        while f.read(1 << 20):
            pass
