"""Ownership kept in a single-ID user namespace: fakeroot's state carried into the commit.

An unprivileged user with no /etc/subuid range gets a user namespace that maps only ID 0,
where ``chown 1000`` fails; boxwright runs the step under Debian's fakeroot and moves what
it recorded into the container's side record, so the committed layer carries the owners a
``chown``, a ``mknod`` or a ``USER`` asked for.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from pathlib import Path

import pytest

from boxwright.build.builder import Builder
from boxwright.oci.digest import Digest
from boxwright.runtime.ownership import fakeroot_tools
from boxwright.store.store import Store
from boxwright_testing.runtime import (
    OWNERSHIP_STEP,
    check_owned_layer,
    glibc_rootfs,
    preload_boxwright,
)
from boxwright_testing.users import User, as_user, chown_tree, owned_dir


def _build(work: Path, rootfs: Path) -> tuple[int, int, str]:
    store = Store(work / "store")
    with Builder.from_image(None, store=store) as builder:
        builder.copy([str(rootfs)], "/")
        code = builder.run(["sh", "-c", OWNERSHIP_STEP])
        as_alice = builder.run(["sh", "-c", "id -u > /home/alice/id; touch /home/alice/made"],
                               user="alice")  # fmt: skip
        image = builder.commit("owned:1")
    return code, as_alice, image.id


def _members(root: Path, name: str) -> dict[str, tarfile.TarInfo]:
    store = Store(root)
    manifest = json.loads(store.images.manifest(store.images.get(name)))
    top = Digest.parse(manifest["layers"][-1]["digest"])
    with tarfile.open(store.blobs.path(top)) as tar:
        return {m.name.rstrip("/"): m for m in tar.getmembers()}


def test_single_id_user_keeps_ownership_through_fakeroot(
    unprivileged_user: User, tmp_path: Path
) -> None:
    if fakeroot_tools() is None:
        pytest.skip("Debian's fakeroot is not installed")
    with owned_dir(unprivileged_user) as work:
        rootfs = glibc_rootfs(work / "rootfs")
        chown_tree(rootfs, unprivileged_user)
        preload_boxwright()
        code, as_alice, _ = as_user(unprivileged_user, _build, work, rootfs)
        assert (code, as_alice) == (0, 0)
        members = _members(work / "store", "owned:1")
        check_owned_layer(members)
        shutil.rmtree(rootfs)


def _static_chown(work: Path, rootfs: Path) -> tuple[int, str, str]:
    """As the user: a chown step in a rootfs of static programs; its exit code, its stderr,
    and what ``boxwright.runtime`` logged (also from the namespaced child the run happens in,
    which inherits the file handler)."""
    import logging
    import os

    step_errors, logged = work / "step-stderr", work / "logged"
    handler = logging.FileHandler(logged)
    logger = logging.getLogger("boxwright.runtime")
    logger.addHandler(handler)
    try:
        store = Store(work / "store")
        with Builder.from_image(None, store=store) as builder:
            builder.copy([str(rootfs)], "/")
            fd = os.open(step_errors, os.O_WRONLY | os.O_CREAT, 0o600)
            try:
                # A step that asks for no owner succeeds without a word about ownership.
                assert builder.run(["/bin/sh", "-c", "touch /g"], output=fd) == 0
                code = builder.run(["/bin/sh", "-c", "touch /f && chown 1000:1000 /f"], output=fd)
            finally:
                os.close(fd)
    finally:
        logger.removeHandler(handler)
        handler.close()
    return code, step_errors.read_text(), logged.read_text()


def test_static_programs_in_a_single_id_namespace_get_a_clear_warning(
    unprivileged_user: User,
) -> None:
    """fakeroot's preload cannot reach static programs (busybox-static here): the chown fails
    inside, as it would without fakeroot, and one warning says why, instead of the owner
    being dropped silently; the step before it, which asked for no owner, says nothing."""
    if not Path("/bin/busybox").exists():
        pytest.skip("busybox-static is not installed")
    with owned_dir(unprivileged_user) as work:
        rootfs = work / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
        for name in ("sh", "touch", "chown"):
            (rootfs / "bin" / name).symlink_to("busybox")
        chown_tree(work, unprivileged_user)
        preload_boxwright()
        code, stderr, logged = as_user(unprivileged_user, _static_chown, work, rootfs)
    assert code == 1
    assert "chown" in stderr and "/f" in stderr
    why = "the rootfs has no glibc loader" if fakeroot_tools() else "fakeroot is not installed"
    assert [line for line in logged.splitlines() if "ownership" in line] == [
        f"this run's user namespace maps only ID 0 and {why}: ownership changes (chown, USER) "
        "cannot be kept and fail inside; subordinate ID ranges for the user (ranges mode, "
        "docs/rootless.md) make them work"
    ]


def _moves(work: Path, rootfs: Path) -> tuple[list[int], dict[str, tuple[int, int]]]:
    """As the user: a step that chowns, then root steps that change no owner (write a file,
    rename and hard-link the chowned one); the exit codes and the committed owners."""
    store = Store(work / "store")
    with Builder.from_image(None, store=store) as builder:
        builder.copy([str(rootfs)], "/")
        codes = [
            builder.run(["sh", "-c", "touch /owned /kept && chown 1000:50 /owned /kept"]),
            builder.run(["sh", "-c", "echo plain > /plain"]),
            builder.run(["sh", "-c", "mv /owned /moved"]),
            builder.run(["sh", "-c", "ln /kept /linked"]),
        ]
        builder.commit("moved:1")
    members = _members(work / "store", "moved:1")
    names = ("moved", "kept", "linked", "plain")
    return codes, {n: (members[n].uid, members[n].gid) for n in names if n in members}


def test_root_steps_that_move_recorded_files_keep_their_owners(unprivileged_user: User) -> None:
    """A step that changes no owner leaves the side record as it is without walking the
    rootfs, unless it renamed or linked a recorded file: those follow their inode."""
    if fakeroot_tools() is None:
        pytest.skip("Debian's fakeroot is not installed")
    with owned_dir(unprivileged_user) as work:
        rootfs = glibc_rootfs(work / "rootfs", programs=("sh", "touch", "chown", "mv", "ln"))
        chown_tree(rootfs, unprivileged_user)
        preload_boxwright()
        codes, owners = as_user(unprivileged_user, _moves, work, rootfs)
    assert codes == [0, 0, 0, 0]
    assert owners == {
        "moved": (1000, 50),
        "kept": (1000, 50),
        "linked": (1000, 50),
        "plain": (0, 0),
    }
