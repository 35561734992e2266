"""Build contexts fetched from elsewhere (``boxwright.build.remote``): git repositories served
by a local ``git daemon``, tarballs and lone Containerfiles served by a local HTTP server.

Each build copies the whole context into the image (``COPY . /ctx/``) so the test states the
exact file tree the context was; every fetched context leaves nothing behind in the store's
``tmp``.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard

from boxwright.build.contextnames import GitSource, parse_git
from boxwright.errors import (
    BuildContextError,
    CompressionError,
    LayerError,
    TransportError,
    UsageError,
)
from boxwright.store.store import Store
from boxwright_testing.builds import run_build, tree_of
from boxwright_testing.context_servers import GitServer, git

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")

COPY_ALL = "FROM scratch\nCOPY . /ctx/\n"


def _files(store: Store, image: str) -> dict[str, str]:
    """Path → content of the regular files of the image ("<dir>" for directories)."""
    return {
        path: (data if kind == "f" else f"<{kind}>")
        for path, (kind, _mode, _uid, _gid, data) in tree_of(store, image).items()
    }


def _leftovers(store: Store) -> list[str]:
    tmp = store.layout.tmp_dir
    return sorted(p.name for p in tmp.iterdir() if p.name.startswith("context-"))


def _build(store: Store, source: str, **options: object) -> str:
    result = run_build(store, Path("."), context_source=source, **options)
    return result.image_id


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://host/repo.git", GitSource("https://host/repo.git")),
        ("https://host/repo.git#v1:sub/dir", GitSource("https://host/repo.git", "v1", "sub/dir")),
        ("git://host/repo#:docs", GitSource("git://host/repo", "", "docs")),
        ("git@host:team/repo.git#main", GitSource("git@host:team/repo.git", "main")),
        ("ssh://git@host/repo.git", GitSource("ssh://git@host/repo.git")),
        (
            "github.com/a/b#refs/pull/1/head",
            GitSource("https://github.com/a/b", "refs/pull/1/head"),
        ),
        ("https://host/context.tar.gz", None),
        ("./dir", None),
        ("user@host", None),
    ],
)
def test_git_urls_as_buildkit_reads_them(text: str, expected: GitSource | None) -> None:
    assert parse_git(text) == expected


def test_a_ref_that_git_would_take_for_an_option_is_refused() -> None:
    with pytest.raises(UsageError) as caught:
        parse_git("git://host/repo.git#--upload-pack=touch /tmp/x")
    assert str(caught.value) == (
        "git context 'git://host/repo.git#--upload-pack=touch /tmp/x': "
        "'--upload-pack=touch /tmp/x' is not a ref"
    )


# -- git ---------------------------------------------------------------------------------------


def test_git_context_from_git_daemon_ref_and_subdir(bstore: Store, git_server: GitServer) -> None:
    url = git_server.repo(
        {
            "Containerfile": COPY_ALL,
            "a.txt": "old\n",
            "sub/Containerfile": COPY_ALL,
            "sub/s.txt": "s1\n",
        },
        {
            "Containerfile": COPY_ALL,
            "a.txt": "new\n",
            "sub/Containerfile": COPY_ALL,
            "sub/s.txt": "s2\n",
        },
        tags={"v1": 0},
    )
    head = _build(bstore, url)
    assert _files(bstore, head) == {
        "ctx": "<d>",
        "ctx/Containerfile": COPY_ALL,
        "ctx/a.txt": "new\n",
        "ctx/sub": "<d>",
        "ctx/sub/Containerfile": COPY_ALL,
        "ctx/sub/s.txt": "s2\n",
    }
    tagged = _build(bstore, f"{url}#v1:sub")
    assert _files(bstore, tagged) == {
        "ctx": "<d>",
        "ctx/Containerfile": COPY_ALL,
        "ctx/s.txt": "s1\n",
    }
    first = git(git_server.bare(url), "rev-parse", "main~1").strip()
    for ref in (first, first[:10]):  # a commit by its full name, and by a prefix
        image = _build(bstore, f"{url}#{ref}")
        assert _files(bstore, image)["ctx/a.txt"] == "old\n"
    assert _leftovers(bstore) == []


def test_git_context_with_a_submodule_is_checked_out_recursively(
    bstore: Store, git_server: GitServer, tmp_path: Path
) -> None:
    lib = git_server.repo({"l.txt": "lib\n"})
    work = tmp_path / "super"
    work.mkdir()
    git(work, "init", "-q")
    (work / "Containerfile").write_text(COPY_ALL)
    git(work, "submodule", "add", "-q", lib, "lib")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "with lib")
    git(git_server.base, "clone", "-q", "--bare", str(work), "super.git")
    image = _build(bstore, f"{git_server.url}/super.git")
    assert _files(bstore, image) == {
        "ctx": "<d>",
        "ctx/.gitmodules": f'[submodule "lib"]\n\tpath = lib\n\turl = {lib}\n',
        "ctx/Containerfile": COPY_ALL,
        "ctx/lib": "<d>",
        "ctx/lib/l.txt": "lib\n",
    }


def test_a_submodule_on_a_local_path_is_refused(
    bstore: Store, git_server: GitServer, tmp_path: Path
) -> None:
    """Only http(s), git and ssh are allowed: a submodule cannot read the host's files."""
    secret = git_server.repo({"secret.txt": "host only\n"})
    work = tmp_path / "sneaky"
    work.mkdir()
    git(work, "init", "-q")
    (work / "Containerfile").write_text(COPY_ALL)
    git(work, "submodule", "add", "-q", str(git_server.bare(secret)), "lib")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "local submodule")
    git(git_server.base, "clone", "-q", "--bare", str(work), "sneaky.git")
    with pytest.raises(BuildContextError) as caught:
        _build(bstore, f"{git_server.url}/sneaky.git")
    assert str(caught.value).startswith(f"git submodule of {git_server.url}/sneaky.git failed: ")
    assert _leftovers(bstore) == []


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ("#nope", "git fetch of {url} failed: fatal: couldn't find remote ref nope"),
        ("#:missing", "{url}: 'missing' is not a directory of the repository"),
        ("#:../..", "{url}: '../..' is not a directory of the repository"),
        ("#:link", "{url}: 'link' is not a directory of the repository"),
    ],
)
def test_git_refs_and_subdirs_that_are_not_there(
    bstore: Store, git_server: GitServer, fragment: str, message: str
) -> None:
    url = git_server.repo({"Containerfile": COPY_ALL})
    work = git_server.base / "linking"
    if not work.exists():
        work.mkdir()
        git(work, "init", "-q")
        (work / "link").symlink_to("/etc")
        git(work, "add", "-A")
        git(work, "commit", "-q", "-m", "a link out")
    git(work, "push", "-q", "-f", str(git_server.bare(url)), "HEAD:main")
    with pytest.raises(BuildContextError) as caught:
        _build(bstore, url + fragment)
    assert str(caught.value) == message.format(url=url)
    assert _leftovers(bstore) == []


