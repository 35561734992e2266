"""COPY, ADD and RUN mounts hold to BuildKit's file rules (dockerfile2llb and fsutil's copy),
each stated as the exact tree BuildKit makes:

* ``COPY --from`` keeps the owners the files have in the stage or image (``--link`` and
  ``--parents`` too); only ``--chown`` changes them, and build-context files become ``0:0``;
* a link in a source resolves inside its own root (the context, the stage, the image): an
  absolute target is relative to that root and ``..`` stops at it;
* a destination through a link (dangling, absolute, relative, climbing) is followed inside
  the container's root, the missing target made;
* ``RUN --mount=type=cache,from=STAGE,source=DIR`` starts from a copy of the stage's ``DIR``;
* a wildcard matching nothing adds nothing, and a source that expands to nothing is the root;
* an ignore file never re-includes what lies under a directory it excluded as a whole.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boxwright.errors import BuildError
from boxwright.store.store import Store
from boxwright_testing.builds import BASE, run_build, tree_of, write_context

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")

#: A stage whose files have owners other than root: /out/d 5:6 (0750), /out/d/f 7:42 (0640),
#: /out/d/l a link 9:9, /out/top 0:42; /etc/gshadow 0:42 as Debian has it.
OWNED = f"""FROM {BASE} AS build
RUN mkdir -p /out/d && echo f > /out/d/f && ln -s f /out/d/l && echo t > /out/top \\
 && chown 5:6 /out/d && chmod 0750 /out/d && chown 7:42 /out/d/f && chmod 0640 /out/d/f \\
 && chown -h 9:9 /out/d/l && chown 0:42 /out/top \\
 && echo 'root:*::' > /etc/gshadow && chown 0:42 /etc/gshadow && chmod 0640 /etc/gshadow
"""


def test_copy_from_a_stage_keeps_its_owners(bstore: Store, tmp_path: Path) -> None:
    text = OWNED + (
        f"FROM {BASE}\n"
        "COPY --from=build /out/ /kept/\n"
        "COPY --from=build /out/d /kept-dir\n"
        "COPY --from=build --chown=1:2 /out/ /chowned/\n"
        "COPY --from=build --chown=alice /out/top /named\n"
        "COPY --link --from=build /out/ /linked/\n"
        "COPY --parents --from=build /out/d/f /parents/\n"
        "COPY --from=build /etc/gshadow /etc/gshadow\n"
        "COPY ctx.txt /ctx.txt\n"
        "ADD ctx.txt /added.txt\n"
    )
    ctx = write_context(tmp_path / "ctx", text, {"ctx.txt": "c\n"})
    os.chown(ctx / "ctx.txt", 1234, 1234)
    tree = tree_of(bstore, run_build(bstore, ctx, timestamp=0).image_id)
    for top in ("kept", "linked"):
        assert tree[top][:4] == ("d", 0o755, 0, 0)  # made by the copy: root's
        assert tree[f"{top}/d"][:4] == ("d", 0o750, 5, 6)
        assert tree[f"{top}/d/f"] == ("f", 0o640, 7, 42, "f\n")
        assert tree[f"{top}/d/l"] == ("l", 0o777, 9, 9, "f")
        assert tree[f"{top}/top"] == ("f", 0o644, 0, 42, "t\n")
    assert tree["kept-dir"][:4] == ("d", 0o755, 0, 0)  # the contents of d, into a new dir
    assert tree["kept-dir/f"] == ("f", 0o640, 7, 42, "f\n")
    assert tree["chowned/d"][:4] == ("d", 0o750, 1, 2)
    assert tree["chowned/d/f"] == ("f", 0o640, 1, 2, "f\n")
    assert tree["chowned/d/l"] == ("l", 0o777, 1, 2, "f")
    assert tree["named"] == ("f", 0o644, 1000, 1000, "t\n")
    assert tree["parents/out"][:4] == ("d", 0o755, 0, 0)
    assert tree["parents/out/d/f"] == ("f", 0o640, 7, 42, "f\n")
    assert tree["etc/gshadow"] == ("f", 0o640, 0, 42, "root:*::\n")
    assert tree["ctx.txt"] == ("f", 0o644, 0, 0, "c\n")
    assert tree["added.txt"] == ("f", 0o644, 0, 0, "c\n")


#: A stage with links: /bin/myexe -> /usr/local/bin/real (absolute), /opt/up ->
#: ../../../../usr/local/bin (climbing above the root), /lib64 -> /usr/lib (a directory),
#: /outside -> a host path that exists on the host but not in the stage.
LINKS = f"""FROM {BASE} AS s
RUN mkdir -p /usr/local/bin /usr/lib /opt && echo real > /usr/local/bin/real \\
 && echo one > /usr/lib/one.so && echo two > /usr/lib/two.so \\
 && ln -s /usr/local/bin/real /bin/myexe && ln -s ../../../../usr/local/bin /opt/up \\
 && ln -s /usr/lib /lib64 && ln -s {{host}} /outside
