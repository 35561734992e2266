"""Fuzz tests of the parsers of image documents: manifests, indexes, configs, schema 1.

Parsers covered (the bytes come from a registry, a layout, an archive or a ``dir:``):

* ``oci/_json.py``: ``load_object`` (every document's JSON), ``raw_members`` (schema 1's raw
  members), ``go_time`` (RFC 3339 times of configs and schema 1 history);
* ``oci/parse.py``: ``guess_media_type`` and ``parse_manifest`` (sniffing, then one of:);
* ``oci/manifest.py``: ``ImageManifest.parse`` (OCI and Docker schema 2), then ``convert``;
* ``oci/index.py``: ``ImageIndex.parse`` (OCI index, Docker manifest list, a layout's
  ``index.json``), then ``platforms``, ``select``, ``convert``;
* ``oci/schema1.py``: ``Schema1Manifest.parse`` (signed and unsigned, ``strip_signatures``,
  every ``v1Compatibility``), then ``to_config`` and ``to_manifest``;
* ``oci/descriptor.py``: ``Descriptor.from_dict``;
* ``oci/config.py``: ``ImageConfig.parse`` (every field), then ``platform``,
  ``history_for_layers``, ``to_oci``;
* ``oci/runtime_spec.py``: ``runtime_spec`` (the spec a config becomes), and the parser of a
  config's ``User`` (``oci/ids.py``'s ``parse_user_spec`` where it exists, else
  ``runtime_spec.parse_user``).

The property (see ``tests/boxwright_testing/fuzz.py``): any bytes give a parsed document or a
:class:`ManifestError` (or its subclasses); a parsed document keeps its exact bytes, so its
digest is the sha256 of what was read; what is derived from a parsed document (conversions,
platform choice, the runtime spec) is a value or a typed error too.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from boxwright.errors import BoxwrightError, ManifestError
from boxwright.oci import mediatype as mt
from boxwright.oci._json import go_time, load_object, raw_members
from boxwright.oci.config import ImageConfig
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.index import ImageIndex
from boxwright.oci.manifest import ImageManifest
from boxwright.oci.parse import guess_media_type, parse_manifest
from boxwright.oci.platform import Platform
from boxwright.oci.runtime_spec import runtime_spec
from boxwright.oci.schema1 import Schema1Manifest
from boxwright_testing.fuzz import fuzz, hostile_text, json_bytes, json_values, mutated, outcome

pytestmark = fuzz


def _parse_user(text: str) -> object:
    """The config ``User`` parser: the one ID parser where it exists, else the older split."""
    try:
        from boxwright.oci.ids import parse_user_spec  # type: ignore[import-not-found]
    except ImportError:
        from boxwright.oci.runtime_spec import parse_user  # type: ignore[attr-defined]

        return parse_user(text)
    return parse_user_spec(text, "User")


D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
D3 = "sha256:" + "c" * 64

_descriptor = st.fixed_dictionaries(
    {
        "mediaType": st.sampled_from([mt.OCI_LAYER_GZIP, mt.OCI_LAYER, mt.DOCKER_LAYER_GZIP]),
        "digest": st.sampled_from([D1, D2]),
        "size": st.integers(0, 2**40),
    },
    optional={
        "urls": st.just(["https://example.com/blob"]),
        "annotations": st.just({"a": "b"}),
        "data": st.just("YQ=="),
        "artifactType": st.just("application/x"),
    },
)
_platform = st.fixed_dictionaries(
    {"os": st.just("linux"), "architecture": st.sampled_from(["amd64", "arm64", "arm"])},
    optional={"variant": st.sampled_from(["v7", "v8"]), "os.features": st.just(["x"])},
)
_oci_manifest = st.fixed_dictionaries(
    {
        "schemaVersion": st.just(2),
        "mediaType": st.just(mt.OCI_MANIFEST),
        "config": st.just({"mediaType": mt.OCI_CONFIG, "digest": D3, "size": 2}),
        "layers": st.lists(_descriptor, max_size=3),
    },
    optional={
        "annotations": st.just({"org.opencontainers.image.ref.name": "v1"}),
        "subject": st.just({"mediaType": mt.OCI_MANIFEST, "digest": D1, "size": 3}),
        "artifactType": st.just("application/x"),
    },
)
_docker_manifest = st.fixed_dictionaries(
    {
        "schemaVersion": st.just(2),
        "mediaType": st.just(mt.DOCKER_MANIFEST),
        "config": st.just({"mediaType": mt.DOCKER_CONFIG, "digest": D3, "size": 2}),
        "layers": st.lists(_descriptor, max_size=3),
    }
)
_index = st.fixed_dictionaries(
    {
        "schemaVersion": st.just(2),
        "mediaType": st.sampled_from([mt.OCI_INDEX, mt.DOCKER_LIST]),
        "manifests": st.lists(
            st.fixed_dictionaries(
                {
                    "mediaType": st.sampled_from([mt.OCI_MANIFEST, mt.DOCKER_MANIFEST]),
                    "digest": st.sampled_from([D1, D2]),
                    "size": st.integers(0, 5000),
                    "platform": _platform,
                },
                optional={"annotations": st.just({"a": "b"})},
            ),
            max_size=3,
        ),
    },
    optional={"annotations": st.just({"a": "b"})},
)
_config = st.fixed_dictionaries(
    {
        "architecture": st.sampled_from(["amd64", "arm64"]),
        "os": st.just("linux"),
        "rootfs": st.fixed_dictionaries(
            {"type": st.just("layers"), "diff_ids": st.lists(st.sampled_from([D1, D2]), max_size=3)}
        ),
    },
    optional={
        "created": st.sampled_from(["2024-01-02T03:04:05Z", "2024-01-02T03:04:05.5+02:00"]),
        "author": st.just("me"),
        "variant": st.just("v8"),
        "config": st.fixed_dictionaries(
            {},
            optional={
                "User": st.sampled_from(["", "1000", "1000:1000", "app:app", "4294967295"]),
                "Env": st.just(["PATH=/bin", "A=b"]),
                "Entrypoint": st.just(["/bin/sh"]),
                "Cmd": st.just(["-c", "true"]),
                "WorkingDir": st.just("/srv"),
                "Labels": st.just({"a": "b"}),
                "ExposedPorts": st.just({"80/tcp": {}}),
                "Volumes": st.just({"/data": {}}),
                "StopSignal": st.just("SIGTERM"),
                "Healthcheck": st.just({"Test": ["CMD", "true"], "Interval": 10**9}),
                "OnBuild": st.just(["RUN true"]),
                "Shell": st.just(["/bin/sh", "-c"]),
            },
        ),
        "history": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "created": st.just("2024-01-02T03:04:05Z"),
                    "created_by": st.just("/bin/sh -c true"),
                    "empty_layer": st.booleans(),
                    "comment": st.just("c"),
                },
            ),
            max_size=3,
        ),
    },
)


def _v1(i: int, parent: bool) -> str:
    doc: dict[str, Any] = {"id": f"{i:064x}", "created": "2024-01-02T03:04:05Z"}
    if parent:
        doc["parent"] = f"{i + 1:064x}"
    doc["container_config"] = {"Cmd": ["/bin/sh", "-c", "true"]}
    return json.dumps(doc)


_schema1 = st.integers(1, 3).map(
    lambda n: {
        "schemaVersion": 1,
        "name": "library/busybox",
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": D1 if i % 2 else D2} for i in range(n)],
        "history": [{"v1Compatibility": _v1(i, i < n - 1)} for i in range(n)],
    }
)
_any_document = st.one_of(_oci_manifest, _docker_manifest, _index, _config, _schema1)
_hostile_documents = st.one_of(
    json_bytes(mutated(_any_document)),
    json_bytes(json_values()),
    st.binary(max_size=300),
)


def _exercise(parsed: Any) -> None:
    """What callers do with a parsed document: every step a value or a typed error."""
    if isinstance(parsed, ImageManifest):
        for target in (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST):
            outcome(parsed.convert, target)
    elif isinstance(parsed, ImageIndex):
        outcome(parsed.platforms)
        outcome(parsed.select, Platform("linux", "amd64"))
        for target in (mt.OCI_INDEX, mt.DOCKER_LIST):
            outcome(parsed.convert, target)
    elif isinstance(parsed, Schema1Manifest):
        diff_ids = [Digest.parse(D3)] * len(parsed.non_empty_layers())
        outcome(parsed.to_config, diff_ids)
        config = Descriptor(mt.DOCKER_CONFIG, Digest.parse(D3), 2)
        layers = [Descriptor(mt.DOCKER_LAYER_GZIP, d, 1) for d in parsed.non_empty_layers()]
        outcome(parsed.to_manifest, config, layers)


def _check_raw(parsed: Any, raw: bytes) -> None:
    assert parsed.raw == raw
    if not isinstance(parsed, Schema1Manifest):
        assert str(parsed.digest) == "sha256:" + hashlib.sha256(raw).hexdigest()


@given(_hostile_documents, st.sampled_from([None, *sorted(mt.MANIFEST_TYPES), "text/plain"]))
@example(b"[" * 100_000, None)
@example(b'{"schemaVersion":1,"signatures":[]}' + b"]" * 10, None)
def test_any_bytes_are_a_manifest_or_a_manifest_error(raw: bytes, media_type: str | None) -> None:
    guessed = outcome(guess_media_type, raw)
    assert isinstance(guessed, str)
    parsed = outcome(parse_manifest, raw, media_type, errors=ManifestError)
    if not isinstance(parsed, BoxwrightError):
        _check_raw(parsed, raw)
        _exercise(parsed)


@given(json_bytes(mutated(_any_document)))
def test_each_parser_takes_any_document_or_raises_a_manifest_error(raw: bytes) -> None:
    for parse in (ImageManifest.parse, ImageIndex.parse, Schema1Manifest.parse):
        parsed = outcome(parse, raw, None, errors=ManifestError)
        if not isinstance(parsed, BoxwrightError):
            _check_raw(parsed, raw)
            _exercise(parsed)


@given(st.one_of(json_bytes(mutated(_config)), _hostile_documents))
def test_any_bytes_are_a_config_or_a_manifest_error(raw: bytes) -> None:
    config = outcome(ImageConfig.parse, raw, errors=ManifestError)
    if isinstance(config, BoxwrightError):
        return
    _check_raw(config, raw)
    outcome(lambda: config.platform)
    outcome(config.history_for_layers)
    oci = outcome(config.to_oci)
    if isinstance(oci, ImageConfig):
        assert ImageConfig.parse(oci.raw).raw == oci.raw
    outcome(runtime_spec, config)
    user = config.config.user if config.config is not None else ""
    outcome(_parse_user, user, errors=BoxwrightError)


@given(_oci_manifest, _index, _config)
def test_valid_documents_parse_and_keep_their_bytes(
    manifest: dict[str, Any], index: dict[str, Any], config: dict[str, Any]
) -> None:
    for doc, parse in (
        (manifest, parse_manifest),
        (index, parse_manifest),
        (config, ImageConfig.parse),
    ):
        raw = json.dumps(doc, indent=1).encode()
        parsed = parse(raw)
        _check_raw(parsed, raw)


@given(mutated(_descriptor))
def test_any_descriptor_object_reads_or_is_a_manifest_error(obj: Any) -> None:
    desc = outcome(Descriptor.from_dict, obj, errors=ManifestError)
    if isinstance(desc, Descriptor):
        assert Descriptor.from_dict(desc.to_dict()) == desc


@given(
    st.one_of(
        hostile_text(80), json_bytes(json_values()).map(lambda b: b.decode("utf-8", "replace"))
    )
)
@example('{"a":' * 5000)
@example('{"a":1,"a":2}')
@example("{} x")
def test_raw_members_reads_any_text_or_raises_a_manifest_error(text: str) -> None:
    members = outcome(raw_members, text, "doc", errors=ManifestError)
    if isinstance(members, dict):
        assert members == {
            k: members[k] for k in load_object(text.encode("utf-8", "surrogatepass"), "doc")
        }


@given(
    st.one_of(
        hostile_text(40),
        st.from_regex(
            r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,15})?([Zz]|[+-]\d{2}:\d{2})",
            fullmatch=True,
        ),
    )
)
def test_any_time_is_an_rfc3339_time_or_a_manifest_error(text: str) -> None:
    value = outcome(go_time, text, "created", errors=ManifestError)
    if isinstance(value, str):
        assert go_time(value, "created") == value


@given(hostile_text(30))
def test_any_user_splits_or_is_a_typed_error(text: str) -> None:
    outcome(_parse_user, text, errors=BoxwrightError)


# -- crashes the fuzzers found, kept as exact regressions ---------------------------------------


@pytest.mark.parametrize("text", ["{} x", "{}}", " {} ,"])
def test_raw_members_refuses_trailing_data_after_an_empty_object(text: str) -> None:
    # raw_members returned {} for "{} x", which load_object refuses.
    with pytest.raises(ManifestError, match="trailing data after the object"):
        raw_members(text, "doc")
