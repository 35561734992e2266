"""Ignore files: moby/patternmatcher's test cases (MatchesOrParentMatches semantics), Go's
filepath.Match cases it carries, ignorefile.ReadAll's line rules and buildah's choice of file."""

from __future__ import annotations

from pathlib import Path

import pytest

from boxwright.build.containerfile.ignore import (
    IgnoreMatcher,
    ignore_file,
    load_ignore,
    read_patterns,
)
from boxwright.errors import ContainerfileError

# (pattern, path, matches) — patternmatcher_test.go TestMatches; "inexact" cases match through
# a parent directory, which is what a build's context walk needs.
SINGLE = [
    ("**", "file", True),
    ("**", "file/", True),
    ("**/", "file", True),
    ("**/", "file/", True),
    ("**", "/", True),
    ("**/", "/", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**", "dir/file/", True),
    ("**/", "dir/file/", True),
    ("**/**", "dir/file", True),
    ("**/**", "dir/file/", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/file/", True),
    ("dir/**", "dir/dir2/file", True),
    ("dir/**", "dir/dir2/file/", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/*", "dir/dir2/file/", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file/", True),
    ("**file", "file", True),
    ("**file", "dir/file", True),
    ("**/file", "dir/file", True),
    ("**file", "dir/dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a**/*.txt", "a/file.txt", True),
    ("a**/*.txt", "a/dir/file.txt", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a/*.txt**", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc.def", "abcZdef", False),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\\\", "a\\", True),
    ("a\\*b", "a*b", True),
    # Go's filepath.Match cases (matchTests)
    ("abc", "abc", True),
    ("*", "abc", True),
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "abc", True),
    ("a*", "ab/c", True),
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^b-d]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "ab", False),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("a[^a][^a][^a]b", "a☺b", False),
    ("[a-ζ]*", "\u03b1", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "x", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("[\\-x]", "-", True),
    ("[\\-x]", "a", False),
    ("*x", "xxx", True),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), SINGLE)
def test_single_pattern(pattern: str, path: str, expected: bool) -> None:
    assert IgnoreMatcher([pattern]).matches(path) is expected


MULTI = [
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", False),
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    (["*.go"], ".", False),
    ([], "any/path/there", False),
]


@pytest.mark.parametrize(("patterns", "path", "expected"), MULTI)
def test_several_patterns(patterns: list[str], path: str, expected: bool) -> None:
    assert IgnoreMatcher(patterns).matches(path) is expected


#: An ignore file's rule (the classic builder's and Docker 20.10 BuildKit's walk, buildah's):
#: an excluded directory is not walked into unless an exception's text starts with ``DIR/``.
SKIPPING = [
    (["subdir", "!*/sub1*"], "subdir/sub1.txt", True),
    (["subdir", "!*/sub1*"], "sub1.txt", False),
    (["subdir", "!subdir/sub1*"], "subdir/sub1.txt", False),
    (["subdir", "!subdir/sub1*"], "subdir/sub2.txt", True),
    (["a", "!a/b/c"], "a/b/c", False),
    (["a", "!a/b/c"], "a/b/d", True),
    (["a/b", "!**/c"], "a/b/c", True),
    (["*", "!app/*.py"], "app/x.py", False),
    (["*", "!app/*.py"], "lib/x.py", True),
    (["*", "!app"], "app/deep/x", False),
    (["**/tmp", "!*/tmp/keep"], "x/tmp/keep", True),
    (["docs", "!docs"], "docs/README.md", False),
]


@pytest.mark.parametrize(("patterns", "path", "expected"), SKIPPING)
def test_an_excluded_directory_hides_what_a_wildcard_exception_names(
    patterns: list[str], path: str, expected: bool
) -> None:
    assert IgnoreMatcher(patterns, skip_excluded_dirs=True).matches(path) is expected


def test_exclude_patterns_match_path_by_path() -> None:
    # ``COPY --exclude`` (BuildKit's copy) re-includes what an exception matches anywhere
    assert IgnoreMatcher(["subdir", "!*/sub1*"]).matches("subdir/sub1.txt") is False


def test_load_ignore_skips_excluded_directories(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("subdir\n!*/sub1*\n")
    matcher = load_ignore(tmp_path, None)
    assert matcher.matches("subdir/sub1.txt") is True
    assert matcher.matches("other/sub1.txt") is False


@pytest.mark.parametrize(
    "pattern",
    ["[", "[]a]", "[-]", "[x-]", "[-x]", "\\", "[a-b-c]", "[^", "[^bc", "a[", "!"],
)
def test_bad_patterns(pattern: str) -> None:
    with pytest.raises(ContainerfileError, match=r"^\.dockerignore: "):
        IgnoreMatcher([pattern], ".dockerignore")


def test_read_patterns() -> None:
    text = "\ufeff# comment\n  spaced  \n\n/abs/path\n! negated/../x \n./dot\n#!not\ndir//sub/\n"
    assert read_patterns(text) == ["spaced", "abs/path", "!x", "dot", "dir/sub"]


def test_exclusion_flag() -> None:
    assert IgnoreMatcher(["docs", "  !docs/README.md"]).has_exclusions
    assert not IgnoreMatcher(["docs"]).has_exclusions
    assert not IgnoreMatcher(["", "  "])


def test_which_file_buildah_uses(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    cf = tmp_path / "files" / "Containerfile.dev"
    cf.parent.mkdir()
    cf.write_text("FROM scratch\n")
    assert ignore_file(ctx, cf) is None
    assert not load_ignore(ctx, cf)
    order = [
        ctx / ".dockerignore",
        ctx / ".containerignore",
        cf.parent / "Containerfile.dev.dockerignore",
        cf.parent / "Containerfile.dev.containerignore",
    ]
    for path in order:
        path.write_text(f"{path.name}\n")
        assert ignore_file(ctx, cf) == path
        assert load_ignore(ctx, cf).matches(path.name)
        assert not load_ignore(ctx, cf).matches("other")
    assert ignore_file(ctx, None) == ctx / ".containerignore"


def test_load_ignore_semantics(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("node_modules\n*.log\n!keep.log\n**/secret*\n")
    matcher = load_ignore(tmp_path, None)
    assert matcher.matches("node_modules/pkg/index.js")
    assert matcher.matches("debug.log")
    assert not matcher.matches("keep.log")
    assert not matcher.matches("sub/debug.log")
    assert matcher.matches("a/b/secret.txt")
    assert not matcher.matches("src/main.py")