"""


def test_links_in_a_from_source_resolve_inside_its_root(bstore: Store, tmp_path: Path) -> None:
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_text("host only\n")
    text = LINKS.format(host=host) + (
        "FROM scratch\n"
        "COPY --from=s /bin/myexe /usr/bin/\n"
        "COPY --from=s /opt/up/real /climbed\n"
        "COPY --from=s /lib64/*.so /libs/\n"
        "COPY --from=s /lib64 /whole-lib/\n"
    )
    ctx = write_context(tmp_path / "ctx", text)
    tree = tree_of(bstore, run_build(bstore, ctx, timestamp=0).image_id)
    assert tree["usr/bin/myexe"] == ("f", 0o644, 0, 0, "real\n")  # the link's name
    assert tree["climbed"] == ("f", 0o644, 0, 0, "real\n")
    assert tree["libs/one.so"] == ("f", 0o644, 0, 0, "one\n")
    assert tree["libs/two.so"] == ("f", 0o644, 0, 0, "two\n")
    assert sorted(p for p in tree if p.startswith("whole-lib/")) == [
        "whole-lib/one.so",
        "whole-lib/two.so",
    ]
    (ctx / "Containerfile").write_text(
        LINKS.format(host=host) + "FROM scratch\nCOPY --from=s /outside/secret /x\n"
    )
    with pytest.raises(BuildError) as caught:
        run_build(bstore, ctx)
    assert str(caught.value) == (
        f"{ctx / 'Containerfile'}:7: COPY: COPY source '/outside/secret': no such file in "
        "stage or image 's'"
    )


def test_links_in_the_context_resolve_inside_it(bstore: Store, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.txt").write_text("host only\n")
    text = "FROM scratch\nCOPY abs/* /abs/\nCOPY rel /rel\nCOPY climb/a.txt /climb.txt\n"
    ctx = write_context(tmp_path / "ctx", text, {"inside/a.txt": "in\n", "inside/b.txt": "b\n"})
    (ctx / "abs").symlink_to("/inside")  # absolute: the context's /inside
    (ctx / "rel").symlink_to("inside/a.txt")
    (ctx / "climb").symlink_to("../../../../../../inside")  # ``..`` stops at the context
    tree = tree_of(bstore, run_build(bstore, ctx, timestamp=0).image_id)
    assert tree["abs/a.txt"][4] == "in\n"
    assert tree["abs/b.txt"][4] == "b\n"
    assert tree["rel"] == ("f", 0o644, 0, 0, "in\n")
    assert tree["climb.txt"] == ("f", 0o644, 0, 0, "in\n")
    (ctx / "Containerfile").write_text("FROM scratch\nCOPY out/* /x/\n")
    (ctx / "out").symlink_to(outside)
    with pytest.raises(BuildError) as caught:
        run_build(bstore, ctx)
    assert str(caught.value) == (
        f"{ctx / 'Containerfile'}:2: COPY: COPY source 'out/*': no such file in the build context"
    )


#: An image with dangling links: /src -> /symlink (absolute), /rel -> made/deeper (relative),
#: /up -> ../../../top (climbing), /chain -> /src (a link to a link), /file -> /target.txt.
DANGLING = f"""FROM {BASE} AS links
RUN ln -s /symlink /src && ln -s made/deeper /rel && ln -s ../../../top /up \\
 && ln -s /src /chain && ln -s /target.txt /file && echo old > /target.txt
