"""Agreement with containers/image's own fixtures (manifest/ and internal/image/).

Each case mirrors a Go test next to the fixtures: manifest_test.go (GuessMIMEType, Digest),
list_test.go (ChooseInstance), internal/image/{oci,docker_schema2,docker_schema1}_test.go
(conversions). Conversion results are compared as parsed JSON, as the Go tests do.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from boxwright.errors import ManifestError, PlatformNotFoundError, UnsupportedMediaTypeError
from boxwright.oci import mediatype as mt
from boxwright.oci.config import ImageConfig
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.index import ImageIndex
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.parse import guess_media_type, parse_manifest
from boxwright.oci.platform import Platform
from boxwright.oci.schema1 import Schema1Manifest

Read = Callable[[str], bytes]

# manifest_test.go TestGuessMIMEType, plus the internal/image fixtures.
GUESSES = [
    ("m", "v2s2.manifest.json", mt.DOCKER_MANIFEST),
    ("m", "v2list.manifest.json", mt.DOCKER_LIST),
    ("m", "v2s1.manifest.json", mt.DOCKER_SCHEMA1_SIGNED),
    ("m", "v2s1-unsigned.manifest.json", mt.DOCKER_SCHEMA1),
    ("m", "v2s1-invalid-signatures.manifest.json", mt.DOCKER_SCHEMA1_SIGNED),
    ("m", "v2s2nomime.manifest.json", mt.DOCKER_MANIFEST),
    ("m", "unknown-version.manifest.json", ""),
    ("m", "non-json.manifest.json", ""),
    ("m", "ociv1.manifest.json", mt.OCI_MANIFEST),
    ("m", "ociv1.artifact.json", mt.OCI_MANIFEST),
    ("m", "ociv1.image.index.json", mt.OCI_INDEX),
    ("m", "ociv1nomime.manifest.json", mt.OCI_MANIFEST),
    ("m", "ociv1nomime.artifact.json", mt.OCI_MANIFEST),
    ("m", "ociv1nomime.image.index.json", mt.OCI_INDEX),
    ("i", "schema1.json", mt.DOCKER_SCHEMA1_SIGNED),
    ("i", "schema2.json", mt.DOCKER_MANIFEST),
    ("i", "schema2list.json", mt.DOCKER_LIST),
    ("i", "oci1.json", mt.OCI_MANIFEST),
    ("i", "oci1index.json", mt.OCI_INDEX),
    ("i", "oci1-invalid-media-type.json", mt.OCI_MANIFEST),
    ("i", "schema2-config.json", ""),
]


@pytest.mark.parametrize(("where", "name", "expected"), GUESSES)
def test_guess_media_type_agrees(
    where: str, name: str, expected: str, manifest_fixture: Read, image_fixture: Read
) -> None:
    raw = (manifest_fixture if where == "m" else image_fixture)(name)
    assert guess_media_type(raw) == expected


# Every manifest fixture: what it parses to (class, media type) or the error it must raise.
PARSES: list[tuple[str, str, Any, str]] = [
    ("m", "v2s2.manifest.json", ImageManifest, mt.DOCKER_MANIFEST),
    ("m", "v2s2nomime.manifest.json", ImageManifest, mt.DOCKER_MANIFEST),
    ("m", "v2s2.uncompressed.manifest.json", ImageManifest, mt.DOCKER_MANIFEST),
    ("m", "v2s2.nondistributable.manifest.json", ImageManifest, mt.DOCKER_MANIFEST),
    ("m", "v2s2.nondistributable.gzip.manifest.json", ImageManifest, mt.DOCKER_MANIFEST),
    ("m", "v2list.manifest.json", ImageIndex, mt.DOCKER_LIST),
    ("m", "ociv1.manifest.json", ImageManifest, mt.OCI_MANIFEST),
    ("m", "ociv1nomime.manifest.json", ImageManifest, mt.OCI_MANIFEST),
    ("m", "ociv1.uncompressed.manifest.json", ImageManifest, mt.OCI_MANIFEST),
    ("m", "ociv1.zstd.manifest.json", ImageManifest, mt.OCI_MANIFEST),
    ("m", "ociv1.nondistributable.manifest.json", ImageManifest, mt.OCI_MANIFEST),
    ("m", "ociv1.nondistributable.gzip.manifest.json", ImageManifest, mt.OCI_MANIFEST),
    ("m", "ociv1.nondistributable.zstd.manifest.json", ImageManifest, mt.OCI_MANIFEST),
    ("m", "ociv1.invalid.mediatype.manifest.json", ImageManifest, mt.OCI_MANIFEST),
    ("m", "ociv1.image.index.json", ImageIndex, mt.OCI_INDEX),
    ("m", "ociv1nomime.image.index.json", ImageIndex, mt.OCI_INDEX),
    ("m", "v2s1.manifest.json", Schema1Manifest, mt.DOCKER_SCHEMA1_SIGNED),
    ("m", "v2s1-unsigned.manifest.json", Schema1Manifest, mt.DOCKER_SCHEMA1),
    ("i", "schema1.json", Schema1Manifest, mt.DOCKER_SCHEMA1_SIGNED),
    ("i", "schema1-for-oci-config.json", Schema1Manifest, mt.DOCKER_SCHEMA1_SIGNED),
    ("i", "oci1-to-schema1.json", Schema1Manifest, mt.DOCKER_SCHEMA1_SIGNED),
    ("i", "oci1.json", ImageManifest, mt.OCI_MANIFEST),
    ("i", "oci1-all-media-types.json", ImageManifest, mt.OCI_MANIFEST),
    ("i", "oci1-artifact.json", ImageManifest, mt.OCI_MANIFEST),
    ("i", "oci1-invalid-media-type.json", ImageManifest, mt.OCI_MANIFEST),
    ("i", "oci1-to-schema2.json", ImageManifest, mt.DOCKER_MANIFEST),
    ("i", "oci1index.json", ImageIndex, mt.OCI_INDEX),
    ("i", "schema2.json", ImageManifest, mt.DOCKER_MANIFEST),
    ("i", "schema2-all-media-types.json", ImageManifest, mt.DOCKER_MANIFEST),
    ("i", "schema2-all-media-types-to-oci1.json", ImageManifest, mt.OCI_MANIFEST),
    ("i", "schema2-to-oci1.json", ImageManifest, mt.OCI_MANIFEST),
    ("i", "schema2list.json", ImageIndex, mt.DOCKER_LIST),
    ("i", "schema2list-variants.json", ImageIndex, mt.DOCKER_LIST),
    # Rejected: not JSON, unknown schemaVersion, bad signatures, empty digests (artifact
    # fixtures whose config digest is ""), a negative size, Docker zstd layers.
    ("m", "non-json.manifest.json", ManifestError, "not valid UTF-8"),
    ("m", "unknown-version.manifest.json", ManifestError, "not a recognized manifest"),
    ("m", "v2s1-invalid-signatures.manifest.json", ManifestError, "signatures"),
    # Its "name" was edited after signing (see docker_schema2_test.go), so the payload the
    # signatures describe is broken: containers/image's manifest.Digest fails on it too.
    ("m", "schema2-to-schema1-by-docker.json", ManifestError, "do not cut a valid payload"),
    ("i", "schema2-to-schema1-by-docker.json", ManifestError, "do not cut a valid payload"),
    ("m", "ociv1.artifact.json", ManifestError, "invalid digest ''"),
    ("m", "ociv1nomime.artifact.json", ManifestError, "invalid digest ''"),
    ("i", "schema1-to-schema2.json", ManifestError, "size must be a non-negative"),
    ("i", "schema1-to-oci1.json", ManifestError, "size must be a non-negative"),
    ("i", "schema2-invalid-media-type.json", UnsupportedMediaTypeError, "tar.zstd"),
    ("i", "oci1-all-media-types-to-schema2.json", UnsupportedMediaTypeError, "tar.zstd"),
]


@pytest.mark.parametrize(("where", "name", "expected", "detail"), PARSES)
def test_parse_fixture(
    where: str, name: str, expected: Any, detail: str, manifest_fixture: Read, image_fixture: Read
) -> None:
    raw = (manifest_fixture if where == "m" else image_fixture)(name)
    if isinstance(expected, type) and issubclass(expected, Exception):
        with pytest.raises(expected, match=detail.replace("(", r"\(").replace(".", r"\.")):
            parse_manifest(raw)
        return
    parsed = parse_manifest(raw)
    assert type(parsed) is expected
    assert parsed.media_type == detail
    assert parsed.raw == raw
    if isinstance(parsed, Schema1Manifest) and parsed.signed:
        assert parsed.digest != Digest.from_bytes(raw)
    else:
        assert parsed.digest == Digest("sha256", hashlib.sha256(raw).hexdigest())
    # The out-of-band media type, when given, leads to the same result.
    again = parse_manifest(raw, parsed.media_type)
    assert again == parsed


def test_manifest_digests(manifest_fixture: Read) -> None:
    """manifest_test.go TestDigest and fixtures_info_test.go."""
    v2s2 = parse_manifest(manifest_fixture("v2s2.manifest.json"))
    assert str(v2s2.digest) == (
        "sha256:20bf21ed457b390829cdbeec8795a7bea1626991fda603e0d01b4e7f60427e55"
    )
    signed = parse_manifest(manifest_fixture("v2s1.manifest.json"))
    unsigned = parse_manifest(manifest_fixture("v2s1-unsigned.manifest.json"))
    expected = "sha256:7364fea9d84ee548ab67d4c46c6006289800c98de3fbf8c0a97138dfcc23f000"
    assert str(signed.digest) == expected
    assert str(unsigned.digest) == expected
    assert isinstance(signed, Schema1Manifest)
    assert signed.payload == manifest_fixture("v2s1-unsigned.manifest.json")


def test_contradicting_media_type_rejected(manifest_fixture: Read) -> None:
    raw = manifest_fixture("ociv1.manifest.json")
    with pytest.raises(ManifestError, match="contradicts"):
        ImageManifest.parse(raw, mt.DOCKER_MANIFEST)
    with pytest.raises(UnsupportedMediaTypeError):
        parse_manifest(raw, "application/vnd.example+json")
    # A generic Content-Type means: look at the content.
    assert parse_manifest(raw, "application/json").media_type == mt.OCI_MANIFEST


def _json(raw: bytes) -> Any:
    return json.loads(raw)


def test_schema2_to_oci_with_converted_config(image_fixture: Read) -> None:
    """docker_schema2_test.go TestConvertToManifestOCI, including the config re-encoding."""
    manifest = ImageManifest.parse(image_fixture("schema2.json"))
    config = ImageConfig.parse(image_fixture("schema2-config.json")).to_oci()
    # The exact bytes Go marshals: the config digest in the fixture is reproduced.
    assert str(config.digest) == (
        "sha256:f15ba60ec257ee2cf4fddfb9451bb86ba2668450e88d402f5ecc7ea6ce1b661a"
    )
    assert len(config.raw) == 4670
    converted = manifest.convert(mt.OCI_MANIFEST, config=config.descriptor())
    assert converted.media_type == mt.OCI_MANIFEST
    assert _json(converted.raw) == _json(image_fixture("schema2-to-oci1.json"))
    assert converted.digest == Digest.from_bytes(converted.raw)


def test_schema2_all_media_types_to_oci(image_fixture: Read) -> None:
    manifest = ImageManifest.parse(image_fixture("schema2-all-media-types.json"))
    expected = _json(image_fixture("schema2-all-media-types-to-oci1.json"))
    config = Descriptor.from_dict(expected["config"])
    converted = manifest.convert(mt.OCI_MANIFEST, config=config)
    assert _json(converted.raw) == expected


def test_oci_to_schema2(image_fixture: Read) -> None:
    """oci_test.go TestConvertToManifestSchema2: annotations dropped, urls kept."""
    manifest = ImageManifest.parse(image_fixture("oci1.json"))
    converted = manifest.convert(mt.DOCKER_MANIFEST)
    assert _json(converted.raw) == _json(image_fixture("oci1-to-schema2.json"))
    assert converted.annotations == {}
    assert converted.layers[2].urls == ("https://layer.url",)
    # And back: the layers return to their OCI names.
    back = converted.convert(mt.OCI_MANIFEST)
    assert [d.media_type for d in back.layers] == [mt.OCI_LAYER_GZIP] * 5


def test_oci_to_schema2_refusals(image_fixture: Read) -> None:
    artifact = ImageManifest.parse(image_fixture("oci1-artifact.json"))
    with pytest.raises(UnsupportedMediaTypeError, match="artifact"):
        artifact.convert(mt.DOCKER_MANIFEST)
    zstd = ImageManifest.parse(image_fixture("oci1-all-media-types.json"))
    with pytest.raises(UnsupportedMediaTypeError, match="zstd compression is not supported"):
        zstd.convert(mt.DOCKER_MANIFEST)
    invalid = ImageManifest.parse(image_fixture("oci1-invalid-media-type.json"))
    with pytest.raises(UnsupportedMediaTypeError, match=r"tar\+invalid-suffix"):
        invalid.convert(mt.DOCKER_MANIFEST)
    with pytest.raises(UnsupportedMediaTypeError):
        invalid.convert(mt.DOCKER_SCHEMA1)


@pytest.mark.parametrize(
    ("oci", "docker"),
    [
        ("ociv1.nondistributable.manifest.json", "v2s2.nondistributable.manifest.json"),
        ("ociv1.nondistributable.gzip.manifest.json", "v2s2.nondistributable.gzip.manifest.json"),
        ("ociv1.uncompressed.manifest.json", "v2s2.uncompressed.manifest.json"),
    ],
)
def test_nondistributable_and_uncompressed_map_to_docker(
    oci: str, docker: str, manifest_fixture: Read
) -> None:
    """Non-distributable OCI layers are Docker foreign layers and back."""
    o = ImageManifest.parse(manifest_fixture(oci))
    d = ImageManifest.parse(manifest_fixture(docker))
    assert [x.media_type for x in o.convert(mt.DOCKER_MANIFEST).layers] == [
        x.media_type for x in d.layers
    ]
    assert [x.media_type for x in d.convert(mt.OCI_MANIFEST).layers] == [
        x.media_type for x in o.layers
    ]


def test_layer_types_override_before_conversion(image_fixture: Read) -> None:
    """After recompression the caller names the new layer types; either family is accepted."""
    manifest = ImageManifest.parse(image_fixture("oci1.json"))
    docker = manifest.convert(
        mt.DOCKER_MANIFEST, [mt.OCI_LAYER, mt.DOCKER_LAYER, mt.OCI_LAYER_GZIP] + [mt.OCI_LAYER] * 2
    )
    assert [d.media_type for d in docker.layers] == [
        mt.DOCKER_LAYER,
        mt.DOCKER_LAYER,
        mt.DOCKER_LAYER_GZIP,
        mt.DOCKER_LAYER,
        mt.DOCKER_LAYER,
    ]
    with pytest.raises(ManifestError, match="2 layer media types given for 5 layers"):
        manifest.convert(mt.DOCKER_MANIFEST, [mt.OCI_LAYER] * 2)
    same = manifest.convert(mt.OCI_MANIFEST, [mt.OCI_LAYER_ZSTD] * 5)
    assert same.media_type == mt.OCI_MANIFEST
    assert [d.media_type for d in same.layers] == [mt.OCI_LAYER_ZSTD] * 5
    assert manifest.convert(mt.OCI_MANIFEST) is manifest


SCHEMA1_DIFF_IDS = [
    "sha256:e1d829eddb62dc49f1c56dbf8acd0c71299b3996115399de853a9d66d81b822f",
    "sha256:02404b4d7e5d89b1383ca346b4462b199128aa4b238c5a2b2c186004ac148ba8",
    "sha256:45fad80a4b1cec165c421eb570dec312d825bd8fac362e255028fa3f2169148d",
    "sha256:7ddef8efd44586e54880ec4797458eac87b368544c438d7e7c63fbc0d9a7ae97",
    "sha256:b56b16b6407ba1b86252e7e50f98f142cf6844fab42e4495d56ebb7ce559e2af",
    "sha256:9bd63850e406167b4751f5050f6dc0ebd789bb5ef5e5c6c31ed062bda8c063e8",
]
SCHEMA1_SIZES = [74876245, 1239, 78339724, 76857203, 25923380, 23511300]


@pytest.mark.parametrize(
    ("target", "manifest_name", "config_name"),
    [
        (mt.DOCKER_MANIFEST, "schema1-to-schema2.json", "schema1-to-schema2-config.json"),
        (mt.OCI_MANIFEST, "schema1-to-oci1.json", "schema1-to-oci1-config.json"),
    ],
)
def test_schema1_conversion(
    target: str, manifest_name: str, config_name: str, image_fixture: Read
) -> None:
    """docker_schema1_test.go TestManifestSchema1ConvertToSchema2 / ...ToManifestOCI1."""
    s1 = Schema1Manifest.parse(image_fixture("schema1.json"))
    diff_ids = [Digest.parse(d) for d in SCHEMA1_DIFF_IDS]
    config_raw = s1.to_config(diff_ids, oci=target == mt.OCI_MANIFEST)
    assert _json(config_raw) == _json(image_fixture(config_name))
    layers = [
        Descriptor(mt.DOCKER_LAYER_GZIP, digest, size)
        for digest, size in zip(s1.non_empty_layers(), SCHEMA1_SIZES, strict=True)
    ]
    config_desc = Descriptor(mt.DOCKER_CONFIG, Digest.from_bytes(config_raw), len(config_raw))
    converted = s1.to_manifest(config_desc, layers, target)
    got, want = _json(converted.raw), _json(image_fixture(manifest_name))
    assert got.pop("config")["digest"] == str(config_desc.digest)
    want.pop("config")
    assert got == want


def test_schema1_with_throwaway_layers(manifest_fixture: Read, image_fixture: Read) -> None:
    """Throwaway layers leave the layer list but stay in history as empty_layer."""
    # The fixture's signatures no longer match its edited content: drop them (unsigned).
    doc = _json(image_fixture("schema2-to-schema1-by-docker.json"))
    del doc["signatures"]
    s1 = Schema1Manifest.parse(json.dumps(doc).encode())
    assert not s1.signed
    assert len(s1.layers()) == 15
    s2_config = ImageConfig.parse(image_fixture("schema2-config.json"))
    assert s1.non_empty_layers() == [
        d.digest for d in ImageManifest.parse(image_fixture("schema2.json")).layers
    ]
    config = ImageConfig.parse(s1.to_config(s2_config.diff_ids))
    assert config.diff_ids == s2_config.diff_ids
    assert [h.empty_layer for h in config.history] == [h.empty_layer for h in s2_config.history]
    assert [h.created_by for h in config.history] == [h.created_by for h in s2_config.history]
    assert config.config.cmd == ("httpd-foreground",)
    for dropped in ("id", "parent", "throwaway", "Size"):
        assert dropped not in config.data
    # diff_ids for all 15 layers (throwaways included) are filtered the same way.
    full = []
    non_empty = iter(s2_config.diff_ids)
    for digest, empty in s1.layers():
        full.append(digest if empty else next(non_empty))
    assert s1.to_config(full) == s1.to_config(s2_config.diff_ids)
    with pytest.raises(ManifestError, match="3 diff_ids given for 5 non-empty layers"):
        s1.to_config(list(s2_config.diff_ids)[:3])


def test_schema1_config_for_oci(image_fixture: Read) -> None:
    s1 = Schema1Manifest.parse(image_fixture("schema1-for-oci-config.json"))
    config = ImageConfig.parse(s1.to_config([], oci=True)) if not s1.non_empty_layers() else None
    if config is None:
        ids = [Digest.from_bytes(str(i).encode()) for i in range(len(s1.non_empty_layers()))]
        config = ImageConfig.parse(s1.to_config(ids, oci=True))
        assert config.diff_ids == tuple(ids)
    assert config.os == "linux"
    assert set(config.data) <= {
        "created",
        "author",
        "architecture",
        "variant",
        "os",
        "config",
        "rootfs",
        "history",
    }


# list_test.go TestChooseInstance
CHOICES = [
    (
        "schema2list.json",
        [
            (
                "amd64",
                "",
                "sha256:030fcb92e1487b18c974784dcc110a93147c9fc402188370fbfd17efabffc6af",
            ),
            (
                "s390x",
                "",
                "sha256:e5aa1b0a24620228b75382997a0977f609b3ca3a95533dafdef84c74cc8df642",
            ),
            (
                "arm",
                "v7",
                "sha256:b5dbad4bdb4444d919294afe49a095c23e86782f98cdf0aa286198ddb814b50b",
            ),
            (
                "arm64",
                "",
                "sha256:dc472a59fb006797aa2a6bfb54cc9c57959bb0a6d11fadaa608df8c16dea39cf",
            ),
        ],
    ),
    (
        "schema2list-variants.json",
        [
            (
                "amd64",
                "",
                "sha256:59eec8837a4d942cc19a52b8c09ea75121acc38114a2c68b98983ce9356b8610",
            ),
            (
                "arm",
                "v7",
                "sha256:f365626a556e58189fc21d099fc64603db0f440bff07f77c740989515c544a39",
            ),
            (
                "arm",
                "v6",
                "sha256:f365626a556e58189fc21d099fc64603db0f440bff07f77c740989515c544a39",
            ),
            (
                "arm",
                "v5",
                "sha256:c84b0a3a07b628bc4d62e5047d0f8dff80f7c00979e1e28a821a033ecda8fe53",
            ),
            ("arm", "", "sha256:c84b0a3a07b628bc4d62e5047d0f8dff80f7c00979e1e28a821a033ecda8fe53"),
            (
                "arm",
                "unrecognized-present",
                "sha256:bcf9771c0b505e68c65440474179592ffdfa98790eb54ffbf129969c5e429990",
            ),
            (
                "arm",
                "unrecognized-not-present",
                "sha256:c84b0a3a07b628bc4d62e5047d0f8dff80f7c00979e1e28a821a033ecda8fe53",
            ),
        ],
    ),
    (
        "oci1index.json",
        [
            (
                "amd64",
                "",
                "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270",
            ),
            (
                "ppc64le",
                "",
                "sha256:e692418e4cbaf90ca69d05a66403747baa33ee08806650b51fab815ad7fc331f",
            ),
        ],
    ),
]


@pytest.mark.parametrize(("name", "matches"), CHOICES)
def test_choose_instance(
    name: str, matches: list[tuple[str, str, str]], image_fixture: Read
) -> None:
    index = ImageIndex.parse(image_fixture(name))
    for arch, variant, digest in matches:
        chosen = index.select(Platform("linux", arch, variant))
        assert str(chosen.digest) == digest, (arch, variant)
    with pytest.raises(PlatformNotFoundError, match=r"linux/unmatched.*available: linux/"):
        index.select(Platform("linux", "unmatched"))
    with pytest.raises(PlatformNotFoundError):
        index.select(Platform("windows", "amd64"))


@pytest.mark.parametrize("name", ["schema2list.json", "oci1index.json"])
def test_index_conversion_round_trip(name: str, image_fixture: Read) -> None:
    """list_test.go TestListConversion: OCI index ⇄ Docker list loses no entry data."""
    index = ImageIndex.parse(image_fixture(name))
    other = mt.OCI_INDEX if index.media_type == mt.DOCKER_LIST else mt.DOCKER_LIST
    converted = index.convert(other)
    assert converted.media_type == other
    back = converted.convert(index.media_type)
    strip = [
        d.with_(
            platform=d.platform
            and d.platform.__class__(
                d.platform.os,
                d.platform.architecture,
                d.platform.variant,
                d.platform.os_version,
                d.platform.os_features,
            )
        )
        for d in index.manifests
    ]
    assert list(back.manifests) == strip
    assert [d.digest for d in converted.manifests] == [d.digest for d in index.manifests]
    if other == mt.DOCKER_LIST:
        assert "annotations" not in _json(converted.raw)
    assert ImageIndex.parse(converted.raw) == converted
