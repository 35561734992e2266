"""Rootless: an unprivileged user gets a store under its XDG data dir and can pull, tag, rmi.

The unprivileged part runs in a forked child that drops to a throw-away user
(``boxwright_testing.users.as_user``: the interpreter under /root is not readable by other
users, so the child is forked with every module already loaded, then calls setresuid).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from boxwright.store import Store, prune, pull
from boxwright_testing.store_images import make_oci_image
from boxwright_testing.users import User, as_user, chown_tree, owned_dir


def test_unprivileged_user_has_its_own_store(
    unprivileged_user: User, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    uid = unprivileged_user.uid
    with owned_dir(unprivileged_user, "bx-store-user-") as home:
        image = make_oci_image(home / "layout", "v1", seed="rootless")
        chown_tree(home, unprivileged_user)
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

        seen = as_user(unprivileged_user, work)
        assert seen["root"] == str(home / "data" / "boxwright")
        layout = str(image.layout).lstrip("/")
        assert seen["names"] == (f"localhost/{layout}:latest", "localhost/mine:1")
        assert seen["untagged"] == ["Untagged: localhost/mine:2"]
        assert seen["id"] == image.id
        assert (seen["mode"], seen["owner"]) == (0o700, uid)