def test_a_git_context_over_the_limit_is_refused_before_checkout(
    bstore: Store, git_server: GitServer
) -> None:
    url = git_server.repo({"Containerfile": COPY_ALL, "big": "x" * 200_000})
    with pytest.raises(BuildContextError) as caught:
        _build(bstore, url, context_limit=100_000)
    assert str(caught.value) in (
        f"{url}: the commit's files are larger than the limit of 100000 bytes",
        f"git fetch of {url}: more than the limit of 100000 bytes",
    )
    assert _leftovers(bstore) == []


# -- tarballs and lone Containerfiles over HTTP ----------------------------------------------


def _tar(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(rel)
            info.size, info.mode, info.uid, info.gid, info.mtime = len(data), 0o640, 7, 8, 1
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


_COMPRESS = {
    "none": lambda data: data,
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


@pytest.mark.parametrize("compression", sorted(_COMPRESS))
def test_tarball_context_from_a_local_http_server(
    bstore: Store, http_dir: tuple[Path, str], compression: str
) -> None:
    root, base = http_dir
    tarball = _tar({"Containerfile": COPY_ALL, "dir/f.txt": "f\n"})
    (root / "context.bin").write_bytes(_COMPRESS[compression](tarball))  # no telling name
    image = _build(bstore, f"{base}/context.bin")
    tree = tree_of(bstore, image)
    assert tree == {
        "ctx": ("d", 0o755, 0, 0, ""),
        "ctx/Containerfile": ("f", 0o640, 0, 0, COPY_ALL),
        "ctx/dir": ("d", 0o755, 0, 0, ""),
        "ctx/dir/f.txt": ("f", 0o640, 0, 0, "f\n"),
    }
    assert _leftovers(bstore) == []


def test_a_url_that_is_not_a_tar_is_a_lone_containerfile(
    bstore: Store, http_dir: tuple[Path, str]
) -> None:
    root, base = http_dir
    (root / "Containerfile").write_text("FROM scratch\nLABEL from=url\n")
    result = run_build(bstore, Path("."), context_source=f"{base}/Containerfile")
    labels = bstore.images.config(bstore.images.get(result.image_id)).config.labels
    assert labels == {"from": "url"}
    with pytest.raises(UsageError) as caught:
        _build(bstore, f"{base}/Containerfile", containerfile="other")
    assert str(caught.value) == (
        f"{base}/Containerfile is a lone Containerfile: it takes no other Containerfile (-f)"
    )


def test_dash_f_names_a_file_inside_the_fetched_context(
    bstore: Store, http_dir: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, base = http_dir
    (root / "c.tar").write_bytes(
        _tar({"build/Dockerfile.x": "FROM scratch\nCOPY in.txt /\n", "in.txt": "in\n"})
    )
    monkeypatch.chdir(tmp_path)
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "Dockerfile.x").write_text("FROM scratch\nLABEL local=yes\n")
    image = _build(bstore, f"{base}/c.tar", containerfile="build/Dockerfile.x")
    assert _files(bstore, image) == {"in.txt": "in\n"}
    with pytest.raises(UsageError) as caught:
        _build(bstore, f"{base}/c.tar", containerfile="../../etc/passwd")
    assert str(caught.value) == f"no Containerfile '../../etc/passwd' in the context {base}/c.tar"


def test_downloads_over_the_limit_missing_or_cut_short(
    bstore: Store, http_dir: tuple[Path, str]
) -> None:
    root, base = http_dir
    (root / "big.tar").write_bytes(_tar({"Containerfile": COPY_ALL, "f": "x" * 50_000}))
    with pytest.raises(TransportError) as caught:
        _build(bstore, f"{base}/big.tar", context_limit=20_000)
    size = (root / "big.tar").stat().st_size
    assert str(caught.value) == (
        f"downloading {base}/big.tar: {size} bytes is more than 20000 bytes"
    )
    bomb = gzip.compress(_tar({"Containerfile": COPY_ALL, "f": "\0" * 400_000}))
    (root / "bomb.tgz").write_bytes(bomb)
    assert len(bomb) < 20_000
    with pytest.raises(BuildContextError) as caught:
        _build(bstore, f"{base}/bomb.tgz", context_limit=20_000)
    assert str(caught.value) == (
        f"{base}/bomb.tgz: the archive is larger than the limit of 20000 bytes"
    )
    with pytest.raises(TransportError) as caught:
        _build(bstore, f"{base}/missing.tar")
    assert str(caught.value) == f"downloading {base}/missing.tar failed: HTTP 404"
    assert _leftovers(bstore) == []


_ENDED = "Compressed file ended before the end-of-stream marker was reached"


@pytest.mark.parametrize(
    ("compression", "error", "message"),
    [
        ("none", LayerError, "tar entry 'f' is truncated: the layer ends inside it"),
        ("gzip", CompressionError, f"gzip stream is truncated: {_ENDED}"),
        ("xz", LayerError, f"the compressed stream is damaged ({_ENDED})"),
        ("bzip2", LayerError, f"the compressed stream is damaged ({_ENDED})"),
        (
            "zstd",
            CompressionError,
            "zstd stream is truncated: the input ended inside a frame (after 1 complete frame(s))",
        ),
    ],
)
def test_a_tarball_cut_short_is_an_error_not_a_partial_context(
    bstore: Store,
    http_dir: tuple[Path, str],
    compression: str,
    error: type[Exception],
    message: str,
) -> None:
    root, base = http_dir
    whole = _COMPRESS[compression](_tar({"Containerfile": COPY_ALL, "f": os.urandom(8000).hex()}))
    (root / "cut").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(error) as caught:
        _build(bstore, f"{base}/cut")
    assert type(caught.value) is error
    assert str(caught.value) == f"{base}/cut: {message}"
    assert _leftovers(bstore) == []


def test_git_is_installed_for_the_tests() -> None:
    """scripts/install-test-deps installs git: the git-context tests above must not skip."""
    assert subprocess.run(["git", "--version"], capture_output=True, check=False).returncode == 0


def test_a_password_in_a_context_url_is_never_shown(
    bstore: Store, git_server: GitServer, http_dir: tuple[Path, str]
) -> None:
    port = git_server.url.rsplit(":", 1)[1]
    url = f"git://user:s3cret@127.0.0.1:{port}/not-there.git"
    with pytest.raises(BuildContextError) as caught:
        _build(bstore, url)
    shown = f"git://user:***@127.0.0.1:{port}/not-there.git"
    assert str(caught.value).startswith(f"git fetch of {shown} failed: ")
    assert "s3cret" not in str(caught.value)
    _, base = http_dir
    web = base.replace("http://", "http://user:s3cret@") + "/missing.tar"
    with pytest.raises(TransportError) as failed:
        _build(bstore, web)
    assert str(failed.value) == (f"downloading {web.replace(':s3cret@', ':***@')} failed: HTTP 404")


def test_a_fetched_context_leaves_no_remembered_file_hashes(
    bstore: Store, http_dir: tuple[Path, str]
) -> None:
    """The store remembers hashes of files by path; a fetched context's paths never return."""
    root, base = http_dir
    (root / "c.tar").write_bytes(_tar({"Containerfile": COPY_ALL, "f": "f\n"}))
    _build(bstore, f"{base}/c.tar")
    remembered = bstore.layout.root / "build-file-hashes.json"
    known = json.loads(remembered.read_text())["files"] if remembered.exists() else {}
    assert [path for path in known if "/tmp/context-" in path] == []
