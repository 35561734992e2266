"""The store: transport: round trips with oci:, registries (digests as skopeo sees them),
bare names, and the commands that open references through the transport table."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from boxwright.copy import CopyOptions, copy_image
from boxwright.errors import ImageNotFoundError, InvalidReferenceError, UsageError
from boxwright.oci import mediatype as mt
from boxwright.store import Store, pull, push
from boxwright.store.pullpush import pulled_names
from boxwright.transport.options import TransportOptions
from boxwright.transport.reference import parse_transport_reference
from boxwright_testing.store_images import MadeImage

SKOPEO = shutil.which("skopeo")


def test_oci_to_store_to_oci_keeps_every_byte(
    store_root: Path, oci_image: MadeImage, tmp_path: Path
) -> None:
    result = copy_image(oci_image.ref, "store:app:1")
    assert str(result.digest) == oci_image.manifest_digest
    record = Store().images.get("app:1")
    assert record.names == ("localhost/app:1",)
    assert str(record.manifest) == oci_image.manifest_digest
    back = copy_image("app:1", f"oci:{tmp_path / 'out'}:back")  # a bare name is store:
    assert str(back.digest) == oci_image.manifest_digest
    for digest in (*oci_image.layer_digests, oci_image.config_digest):
        algo, hexd = digest.split(":")
        a = (oci_image.layout / "blobs" / algo / hexd).read_bytes()
        assert (tmp_path / "out" / "blobs" / algo / hexd).read_bytes() == a


def test_store_root_comes_from_transport_options(
    tmp_path: Path, oci_image: MadeImage, store_root: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    options = CopyOptions(dest_options=TransportOptions(store_root=elsewhere))
    copy_image(oci_image.ref, "store:app:2", options)
    assert Store(elsewhere).images.get("app:2").id == oci_image.id
    assert not store_root.exists()


def test_destination_keeps_one_platform_and_the_compression(store: Store, peer_images: Any) -> None:
    dest = parse_transport_reference("store:zstd:1")
    options = CopyOptions(dest_options=TransportOptions(store_root=store.root))
    result = copy_image(f"oci:{peer_images.oci_zstd}:{peer_images.tag}", dest, options)
    record = store.images.get("zstd:1")
    assert record.manifest == result.digest
    manifest = json.loads(store.images.manifest(record))
    assert {layer["mediaType"] for layer in manifest["layers"]} == {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    }
    other = Store(store.root.parent / "other")
    docker = copy_image(
        f"docker-archive:{peer_images.docker_archive}",
        parse_transport_reference("store:docker:1"),
        CopyOptions(dest_options=TransportOptions(store_root=other.root)),
    )
    assert other.images.get("docker:1").manifest_media_type == docker.media_type
    assert docker.media_type == mt.DOCKER_MANIFEST  # v2s2 is stored as it comes
    # The same image copied into the first store: the stored copy wins, the name is added.
    copy_image(
        f"docker-archive:{peer_images.docker_archive}",
        parse_transport_reference("store:docker:1"),
        options,
    )
    again = store.images.get("docker:1")
    assert (again.id, again.manifest, again.manifest_media_type) == (
        record.id,
        record.manifest,
        mt.OCI_MANIFEST,
    )
    assert again.names == ("localhost/zstd:1", "localhost/docker:1")


def test_an_index_source_stores_the_host_platform(
    store: Store, tmp_path: Path, peer_images: Any, oci_index_writer: Any
) -> None:
    layout = tmp_path / "multi"
    shutil.copytree(peer_images.oci, layout)
    platforms = [{"os": "linux", "architecture": a} for a in ("arm64", "amd64", "s390x")]
    oci_index_writer(layout, platforms, "multi")
    options = CopyOptions(dest_options=TransportOptions(store_root=store.root))
    result = copy_image(f"oci:{layout}:multi", parse_transport_reference("store:multi"), options)
    record = store.images.get("multi")
    assert record.manifest == result.digest
    assert record.manifest_media_type == mt.OCI_MANIFEST
    from boxwright.oci.platform import Platform

    assert store.images.config(record).architecture == Platform.host().architecture
    with pytest.raises(UsageError, match="cannot store a multi-platform image"):
        copy_image(
            f"oci:{layout}:multi",
            parse_transport_reference("store:multi"),
            CopyOptions(all_platforms=True, dest_options=options.dest_options),
        )


def test_missing_names_and_unknown_transports(store_root: Path, oci_image: MadeImage) -> None:
    with pytest.raises(InvalidReferenceError, match="unknown transport 'nope' in 'nope:x'"):
        copy_image("nope:x", "oci:/tmp/unused:x")
    assert not store_root.exists()  # looking for an image creates no store
    copy_image(oci_image.ref, "store:app:1")
    with pytest.raises(ImageNotFoundError, match="no image 'app:2' in the local store"):
        copy_image("store:app:2", "oci:/tmp/unused:x")
    with pytest.raises(InvalidReferenceError, match="unknown transport 'app'"):
        copy_image("app:2", "oci:/tmp/unused:x")  # bare word:tag: both readings said
    with pytest.raises(InvalidReferenceError, match="cannot store an image under the digest"):
        copy_image(oci_image.ref, f"store:app@{oci_image.manifest_digest}")


def test_pulled_names_from_the_reference_follow_podman() -> None:
    """What the reference alone says (archives' own names: tests/store/test_names_podman.py)."""

    def names(text: str) -> list[str]:
        return pulled_names(parse_transport_reference(text))

    assert names("docker://busybox") == ["docker.io/library/busybox:latest"]
    assert names("docker://localhost:5000/a/b:2") == ["localhost:5000/a/b:2"]
    assert names("oci:/tmp/lay:v1") == ["localhost/tmp/lay:latest"]
    assert names("oci:lay:app:1") == ["localhost/lay:latest"]
    assert names("oci:/tmp/lay") == ["localhost/tmp/lay:latest"]
    assert names("oci:/tmp/Upper:x") == []  # not a valid name: stored untagged
    assert names("oci:./lay") == []
    assert names("dir:/tmp/lay") == []
    assert names("docker-archive:/x.tar:app:3") == ["docker.io/library/app:3"]
    assert names("docker-archive:/x.tar") == []  # the archive's RepoTags need the source
    assert names("oci-archive:/x.tar:quay.io/x/app:2") == []  # so does the annotation


def test_pull_twice_is_a_no_op_and_store_pull_is_refused(
    store: Store, oci_image: MadeImage
) -> None:
    first = pull(oci_image.ref, store=store)
    layout = str(oci_image.layout).lstrip("/")
    assert first.names == (f"localhost/{layout}:latest",)
    again = pull(oci_image.ref, store=store)
    assert (again.id, again.manifest) == (first.id, first.manifest)
    with pytest.raises(UsageError, match="is in the local store already"):
        pull(f"store:{first.id}", store=store)


@pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
def test_push_and_pull_with_a_registry(
    store: Store, oci_image: MadeImage, plain_registry: Any, tmp_path: Path
) -> None:
    """push NAME goes to the name's own registry; digests are those skopeo sees."""
    repo = plain_registry.repo("store")
    name = f"{plain_registry.host}/{repo}:1"
    pull(oci_image.ref, store=store, name=name)
    opts = TransportOptions(tls_verify=False)
    pushed = push(name, store=store, dest_options=opts)
    assert str(pushed.digest) == oci_image.manifest_digest
    seen = subprocess.run(
        [SKOPEO, "inspect", "--tls-verify=false", f"docker://{name}"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(seen.stdout)["Digest"] == oci_image.manifest_digest
    other = Store(tmp_path / "other")
    record = pull(name, store=other, src_options=opts)  # a bare name pulls from a registry
    assert record.names == (name,)
    assert str(record.manifest) == oci_image.manifest_digest
    assert record.layers == store.images.get(name).layers
    second = push(record.id, f"{plain_registry.host}/{repo}:2", store=other, dest_options=opts)
    assert second.digest == record.manifest
    with pytest.raises(UsageError, match="is an image ID: give a destination"):
        push(record.id, store=other)


def test_inspect_and_explain_read_the_store(store_root: Path, oci_image: MadeImage) -> None:
    from click.testing import CliRunner

    from boxwright.cli.main import main
    from boxwright.inspect import inspect_image

    copy_image(oci_image.ref, "store:app:1")
    summary = inspect_image("app:1")
    assert str(summary.digest) == oci_image.manifest_digest
    runner = CliRunner()
    shown = runner.invoke(main, ["inspect", "app:1"])
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout)["Digest"] == oci_image.manifest_digest
    explained = runner.invoke(main, ["explain", "--format", "json", "store:app:1"])
    assert explained.exit_code == 0, explained.stderr
    assert oci_image.layer_digests[0] in explained.stdout


def test_unpack_and_diff_read_the_store(
    store_root: Path, make_image: Callable[..., MadeImage], tmp_path: Path
) -> None:
    from boxwright.explain import diff_images
    from boxwright.unpack import unpack_image

    a, b = make_image("a"), make_image("b")
    copy_image(a.ref, "store:a:1")
    copy_image(b.ref, "store:b:1")
    unpack_image("a:1", tmp_path / "rootfs")
    assert (tmp_path / "rootfs" / "file-a-0.txt").read_text() == "layer 0 of image a\n"
    diff = diff_images("a:1", "store:b:1")
    assert (str(diff.a.manifest_digest), str(diff.b.manifest_digest)) == (
        a.manifest_digest,
        b.manifest_digest,
    )
    assert diff.differs
