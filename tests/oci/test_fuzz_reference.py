"""Fuzz tests of the parsers of names a user, a file or a registry hands boxwright.

Parsers covered (every one takes text from outside):

* ``oci/reference.py``: ``Reference.parse``, ``Reference.parse_normalized``,
  ``Reference.with_tag``, ``Reference.with_digest`` (image references: the command line,
  archive ``RepoTags``, registries.conf aliases, layout annotations);
* ``oci/digest.py``: ``Digest.parse`` (every digest from a manifest, a header, a file name);
* ``oci/platform.py``: ``Platform.parse`` (``--platform``) and ``Platform.from_dict`` (index
  entries and image configs);
* ``transport/reference.py``: ``parse_transport_reference`` and ``validate_ref_name``
  (``TRANSPORT:WHERE`` strings);
* ``store/names.py``: the short names and IDs of the local store.

The property (see ``tests/boxwright_testing/fuzz.py``): any input gives a value or the typed
error of its parser; and what is written back out parses to the same value (reference, digest,
platform).
"""

from __future__ import annotations

import string

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from boxwright.errors import (
    BoxwrightError,
    DigestError,
    InvalidReferenceError,
    ManifestError,
    UsageError,
)
from boxwright.oci.digest import Digest
from boxwright.oci.platform import Platform
from boxwright.oci.reference import Reference
from boxwright.transport.reference import parse_transport_reference, validate_ref_name
from boxwright_testing.fuzz import fragments, fuzz, hostile_text, json_values, mutated, outcome

pytestmark = fuzz

_REFERENCE_PIECES = [
    "docker.io",
    "localhost",
    "localhost:5000",
    "[::1]:5000",
    "[fe80::1%eth0]",
    "example.com",
    "EXAMPLE.com",
    "library",
    "busybox",
    "a",
    "a-b",
    "a__b",
    "a._b",
    "/",
    "//",
    ":",
    ":latest",
    ":v1.2.3",
    "@",
    "@sha256:" + "a" * 64,
    "@sha512:" + "b" * 128,
    "@sha256:" + "a" * 63,
    "@md5:" + "c" * 32,
    "@sha256+b64:" + "a" * 64,
    "0" * 64,
    "x" * 128,
    "-",
    ".",
    "_",
]

_hex = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
_digests = st.one_of(
    st.builds(lambda h: Digest("sha256", h), _hex),
    st.builds(
        lambda h: Digest("sha512", h),
        st.text(alphabet="0123456789abcdef", min_size=128, max_size=128),
    ),
)
_component = st.from_regex(r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+){0,3}", fullmatch=True)
_domain = st.one_of(
    st.from_regex(
        r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?(?:\.[a-z0-9]{1,5}){1,2}", fullmatch=True
    ),
    st.just("localhost"),
    st.builds(lambda p: f"localhost:{p}", st.integers(1, 65535)),
    st.builds(lambda p: f"[::1]:{p}", st.integers(1, 65535)),
)
_tag = st.from_regex(r"[\w][\w.-]{0,127}", fullmatch=True).filter(str.isascii)


@st.composite
def references(draw: st.DrawFn) -> Reference:
    """A valid reference, built from the grammar's pieces."""
    path = "/".join(draw(st.lists(_component, min_size=1, max_size=4)))
    domain = draw(st.one_of(st.just(""), _domain))
    tag = draw(st.one_of(st.just(""), _tag))
    digest = draw(st.one_of(st.none(), _digests))
    ref = Reference(domain, path, tag, digest)
    if len(ref.name) > 255:
        ref = Reference(domain, path[: 255 - len(domain) - 1].rstrip("._-/") or "a", tag, digest)
    return ref


@given(st.one_of(hostile_text(), fragments(_REFERENCE_PIECES)))
@example("a" * 3000 + "!")
@example("A")
@example("\u212a")  # the Kelvin sign lowers to ASCII "k"
@example("a:" + "b" * 200)
def test_any_text_is_a_reference_or_an_invalid_reference_error(text: str) -> None:
    ref = outcome(Reference.parse, text, errors=InvalidReferenceError)
    if isinstance(ref, Reference):
        assert str(ref) == text
        assert Reference.parse(str(ref)) == ref
    normalized = outcome(Reference.parse_normalized, text, errors=InvalidReferenceError)
    if isinstance(normalized, Reference):
        assert normalized.domain
        assert Reference.parse(str(normalized)) == normalized
        assert Reference.parse_normalized(str(normalized)) == normalized
        assert Reference.parse_normalized(normalized.familiar()) == normalized


