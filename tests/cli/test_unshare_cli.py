"""``boxwright unshare`` as a user with ranges, as one without, and as root: real processes
(the command runs ``sh`` and ``boxwright`` in turn), their exact output."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from boxwright.rootless.namespace import stop_pause_process
from boxwright.rootless.ranges import subordinate_ranges
from boxwright_testing.users import User, as_user, run_cli_as, throwaway_user

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make test users")


@pytest.fixture(scope="module")
def ranges_user() -> Iterator[User]:
    for tool in ("newuidmap", "newgidmap", "usermod"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    with throwaway_user("bxun", system=False) as user:
        if not subordinate_ranges(Path("/etc/subuid"), user.name, user.uid):
            start = 200_000 + (os.getpid() % 400) * 65536
            subprocess.run(
                ["usermod", "--add-subuids", f"{start}-{start + 65535}",
                 "--add-subgids", f"{start}-{start + 65535}", user.name],
                check=True, capture_output=True,
            )  # fmt: skip
        try:
            yield user
        finally:
            as_user(user, stop_pause_process)


@pytest.fixture
def work() -> Iterator[Path]:
    path = Path(f"/tmp/bx-unshare-{os.getpid()}-{os.urandom(4).hex()}")
    path.mkdir(mode=0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def _bw(user: User, work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    os.chown(work, user.uid, user.gid)
    return run_cli_as(user, ["--root", str(work / "store"), *args], {}, cwd=work)


def _container_with_owners(user: User, work: Path) -> str:
    """A working container holding ``/f`` owned by 1234:1234 and ``/g`` by root."""
    for name in ("f", "g"):
        (work / name).write_text("data\n")
        os.chown(work / name, user.uid, user.gid)
    done = _bw(user, work, "container", "from", "-q", "--name", "c1", "scratch")
    assert (done.returncode, done.stderr) == (0, "")
    done = _bw(user, work, "container", "copy", "--chown", "1234:1234", "c1", "f", "/f")
    assert done.returncode == 0, done.stderr
    done = _bw(user, work, "container", "copy", "c1", "g", "/g")
    assert done.returncode == 0, done.stderr
    return "c1"


def _owners(listing: str) -> dict[str, tuple[str, str]]:
    """``ls -ln`` lines as name → (uid, gid)."""
    return {
        words[-1]: (words[2], words[3])
        for words in (line.split() for line in listing.splitlines())
        if len(words) >= 9
    }


def test_unshare_mount_shows_container_owners_with_ranges(ranges_user: User, work: Path) -> None:
    container = _container_with_owners(ranges_user, work)
    done = _bw(
        ranges_user, work, "unshare", "sh", "-c", f"ls -ln $(boxwright container mount {container})"
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert _owners(done.stdout) == {"f": ("1234", "1234"), "g": ("0", "0")}
    # the mount stays in the store's namespace: the next session sees it as it is
    done = _bw(ranges_user, work, "unshare", "-m", "DIR=c1", "sh", "-c", "ls -ln $DIR")
    assert (done.returncode, done.stderr) == (0, "")
    assert _owners(done.stdout) == {"f": ("1234", "1234"), "g": ("0", "0")}
    start = subordinate_ranges(Path("/etc/subuid"), ranges_user.name, ranges_user.uid)[0][0]
    done = _bw(ranges_user, work, "unshare", "cat", "/proc/self/uid_map")
    assert [line.split() for line in done.stdout.splitlines()] == [
        ["0", str(ranges_user.uid), "1"],
        ["1", str(start), "65536"],
    ]


def test_unshare_sets_buildahs_environment(ranges_user: User, work: Path) -> None:
    script = (
        'echo "$USER $LOGNAME $UID $GID $CONTAINERS_GRAPHROOT $CONTAINERS_RUNROOT '
        '$BOXWRIGHT_ROOT"; id -u'
    )
    done = _bw(ranges_user, work, "unshare", "sh", "-c", script)
    assert (done.returncode, done.stderr) == (0, "")
    store = work / "store"
    assert done.stdout == (
        f"root root 0 0 {store} /tmp/boxwright-run-{ranges_user.uid} {store}\n0\n"
    )


def test_unshare_runs_shell_and_passes_exit_status(ranges_user: User, work: Path) -> None:
    os.chown(work, ranges_user.uid, ranges_user.gid)
    done = run_cli_as(
        ranges_user, ["--root", str(work / "store"), "unshare"], {"SHELL": "/bin/false"}, cwd=work
    )
    assert (done.returncode, done.stdout, done.stderr) == (1, "", "")
    done = _bw(ranges_user, work, "unshare", "sh", "-c", "exit 7")
    assert done.returncode == 7
    done = _bw(ranges_user, work, "unshare", "no-such-program")
    assert (done.returncode, done.stderr) == (
        1,
        "Error: cannot run 'no-such-program': no such executable (looked in $PATH)\n",
    )


def test_unshare_in_single_mode_maps_only_the_user(work: Path) -> None:
    with throwaway_user("bxus", system=True) as user:
        done = _bw(user, work, "unshare", "sh", "-c", "id -u; cat /proc/self/uid_map")
        assert (done.returncode, done.stderr) == (0, "")
        assert [line.split() for line in done.stdout.splitlines()] == [
            ["0"],
            ["0", str(user.uid), "1"],
        ]
        container = _container_with_owners(user, work)
        done = _bw(
            user, work, "unshare", "sh", "-c", f"ls -ln $(boxwright container mount {container})"
        )
        assert (done.returncode, done.stderr) == (0, "")
        # one ID only: every file shows as the user's, which is root here
        assert _owners(done.stdout) == {"f": ("0", "0"), "g": ("0", "0")}
