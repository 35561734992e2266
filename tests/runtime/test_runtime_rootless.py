"""Runs by an unprivileged user: subordinate-ID user namespaces and single-ID ones.

The user owns a copy of the rootfs (as a rootless unpack leaves it). With /etc/subuid ranges,
container root is the user and container uid 1000 is a subordinate ID; without them only
container root exists, and asking for another user fails with a clear error.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from boxwright.runtime import RunOptions, run_in_rootfs
from boxwright.runtime.idmap import subordinate_ranges
from boxwright_testing.runtime import ChildError, image_config, in_child
from boxwright_testing.users import User, chown_tree


def _user_rootfs(template: Path, where: Path, user: User) -> Path:
    dest = where / "rootfs"
    shutil.copytree(template, dest, symlinks=True)
    chown_tree(dest, user)
    return dest


def _sh(rootfs: Path, who: User, script: str, isolation: str = "native", **opts: object) -> int:
    options = RunOptions(args=("sh", "-c", script), **opts)  # type: ignore[arg-type]
    code = in_child(run_in_rootfs, rootfs, image_config(), options, isolation, user=who)
    assert isinstance(code, int)
    return code


@pytest.mark.parametrize("isolation", ["native", "oci"])
def test_mapped_user_runs_as_root_and_as_image_users(
    rootfs_template: Path, user_dir: Path, mapped_user: User, isolation: str
) -> None:
    if isolation == "oci" and shutil.which("runc") is None and shutil.which("crun") is None:
        pytest.skip("no OCI runtime installed")
    user = mapped_user
    rootfs = _user_rootfs(rootfs_template, user_dir, user)
    script = "id > /tmp/root-id; touch /tmp/by-root; ls /proc | grep -cE '^[0-9]+$' > /tmp/n"
    assert _sh(rootfs, user, script + "; exit 5", isolation) == 5
    assert (rootfs / "tmp" / "root-id").read_text() == "uid=0(root) gid=0(root)\n"
    made = (rootfs / "tmp" / "by-root").stat()
    assert (made.st_uid, made.st_gid) == (user.uid, user.gid)
    assert int((rootfs / "tmp" / "n").read_text()) <= 4

    assert _sh(rootfs, user, "id > /tmp/alice-id; touch /tmp/by-alice", isolation, user="1000") == 0
    groups = " groups=50(staff)" if isolation == "native" else ""  # runc refuses them rootless
    assert (rootfs / "tmp" / "alice-id").read_text() == f"uid=1000(alice) gid=1000(alice){groups}\n"
    start = subordinate_ranges(Path("/etc/subuid"), user.name, user.uid)[0][0]
    gstart = subordinate_ranges(Path("/etc/subgid"), user.name, user.uid)[0][0]
    made = (rootfs / "tmp" / "by-alice").stat()
    assert (made.st_uid, made.st_gid) == (start + 999, gstart + 999)


def test_single_id_user_is_root_only(
    rootfs_template: Path, user_dir: Path, single_user: User
) -> None:
    user = single_user
    rootfs = _user_rootfs(rootfs_template, user_dir, user)
    script = "id > /tmp/out; cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' >> /tmp/out"
    assert _sh(rootfs, user, script, network="none") == 0
    assert (rootfs / "tmp" / "out").read_text() == "uid=0(root) gid=0(root)\nlo\n"
    with pytest.raises(ChildError) as refused:
        _sh(rootfs, user, "id", user="alice")
    assert refused.value.kind == "RunError"
    assert refused.value.message.startswith(
        "uid 1000 (user 'alice') is not mapped in the user namespace"
    )


def test_rootless_cannot_reach_host_files(
    rootfs_template: Path, user_dir: Path, mapped_user: User
) -> None:
    user = mapped_user
    rootfs = _user_rootfs(rootfs_template, user_dir, user)
    outside = user_dir / "outside.txt"
    outside.write_text("host\n")
    os.chown(outside, user.uid, user.gid)
    script = f"cat {outside} > /tmp/out 2>/dev/null || echo hidden > /tmp/out"
    assert _sh(rootfs, user, script) == 0
    assert (rootfs / "tmp" / "out").read_text() == "hidden\n"
    assert outside.read_text() == "host\n"
