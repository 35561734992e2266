"""The optional capabilities of sources and destinations, as each transport declares them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from boxwright.transport.base import (
    HasBlobInfoCache,
    KnowsCurrentManifest,
    ListsRepositoryTags,
    PutsConfigWithLayers,
    blob_info_cache_of,
    current_manifest_of,
    puts_config_with_layers,
)
from boxwright.transport.blobinfocache import BlobInfoCache
from boxwright.transport.options import TransportOptions
from boxwright.transport.reference import parse_transport_reference


@pytest.fixture
def options(tmp_path: Path) -> TransportOptions:
    """Options that touch nothing outside ``tmp_path`` (no system registries.conf or store)."""
    conf = tmp_path / "registries.conf"
    conf.write_text("")
    return TransportOptions(
        registries_conf=conf, use_blob_info_cache=False, store_root=tmp_path / "store"
    )


@pytest.mark.parametrize(
    ("text", "current", "cache", "with_layers"),
    [
        ("oci:{tmp}/layout:1", False, False, False),
        ("oci-archive:{tmp}/image.tar:1", False, False, False),
        ("docker-archive:{tmp}/image.tar:app:1", False, False, False),
        ("dir:{tmp}/dir", False, False, False),
        ("store:app:1", True, False, False),
        ("docker://localhost:5999/app:1", True, True, True),
    ],
    ids=["oci", "oci-archive", "docker-archive", "dir", "store", "docker"],
)
def test_each_destination_declares_what_it_offers(
    tmp_path: Path,
    options: TransportOptions,
    text: str,
    current: bool,
    cache: bool,
    with_layers: bool,
) -> None:
    dest = parse_transport_reference(text.format(tmp=tmp_path)).open_destination(options)
    try:
        assert isinstance(dest, KnowsCurrentManifest) is current
        assert (current_manifest_of(dest) is dest) is current
        assert isinstance(dest, HasBlobInfoCache) is cache
        found = blob_info_cache_of(dest)
        assert isinstance(found, BlobInfoCache) if cache else found is None
        assert isinstance(dest, PutsConfigWithLayers) is with_layers
        assert puts_config_with_layers(dest) is with_layers
    finally:
        dest.close()


def test_a_registry_source_lists_tags_and_keeps_a_cache(options: TransportOptions) -> None:
    # Opening a registry source sends nothing: the manifest is read on first use.
    source = parse_transport_reference("docker://localhost:5999/app:1").open_source(options)
    try:
        assert isinstance(source, ListsRepositoryTags)
        assert isinstance(blob_info_cache_of(source), BlobInfoCache)
        assert not isinstance(source, KnowsCurrentManifest)
    finally:
        source.close()


def test_a_layout_source_offers_no_optional_capability(
    peer_images: Any, options: TransportOptions
) -> None:
    source = parse_transport_reference(peer_images.refs["oci"]).open_source(options)
    try:
        assert not isinstance(source, ListsRepositoryTags)
        assert blob_info_cache_of(source) is None
    finally:
        source.close()