FROM links
COPY f /src/
COPY f /rel/
COPY f /up/
COPY f /chain/sub/g
COPY f /file
"""


def test_a_destination_through_a_dangling_link_follows_it(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", DANGLING, {"f": "F\n"})
    tree = tree_of(bstore, run_build(bstore, ctx, timestamp=0).image_id)
    assert tree["src"] == ("l", 0o777, 0, 0, "/symlink")
    assert tree["symlink"][:4] == ("d", 0o755, 0, 0)
    assert tree["symlink/f"] == ("f", 0o644, 0, 0, "F\n")
    assert tree["rel"][4] == "made/deeper"
    assert tree["made/deeper/f"][4] == "F\n"
    assert tree["up"][4] == "../../../top"
    assert tree["top/f"][4] == "F\n"
    assert tree["chain"][4] == "/src"
    assert tree["symlink/sub/g"] == ("f", 0o644, 0, 0, "F\n")
    assert tree["file"] == ("l", 0o777, 0, 0, "/target.txt")
    assert tree["target.txt"] == ("f", 0o644, 0, 0, "F\n")


CACHE_FROM = f"""FROM {BASE} AS deps
RUN mkdir -p /deps/sub && echo a > /deps/a.txt && chown 7:8 /deps/a.txt && ln -s /deps /dl
FROM {BASE} AS use
RUN --mount=type=cache,from=deps,source=/deps,target=/c \\
    cat /c/a.txt > /got && stat -c %u:%g /c/a.txt > /owner && touch /c/new
RUN --mount=type=cache,from=deps,source=/deps,target=/c ls /c > /second
RUN --mount=type=cache,from=deps,source=/dl,target=/c ls /c > /through-link
RUN --mount=type=cache,from=deps,target=/c ls /c/deps > /whole
RUN --mount=type=bind,from=deps,source=/dl/a.txt,target=/b cat /b > /bound
FROM deps
COPY --from=use /got /owner /second /through-link /whole /bound /
RUN ls /deps > /after
"""


def test_a_cache_mount_from_a_stage_starts_with_its_files(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", CACHE_FROM)
    tree = tree_of(bstore, run_build(bstore, ctx, timestamp=0).image_id)
    assert tree["got"][4] == "a\n"
    assert tree["owner"][4] == "7:8\n"
    assert tree["second"][4] == "a.txt\nnew\nsub\n"  # one cache per id, stage and source
    assert tree["through-link"][4] == "a.txt\nsub\n"  # /dl is another source: its own cache
    assert tree["whole"][4] == "a.txt\nsub\n"
    assert tree["bound"][4] == "a\n"
    assert tree["after"][4] == "a.txt\nsub\n"  # the stage's own files are untouched


def test_empty_wildcards_add_nothing(bstore: Store, tmp_path: Path) -> None:
    text = (
        f"FROM {BASE}\n"
        "ARG unset\n"
        "COPY *foo *.txt /dir/\n"
        "COPY nomatch* /empty/\n"
        "COPY ${unset} /whole/\n"
        'COPY ["${unset}", "/json/"]\n'
    )
    files = {"a.txt": "a\n", "b.txt": "b\n", "sub/c.md": "c\n", ".dockerignore": "b.txt\n"}
    ctx = write_context(tmp_path / "ctx", text, files)
    tree = tree_of(bstore, run_build(bstore, ctx, timestamp=0).image_id)
    assert sorted(p for p in tree if p.startswith("dir/")) == ["dir/a.txt"]
    assert "empty" not in tree
    for top in ("whole", "json"):
        assert sorted(p for p in tree if p.startswith(f"{top}/")) == [
            f"{top}/.dockerignore",
            f"{top}/Containerfile",
            f"{top}/a.txt",
            f"{top}/sub",
            f"{top}/sub/c.md",
        ]
    where = ctx / "Containerfile"
    for line, error in (
        ("COPY nodir/*.txt /x/", "COPY source 'nodir/*.txt': no such file in the build context"),
        ("COPY missing a.txt /x/", "COPY source 'missing': no such file in the build context"),
    ):
        where.write_text(f"FROM {BASE}\n{line}\n")
        with pytest.raises(BuildError) as caught:
            run_build(bstore, ctx)
        assert str(caught.value) == f"{where}:2: COPY: {error}"


@pytest.mark.parametrize("name", [".dockerignore", ".containerignore"])
def test_an_ignore_file_never_reincludes_under_an_excluded_directory(
    bstore: Store, tmp_path: Path, name: str
) -> None:
    files = {
        name: "subdir\n!*/sub1*\nother\n!other/keep*\n",
        "subdir/sub1.txt": "1\n",
        "subdir/sub2.txt": "2\n",
        "other/keep.txt": "k\n",
        "other/drop.txt": "d\n",
        "top/sub1.txt": "t\n",
    }
    ctx = write_context(tmp_path / "ctx", "FROM scratch\nCOPY . /ctx/\n", files)
    tree = tree_of(bstore, run_build(bstore, ctx, timestamp=0).image_id)
    assert sorted(tree) == [
        "ctx",
        f"ctx/{name}",
        "ctx/Containerfile",
        "ctx/other",
        "ctx/other/keep.txt",
        "ctx/top",
        "ctx/top/sub1.txt",
    ]
