"""``boxwright run``'s everyday flags as root, end to end, each with its exact outcome:
``--env-file``, ``--mount``, ``--tmpfs``, ``--read-only``, ``--cap-add/--cap-drop``,
``--security-opt no-new-privileges``, ``--privileged``, ``-v`` options, named volumes and
``boxwright volume``, ``--pull``, ``--platform`` and the cgroup limits' error.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from boxwright.runtime.spec import CAPABILITY_NUMBERS, DEFAULT_CAPABILITIES
from boxwright_testing.cliproc import run_cli as bw
from boxwright_testing.netimage import make_run_image

pytestmark = pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="busybox-static")


def ok(root: Path, *args: str, env: dict[str, str] | None = None) -> str:
    done = bw(root, *args, env=env)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    return make_run_image(tmp_path_factory.mktemp("flagimage") / "layout")


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "store"


def _mask(names: object) -> str:
    return f"{sum(1 << CAPABILITY_NUMBERS[n] for n in names):016x}"  # type: ignore[attr-defined]


def test_env_file(image: str, store: Path, tmp_path: Path) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\nA=1\n\nB\nC=x y\nD=from-file\n")
    out = ok(store, "run", "--rm", "--network", "none", "--env-file", str(env_file),
             "-e", "D=from-flag", image, "sh", "-c", "env | grep -E '^(A|B|C|D)=' | sort",
             env={"B": "from-caller"})  # fmt: skip
    assert out == "A=1\nB=from-caller\nC=x y\nD=from-flag\n"
    bad = tmp_path / "bad"
    bad.write_text("=x\n")
    done = bw(store, "run", "--rm", "--env-file", str(bad), image, "true")
    assert done.returncode == 2 and f"{bad}: invalid line '=x'" in done.stderr


def test_mount_bind_tmpfs_and_tmpfs_flag(image: str, store: Path, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "note").write_text("bound\n")
    script = ("cat /m/note; touch /m/x 2>/dev/null || echo ro; "
              "grep -E ' /(t|scratch) ' /proc/mounts | cut -d' ' -f2-4")  # fmt: skip
    out = ok(store, "run", "--rm", "--network", "none",
             "--mount", f"type=bind,src={shared},dst=/m,readonly",
             "--mount", "type=tmpfs,destination=/t,tmpfs-size=1m",
             "--tmpfs", "/scratch:size=2m,mode=755,exec", image, "sh", "-c", script)  # fmt: skip
    assert out == (
        "bound\nro\n"
        "/t tmpfs rw,nosuid,nodev,noexec,relatime,size=1024k\n"
        "/scratch tmpfs rw,nosuid,nodev,relatime,size=2048k,mode=755\n"
    )
    done = bw(store, "run", "--rm", "--mount", "type=nfs,dst=/x", image, "true")
    assert done.returncode == 1
    assert done.stderr == (
        "Error: invalid --mount 'type=nfs,dst=/x': type must be bind, volume or tmpfs\n"
    )


def test_read_only_root_keeps_tmp_var_tmp_and_run_writable(image: str, store: Path) -> None:
    script = ("touch /etc/x 2>/dev/null || echo root-ro; "
              "for d in /tmp /var/tmp /run; do touch $d/x && echo $d-rw; done")  # fmt: skip
    out = ok(store, "run", "--rm", "--network", "none", "--read-only", image, "sh", "-c", script)
    assert out == "root-ro\n/tmp-rw\n/var/tmp-rw\n/run-rw\n"


def test_capabilities_no_new_privileges_and_privileged(image: str, store: Path) -> None:
    status = "grep -E '^(CapEff|CapBnd|NoNewPrivs):' /proc/self/status | tr -d '\\t'"
    default = ok(store, "run", "--rm", "--network", "none", image, "sh", "-c", status)
    everyday = _mask(DEFAULT_CAPABILITIES)
    assert default == f"CapEff:{everyday}\nCapBnd:{everyday}\nNoNewPrivs:0\n"
    changed = ok(store, "run", "--rm", "--network", "none", "--cap-drop", "chown",
                 "--cap-add", "net_admin", "--cap-add", "CAP_SYS_TIME",
                 "--security-opt", "no-new-privileges", image, "sh", "-c", status)  # fmt: skip
    caps = [c for c in DEFAULT_CAPABILITIES if c != "CAP_CHOWN"] + ["CAP_NET_ADMIN", "CAP_SYS_TIME"]
    assert changed == f"CapEff:{_mask(caps)}\nCapBnd:{_mask(caps)}\nNoNewPrivs:1\n"
    only = ok(store, "run", "--rm", "--network", "none", "--cap-drop", "ALL", "--cap-add",
              "CHOWN", image, "sh", "-c", status)  # fmt: skip
    assert only == "CapEff:0000000000000001\nCapBnd:0000000000000001\nNoNewPrivs:0\n"
    held = next(line for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("CapPrm:"))  # fmt: skip
    full = held.split()[1]  # all the caller holds: root outside a user namespace
    script = (
        status + "; test -c /dev/net/tun && echo host-dev; grep -c ' /sys sysfs rw' /proc/mounts"
    )
    privileged = ok(store, "run", "--rm", "--network", "none", "--privileged", image, "sh", "-c",
                    script)  # fmt: skip
    assert privileged == f"CapEff:{full}\nCapBnd:{full}\nNoNewPrivs:0\nhost-dev\n1\n"
    plain = ok(store, "run", "--rm", "--network", "none", image, "sh", "-c",
               "test -e /dev/net/tun || echo no-tun")  # fmt: skip
    assert plain == "no-tun\n"


def test_volume_options(image: str, store: Path, tmp_path: Path) -> None:
    shared, open_dir = tmp_path / "shared", tmp_path / "open"
    shared.mkdir()
    open_dir.mkdir(mode=0o777)
    open_dir.chmod(0o777)
    out = ok(store, "run", "--rm", "--network", "none", "-v", f"{open_dir}:/a:z",
             "-v", f"{open_dir}:/b:ro,Z", "-v", f"{shared}:/c:U", "-u", "alice", image, "sh", "-c",
             "touch /a/x && echo a-rw; touch /b/y 2>/dev/null || echo b-ro; "
             "touch /c/z && stat -c %u /c/z")  # fmt: skip
    assert out == "a-rw\nb-ro\n1000\n"
    assert (shared.stat().st_uid, (shared / "z").stat().st_uid) == (1000, 1000)
    done = bw(store, "run", "--rm", "-v", f"{shared}:/a:ro,rw", image, "true")
    assert done.returncode == 1
    assert done.stderr == (
        f"Error: invalid volume '{shared}:/a:ro,rw': expected SOURCE:DESTINATION[:ro|rw,z|Z,U]\n"
    )


def test_named_volumes_across_containers_and_the_volume_command(image: str, store: Path) -> None:
    assert ok(store, "volume", "create", "--label", "team=web", "data") == "data\n"
    ok(store, "run", "--name", "writer", "--network", "none", "-v", "data:/data", image,
       "sh", "-c", "echo kept > /data/note")  # fmt: skip
    out = ok(store, "run", "--rm", "--network", "none", "--mount", "type=volume,src=data,dst=/d",
             image, "cat", "/d/note")  # fmt: skip
    assert out == "kept\n"
    ok(store, "run", "--rm", "--network", "none", "-v", "auto:/x", image, "true")
    assert ok(store, "volume", "ls") == "DRIVER  VOLUME NAME\nlocal   auto\nlocal   data\n"
    assert ok(store, "volume", "ls", "-q") == "auto\ndata\n"
    [info] = json.loads(ok(store, "volume", "inspect", "data"))
    mountpoint = store.absolute() / "volumes" / "data" / "_data"
    assert (info["Name"], info["Driver"], info["Mountpoint"], info["Labels"]) == (
        "data", "local", str(mountpoint), {"team": "web"},
    )  # fmt: skip
    assert (mountpoint / "note").read_text() == "kept\n"
    refused = bw(store, "volume", "rm", "data")
    writer = json.loads(ok(store, "container", "ls", "--format", "json"))[0]["id"]
    assert refused.returncode == 1
    assert refused.stderr == (
        f"Error: volume data is being used by container {writer[:12]}: remove the container "
        "first, or use --force\n"
    )
    assert ok(store, "volume", "prune") == "auto\n"
    ok(store, "container", "rm", "writer")
    assert ok(store, "volume", "rm", "data") == "data\n"
    assert ok(store, "volume", "ls", "-q") == ""
    missing = bw(store, "volume", "inspect", "nothere")
    assert (missing.returncode, missing.stderr) == (1, "Error: no such volume: nothere\n")


def test_pull_and_platform(image: str, store: Path) -> None:
    never = bw(store, "run", "--rm", "--pull", "never", image, "true")
    assert never.returncode == 1
    assert (
        never.stderr == f"Error: --pull never: {image} is not in the local store (pull it first)\n"
    )
    ok(store, "pull", image, "--name", "local/app:1") if False else ok(
        store, "copy", image, "store:local/app:1"
    )
    assert ok(store, "run", "--rm", "--network", "none", "--pull", "never", "local/app:1",
              "echo", "stored") == "stored\n"  # fmt: skip
    other = bw(store, "run", "--rm", "--platform", "linux/arm64", "local/app:1", "true")
    assert other.returncode == 1
    assert other.stderr == (
        "Error: image 'local/app:1' is for linux/amd64, not linux/arm64; pull that platform "
        "(boxwright pull --platform linux/arm64 REF)\n"
    )
    same = ok(store, "run", "--rm", "--network", "none", "--platform", "linux/amd64", image,
              "echo", "pulled")  # fmt: skip
    assert same == "pulled\n"


def test_limits_need_a_delegated_cgroup_v2(image: str, store: Path) -> None:
    from boxwright.runtime.cgroups import _fs_type

    if _fs_type(Path("/sys/fs/cgroup")) == "cgroup2fs":
        pytest.skip("this machine has a unified cgroup v2 hierarchy")
    layout = "cgroup v1"
    if _fs_type(Path("/sys/fs/cgroup/unified")) == "cgroup2fs":
        layout = "a hybrid cgroup layout (v1 controllers, v2 at /sys/fs/cgroup/unified)"
    done = bw(store, "run", "--rm", "--network", "none", "--memory", "64m", "--pids-limit", "50",
              image, "true")  # fmt: skip
    assert done.returncode == 125
    assert done.stderr == (
        f"Error: --memory, --pids-limit need cgroup v2 with the controllers delegated; this "
        f"machine has {layout}: boxwright does not set limits through cgroup v1\n"
    )
    bad = bw(store, "run", "--rm", "--memory", "lots", image, "true")
    assert bad.stderr == (
        "Error: invalid memory size 'lots': expected a number with b, k, m or g\n"
    )
