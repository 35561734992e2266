"""``--isolation oci`` rootless: runc as a user with ranges (the store's namespace) and as
one without (a single-ID namespace), ``run`` and a build's RUN; crun where the machine's
cgroup layout lets it run. Real processes of the command line, their exact output."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import boxwright
from boxwright.rootless.ranges import subordinate_ranges
from boxwright_testing.users import User, run_cli_as

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make test users"),
    pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed"),
]

PROBE = (
    "id -u; id -g; cat /proc/self/uid_map; "
    "grep devpts /proc/self/mounts | tr , '\\n' | grep ^gid= || true"
)


def _bw(
    user: User, work: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    os.chown(work, user.uid, user.gid)
    return run_cli_as(user, ["--root", str(work / "store"), *args], env or {}, cwd=work)


def _with_base(user: User, work: Path, layout: Path) -> None:
    done = _bw(user, work, "copy", f"oci:{layout}:1", "store:localhost/bbx:1")
    assert done.returncode == 0, done.stderr


def _map(rows: list[tuple[int, int, int]]) -> list[str]:
    return [" ".join(str(n) for n in row) for row in rows]


def _lines(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines()]


def test_run_oci_with_ranges_shares_the_store_namespace(
    bbx_layout: Path, ranges_user: User, work: Path
) -> None:
    _with_base(ranges_user, work, bbx_layout)
    args = ("run", "--rm", "--isolation", "oci", "-u", "1234:1234", "localhost/bbx:1")
    done = _bw(ranges_user, work, *args, "sh", "-c", PROBE)
    assert (done.returncode, done.stderr) == (0, "")
    start = subordinate_ranges(Path("/etc/subuid"), ranges_user.name, ranges_user.uid)[0][0]
    gstart = subordinate_ranges(Path("/etc/subgid"), ranges_user.name, ranges_user.uid)[0][0]
    assert _lines(done.stdout) == [
        "1234",
        "1234",
        f"0 {ranges_user.uid} 1",
        f"1 {start} 65536",
        f"gid={gstart + 4}",  # the tty group (5) is mapped: kept (shown as the host's ID)
    ]


def test_run_oci_in_single_mode(bbx_layout: Path, plain_user: User, work: Path) -> None:
    _with_base(plain_user, work, bbx_layout)
    args = ("run", "--rm", "--isolation", "oci", "localhost/bbx:1")
    done = _bw(plain_user, work, *args, "sh", "-c", PROBE)
    assert (done.returncode, done.stderr) == (0, "")
    # one ID: devpts gets no gid= (5 is not mapped)
    assert _lines(done.stdout) == ["0", "0", f"0 {plain_user.uid} 1"]


def _root_build(work: Path, ctx: Path, layout: Path) -> str:
    src = Path(boxwright.__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(src)}
    base = [sys.executable, "-m", "boxwright", "--root", str(work / "root-store")]
    subprocess.run([*base, "copy", f"oci:{layout}:1", "store:localhost/bbx:1"], env=env,
                   check=True, capture_output=True)  # fmt: skip
    done = subprocess.run(
        [*base, "build", "-q", "--timestamp", "0", "-t", "out:1", str(ctx)],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def test_build_run_step_with_oci_isolation_rootless(
    bbx_layout: Path, ranges_user: User, work: Path
) -> None:
    ctx = work / "ctx"
    ctx.mkdir()
    (ctx / "Containerfile").write_text(
        "FROM localhost/bbx:1\n"
        "RUN mkdir -p /srv/data && chown 1234:1234 /srv/data && adduser -D app\n"
        "USER 1234\n"
        "RUN touch /srv/data/by-1234\n"
    )
    os.chown(ctx, ranges_user.uid, ranges_user.gid)
    os.chown(ctx / "Containerfile", ranges_user.uid, ranges_user.gid)
    _with_base(ranges_user, work, bbx_layout)
    args = ("build", "-q", "--isolation", "oci", "--timestamp", "0", "-t", "out:1", str(ctx))
    done = _bw(ranges_user, work, *args)
    assert done.returncode == 0, done.stderr
    # runc in the store's namespace made the same files (owners included) as root natively
    assert done.stdout.strip() == _root_build(work, ctx, bbx_layout)


def _hybrid_cgroups() -> bool:
    return not os.path.exists("/sys/fs/cgroup/cgroup.controllers") and os.path.isdir(
        "/sys/fs/cgroup/unified"
    )


@pytest.mark.skipif(shutil.which("crun") is None, reason="crun is not installed")
def test_run_oci_with_crun_rootless(bbx_layout: Path, ranges_user: User, work: Path) -> None:
    _with_base(ranges_user, work, bbx_layout)
    args = ("run", "--rm", "--isolation", "oci", "localhost/bbx:1", "id", "-u")
    done = _bw(ranges_user, work, *args, env={"BOXWRIGHT_OCI_RUNTIME": "crun"})
    if _hybrid_cgroups():  # crun refuses this layout whatever its options (docs/runtime.md)
        assert (done.returncode, done.stdout) == (1, "")
        assert (
            done.stderr
            == "cgroups in hybrid mode not supported, drop all controllers from cgroupv2\n"
        )
    else:
        assert (done.returncode, done.stdout, done.stderr) == (0, "0\n", "")
