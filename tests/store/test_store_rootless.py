"""Rootless: an unprivileged user gets a store under its XDG data dir and can pull, tag, rmi.

The unprivileged part runs in a forked child that drops to a throw-away user (the pattern of
tests/unpack/test_rootless.py: the interpreter under /root is not readable by other users, so
the child is forked with every module already loaded, then calls setresuid).
"""

from __future__ import annotations

import os
import pickle
import pwd
import shutil
import stat
import subprocess
import tempfile
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from store_helpers import make_oci_image

from boxwright.store import Store, prune, pull


@pytest.fixture(scope="module")
def user() -> Iterator[tuple[int, int]]:
    if os.geteuid() != 0:
        pytest.skip("creating a test user needs root")
    name = f"bxs{uuid.uuid4().hex[:10]}"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
    )
    try:
        entry = pwd.getpwnam(name)
        yield entry.pw_uid, entry.pw_gid
    finally:
        subprocess.run(["userdel", name], check=False)


def as_user(uid: int, gid: int, func: Callable[[], Any]) -> Any:
    """Run ``func()`` in a forked child as uid/gid; return its result or fail with its error."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
            outcome: tuple[str, Any] = ("ok", func())
        except BaseException as error:
            outcome = ("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        with os.fdopen(write_fd, "wb") as out:
            out.write(pickle.dumps(outcome))
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        data = reader.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind == "error":
        raise AssertionError(value)
    return value


def test_unprivileged_user_has_its_own_store(
    user: tuple[int, int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    uid, gid = user
    home = Path(tempfile.mkdtemp(prefix="bx-store-user-", dir="/tmp"))
    try:
        os.chmod(home, 0o755)
        image = make_oci_image(home / "layout", "v1", seed="rootless")
        for dirpath, dirnames, filenames in os.walk(home):
            for name in [*dirnames, *filenames, "."]:
                os.lchown(os.path.join(dirpath, name), uid, gid)
        # Warm up as root: every lazily imported module is loaded before the child drops.
        warm = Store(tmp_path / "warm")
        pull(image.ref, store=warm, name="warm:1")
        warm.images.tag("warm:1", "warm:2")
        warm.images.remove("warm:2")
        prune(warm)
        monkeypatch.delenv("BOXWRIGHT_ROOT", raising=False)
        monkeypatch.setenv("HOME", str(home))
        monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))

        def work() -> dict[str, Any]:
            store = Store()
            record = pull(image.ref, store=store)
            store.images.tag(record.id, "mine:1", "mine:2")
            untagged = store.images.remove("mine:2")
            return {
                "root": str(store.root),
                "names": store.images.get(record.id).names,
                "untagged": untagged,
                "id": record.id,
                "mode": stat.S_IMODE(os.stat(store.root).st_mode),
                "owner": os.stat(store.layout.blob_path(record.manifest)).st_uid,
            }

        seen = as_user(uid, gid, work)
        assert seen["root"] == str(home / "data" / "boxwright")
        assert seen["names"] == ("localhost/v1:latest", "localhost/mine:1")
        assert seen["untagged"] == ["Untagged: localhost/mine:2"]
        assert seen["id"] == image.id
        assert (seen["mode"], seen["owner"]) == (0o700, uid)
    finally:
        shutil.rmtree(home, ignore_errors=True)
