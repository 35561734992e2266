"""Rootless unpack and repack, really unprivileged: ownership kept in the side record.

The unprivileged part runs in a forked child that dropped to a throw-away user with
``setgroups``/``setresgid``/``setresuid`` (what ``setpriv --reuid --regid --clear-groups``
does). A fork is used rather than ``setpriv python``: the interpreter of the test run may live
where that user cannot read it, and every module the child needs is loaded before it drops.
"""

from __future__ import annotations

import os
import pickle
import shutil
import stat
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from unpack_helpers import UmociImage, User, layer_entries

from boxwright.unpack import repack_image, unpack_image

pytestmark = pytest.mark.peers


def as_user(user: User, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``func(*args, **kwargs)`` in a child process as ``user``; return or re-raise."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        try:
            os.setgroups([])
            os.setresgid(user.gid, user.gid, user.gid)
            os.setresuid(user.uid, user.uid, user.uid)
            outcome: tuple[str, Any] = ("ok", func(*args, **kwargs))
        except BaseException as error:
            outcome = ("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        with os.fdopen(write_fd, "wb") as out:
            try:
                out.write(pickle.dumps(outcome))
            except Exception as error:
                out.write(pickle.dumps(("error", f"unpicklable result: {error}")))
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        data = reader.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind == "error":
        raise AssertionError(f"as {user.name}: {value}")
    return value


@pytest.fixture
def workdir(unprivileged_user: User) -> Iterator[Path]:
    """A directory the unprivileged user owns (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix="bx-rootless-", dir="/tmp"))
    os.chown(path, unprivileged_user.uid, unprivileged_user.gid)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def user_image(umoci_image: UmociImage, workdir: Path, unprivileged_user: User) -> UmociImage:
    """A copy of the umoci image owned by the user (repack writes new tags into it)."""
    image = umoci_image.copy_to(workdir / "layout")
    for dirpath, dirnames, filenames in os.walk(image.layout):
        for name in [*dirnames, *filenames, "."]:
            os.lchown(os.path.join(dirpath, name), unprivileged_user.uid, unprivileged_user.gid)
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
