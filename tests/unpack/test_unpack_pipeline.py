"""unpack reads layers ahead in worker threads: a corrupt first layer still fails the
unpack (after the later layers were opened for read-ahead), cleans up, and leaves no
worker thread behind."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from unpack_helpers import UmociImage, manifest_of

from boxwright.errors import BoxwrightError
from boxwright.unpack import state_dir_for, unpack_image


@pytest.mark.peers
def test_corrupt_first_layer_fails_and_stops_the_read_ahead(
    umoci_image: UmociImage, tmp_path: Path
) -> None:
    image = umoci_image.copy_to(tmp_path / "layout")
    manifest, _ = manifest_of(image.layout, "t")
    assert len(manifest["layers"]) == 3
    algo, hexd = manifest["layers"][0]["digest"].split(":")
    blob = image.layout / "blobs" / algo / hexd
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[-12] ^= 0xFF  # in the gzip trailer: inflates fine, fails the checks at the end
    blob.write_bytes(bytes(data))
    with pytest.raises(BoxwrightError, match=r"does not match|corrupt|CRC"):
        unpack_image(image.ref, tmp_path / "new", rootless=False)
    assert not (tmp_path / "new").exists()
    assert not state_dir_for(tmp_path / "new").exists()
    assert [t for t in threading.enumerate() if t.name.startswith("boxwright-")] == []
