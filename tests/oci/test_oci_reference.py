"""The distribution reference grammar (tables from distribution/reference's tests)."""

from __future__ import annotations

import pytest

from boxwright.errors import InvalidReferenceError
from boxwright.oci.digest import Digest
from boxwright.oci.reference import Reference, parse_normalized

F64 = "f" * 64
F128 = "f" * 128

# reference_test.go TestReferenceParse: input, name, domain, tag, digest.
VALID = [
    ("test_com", "test_com", "", "", ""),
    ("test.com:tag", "test.com", "", "tag", ""),
    ("test.com:5000", "test.com", "", "5000", ""),
    ("test.com/repo:tag", "test.com/repo", "test.com", "tag", ""),
    ("test:5000/repo", "test:5000/repo", "test:5000", "", ""),
    ("test:5000/repo:tag", "test:5000/repo", "test:5000", "tag", ""),
    (f"test:5000/repo@sha256:{F64}", "test:5000/repo", "test:5000", "", f"sha256:{F64}"),
    (f"test:5000/repo:tag@sha256:{F64}", "test:5000/repo", "test:5000", "tag", f"sha256:{F64}"),
    ("lowercase:Uppercase", "lowercase", "", "Uppercase", ""),
    ("a/" * 127 + "a:tag-puts-this-over-max", "a/" * 127 + "a", "a", "tag-puts-this-over-max", ""),
    ("sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com/bar/baz/quux", "sub-dom1.foo.com", "", ""),
    (
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io/test.example.com/my-app",
        "b.gcr.io",
        "test.example.com",
        "",
    ),
    ("xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com/myimage", "xn--n3h.com", "xn--n3h.com", ""),
    (
        f"xn--7o8h.com/myimage:xn--7o8h.com@sha512:{F128}",
        "xn--7o8h.com/myimage",
        "xn--7o8h.com",
        "xn--7o8h.com",
        f"sha512:{F128}",
    ),
    ("foo_bar.com:8080", "foo_bar.com", "", "8080", ""),
    ("foo/foo_bar.com:8080", "foo/foo_bar.com", "foo", "8080", ""),
    ("192.168.1.1", "192.168.1.1", "", "", ""),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo", "192.168.1.1:5000", "5050", ""),
    ("[2001:db8::1]/repo", "[2001:db8::1]/repo", "[2001:db8::1]", "", ""),
    (
        "[2001:db8:1:2:3:4:5:6]/repo:tag",
        "[2001:db8:1:2:3:4:5:6]/repo",
        "[2001:db8:1:2:3:4:5:6]",
        "tag",
        "",
    ),
    ("[2001:db8::1]:5000/repo", "[2001:db8::1]:5000/repo", "[2001:db8::1]:5000", "", ""),
    (
        f"[2001:db8::1]:5000/repo:tag@sha256:{F64}",
        "[2001:db8::1]:5000/repo",
        "[2001:db8::1]:5000",
        "tag",
        f"sha256:{F64}",
    ),
    ("[::1]:5000/repo", "[::1]:5000/repo", "[::1]:5000", "", ""),
    ("Uppercase/lowercase:tag", "Uppercase/lowercase", "Uppercase", "tag", ""),
    ("localhost:5000/app", "localhost:5000/app", "localhost:5000", "", ""),
]

INVALID = [
    ("", "must not be empty"),
    (":justtag", "invalid reference format"),
    (f"@sha256:{F64}", "invalid reference format"),
    ("repo@sha256:" + "f" * 34, "invalid sha256 digest"),
    (f"validname@invaliddigest:{F64}", "unsupported digest algorithm"),
    ("Uppercase:tag", "must be lowercase"),
    ("test:5000/Uppercase/lowercase:tag", "must be lowercase"),
    ("a/" * 128 + "a:tag", "not be more than 255"),
    ("aa/asdf$$^/aa", "invalid reference format"),
    ("[2001:db8::1]", "invalid reference format"),
    ("[2001:db8::1]:5000", "invalid reference format"),
    ("[2001:db8::1]:tag", "invalid reference format"),
    ("[fe80::1%eth0]:5000/repo", "invalid reference format"),
    ("[fe80::1%@invalidzone]:5000/repo", "invalid reference format"),
    ("repo:" + "t" * 129, "invalid reference format"),
    ("repo:-tag", "invalid reference format"),
    ("a//b", "invalid reference format"),
]


@pytest.mark.parametrize(("text", "name", "domain", "tag", "digest"), VALID)
def test_parse_valid(text: str, name: str, domain: str, tag: str, digest: str) -> None:
    ref = Reference.parse(text)
    assert str(ref) == text
    assert ref.name == name
    assert ref.domain == domain
    assert ref.tag == tag
    assert (str(ref.digest) if ref.digest else "") == digest


