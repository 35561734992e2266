"""The RUN-step flags as an unprivileged user with no subordinate IDs, where the runner
differs from root's: the RUN has a user namespace of its own mapping one ID, so it can be
given any capability (root outside one only gets those it holds), a volume's files are the
user's own, and the ssh agent runs as the user with its socket owned by the user (the
container's root)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import boxwright.build.sshagent  # noqa: F401 - loaded before the child drops privileges
from boxwright.build.context import BuildOptions
from boxwright.build.executor import build
from boxwright.build.runsettings import capabilities, parse_add_host, parse_ssh, parse_volume
from boxwright.runtime.spec import CAPABILITY_NUMBERS
from boxwright.store.pullpush import pull
from boxwright.store.store import Store
from boxwright_testing.builds import BASE, tree_of
from boxwright_testing.runtime import glibc_rootfs
from boxwright_testing.users import User, as_user, chown_tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a test user")


def _build(root: str, layout: str, context: str, options: dict[str, Any]) -> dict[str, Any]:
    """Build as the calling user; the image's files (as :func:`tree_of` gives them)."""
    store = Store(root)
    pull(f"oci:{layout}:1", store=store, name=BASE)
    result = build(BuildOptions(context=Path(context), timestamp=0, **options), store)
    return tree_of(store, result.image_id)


def _files(tree: dict[str, Any], *leaving: str) -> dict[str, tuple[Any, ...]]:
    """Type, mode and content of each path (a rootless store's files are the user's own)."""
    return {path: (v[0], v[1], v[4]) for path, v in tree.items() if path not in leaving}


def _layout(user_dir: Path, base_layout: Path, user: User) -> str:
    layout = user_dir / "layout"
    shutil.copytree(base_layout, layout)
    chown_tree(user_dir, user)
    return str(layout)


def test_rootless_volume_hosts_and_capabilities(
    unprivileged_user: User, user_dir: Path, base_layout: Path
) -> None:
    host = user_dir / "host"
    host.mkdir()
    (host / "in").write_text("from the host\n")
    ctx = user_dir / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        f"FROM {BASE}\n"
        "RUN cat /v/in > /seen && echo out > /v/out && busybox head -n1 /etc/hosts > /hosts"
        " && busybox grep CapEff /proc/self/status > /caps\n"
    )
    layout = _layout(user_dir, base_layout, unprivileged_user)
    caps = capabilities(("SYS_TIME", "SYS_RESOURCE"), ("CHOWN",))
    assert caps is not None
    options = {
        "volumes": (parse_volume(f"{host}:/v"),),
        "add_hosts": (parse_add_host("db:10.0.0.9"),),
        "capabilities": caps,
    }
    # As root first (which loads every module the child needs), without the capabilities:
    # root outside a user namespace holds only its own, which may lack CAP_SYS_RESOURCE.
    as_root = _build(
        str(user_dir / "root-store"), layout, str(ctx), options | {"capabilities": None}
    )
    (host / "out").unlink()
    tree = as_user(unprivileged_user, _build, str(user_dir / "store"), layout, str(ctx), options)
    assert _files(tree, "caps") == _files(as_root, "caps")
    assert tree["seen"][4] == "from the host\n"
    assert tree["hosts"][4] == "10.0.0.9\tdb\n"
    mask = sum(1 << CAPABILITY_NUMBERS[name] for name in caps)
    assert tree["caps"][4] == f"CapEff:\t{mask:016x}\n"
    assert "v" not in tree
    st = (host / "out").stat()
    assert (st.st_uid, (host / "out").read_text()) == (unprivileged_user.uid, "out\n")


def test_rootless_ssh_keys_reach_only_the_asking_run(
    unprivileged_user: User, user_dir: Path, base_layout: Path
) -> None:
    key = user_dir / "id_test"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bw-rootless", "-f", str(key)],
        check=True,
    )
    listed = subprocess.run(["ssh-keygen", "-l", "-f", str(key)], capture_output=True, text=True)
    ctx = user_dir / "ctx"
    glibc_rootfs(ctx / "rootfs", ("sh", "ssh-add", "cat", "touch", "test"))
    (ctx / "Containerfile").write_text(
        "FROM scratch\nCOPY rootfs/ /\n"
        "RUN --mount=type=ssh,id=k ssh-add -l > /listed\n"
        "RUN test ! -e /run/buildkit/ssh_agent.0 && touch /none-after\n"
    )
    layout = _layout(user_dir, base_layout, unprivileged_user)
    options = {"ssh": dict([parse_ssh(f"k={key}")])}
    as_root = _build(str(user_dir / "root-store"), layout, str(ctx), options)
    tree = as_user(unprivileged_user, _build, str(user_dir / "store"), layout, str(ctx), options)
    assert _files(tree) == _files(as_root)
    assert tree["listed"][4] == listed.stdout
    assert tree["none-after"][0] == "f"
    assert "run" not in tree
