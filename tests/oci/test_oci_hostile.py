"""Hostile documents: every bad input is a typed error with a message, never a traceback."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import boxwright.oci as oci
from boxwright.errors import BoxwrightError, ManifestError, UnsupportedMediaTypeError
from boxwright.oci import mediatype as mt
from boxwright.oci.config import ImageConfig
from boxwright.oci.index import ImageIndex
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.parse import parse_manifest
from boxwright.oci.reference import Reference
from boxwright.oci.schema1 import Schema1Manifest

DIGEST = "sha256:" + "a" * 64
LAYER = {"mediaType": mt.OCI_LAYER_GZIP, "digest": DIGEST, "size": 1}
CONFIG = {"mediaType": mt.OCI_CONFIG, "digest": DIGEST, "size": 1}


def _manifest(**fields: Any) -> bytes:
    doc: dict[str, Any] = {"schemaVersion": 2, "mediaType": mt.OCI_MANIFEST}
    doc.update(config=CONFIG, layers=[LAYER])
    doc.update(fields)
    return json.dumps({k: v for k, v in doc.items() if v is not ...}).encode()


@pytest.mark.parametrize(
    ("raw", "error", "message"),
    [
        (b"", ManifestError, "not valid JSON"),
        (b"{", ManifestError, "not valid JSON"),
        (b"\xff\xfe{}", ManifestError, "not valid UTF-8"),
        (b"[" * 100000 + b"]" * 100000, ManifestError, "not valid JSON"),
        (b" " * (5 << 20), ManifestError, "more than the limit"),
        (b"null", ManifestError, "not a recognized manifest|must be a JSON object"),
        (_manifest(schemaVersion=3), ManifestError, "schemaVersion must be 2"),
        (_manifest(schemaVersion=True), ManifestError, "not a recognized manifest"),
        (_manifest(schemaVersion="2"), ManifestError, "not a recognized manifest"),
        (_manifest(config=...), ManifestError, "config is missing"),
        (_manifest(config=[]), ManifestError, "expected a JSON object"),
        (_manifest(layers={}), ManifestError, "layers must be an array"),
        (_manifest(layers=[{**LAYER, "size": -1}]), ManifestError, "size must be a non-negative"),
        (_manifest(layers=[{**LAYER, "size": 2**64}]), ManifestError, "larger than any blob"),
        (_manifest(layers=[{**LAYER, "size": 1.5}]), ManifestError, "size must be"),
        (_manifest(layers=[{**LAYER, "digest": "sha256:AB"}]), ManifestError, "invalid sha256"),
        (
            _manifest(layers=[{**LAYER, "digest": "sha256:../../etc/passwd"}]),
            ManifestError,
            "invalid sha256",
        ),
        (_manifest(layers=[{**LAYER, "digest": "md5:" + "a" * 32}]), ManifestError, "md5"),
        (_manifest(layers=[{**LAYER, "mediaType": ""}]), ManifestError, "mediaType is missing"),
        (_manifest(layers=[{**LAYER, "urls": "x"}]), ManifestError, "urls must be"),
        (_manifest(layers=[{**LAYER, "data": "!!"}]), ManifestError, "not valid base64"),
        (_manifest(annotations={"a": 1}), ManifestError, "annotations must map"),
        (_manifest(mediaType=5), ManifestError, "not a recognized manifest"),
        (_manifest(manifests=[LAYER]), ManifestError, "ambiguous"),
        (_manifest(artifactType=[]), ManifestError, "artifactType must be a string"),
        (_manifest(subject="x"), ManifestError, "expected a JSON object"),
        (
            _manifest(mediaType=mt.DOCKER_MANIFEST, layers=[{**LAYER, "mediaType": "x"}]),
            UnsupportedMediaTypeError,
            "not a Docker schema 2 layer",
        ),
        (
            json.dumps(
                {"schemaVersion": 2, "manifests": [{**LAYER, "platform": "linux"}]}
            ).encode(),
            ManifestError,
            "platform must be a JSON object",
        ),
        (
            json.dumps(
                {"schemaVersion": 2, "mediaType": mt.DOCKER_LIST, "manifests": [LAYER]}
            ).encode(),
            ManifestError,
            "needs a platform",
        ),
        (
            json.dumps({"schemaVersion": 2, "manifests": [LAYER], "layers": [LAYER]}).encode(),
            ManifestError,
            "ambiguous",
        ),
    ],
)
def test_hostile_manifests(raw: bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        parse_manifest(raw)


def _schema1(**fields: Any) -> bytes:
    v1 = json.dumps({"id": "b" * 64, "created": "2020-01-01T00:00:00Z"})
    doc: dict[str, Any] = {
        "schemaVersion": 1,
        "name": "x",
        "tag": "y",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": DIGEST}],
        "history": [{"v1Compatibility": v1}],
    }
    doc.update(fields)
    return json.dumps(doc).encode()


def _protected(header: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(header).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (_schema1(fsLayers=[]), "0 fsLayers|1 history entries but 0 fsLayers"),
        (_schema1(fsLayers=[], history=[]), "no fsLayers"),
        (_schema1(fsLayers=[{"blobSum": "sha256:zz"}]), "blobSum: invalid sha256"),
        (_schema1(history=[{"v1Compatibility": "{"}]), "not valid JSON"),
        (_schema1(history=[{"v1Compatibility": 5}]), "must be a string"),
        (_schema1(history=[{"v1Compatibility": '{"id": "short"}'}]), "image ID 'short' is invalid"),
        (
            _schema1(history=[{"v1Compatibility": json.dumps({"id": "b" * 64, "parent": "c"})}]),
            "invalid parent ID in the base layer",
        ),
        (_schema1(config=CONFIG), "ambiguous"),
        (_schema1(signatures=1), "signatures must be a non-empty array"),
        (_schema1(signatures=[{"protected": "!!!"}]), "not valid base64url"),
        (_schema1(signatures=[{"protected": _protected({"formatTail": ""})}]), "formatted length"),
        (
            _schema1(
                signatures=[{"protected": _protected({"formatLength": 10**9, "formatTail": ""})}]
            ),
            "invalid format length",
        ),
        (
            _schema1(
                signatures=[
                    {"protected": _protected({"formatLength": 5, "formatTail": ""})},
                    {"protected": _protected({"formatLength": 6, "formatTail": ""})},
                ]
            ),
            "disagree",
        ),
    ],
)
def test_hostile_schema1(raw: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        Schema1Manifest.parse(raw)


def test_schema1_repeated_ids_are_merged() -> None:
    v1 = json.dumps({"id": "b" * 64})
    raw = _schema1(
        fsLayers=[{"blobSum": DIGEST}, {"blobSum": "sha256:" + "c" * 64}],
        history=[{"v1Compatibility": v1}, {"v1Compatibility": v1}],
    )
    s1 = Schema1Manifest.parse(raw)
    assert len(s1.fs_layers) == 1
    assert str(s1.fs_layers[0]) == "sha256:" + "c" * 64


def test_builders_refuse_what_docker_cannot_hold() -> None:
    config = ImageManifest.parse(_manifest()).config
    with pytest.raises(UnsupportedMediaTypeError, match="no annotations"):
        ImageManifest.build(mt.DOCKER_MANIFEST, config, [], annotations={"a": "b"})
    with pytest.raises(UnsupportedMediaTypeError, match="not Docker schema 2 layer"):
        ImageManifest.build(mt.DOCKER_MANIFEST, config, ImageManifest.parse(_manifest()).layers)
    with pytest.raises(UnsupportedMediaTypeError):
        ImageManifest.build("application/json", config, [])
    with pytest.raises(ManifestError, match="has no platform"):
        ImageIndex.build(mt.DOCKER_LIST, [config])


@pytest.mark.parametrize(
    ("extra", "value"), [("annotations", {"a": "b"}), ("subject", "config"), ("artifact_type", "x")]
)
def test_docker_manifest_and_list_refuse_each_extra(extra: str, value: object) -> None:
    config = ImageManifest.parse(_manifest()).config
    given = {extra: config if value == "config" else value}
    with pytest.raises(UnsupportedMediaTypeError) as manifest_error:
        ImageManifest.build(mt.DOCKER_MANIFEST, config, [], **given)
    assert str(manifest_error.value) == (
        "a Docker schema 2 manifest has no annotations, subject or artifactType"
    )
    with pytest.raises(UnsupportedMediaTypeError) as list_error:
        ImageIndex.build(mt.DOCKER_LIST, [], **given)
    assert (
        str(list_error.value)
        == "a Docker manifest list has no annotations, subject or artifactType"
    )
    oci_index = ImageIndex.build(mt.OCI_INDEX, [], **given)
    assert getattr(oci_index, extra) == given[extra]


# Random JSON-ish documents: parsing either succeeds or raises a BoxwrightError.
_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "schemaVersion",
        "mediaType",
        "config",
        "layers",
        "manifests",
        "fsLayers",
        "history",
        "signatures",
        "annotations",
        "subject",
        "artifactType",
    ]
)
_documents = st.dictionaries(
    _keys, _json_values | st.just(2) | st.just(1) | st.just(LAYER), max_size=6
)


@settings(max_examples=300, deadline=None)
@given(_documents, st.sampled_from([None, *sorted(mt.MANIFEST_TYPES), "application/json"]))
def test_random_documents_never_escape_typed_errors(
    doc: dict[str, Any], media_type: str | None
) -> None:
    raw = json.dumps(doc).encode()
    try:
        parsed = parse_manifest(raw, media_type)
    except BoxwrightError as e:
        assert str(e)
        return
    assert parsed.raw == raw


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes(raw: bytes) -> None:
    for parse in (parse_manifest, ImageConfig.parse):
        with contextlib.suppress(BoxwrightError):
            parse(raw)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_random_references(text: str) -> None:
    try:
        ref = Reference.parse(text)
    except BoxwrightError:
        return
    assert str(ref) == text


def test_public_names_are_sorted_and_complete() -> None:
    assert oci.__all__ == sorted(oci.__all__)
    for name in oci.__all__:
        assert hasattr(oci, name), name


@pytest.mark.parametrize("version", [True, "2", 2.0, None, 1])
def test_schema_version_must_be_the_integer_two(version: object) -> None:
    raw = _manifest(schemaVersion=version)
    with pytest.raises(ManifestError, match="schemaVersion must be 2"):
        ImageManifest.parse(raw, mt.OCI_MANIFEST)


def test_verifying_reader_checks_a_blob_read_in_one_call() -> None:
    """A single read() of the whole blob (as configs are read) must not bypass the check."""
    import io

    from boxwright.errors import DigestMismatchError
    from boxwright.oci.digest import Digest, VerifyingReader

    good = Digest.from_bytes(b"config")
    assert VerifyingReader(io.BytesIO(b"config"), good, 6).read() == b"config"
    for size in (6, None):
        with pytest.raises(DigestMismatchError):
            VerifyingReader(io.BytesIO(b"CONFIG"), good, size).read()
        with pytest.raises(DigestMismatchError):  # stopping at the size without asking for EOF
            VerifyingReader(io.BytesIO(b"CONFIG"), good, 6).read(6)
    with pytest.raises(DigestMismatchError, match="longer"):
        VerifyingReader(io.BytesIO(b"config!"), good, 6).read(6)
