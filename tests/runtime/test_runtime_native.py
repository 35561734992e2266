"""The native runner as root: exit codes, env, cwd, users, isolation, volumes, signals.

Each run happens in a forked child (:func:`boxwright_testing.runtime.in_child`) so that the
container's output never reaches pytest's streams and a signal test can target that child.
Commands write what they observe into files of the rootfs, read back afterwards.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from boxwright.errors import InvalidIDError
from boxwright.runtime import Mount, RunOptions, run_in_rootfs
from boxwright.runtime.native import NativeRunner
from boxwright.runtime.spec import generate_spec
from boxwright_testing.runtime import ChildError, image_config, in_child

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")


def sh(rootfs: Path, script: str, isolation: str = "native", **options: object) -> int:
    """Run ``sh -c script`` in ``rootfs`` in a forked child; return the exit code."""
    opts = RunOptions(args=("sh", "-c", script), **options)  # type: ignore[arg-type]
    result = in_child(run_in_rootfs, rootfs, image_config(), opts, isolation)
    assert isinstance(result, int)
    return result


def out(rootfs: Path, name: str = "out") -> str:
    return (rootfs / "tmp" / name).read_text()


def test_exit_codes_pass_through(rootfs: Path) -> None:
    assert sh(rootfs, "exit 0") == 0
    assert sh(rootfs, "exit 7") == 7
    # A process killed by a signal: 128 + the signal number (the shell kills a child of its own).
    assert sh(rootfs, "sleep 5 & kill -9 $!; wait $!; exit $?") == 137


def test_missing_and_unexecutable_commands_raise_with_podman_codes(rootfs: Path) -> None:
    with pytest.raises(ChildError) as missing:
        in_child(run_in_rootfs, rootfs, image_config(), RunOptions(args=("nosuch",)))
    assert missing.value.kind == "RunError"
    assert missing.value.message == "executable file `nosuch` not found in $PATH"
    assert missing.value.exit_code == 127
    (rootfs / "tmp" / "plain").write_text("not a program\n")
    with pytest.raises(ChildError) as plain:
        in_child(run_in_rootfs, rootfs, image_config(), RunOptions(args=("/tmp/plain",)))
    assert plain.value.exit_code == 126
    assert plain.value.message == "cannot execute `/tmp/plain`: Permission denied"


def test_env_cwd_hostname_and_home(rootfs: Path) -> None:
    code = sh(
        rootfs,
        "env | sort > /tmp/out; pwd > /tmp/cwd; hostname > /tmp/host",
        env=("EXTRA=1",),
        workdir="/work/here",
        hostname="box1",
    )
    assert code == 0
    assert out(rootfs).splitlines() == [
        "EXTRA=1",
        "HOME=/root",
        "PATH=/usr/bin:/bin",
        "PWD=/work/here",
        "SHLVL=1",
        "TERM=xterm",
    ]
    assert out(rootfs, "cwd") == "/work/here\n"
    assert out(rootfs, "host") == "box1\n"
    assert (rootfs / "work" / "here").is_dir()  # created, as runc creates a missing cwd


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("1000", "uid=1000(alice) gid=1000(alice) groups=50(staff)"),
        ("alice", "uid=1000(alice) gid=1000(alice) groups=50(staff)"),
        ("alice:root", "uid=1000(alice) gid=0(root)"),
        ("4242", "uid=4242 gid=0(root)"),
        ("", "uid=0(root) gid=0(root)"),
    ],
)
def test_user_switching(rootfs: Path, user: str, expected: str) -> None:
    assert sh(rootfs, "id > /tmp/out; touch /tmp/made", user=user) == 0
    assert out(rootfs).strip() == expected
    made = (rootfs / "tmp" / "made").stat()
    uid, gid = (int(part.split("=")[1].split("(")[0]) for part in expected.split()[:2])
    assert (made.st_uid, made.st_gid) == (uid, gid)


def test_the_largest_valid_id_is_used_exactly(rootfs: Path) -> None:
    assert sh(rootfs, "id -u > /tmp/out; id -g >> /tmp/out", user="4294967294:4294967294") == 0
    assert out(rootfs) == "4294967294\n4294967294\n"


@pytest.mark.parametrize(
    ("user", "config_user", "message"),
    [
        ("4294967295", "", "invalid user '4294967295': uid 4294967295 is out of range"),
        ("0:4294967295", "", "invalid user '0:4294967295': gid 4294967295 is out of range"),
        (
            None,
            "4294967295:4294967295",
            "invalid image User '4294967295:4294967295': uid 4294967295 is out of range",
        ),
    ],
)
def test_uid_minus_one_never_runs_as_root(
    rootfs: Path, user: str | None, config_user: str, message: str
) -> None:
    """(uid_t)-1 is "no change" to setresuid: the run is refused before anything starts."""
    options = RunOptions(args=("sh", "-c", "id -u > /tmp/out"), user=user)
    with pytest.raises(ChildError) as refused:
        in_child(run_in_rootfs, rootfs, image_config(User=config_user), options)
    assert refused.value.kind == "InvalidIDError"
    assert refused.value.message == f"{message}: IDs are 0 to 4294967294"
    assert not (rootfs / "tmp" / "out").exists()


@pytest.mark.parametrize("field", ["uid", "gid", "additionalGids"])
def test_native_runner_refuses_an_invalid_id_in_a_spec(rootfs: Path, field: str) -> None:
    """The last check before setresuid: a spec written by hand gets no (uid_t)-1 either."""
    options = RunOptions(args=("sh", "-c", "id -u > /tmp/out"))
    spec = generate_spec(rootfs, image_config(), options, rootless=False)
    spec["process"]["user"][field] = [4294967295] if field == "additionalGids" else 4294967295
    with pytest.raises(InvalidIDError) as refused:
        NativeRunner().run(spec)
    kind = "uid" if field == "uid" else "gid"
    assert str(refused.value) == f"{kind} 4294967295 is out of range: IDs are 0 to 4294967294"
    assert not (rootfs / "tmp" / "out").exists()


def test_proc_shows_only_the_containers_processes(rootfs: Path) -> None:
    script = "sleep 30 & ls /proc | grep -E '^[0-9]+$' | sort -n > /tmp/out; cat /proc/1/cmdline"
    assert sh(rootfs, script + " | tr '\\0' ' ' > /tmp/cmd; kill $!") == 0
    pids = [int(p) for p in out(rootfs).split()]
    assert pids[0] == 1 and len(pids) <= 5 and max(pids) < 20
    assert out(rootfs, "cmd") == f"sh -c {script} | tr '\\0' ' ' > /tmp/cmd; kill $! "


def test_host_files_are_invisible_and_unwritable(rootfs: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host only\n")
    script = (
        f"test -e {secret} && echo visible > /tmp/out; "
        f"echo pwned > {secret} 2>/dev/null; "
        "echo 1 > /proc/sysrq-trigger 2>/dev/null || echo sysrq-refused >> /tmp/out; "
        "touch /sys/kernel/x 2>/dev/null || echo sys-refused >> /tmp/out; "
        "cat /proc/kcore 2>/dev/null | wc -c >> /tmp/out; exit 0"
    )
    assert sh(rootfs, script) == 0
    assert out(rootfs).split() == ["sysrq-refused", "sys-refused", "0"]
    assert secret.read_text() == "host only\n"
    # The path does not exist in the container: nothing was written anywhere.
    assert not (rootfs / str(secret).lstrip("/")).exists()


def test_volumes_read_write_and_read_only(rootfs: Path, tmp_path: Path) -> None:
    shared, frozen = tmp_path / "shared", tmp_path / "frozen"
    shared.mkdir()
    frozen.mkdir()
    (frozen / "keep").write_text("keep\n")
    script = (
        "echo hi > /mnt/rw/new; cat /mnt/ro/keep > /tmp/out; "
        "echo no > /mnt/ro/keep 2>/dev/null || echo ro-refused >> /tmp/out"
    )
    volumes = (Mount(str(shared), "/mnt/rw"), Mount(str(frozen), "/mnt/ro", read_only=True))
    assert sh(rootfs, script, volumes=volumes) == 0
    assert (shared / "new").read_text() == "hi\n"
    assert out(rootfs) == "keep\nro-refused\n"
    assert (frozen / "keep").read_text() == "keep\n"


def test_network_none_has_only_loopback(rootfs: Path) -> None:
    script = "cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' ' | sort > /tmp/out"
    assert sh(rootfs, script, network="none") == 0
    assert out(rootfs).split() == ["lo"]
    assert sh(rootfs, script, network="host") == 0
    lines = Path("/proc/net/dev").read_text().splitlines()[2:]
    host = sorted(line.split(":")[0].strip() for line in lines)
    assert out(rootfs).split() == host


def test_hosts_and_resolv_conf_are_provided_and_mount_points_removed(rootfs: Path) -> None:
    script = "cat /etc/hosts > /tmp/out; cat /etc/resolv.conf > /tmp/resolv; ls /dev > /tmp/dev"
    assert sh(rootfs, script, network="none", hostname="web") == 0
    assert out(rootfs) == (
        "127.0.0.1\tlocalhost localhost.localdomain\n::1\tlocalhost ip6-localhost\n127.0.1.1\tweb\n"
    )
    assert out(rootfs, "resolv") == Path("/etc/resolv.conf").read_text()
    for name in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx"):
        assert name in out(rootfs, "dev").split()
    # The rootfs had none of these: the run leaves it as it was.
    for name in ("proc", "dev", "sys", "etc/hosts", "etc/resolv.conf"):
        assert not os.path.lexists(rootfs / name), name


def test_signals_reach_the_process(rootfs: Path) -> None:
    script = (
        "trap 'echo got-term > /tmp/out; exit 3' TERM; echo ready > /tmp/ready; "
        "while true; do sleep 0.05; done"
    )
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        code = run_in_rootfs(rootfs, image_config(), RunOptions(args=("sh", "-c", script)))
        os.write(write_fd, str(code).encode())
        os._exit(0)
    os.close(write_fd)
    deadline = time.monotonic() + 20
    while not (rootfs / "tmp" / "ready").exists():
        assert time.monotonic() < deadline, "the container never started"
        time.sleep(0.02)
    os.kill(pid, signal.SIGTERM)
    with os.fdopen(read_fd, "rb") as reader:
        code = reader.read().decode()
    os.waitpid(pid, 0)
    assert code == "3"
    assert out(rootfs) == "got-term\n"


def test_rlimits_and_read_only_root(rootfs: Path) -> None:
    limits = (("RLIMIT_NOFILE", 64, 128),)
    script = "ulimit -n > /mnt/out/soft; ulimit -Hn > /mnt/out/hard; touch /x || exit 9"
    target = rootfs.parent / "outdir"
    target.mkdir()
    volumes = (Mount(str(target), "/mnt/out"),)
    code = sh(rootfs, script, rlimits=limits, read_only=True, volumes=volumes)
    assert code == 9
    assert (target / "soft").read_text() == "64\n"
    assert (target / "hard").read_text() == "128\n"
    assert not (rootfs / "x").exists()