@given(references())
def test_references_round_trip(ref: Reference) -> None:
    parsed = Reference.parse(str(ref))
    assert str(parsed) == str(ref)
    assert parsed == ref or not ref.domain  # "a/b" alone reads "a" as a domain, as Go does
    normalized = Reference.parse_normalized(str(ref)) if ref.domain else None
    if normalized is not None:
        assert Reference.parse_normalized(str(normalized)) == normalized
        assert Reference.parse_normalized(normalized.familiar()) == normalized


@given(references(), hostile_text(), st.one_of(hostile_text(), fragments(_REFERENCE_PIECES)))
def test_with_tag_and_with_digest_accept_only_valid_values(
    ref: Reference, tag: str, digest: str
) -> None:
    tagged = outcome(ref.with_tag, tag, errors=InvalidReferenceError)
    if isinstance(tagged, Reference):
        assert str(Reference.parse(str(tagged))) == str(tagged)
    pinned = outcome(ref.with_digest, digest, errors=InvalidReferenceError)
    if isinstance(pinned, Reference):
        assert str(Reference.parse(str(pinned))) == str(pinned)


@given(
    st.one_of(
        hostile_text(),
        st.builds(
            lambda a, h: f"{a}:{h}",
            st.sampled_from(["sha256", "sha512", "SHA256", "md5", "", "sha256 "]),
            st.text(alphabet=string.hexdigits + "\u0661 \n", max_size=130),
        ),
    )
)
@example("sha256:" + "\uff10" * 64)  # fullwidth digits are not hex
def test_any_text_is_a_digest_or_a_digest_error(text: str) -> None:
    digest = outcome(Digest.parse, text, errors=DigestError)
    if isinstance(digest, Digest):
        assert str(digest) == text
        assert Digest.parse(str(digest)) == digest


@given(_digests)
def test_digests_round_trip(digest: Digest) -> None:
    assert Digest.parse(str(digest)) == digest


@given(st.one_of(hostile_text(), fragments(["linux", "amd64", "arm", "arm64", "v7", "/", "8"])))
@example("linux/arm/\u0130")
def test_any_platform_text_parses_or_is_a_usage_error(text: str) -> None:
    platform = outcome(Platform.parse, text, errors=UsageError)
    if isinstance(platform, Platform):
        assert Platform.parse(str(platform)) == platform


_platform_dicts = st.fixed_dictionaries(
    {
        "os": st.sampled_from(["linux", "windows"]),
        "architecture": st.sampled_from(["amd64", "arm"]),
    },
    optional={
        "variant": st.sampled_from(["v7", "v8"]),
        "os.version": st.just("10.0"),
        "os.features": st.just(["win32k"]),
        "features": st.just(["sse4"]),
    },
)


@given(mutated(_platform_dicts))
def test_any_platform_object_reads_or_is_a_manifest_error(data: object) -> None:
    platform = outcome(Platform.from_dict, data, errors=ManifestError)
    if isinstance(platform, Platform):
        assert Platform.from_dict(platform.to_dict()) == platform


@given(json_values())
def test_any_json_value_as_a_platform(data: object) -> None:
    outcome(Platform.from_dict, data, errors=ManifestError)


_TRANSPORT_PIECES = [
    "oci:",
    "oci-archive:",
    "docker-archive:",
    "dir:",
    "docker:",
    "docker://",
    "store:",
    "containers-storage:",
    "/tmp/x",
    "relative",
    ":",
    "@",
    "@0",
    "@-1",
    "@99999999999999999999999",
    "@\u0661",
    ":tag",
    "busybox",
    "sha256:" + "a" * 64,
]


@given(st.one_of(hostile_text(), fragments(_TRANSPORT_PIECES)))
@example("oci:/x:@\u00b2")
@example("docker-archive:/x:@\u0661")
def test_any_transport_reference_parses_or_is_an_invalid_reference_error(text: str) -> None:
    outcome(parse_transport_reference, text, errors=InvalidReferenceError)
    outcome(validate_ref_name, text, errors=InvalidReferenceError)


@given(st.one_of(hostile_text(), fragments(_REFERENCE_PIECES)))
def test_any_store_name_is_a_name_or_a_typed_error(text: str) -> None:
    from boxwright.store import names

    for function in (names.normalize_name, names.parse_name):
        outcome(function, text, errors=BoxwrightError)


# -- crashes the fuzzers found, kept as exact regressions ---------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "oci:/x:@\u00b2",  # str.isdigit() accepts "²"; int() raised ValueError
        "oci-archive:/x:@\u00b9",
        "docker-archive:/x:@" + "1" * 5000,  # int() refuses 4300+ digits with ValueError
    ],
)
def test_source_index_that_is_not_ascii_digits_is_an_invalid_reference(text: str) -> None:
    with pytest.raises(InvalidReferenceError, match="invalid source index"):
        parse_transport_reference(text)
