"""An unprivileged user's containers-storage store, as rootless podman keeps it: boxwright
writes an image into the user's default store (``~/.local/share/containers/storage``) with
the owners rootless podman gives files (container 0 = the user, 1.. = the subordinate
range), which that user's podman lists and runs; boxwright reads back what rootless podman
pulled; a user without subordinate IDs gets an error naming what is missing."""

from __future__ import annotations

import io
import os
import pwd
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxwright.copy import copy_image
from boxwright_testing.cstorage import add_busybox, diff_ids, needs_peers
from boxwright_testing.layouts import LAYER_TAR, Layout
from boxwright_testing.users import (
    User,
    add_subordinate_range,
    as_user,
    chown_tree,
    owned_dir,
    throwaway_user,
)

pytestmark = needs_peers

START = 200000


@pytest.fixture(scope="module")
def mapped() -> Iterator[User]:
    """A user with a home, and only the subordinate range 200000-265535."""
    if shutil.which("usermod") is None or shutil.which("newuidmap") is None:
        pytest.skip("usermod and newuidmap are needed")
    with throwaway_user("bxcsr", system=True) as user:
        home = Path(f"/home/{user.name}")
        home.mkdir(mode=0o700)
        os.chown(home, user.uid, user.gid)
        add_subordinate_range(user, START, home=home)
        try:
            yield user
        finally:
            subprocess.run(["rm", "-rf", str(home)], check=False)


def _env(user: User, work: Path) -> dict[str, str]:
    conf = work / "containers.conf"
    conf.write_text("[containers]\ndefault_ulimits = []\n")
    home = pwd.getpwnam(user.name).pw_dir
    return {
        "HOME": home,
        "USER": user.name,
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "CONTAINERS_CONF": str(conf),
    }


def _podman(user: User, env: dict[str, str], *args: str) -> str:
    argv = ["runuser", "-u", user.name, "--", "env", "-i"]
    argv += [f"{k}={v}" for k, v in env.items()]
    argv += ["podman", "--cgroup-manager", "cgroupfs", "--events-backend", "none", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _buildah(user: User, env: dict[str, str], *args: str) -> str:
    argv = ["runuser", "-u", user.name, "--", "env", "-i"]
    argv += [f"{k}={v}" for k, v in env.items()]
    argv += ["buildah", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _owned_layout(path: Path) -> None:
    """An OCI layout (tag ``x``) of busybox and /home/owned owned by 1000:1001, mode 0640."""
    out = Layout(path)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        add_busybox(tar)
        info = tarfile.TarInfo("home")
        info.type, info.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(info)
        info = tarfile.TarInfo("home/owned")
        info.size, info.uid, info.gid, info.mode = 3, 1000, 1001, 0o640
        tar.addfile(info, io.BytesIO(b"hi\n"))
    layer = out.blob(buf.getvalue(), LAYER_TAR)
    config = out.config(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/busybox", "stat", "-c", "%u:%g %a", "/home/owned"]},
            "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
        }
    )
    out.tag(out.manifest(config, [layer]), "x")


def _as(user: User, env: dict[str, str], fn, *args):  # type: ignore[no-untyped-def]
    def call():  # type: ignore[no-untyped-def]
        os.environ.clear()
        os.environ.update(env)
        return fn(*args)

    return as_user(user, call)


def test_rootless_write_and_read(mapped: User) -> None:
    with owned_dir(mapped) as work:
        env = _env(mapped, work)
        _owned_layout(work / "own")
        chown_tree(work, mapped)
        # podman first, so the store exists with rootless podman's driver (vfs here).
        _podman(mapped, env, "pull", "-q", f"oci:{work / 'own'}:x")
        _as(
            mapped, env, copy_image, f"oci:{work / 'own'}:x", "containers-storage:localhost/owned:1"
        )
        store = Path(env["HOME"]) / ".local/share/containers/storage"
        driver = "vfs" if (store / "vfs-layers").is_dir() else "overlay"
        owned = next((store / driver).rglob("home/owned"))
        st = owned.stat()
        assert (st.st_uid, st.st_gid, oct(st.st_mode & 0o777)) == (
            START + 999,
            START + 1000,
            "0o640",
        )
        listed = _podman(mapped, env, "images", "--format", "{{.Repository}}:{{.Tag}}")
        assert "localhost/owned:1" in listed.split()
        ran = _podman(mapped, env, "run", "--rm", "--runtime", "runc", "localhost/owned:1")
        assert ran == "1000:1001 640\n"
        # rootless buildah takes it as a base too, owners as the image says
        working = _buildah(mapped, env, "from", "-q", "localhost/owned:1").strip()
        try:
            shown = _buildah(
                mapped, env, "unshare", "sh", "-c",
                f'stat -c "%u:%g %a" "$(buildah mount {working})/home/owned"',
            )  # fmt: skip
            assert shown == "1000:1001 640\n"
        finally:
            _buildah(mapped, env, "rm", working)
        # boxwright reads what rootless podman pulled (the first name podman gave it).
        first = listed.split()[0] if listed.split()[0] != "localhost/owned:1" else listed.split()[1]
        ids = _as(mapped, env, diff_ids, f"containers-storage:{first}")
        assert ids == diff_ids(f"oci:{work / 'own'}:x")


def test_no_subordinate_ids_is_a_clear_error() -> None:
    with throwaway_user("bxcsn", system=True) as user, owned_dir(user) as work:
        env = {"HOME": str(work), "PATH": "/usr/bin:/bin"}
        _owned_layout(work / "own")
        chown_tree(work, user)
        with pytest.raises(AssertionError) as caught:
            _as(user, env, copy_image, f"oci:{work / 'own'}:x", "containers-storage:localhost/o:1")
        text = str(caught.value)
        assert (
            f"TransportError: cannot write into {work}/.local/share/containers/storage as "
            f"{user.name}: /etc/subuid and /etc/subgid give {user.name} no subordinate IDs"
        ) in text
