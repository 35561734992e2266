"""The oci runner (runc or crun) beside the native one: the same commands, the same files."""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from boxwright.errors import RunError, UsageError
from boxwright.oci.runtime_spec import runtime_spec
from boxwright.rootless.ranges import IDMapping, IDRange
from boxwright.runtime import RunOptions, get_runner, run_in_rootfs
from boxwright.runtime.ocirunner import find_oci_runtime, rootless_spec
from boxwright_testing.runtime import image_config, in_child

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root"),
    pytest.mark.skipif(
        shutil.which("runc") is None and shutil.which("crun") is None,
        reason="no OCI runtime (runc, crun) installed",
    ),
]

RUN_STEPS = (
    "mkdir -p a/b && echo data > a/file && chmod 640 a/file && ln -s file a/link && "
    "chown 1000:50 a/b && touch -d 2020-01-01 a/old && rm -f /etc/group && "
    "id > ids && env | sort > env && pwd > cwd && hostname > host && ls /dev > dev"
)


def _tree(root: Path) -> dict[str, tuple[str, int, int, int, str]]:
    """Every path under ``root``: type, mode, owner, and content or link target."""
    found: dict[str, tuple[str, int, int, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath, name)
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                kind, payload = "link", os.readlink(path)
            elif stat.S_ISDIR(st.st_mode):
                kind, payload = "dir", ""
            else:
                kind, payload = "file", path.read_bytes().hex()
            found[str(path.relative_to(root))] = (
                kind,
                stat.S_IMODE(st.st_mode),
                st.st_uid,
                st.st_gid,
                payload,
            )
    return found


def test_native_and_oci_make_the_same_files(rootfs_template: Path, tmp_path: Path) -> None:
    trees = {}
    for isolation in ("native", "oci"):
        root = tmp_path / isolation
        shutil.copytree(rootfs_template, root, symlinks=True)
        options = RunOptions(args=("sh", "-c", RUN_STEPS), workdir="/work", hostname="same")
        assert in_child(run_in_rootfs, root, image_config(), options, isolation) == 0
        trees[isolation] = _tree(root)
    assert trees["native"] == trees["oci"]
    native = trees["native"]
    assert native["work/a/file"][:4] == ("file", 0o640, 0, 0)
    assert native["work/a/b"][2:4] == (1000, 50)
    assert native["work/a/link"] == ("link", 0o777, 0, 0, "file")
    assert "etc/group" not in native
    assert bytes.fromhex(native["work/ids"][4]) == b"uid=0(root) gid=0\n"  # /etc/group was removed
    assert bytes.fromhex(native["work/host"][4]) == b"same\n"


def test_oci_exit_codes(rootfs: Path) -> None:
    for script, expected in (("exit 0", 0), ("exit 42", 42)):
        options = RunOptions(args=("sh", "-c", script))
        assert in_child(run_in_rootfs, rootfs, image_config(), options, "oci") == expected


def test_runner_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    assert get_runner().name == "native"
    assert get_runner("oci").name == "oci"
    with pytest.raises(UsageError, match="unknown isolation 'chroot'"):
        get_runner("chroot")
    monkeypatch.setenv("BOXWRIGHT_OCI_RUNTIME", "no-such-runtime")
    with pytest.raises(RunError, match=r"no OCI runtime found \(looked for no-such-runtime\)"):
        find_oci_runtime()


def _spec(*, user_map: IDMapping | None, network: bool) -> dict[str, Any]:
    config = image_config(Cmd=["sh"])
    spec = runtime_spec(config, rootfs="/r", uid=0, gid=0, rootless=False)
    kinds = ["pid", "ipc", "uts", "mount"] + (["network"] if network else [])
    if user_map is not None:
        kinds.append("user")
        spec["linux"].update(user_map.to_spec())
    spec["linux"]["namespaces"] = [{"type": k} for k in kinds]
    return spec


def _mount(spec: dict[str, Any], destination: str) -> dict[str, Any] | None:
    return next((m for m in spec["mounts"] if m["destination"] == destination), None)


def test_rootless_spec_keeps_a_mapped_tty_group_and_binds_sys_for_host_network() -> None:
    ranges = IDMapping(
        (IDRange(0, 1000, 1), IDRange(1, 100000, 65536)),
        (IDRange(0, 1000, 1), IDRange(1, 100000, 65536)),
    )
    spec = rootless_spec(_spec(user_map=ranges, network=False), delegated=False)
    assert _mount(spec, "/dev/pts") == {
        "destination": "/dev/pts",
        "type": "devpts",
        "source": "devpts",
        "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    }
    assert _mount(spec, "/sys") == {
        "destination": "/sys",
        "type": "bind",
        "source": "/sys",
        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"],
    }
    assert _mount(spec, "/sys/fs/cgroup") is None
    assert "resources" not in spec["linux"]


def test_rootless_spec_drops_an_unmapped_tty_group_and_keeps_sysfs_with_own_network() -> None:
    single = IDMapping((IDRange(0, 1000, 1),), (IDRange(0, 1000, 1),))
    original = _spec(user_map=single, network=True)
    spec = rootless_spec(original, delegated=True)
    pts = _mount(spec, "/dev/pts")
    assert pts is not None
    assert pts["options"] == ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]
    assert _mount(spec, "/sys") == _mount(original, "/sys")
    assert _mount(spec, "/sys")["type"] == "sysfs"  # type: ignore[index]
    # a delegated cgroup keeps what the spec asks of it
    assert _mount(spec, "/sys/fs/cgroup") == _mount(original, "/sys/fs/cgroup") is not None
    assert spec["linux"]["resources"] == original["linux"]["resources"]
    assert _mount(original, "/dev/pts")["options"][-1] == "gid=5"  # type: ignore[index]
