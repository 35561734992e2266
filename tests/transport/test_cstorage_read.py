"""Images podman and buildah built, read from their containers-storage stores by boxwright.

podman (overlay) and buildah (vfs) build the same three-layer busybox image into private
stores; boxwright copies it out, and skopeo copies it out too, for the cross-check: the
config is the stored one byte for byte, and every layer is rebuilt from the store's tar-split
record to the exact tar of its diff_id (whiteouts and the opaque directory as the original
tar had them).
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from boxwright.copy import copy_image
from boxwright.explain.diff import diff_images
from boxwright.transport.image import open_image
from boxwright.transport.reference import parse_transport_reference
from boxwright_testing.cstorage import PeerStore, busybox_context, needs_peers, peer_store

pytestmark = needs_peers


def _layers(ref: str) -> list[bytes]:
    source = parse_transport_reference(ref).open_source()
    try:
        image = open_image(source)
        out = []
        for i in range(len(image.layers)):
            with image.open_layer_uncompressed(i) as f:
                out.append(f.read())
        return out
    finally:
        source.close()


def _names(tar: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        return [m.name for m in t.getmembers()]


@pytest.fixture(scope="module", params=["overlay", "vfs"])
def built(
    request: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[PeerStore, str]]:
    """The busybox image built by podman (overlay) or buildah (vfs); its image ID."""
    driver: str = request.param
    base = tmp_path_factory.mktemp(f"cs-{driver}")
    store = peer_store(base, driver)
    ctx = busybox_context(base)
    if driver == "overlay":
        store.podman("build", "-q", "-t", "localhost/built:1", str(ctx))
        image_id = store.podman("images", "-q", "--no-trunc", "localhost/built:1").stdout
    else:
        store.buildah(
            "bud", "-q", "--layers", "--isolation", "chroot", "-t", "localhost/built:1", str(ctx)
        )
        image_id = store.buildah("images", "-q", "--no-trunc", "localhost/built:1").stdout
    yield store, image_id.strip().removeprefix("sha256:")
    store.release()


def test_layers_rebuilt_as_their_diff_ids(built: tuple[PeerStore, str], tmp_path: Path) -> None:
    store, image_id = built
    ref = store.ref("localhost/built:1")
    source = parse_transport_reference(ref).open_source()
    try:
        image = open_image(source)
        config_raw = image.config_bytes
        diff_ids = [str(d) for d in image.diff_ids]
        assert [str(d.digest) for d in image.layers] == diff_ids
    finally:
        source.close()
    assert hashlib.sha256(config_raw).hexdigest() == image_id
    tars = _layers(ref)
    assert [f"sha256:{hashlib.sha256(t).hexdigest()}" for t in tars] == diff_ids
    # The whiteouts as the builder's tar wrote them: podman's overlay diff makes /data opaque,
    # buildah's vfs diff whites out each removed child.
    assert _names(tars[0]) == ["bin", "bin/busybox"]
    assert [n for n in _names(tars[1]) if n.startswith("data")] == [
        "data",
        "data/link",
        "data/sub",
        "data/sub/f",
    ]
    if store.driver == "overlay":
        assert _names(tars[2]) == [
            "data",
            "data/.wh..wh..opq",
            "data/g",
            "etc",
            "etc/.wh.motd",
            "run",
        ]
    else:
        assert _names(tars[2]) == [
            "data",
            "data/g",
            "data/.wh.link",
            "data/.wh.sub",
            "etc",
            "etc/.wh.motd",
        ]

    # skopeo's copy of the same image out of the store: the same config and diff_ids.
    store.skopeo("copy", "--quiet", ref, f"oci:{tmp_path / 'skopeo'}:x")
    theirs = _layers(f"oci:{tmp_path / 'skopeo'}:x")
    assert [hashlib.sha256(t).hexdigest() for t in theirs] == [
        hashlib.sha256(t).hexdigest() for t in tars
    ]
    index = json.loads((tmp_path / "skopeo" / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"].removeprefix("sha256:")
    manifest = json.loads((tmp_path / "skopeo" / "blobs" / "sha256" / manifest_digest).read_text())
    assert manifest["config"]["digest"] == f"sha256:{image_id}"


def test_copy_out_by_id_and_diff(built: tuple[PeerStore, str], tmp_path: Path) -> None:
    store, image_id = built
    out = f"oci:{tmp_path / 'out'}:x"
    copy_image(store.ref(image_id), out)
    copy_image(store.ref(image_id[:12]), f"oci:{tmp_path / 'short'}:x")
    assert _layers(out) == _layers(store.ref("localhost/built:1"))
    report = diff_images(store.ref("localhost/built:1"), out)
    assert not report.differs