@pytest.mark.parametrize(("text", "message"), INVALID)
def test_parse_invalid(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError, match=message.replace("$", r"\$")) as info:
        Reference.parse(text)
    if text:
        assert repr(text)[1:20] in str(info.value) or text[:20] in str(info.value)


# normalize_test.go TestParseRepositoryInfo: familiar, full, ambiguous spellings, domain, path.
REPOSITORY_INFO = [
    ("fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar", "docker.io", "fooo/bar"),
    ("ubuntu", "docker.io/library/ubuntu", "library/ubuntu", "docker.io", "library/ubuntu"),
    ("nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", "", "docker.io", "nonlibrary/ubuntu"),
    ("other/library", "docker.io/other/library", "", "docker.io", "other/library"),
    (
        "127.0.0.1:8000/private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        "",
        "127.0.0.1:8000",
        "private/moonbase",
    ),
    (
        "example.com:8000/privatebasee",
        "example.com:8000/privatebasee",
        "",
        "example.com:8000",
        "privatebasee",
    ),
    (
        "ubuntu-12.04-base",
        "docker.io/library/ubuntu-12.04-base",
        "index.docker.io/library/ubuntu-12.04-base",
        "docker.io",
        "library/ubuntu-12.04-base",
    ),
    ("foo", "docker.io/library/foo", "docker.io/foo", "docker.io", "library/foo"),
    ("library/foo/bar", "docker.io/library/foo/bar", "", "docker.io", "library/foo/bar"),
    ("store/foo/bar", "docker.io/store/foo/bar", "", "docker.io", "store/foo/bar"),
    ("Foo/bar", "Foo/bar", "", "Foo", "bar"),
    ("localhost/app", "localhost/app", "", "localhost", "app"),
]


@pytest.mark.parametrize(("familiar", "full", "ambiguous", "domain", "path"), REPOSITORY_INFO)
def test_normalization(familiar: str, full: str, ambiguous: str, domain: str, path: str) -> None:
    for text in filter(None, (familiar, full, ambiguous)):
        ref = Reference.parse_normalized(text)
        assert ref.familiar() == familiar
        assert str(ref) == full
        assert ref.domain == domain
        assert ref.path == path


def test_normalized_tags_and_digests() -> None:
    short = "busybox:latest@sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
    ref = parse_normalized(short)
    assert str(ref) == "docker.io/library/" + short
    assert ref.familiar() == short
    assert str(parse_normalized("busybox", default_tag=True)) == "docker.io/library/busybox:latest"
    assert str(parse_normalized("busybox")) == "docker.io/library/busybox"
    digested = parse_normalized(f"busybox@sha256:{F64}", default_tag=True)
    assert digested.tag == ""
    assert parse_normalized("busybox").with_default_tag().tag == "latest"


@pytest.mark.parametrize(
    "text",
    [
        "https://github.com/docker/docker",
        "docker/Docker",
        "-docker",
        "-docker/docker",
        "-docker.io/docker/docker",
        "docker///docker",
        "docker.io/docker/Docker",
        "[fc00::1]",
        "[fc00::1]:5000",
        "fc00::1:5000/debian",
        "[2001:db8:3:4::192.0.2.33]:5000/debian",
        "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        "docker-/docker",
        "____/____",
        "dock..er/docker",
        "dock_.er/docker",
        "docker/",
        "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255" * 4 + "/docker",
    ],
)
def test_normalized_invalid(text: str) -> None:
    with pytest.raises(InvalidReferenceError):
        parse_normalized(text)


@pytest.mark.parametrize(
    "text",
    [
        "docker/docker",
        "docker.io/debian",
        "index.docker.io/library/debian",
        "127.0.0.1:5000/debian",
        "192.168.0.1:80",
        "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
        "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
        "DOCKER/docker",
        "docker---rules/docker",
        "dock__er/docker",
        "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    ],
)
def test_normalized_valid(text: str) -> None:
    assert parse_normalized(text).path


def test_with_tag_and_digest() -> None:
    ref = Reference.parse("test.com:8000/foo")
    assert str(ref.with_tag("TAG5")) == "test.com:8000/foo:TAG5"
    digest = Digest.parse(f"sha256:{F64}")
    both = ref.with_digest(digest).with_tag("t")
    assert str(both) == f"test.com:8000/foo:t@sha256:{F64}"
    assert str(both.without_tag_or_digest()) == "test.com:8000/foo"
    assert ref.with_digest(f"sha256:{F64}").digest == digest
    with pytest.raises(InvalidReferenceError, match="invalid tag '-foo'"):
        ref.with_tag("-foo")
    with pytest.raises(InvalidReferenceError, match="foo"):
        ref.with_digest("foo")
