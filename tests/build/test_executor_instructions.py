"""Executor details: expansion errors name their line, an ONBUILD heredoc survives into the
child build, and ``COPY --exclude`` matches as BuildKit does (ignore-file patterns relative to
each source, ``**`` for any depth, ``!`` exceptions, wildcard sources by their own names)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from boxwright.errors import BuildError, ContainerfileError
from boxwright.store.store import Store
from boxwright_testing.builds import (
    BASE,
    config_of,
    run_build,
    tree_of,
    write_context,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")


@pytest.mark.parametrize(
    ("body", "line"),
    [
        ("ENV A=1\nWORKDIR /w/${MISSING:?is required}\n", 3),
        ("COPY ${NOPE:?no source} /x\n", 2),
        ("LABEL a=b\nLABEL x=${X:?label needs X}\n", 3),
    ],
)
def test_an_expansion_error_names_the_file_and_line(
    bstore: Store, tmp_path: Path, body: str, line: int
) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\n{body}")
    with pytest.raises(ContainerfileError) as caught:
        run_build(bstore, ctx)
    assert str(caught.value).startswith(f"{ctx / 'Containerfile'}:{line}: ")


def test_a_from_expansion_error_names_its_line(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", f"ARG B={BASE}\n\nFROM ${{IMG:?set_IMG}}\n")
    with pytest.raises(ContainerfileError, match=r"Containerfile:3: .*set_IMG"):
        run_build(bstore, ctx)


def test_an_onbuild_heredoc_is_stored_whole_and_runs_in_the_child(
    bstore: Store, tmp_path: Path
) -> None:
    text = f"FROM {BASE}\nONBUILD RUN <<EOF\necho one > /one\necho two > /two\nEOF\n"
    parent = write_context(tmp_path / "p", text)
    first = run_build(bstore, parent, tags=("localhost/onbuild-heredoc:1",))
    stored = config_of(bstore, first.image_id)["config"]["OnBuild"]
    assert stored == ["RUN <<EOF\necho one > /one\necho two > /two\nEOF"]
    child = write_context(tmp_path / "c", "FROM localhost/onbuild-heredoc:1\n")
    tree = tree_of(bstore, run_build(bstore, child).image_id)
    assert tree["one"][4] == "one\n" and tree["two"][4] == "two\n"


EXCLUDE_FILES = {
    "src/a.log": "a",
    "src/keep.txt": "k",
    "src/sub/b.log": "b",
    "src/sub/important.log": "i",
    "src/cache/x": "x",
    "src/cache/y": "y",
    "home.txt": "h",
    "home.md": "m",
    "homedir/in.txt": "t",
    "homedir/in.md": "d",
}


def _copied(store: Store, tmp_path: Path, line: str) -> set[str]:
    ctx = write_context(tmp_path / "ctx", f"FROM scratch\n{line}\n", EXCLUDE_FILES)
    tree = tree_of(store, run_build(store, ctx).image_id)
    return {p for p, e in tree.items() if e[0] == "f"}


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # relative to the source: a top-level pattern does not reach into subdirectories
        (
            "COPY --exclude=*.log src/ /d/",
            {"d/keep.txt", "d/sub/b.log", "d/sub/important.log", "d/cache/x", "d/cache/y"},
        ),
        # ** for any depth, ! exceptions (the last match decides), a directory with its contents
        (
            "COPY --exclude=**/*.log --exclude=!sub/important.log --exclude=cache src /d/",
            {"d/keep.txt", "d/sub/important.log"},
        ),
        # a wildcard source: each match is excluded by its own name and within itself
        (
            "COPY --exclude=*.md hom* /d/",
            {"d/home.txt", "d/in.txt"},
        ),
        # Go's filepath.Match: ? is one character, [..] a class
        ("COPY --exclude=cache/? --exclude=su[b] src /d/", {"d/a.log", "d/keep.txt"}),
    ],
)
def test_copy_exclude_matches_as_buildkit(
    bstore: Store, tmp_path: Path, line: str, expected: set[str]
) -> None:
    assert _copied(bstore, tmp_path, line) == expected


def test_copy_exclude_changes_the_cache_key_only_for_included_files(
    bstore: Store, tmp_path: Path
) -> None:
    line = "COPY --exclude=*.log src/ /d/"
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\n{line}\n", EXCLUDE_FILES)
    first = run_build(bstore, ctx)
    (ctx / "src" / "a.log").write_text("changed, but excluded")
    again = run_build(bstore, ctx)
    assert (again.image_id, again.cache_hits) == (first.image_id, 1)
    (ctx / "src" / "sub" / "b.log").write_text("changed and copied")
    third = run_build(bstore, ctx)
    assert third.cache_hits == 0 and third.image_id != first.image_id


def test_an_empty_exclusion_pattern_is_an_error(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", "FROM scratch\nCOPY --exclude=! src /d/\n", EXCLUDE_FILES)
    with pytest.raises(ContainerfileError, match=r"Containerfile:2: COPY --exclude: illegal"):
        run_build(bstore, ctx)


def test_run_secret_mount_and_network_none(bstore: Store, tmp_path: Path) -> None:
    text = f"""FROM {BASE}
RUN --mount=type=secret,id=token cat /run/secrets/token > /used.txt
RUN --mount=type=secret,id=token,target=/t.txt cat /t.txt >> /used.txt
RUN --network=none cat /proc/net/dev | wc -l > /ifaces.txt
"""
    ctx = write_context(tmp_path / "ctx", text)
    secret = tmp_path / "token.txt"
    secret.write_text("s3cret\n")
    tree = tree_of(bstore, run_build(bstore, ctx, secrets={"token": secret}).image_id)
    assert tree["used.txt"][4] == "s3cret\ns3cret\n"
    assert tree["ifaces.txt"][4] == "3\n"  # two header lines and the loopback only
    assert "run/secrets/token" not in tree and "t.txt" not in tree
    # as in BuildKit, a secret is optional unless the mount says required=true
    with pytest.raises(BuildError, match=r"Containerfile:2: building at STEP .*exit status 1"):
        run_build(bstore, ctx, no_cache=True)
    required = write_context(
        tmp_path / "req", f"FROM {BASE}\nRUN --mount=type=secret,id=token,required=true true\n"
    )
    with pytest.raises(BuildError, match=r"Containerfile:2: RUN: .*no secret 'token'"):
        run_build(bstore, required)


def test_add_of_a_url_in_a_containerfile(bstore: Store, tmp_path: Path) -> None:
    import http.server
    import threading

    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "file.bin").write_bytes(b"payload\n")
    directory = str(tmp_path / "www")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=directory, **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/file.bin"
        text = f"FROM scratch\nADD {url} /dl/\nADD --chmod=0600 {url} /named.bin\n"
        ctx = write_context(tmp_path / "ctx", text)
        tree = tree_of(bstore, run_build(bstore, ctx).image_id)
    finally:
        server.shutdown()
        server.server_close()
    assert tree["dl/file.bin"] == ("f", 0o600, 0, 0, "payload\n")
    assert tree["named.bin"] == ("f", 0o600, 0, 0, "payload\n")
