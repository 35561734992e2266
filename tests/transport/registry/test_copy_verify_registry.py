"""A push that decompresses a layer checks it against the config's diff_id: a layer whose
content is not what ``rootfs.diff_ids`` says fails the push, and the registry gets no
manifest under the tag (only blobs named by their own content, the config among them, which
a registry destination takes beside the layers)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest
from hostile_registry import one_layer_image

from boxwright.copy import CopyOptions, copy_image
from boxwright.errors import DigestMismatchError, ImageNotFoundError
from boxwright.transport.options import TransportOptions
from boxwright_testing.registry_servers import RegistryServer

pytestmark = pytest.mark.usefixtures("isolated_auth")

OCI_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def _tar(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layout(root: Path, layer: bytes, media_type: str, diff_id: str) -> None:
    """An OCI layout whose image ``img`` has one layer and a config listing ``diff_id``."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(kind: str, data: bytes) -> dict[str, object]:
        (blobs / _sha256(data)[7:]).write_bytes(data)
        return {"mediaType": kind, "digest": _sha256(data), "size": len(data)}

    _, manifest = one_layer_image(layer, media_type, diff_id, put)
    entry = put("application/vnd.oci.image.manifest.v1+json", manifest)
    entry["annotations"] = {"org.opencontainers.image.ref.name": "img"}
    (root / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))


TOP = _tar("etc/top", b"real content\n" * 500)
CLAIMED = _tar("etc/top", b"what the config says\n")


@pytest.mark.parametrize(
    ("layer", "media_type", "dest_compress"),
    [
        pytest.param(TOP, OCI_TAR, None, id="plain-layer-gzipped-for-the-registry"),
        pytest.param(gzip.compress(TOP, mtime=0), OCI_GZIP, "zstd", id="gzip-to-zstd"),
    ],
)
def test_a_push_of_a_layer_that_is_not_its_diff_id_fails(
    registry_plain: RegistryServer,
    tmp_path: Path,
    layer: bytes,
    media_type: str,
    dest_compress: str | None,
) -> None:
    _layout(tmp_path / "src", layer, media_type, _sha256(CLAIMED))
    options = TransportOptions(tls_verify=False)
    ref = registry_plain.ref(registry_plain.repo("verify"), "v1")
    with pytest.raises(DigestMismatchError) as caught:
        copy_image(
            f"oci:{tmp_path / 'src'}:img",
            ref,
            CopyOptions(dest_compress=dest_compress, dest_options=options),
        )
    assert str(caught.value) == (
        f"layer {_sha256(layer)} does not match rootfs.diff_ids[0] of its image config: "
        f"expected {_sha256(CLAIMED)}, its content is {_sha256(TOP)}"
    )
    with pytest.raises(ImageNotFoundError):
        copy_image(ref, f"oci:{tmp_path / 'pulled'}:x", CopyOptions(src_options=options))
