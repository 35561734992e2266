"""A build as an unprivileged user gives the same image as the same build as root.

The user has no subordinate ID range, so its RUN steps see one mapped ID (root); owners a
COPY asks for go through the container's side record into the layer. The build runs first as
root (which also loads every module the forked child needs: the interpreter may be unreadable
to the user), then as the user in a forked child, each in its own store.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from executor_helpers import BASE, base_layout

from boxwright.build.context import BuildOptions
from boxwright.build.executor import build
from boxwright.store.pullpush import pull
from boxwright.store.store import Store
from userhelpers import User, as_user, chown_tree

__all__ = ["base_layout"]  # fixtures used by name
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


def test_a_rootless_build_gives_the_root_build_digest(
    unprivileged_user: User, user_dir: Path, base_layout: Path
) -> None:
    ctx = user_dir / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(CONTAINERFILE)
    (ctx / "f.txt").write_text("f\n")
    layout = user_dir / "layout"
    shutil.copytree(base_layout, layout)
    chown_tree(user_dir, unprivileged_user)

    as_root = _build(str(user_dir / "root-store"), str(ctx), str(layout))
    as_user_result = as_user(
        unprivileged_user, _build, str(user_dir / "user-store"), str(ctx), str(layout)
    )
    assert as_user_result == as_root
    assert as_root[2] == 0  # no working container left behind
