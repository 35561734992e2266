"""A build as an unprivileged user gives the same image as the same build as root.

The user has no subordinate ID range, so its RUN steps see one mapped ID (root); owners a
COPY asks for go through the container's side record into the layer. The build runs first as
root (which also loads every module the forked child needs: the interpreter may be unreadable
to the user), then as the user in a forked child, each in its own store.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from boxwright.build.context import BuildOptions
from boxwright.build.executor import build
from boxwright.store.pullpush import pull
from boxwright.store.store import Store
from boxwright_testing.builds import BASE, glibc_context
from boxwright_testing.users import User, as_user, chown_tree

T = TypeVar("T")
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a test user")

CONTAINERFILE = f"""FROM {BASE}
COPY --chown=1000:1000 f.txt /home/alice/f.txt
RUN echo hi > /hi && mkdir -p /srv/data
ENV MODE=rootless
"""


def _build(root: str, context: str, layout: str) -> tuple[str, str, int]:
    store = Store(root)
    pull(f"oci:{layout}:1", store=store, name=BASE)
    result = build(BuildOptions(context=Path(context), timestamp=0), store)
    return result.digest, result.image_id, len(store.containers.list())


def _as_root_and_user(
    fn: Callable[[str, str, str], T], user: User, user_dir: Path, base_layout: Path
) -> tuple[T, T]:
    """``fn(store, context, layout)`` on ``user_dir/ctx`` as root, then as ``user``, each with
    its own store and a copy of the base layout the user owns."""
    layout = user_dir / "layout"
    shutil.copytree(base_layout, layout)
    chown_tree(user_dir, user)
    ctx, where = str(user_dir / "ctx"), str(layout)
    as_root = fn(str(user_dir / "root-store"), ctx, where)
    return as_root, as_user(user, fn, str(user_dir / "user-store"), ctx, where)


def test_a_rootless_build_gives_the_root_build_digest(
    unprivileged_user: User, user_dir: Path, base_layout: Path
) -> None:
    ctx = user_dir / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    (ctx / "f.txt").write_text("f\n")
    as_root, as_user_result = _as_root_and_user(_build, unprivileged_user, user_dir, base_layout)
    assert as_user_result == as_root
    assert as_root[2] == 0  # no working container left behind


# Stages a and b wait for each other's marker in a shared cache mount: the build succeeds
# only when both RUN steps run at once. The last stage (a glibc rootfs, where fakeroot's
# preload works) chowns in a RUN: with no subordinate range the namespace maps one ID, and
# the owners still reach the layer through the runtime's fakeroot state.
PARALLEL = f"""FROM {BASE} AS a
RUN {{mount}} {{wait_a}}
FROM {BASE} AS b
RUN {{mount}} {{wait_b}}
FROM scratch
COPY rootfs/ /
RUN touch /f && mkdir /d && chown 1000:1000 /f /d && chown 7:8 /tmp
COPY --from=a /a /a
COPY --from=b /b /b
"""
WAIT = (
    "touch /sync/{me}; i=0; while [ ! -f /sync/{other} ]; do i=$((i+1)); "
    "[ $i -lt 200 ] || exit 7; sleep 0.1; done; echo {me} > /{me}"
)


def _build_tree(root: str, context: str, layout: str) -> dict[str, tuple[int, int, str]]:
    """Build as the calling user; the final image's files as its layers record them (owner,
    group, content of small files), later layers over earlier ones."""
    import json
    import tarfile

    from boxwright.oci.digest import Digest

    store = Store(root)
    pull(f"oci:{layout}:1", store=store, name=BASE)
    result = build(BuildOptions(context=Path(context), timestamp=0), store)
    manifest = json.loads(store.images.manifest(store.images.get(result.image_id)))
    tree: dict[str, tuple[int, int, str]] = {}
    for layer in manifest["layers"]:
        with tarfile.open(store.layout.blob_path(Digest.parse(layer["digest"])), "r:*") as tar:
            for member in tar:
                small = member.isreg() and member.size < 64
                data = tar.extractfile(member) if small else None
                text = data.read().decode() if data is not None else ""
                tree[member.name.rstrip("/")] = (member.uid, member.gid, text)
    return tree


def test_rootless_stages_run_in_parallel_and_run_chown_reaches_the_layer(
    unprivileged_user: User, user_dir: Path, base_layout: Path
) -> None:
    ctx = glibc_context(user_dir / "ctx")
    (ctx / "Containerfile").write_text(
        PARALLEL.format(
            mount="--mount=type=cache,target=/sync,id=sync",
            wait_a=WAIT.format(me="a", other="b"),
            wait_b=WAIT.format(me="b", other="a"),
        )
    )
    as_root, tree = _as_root_and_user(_build_tree, unprivileged_user, user_dir, base_layout)
    assert tree["f"] == (1000, 1000, "") and tree["d"] == (1000, 1000, "")
    assert tree["tmp"] == (7, 8, "")
    assert tree["a"] == (0, 0, "a\n") and tree["b"] == (0, 0, "b\n")
    assert tree["usr/bin/chown"][:2] == (0, 0)
    assert tree == as_root


# The stage's owners reach its layer through the side record (the user cannot chown); COPY
# --from must read them there, and a cache mount from the stage starts with its files.
FROM_STAGE = f"""FROM {BASE} AS s
COPY --chown=7:42 f.txt /out/f.txt
COPY --chown=5:6 f.txt /out/d/g.txt
FROM {BASE}
COPY --from=s /out/ /kept/
COPY --from=s --chown=1:2 /out/f.txt /chowned.txt
RUN --mount=type=cache,from=s,source=/out,target=/c cat /c/d/g.txt > /seeded
"""


def test_rootless_copy_from_a_stage_keeps_its_recorded_owners(
    unprivileged_user: User, user_dir: Path, base_layout: Path
) -> None:
    ctx = user_dir / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(FROM_STAGE)
    (ctx / "f.txt").write_text("f\n")
    as_root, tree = _as_root_and_user(_build_tree, unprivileged_user, user_dir, base_layout)
    assert tree["kept/f.txt"] == (7, 42, "f\n")
    assert tree["kept/d"][:2] == (5, 6)  # the parent the stage's COPY --chown made
    assert tree["kept/d/g.txt"] == (5, 6, "f\n")
    assert tree["chowned.txt"] == (1, 2, "f\n")
    assert tree["seeded"] == (0, 0, "f\n")
    assert tree == as_root
