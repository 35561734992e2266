"""Rootless unpack and repack, really unprivileged: ownership kept in the side record.

The unprivileged part runs in a forked child that dropped to a throw-away user
(``boxwright_testing.users.as_user``): the interpreter of the test run may live where that
user cannot read it, so every module the child needs is loaded before it drops.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from unpack_helpers import UmociImage, layer_entries

from boxwright.unpack import repack_image, unpack_image
from boxwright_testing.users import User, as_user, chown_tree, owned_dir

pytestmark = pytest.mark.peers


@pytest.fixture
def workdir(unprivileged_user: User) -> Iterator[Path]:
    """A directory the unprivileged user owns (pytest's tmp_path is private to root)."""
    with owned_dir(unprivileged_user, "bx-rootless-") as path:
        yield path


@pytest.fixture
def user_image(umoci_image: UmociImage, workdir: Path, unprivileged_user: User) -> UmociImage:
    """A copy of the umoci image owned by the user (repack writes new tags into it)."""
    image = umoci_image.copy_to(workdir / "layout")
    chown_tree(image.layout, unprivileged_user)
    # Warm up as root: every lazily imported module is loaded before the child drops.
    unpack_image(image.ref, workdir / "warm", rootless=True)
    repack_image(workdir / "warm", f"oci:{workdir / 'warm-out'}:w")
    return image


def _unpack_and_look(ref: str, dest: str) -> dict[str, Any]:
    result = unpack_image(ref, dest)
    root = Path(dest)
    info = {
        name: os.lstat(root / name)
        for name in ("dev/null", "usr/bin/suid", "srv/odd", "home/alice/notes.txt")
    }
    return {
        "rootless": result.rootless,
        "owners": {n: (s.st_uid, s.st_gid) for n, s in info.items()},
        "modes": {n: s.st_mode for n, s in info.items()},
        "record": (result.state_dir / "ownership.json").read_text(),
    }


def _repack(dest: str, ref: str) -> list[str]:
    result = repack_image(dest, ref)
    return [*result.added, *result.modified, *result.deleted]


def _modify(dest: str) -> None:
    root = Path(dest)
    (root / "srv/odd").write_text("changed by an unprivileged user\n")
    os.utime(root / "usr/bin/suid")
    os.utime(root / "dev/null")
    (root / "mine").write_text("new\n")


def test_rootless_unpack_then_repack_keeps_the_recorded_ownership(
    user_image: UmociImage, workdir: Path, unprivileged_user: User
) -> None:
    user = unprivileged_user
    dest = str(workdir / "rootfs")
    seen = as_user(user, _unpack_and_look, user_image.ref, dest)
    assert seen["rootless"] is True
    assert set(seen["owners"].values()) == {(user.uid, user.gid)}
    assert stat.S_ISREG(seen["modes"]["dev/null"])  # a device cannot be made: an empty file
    assert stat.S_IMODE(seen["modes"]["usr/bin/suid"]) == 0o4755
    assert '"srv/odd":{"gid":456' in seen["record"]

    # Nothing changed: the new layer is empty (no spurious owner or device entries).
    assert as_user(user, _repack, dest, f"oci:{user_image.layout}:same") == []
    manifest = user_image.layout / "index.json"
    assert manifest.exists()

    as_user(user, _modify, dest)
    changed = as_user(user, _repack, dest, f"oci:{user_image.layout}:changed")
    assert sorted(changed) == ["dev/null", "mine", "srv/odd", "usr/bin/suid"]
    from unpack_helpers import manifest_of

    layers = manifest_of(user_image.layout, "changed")[0]["layers"]
    entries = layer_entries(user_image.layout, layers[-1]["digest"])
    assert sorted(entries) == ["dev/null", "mine", "srv/odd", "usr/bin/suid"]
    odd, suid, null, mine = (entries[n] for n in ("srv/odd", "usr/bin/suid", "dev/null", "mine"))
    assert (odd.uid, odd.gid, odd.mode) == (123, 456, 0o640)
    assert (suid.uid, suid.gid, suid.mode) == (0, 0, 0o4755)
    assert null.ischr() and (null.devmajor, null.devminor, null.mode) == (1, 3, 0o666)
    assert (mine.uid, mine.gid) == (0, 0)  # the unprivileged user stands for root
