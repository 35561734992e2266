"""Choosing an image out of an index for a platform, as containers/image's platform matcher
(``WantedPlatforms``, ``MatchesPlatform``) chooses, and the platform flags podman takes."""

from __future__ import annotations

import hashlib

import pytest

from boxwright.errors import ManifestError, PlatformNotFoundError, UsageError
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.index import ImageIndex, choose_instance, wanted_variants
from boxwright.oci.platform import Platform, wanted_platform


def _index(*platforms: str) -> ImageIndex:
    entries = []
    for text in platforms:
        os_, arch, *variant = text.split("/")
        digest = Digest.parse("sha256:" + hashlib.sha256(text.encode()).hexdigest())
        plat = Platform(os_, arch, variant[0] if variant else "")
        entries.append(Descriptor(mt.OCI_MANIFEST, digest, 100, platform=plat))
    return ImageIndex.build(mt.OCI_INDEX, entries)


def _chosen(index: ImageIndex, wanted: str) -> str:
    entry = choose_instance(index, Platform.parse(wanted))
    assert entry.platform is not None
    return str(entry.platform)


@pytest.mark.parametrize(
    ("arch", "variant", "order"),
    [
        ("arm64", "", ["", "v8"]),
        ("arm64", "v8", ["v8", ""]),
        ("arm", "v7", ["v7", "v6", "v5", ""]),
        ("arm", "v6", ["v6", "v5", ""]),
        ("arm", "", ["", "v8", "v7", "v6", "v5"]),
        ("amd64", "", [""]),
        ("amd64", "v1", [""]),
        ("amd64", "v3", ["v3", "v2", ""]),
        ("riscv64", "rva22", ["rva22", ""]),
    ],
)
def test_wanted_variants_follow_containers_image(arch: str, variant: str, order: list[str]) -> None:
    assert wanted_variants(arch, variant) == order


def test_choice_out_of_an_index() -> None:
    arm = _index("linux/arm/v5", "linux/arm/v6", "linux/arm64/v8", "linux/amd64/v2", "linux/amd64")
    assert _chosen(arm, "linux/arm/v7") == "linux/arm/v6"  # a v7 CPU runs v6 images
    assert _chosen(arm, "linux/arm/v5") == "linux/arm/v5"
    assert _chosen(arm, "linux/aarch64") == "linux/arm64/v8"
    assert _chosen(arm, "linux/arm64") == "linux/arm64/v8"
    assert _chosen(arm, "linux/amd64") == "linux/amd64"  # a level is chosen only when asked
    assert _chosen(arm, "linux/amd64/v3") == "linux/amd64/v2"
    assert _chosen(_index("linux/amd64/v1"), "linux/amd64") == "linux/amd64/v1"
    with pytest.raises(PlatformNotFoundError) as missing:
        choose_instance(_index("linux/arm/v7"), Platform.parse("linux/arm/v6"))
    assert str(missing.value) == (
        "no image for platform linux/arm/v6 in the index (available: linux/arm/v7)"
    )
    with pytest.raises(ManifestError, match="lists no images"):
        choose_instance(ImageIndex.build(mt.OCI_INDEX, []))
    lone = ImageIndex.build(mt.OCI_INDEX, [Descriptor(mt.OCI_MANIFEST, _index().digest, 2)])
    assert choose_instance(lone, Platform.parse("linux/s390x")) is lone.manifests[0]


def test_wanted_platform_reads_podmans_flags() -> None:
    host = Platform.host()
    assert wanted_platform() is None
    assert wanted_platform("linux/arm/v7") == Platform("linux", "arm", "v7")
    assert wanted_platform(arch="aarch64") == Platform(host.os, "arm64", "v8")
    assert wanted_platform(arch="arm", variant="6") == Platform(host.os, "arm", "v6")
    assert wanted_platform(os="Windows") == Platform("windows", host.architecture, host.variant)
    with pytest.raises(UsageError, match="--platform cannot be combined with --arch"):
        wanted_platform("linux/amd64", arch="arm64")
