"""A registry push that would recompress a layer mounts the variant the registry already has.

The first push with ``dest_compress="zstd"`` records the digest pairs (gzip source blob, zstd
blob ↔ diff_id) and where the zstd blobs went; a push of the same gzip image to another
repository then finds the zstd blobs through the cache and mounts them: no layer is
compressed or uploaded.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_images import make_image

import boxwright.layer.compression
from boxwright.copy import CopyOptions, copy_image
from boxwright.transport.docker import DockerDestination
from boxwright.transport.options import TransportOptions
from boxwright.transport.reference import parse_transport_reference
from boxwright_testing.registry_servers import RegistryServer

pytestmark = pytest.mark.usefixtures("isolated_auth")


def test_a_second_push_mounts_the_zstd_variant_instead_of_recompressing(
    registry_plain: RegistryServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = registry_plain
    image = make_image(tmp_path / "src", layers=2, layer_size=200_000)
    options = TransportOptions(tls_verify=False, blob_info_cache=tmp_path / "cache.json")
    zstd = CopyOptions(dest_compress="zstd", dest_options=options)
    first = copy_image(image.ref, server.ref(server.repo("first")), zstd)
    assert len(first.blobs_written) == 3

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a layer was compressed although the registry had it")

    monkeypatch.setattr(boxwright.layer.compression, "CompressingReader", refuse)
    dest = parse_transport_reference(server.ref(server.repo("second"))).open_destination(options)
    assert isinstance(dest, DockerDestination)
    try:
        second = copy_image(image.ref, dest, zstd)
    finally:
        dest.close()
    assert second.digest == first.digest
    assert second.blobs_written == ()
    assert dest.uploaded == []
    assert sorted(map(str, dest.mounted)) == sorted(
        [
            *(str(layer.digest) for layer in first.images[0].layers),
            str(first.images[0].config.digest),
        ]
    )
