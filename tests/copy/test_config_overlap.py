"""When the config blob is read and put: read beside the layers (never before the first one
starts), put beside them for a destination that asks for it (a registry,
``config_with_layers``), after every layer for the others (so a failed layer leaves no config
behind in a local layout)."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import IO, Any

import pytest
from copy_helpers import LayoutWriter

from boxwright.copy import CopyResult, copy_image
from boxwright.errors import DigestMismatchError
from boxwright.oci.descriptor import Descriptor
from boxwright.transport.base import ImageDestination, ImageSource
from boxwright.transport.reference import parse_transport_reference

WAIT = 5.0
"""Seconds a layer put waits for the config put to begin (only a broken overlap waits)."""


def _layout(root: Path) -> tuple[str, str]:
    """A one-layer image ``img``; returns the layer and config digests.

    The layer holds incompressible bytes, so its blob is larger than the first bytes the
    copy peeks at to learn its compression: its end is read inside ``put_blob``.
    """
    writer = LayoutWriter(root)
    noise = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(200))
    manifest = writer.image("amd64", {"a.txt": noise, "b.txt": b"b"})
    writer.index_json([{**manifest, "annotations": {"org.opencontainers.image.ref.name": "img"}}])
    doc = json.loads((root / "blobs" / "sha256" / manifest["digest"][7:]).read_bytes())
    return doc["layers"][0]["digest"], doc["config"]["digest"]


class RecordingDestination:
    """A real OCI layout destination that records when each ``put_blob`` starts and ends."""

    def __init__(self, inner: ImageDestination, config: str) -> None:
        self.inner = inner
        self.config = config
        self.events: list[tuple[str, str]] = []
        self.config_started = threading.Event()
        self.layer_saw_config: bool | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _log(self, what: str, digest: str) -> None:
        with self._lock:
            self.events.append((what, digest))

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor | None = None) -> Descriptor:
        digest = str(descriptor.digest) if descriptor else "?"
        self._log("start", digest)
        if digest == self.config:
            self.config_started.set()
        try:
            return self.inner.put_blob(stream, descriptor)
        finally:
            self._log("end", digest)


class OverlappingDestination(RecordingDestination):
    """Asks for the config beside the layers; a layer put waits until the config put began,
    so the copy finishes quickly only when the two really overlap."""

    config_with_layers = True

    def put_blob(self, stream: IO[bytes], descriptor: Descriptor | None = None) -> Descriptor:
        if descriptor is not None and str(descriptor.digest) != self.config:
            self.layer_saw_config = self.config_started.wait(WAIT)
        return super().put_blob(stream, descriptor)


def _copy_into(
    kind: type[RecordingDestination], tmp_path: Path
) -> tuple[RecordingDestination, CopyResult, str, str]:
    """Copy the test image into an ``oci:`` layout wrapped in ``kind``; the destination,
    the result, and the layer's and config's digests."""
    layer, config = _layout(tmp_path / "src")
    dest = kind(parse_transport_reference(f"oci:{tmp_path / 'out'}:x").open_destination(), config)
    try:
        result = copy_image(f"oci:{tmp_path / 'src'}:img", dest)
    finally:
        dest.close()
    return dest, result, layer, config


def test_the_config_is_put_beside_the_layers_when_the_destination_asks(tmp_path: Path) -> None:
    dest, result, layer, config = _copy_into(OverlappingDestination, tmp_path)
    assert dest.layer_saw_config is True
    assert [str(d) for d in result.blobs_written] == [layer, config]
    assert sorted(dest.events) == sorted(
        [("start", layer), ("end", layer), ("start", config), ("end", config)]
    )
    again = copy_image(f"oci:{tmp_path / 'out'}:x", f"oci:{tmp_path / 'again'}:y")
    assert again.digest == result.digest


def test_the_config_follows_every_layer_otherwise(tmp_path: Path) -> None:
    dest, result, layer, config = _copy_into(RecordingDestination, tmp_path)
    assert dest.events == [("start", layer), ("end", layer), ("start", config), ("end", config)]
    assert [str(d) for d in result.blobs_written] == [layer, config]


def test_a_failed_layer_fails_an_overlapping_copy(tmp_path: Path) -> None:
    layer, config = _layout(tmp_path / "src")
    victim = tmp_path / "src" / "blobs" / "sha256" / layer[7:]
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    victim.write_bytes(bytes(data))
    out = tmp_path / "out"
    dest = OverlappingDestination(
        parse_transport_reference(f"oci:{out}:x").open_destination(), config
    )
    try:
        with pytest.raises(DigestMismatchError, match="does not match its digest"):
            copy_image(f"oci:{tmp_path / 'src'}:img", dest)
    finally:
        dest.close()
    assert dest.layer_saw_config is True
    assert not (out / "index.json").exists()
    assert not (out / "blobs" / "sha256" / layer[7:]).exists()


class LayerFirstSource:
    """A real OCI layout source whose config read waits until a layer read has begun, so the
    copy finishes quickly only when the config is not read ahead of the layers."""

    def __init__(self, inner: ImageSource, config: str) -> None:
        self.inner = inner
        self.config = config
        self.layer_started = threading.Event()
        self.config_saw_layer: bool | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def get_blob(self, descriptor: Descriptor) -> IO[bytes]:
        if str(descriptor.digest) == self.config:
            self.config_saw_layer = self.layer_started.wait(WAIT)
        else:
            self.layer_started.set()
        return self.inner.get_blob(descriptor)


@pytest.mark.parametrize("overlap", [False, True], ids=["local", "config_with_layers"])
def test_the_config_is_read_beside_the_layers(tmp_path: Path, overlap: bool) -> None:
    layer, config = _layout(tmp_path / "src")
    source = LayerFirstSource(
        parse_transport_reference(f"oci:{tmp_path / 'src'}:img").open_source(), config
    )
    inner = parse_transport_reference(f"oci:{tmp_path / 'out'}:x").open_destination()
    dest = (OverlappingDestination if overlap else RecordingDestination)(inner, config)
    if overlap:
        dest.config_started.set()  # only the source's ordering is under test here
    try:
        result = copy_image(source, dest)
    finally:
        dest.close()
        source.close()
    assert source.config_saw_layer is True
    assert [str(d) for d in result.blobs_written] == [layer, config]
    if not overlap:
        assert dest.events[-2:] == [("start", config), ("end", config)]
