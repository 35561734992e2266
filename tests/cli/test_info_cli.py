"""``boxwright info`` and ``system migrate`` as root, as a user with ranges and as one without.

Each command runs in-process (``main(args)``) in a child that became the user; its stdout and
stderr go to files the test reads.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import boxwright.cli.info
import boxwright.store.migrate  # noqa: F401 - loaded before the child drops privileges
from boxwright.rootless.namespace import stop_pause_process
from boxwright.rootless.ranges import subordinate_ranges
from boxwright_testing.runtime import preload_boxwright
from boxwright_testing.users import User, as_user, ranged_user, throwaway_user

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make test users")


def _cli(args: list[str], out: str, env: dict[str, str]) -> int:
    """``boxwright ARGS`` in this process, stdout and stderr into ``out``.1/.2; the exit code."""
    import sys

    from boxwright.cli.main import main

    os.environ.update(env)
    with open(out + ".1", "w") as stdout, open(out + ".2", "w") as stderr:
        sys.stdout, sys.stderr = stdout, stderr
        try:
            returned = main.main(args, standalone_mode=False)
            code = returned if isinstance(returned, int) else 0
        except SystemExit as done:
            code = int(done.code or 0)
        except Exception as error:  # click's standalone_mode=False re-raises Exit
            code = getattr(error, "exit_code", 1)
        finally:
            sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    return code


@pytest.fixture(scope="module")
def ranges_user() -> Iterator[User]:
    with ranged_user("bxri") as user:
        try:
            yield user
        finally:
            as_user(user, stop_pause_process)


@pytest.fixture
def home(ranges_user: User) -> Iterator[Path]:
    path = Path(f"/tmp/bx-info-{os.getpid()}-{os.urandom(4).hex()}")
    path.mkdir(mode=0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def _run(user: User | None, home: Path, *args: str, **env: str) -> tuple[int, str, str]:
    out = str(home / f"out-{os.urandom(3).hex()}")
    full = ["--root", str(home / "store"), *args]
    if user is None:
        code = _cli(full, out, env)
    else:
        preload_boxwright()
        os.chown(home, user.uid, user.gid)
        code = as_user(user, _cli, full, out, env)
    return code, Path(out + ".1").read_text(), Path(out + ".2").read_text()


def test_info_names_the_ranges_mode_and_maps(ranges_user: User, home: Path) -> None:
    code, out, err = _run(ranges_user, home, "info", "--format", "json")
    assert (code, err) == (0, "")
    facts = json.loads(out)
    start = subordinate_ranges(Path("/etc/subuid"), ranges_user.name, ranges_user.uid)[0][0]
    gstart = subordinate_ranges(Path("/etc/subgid"), ranges_user.name, ranges_user.uid)[0][0]
    assert facts["host"]["idMappings"] == {
        "uidmap": [
            {"container_id": 0, "host_id": ranges_user.uid, "size": 1},
            {"container_id": 1, "host_id": start, "size": 65536},
        ],
        "gidmap": [
            {"container_id": 0, "host_id": ranges_user.gid, "size": 1},
            {"container_id": 1, "host_id": gstart, "size": 65536},
        ],
    }
    assert facts["store"]["usernsMode"] == "ranges"
    assert facts["store"]["graphRoot"] == str(home / "store")
    assert facts["host"]["security"] == {"rootless": True, "usernsMode": "ranges"}
    assert facts["host"]["ociRuntimes"]["native"] == {"path": "builtin"}
    code, out, _ = _run(ranges_user, home, "info", "--format", "{{.Store.UsernsMode}}")
    assert (code, out) == (0, "ranges\n")


def test_a_store_keeps_its_mode_and_migrate_switches_it(ranges_user: User, home: Path) -> None:
    code, out, err = _run(
        ranges_user, home, "container", "from", "scratch", BOXWRIGHT_USERNS="single"
    )
    assert (code, out.splitlines()[-1], err) == (0, "working-container", "")
    assert json.loads((home / "store" / "userns.json").read_text()) == {"mode": "single"}
    code, out, err = _run(ranges_user, home, "--userns", "ranges", "container", "ls")
    assert code == 1
    assert err == (
        f"Error: the store at {home / 'store'} was created in single mode; switch it with "
        "`boxwright system migrate --userns ranges` (its images stay, its working containers "
        "go), or use another --root\n"
    )
    code, out, err = _run(ranges_user, home, "system", "migrate", "--userns", "ranges")
    assert code == 1
    assert "has 1 working container(s)" in err
    code, out, err = _run(ranges_user, home, "system", "migrate", "--userns", "ranges", "-f")
    assert (code, err) == (0, "")
    assert out == (
        "The store is in ranges mode (was single): removed 1 working containers and 0 snapshots\n"
    )
    code, out, _ = _run(ranges_user, home, "info", "--format", "{{.Store.UsernsMode}}")
    assert (code, out) == (0, "ranges\n")


def test_info_as_a_user_without_ranges_says_single(home: Path) -> None:
    with throwaway_user("bxsi", system=True) as user:
        code, out, err = _run(user, home, "info", "--format", "json")
    assert (code, err) == (0, "")
    facts = json.loads(out)
    assert facts["store"]["usernsMode"] == "single"
    assert facts["host"]["idMappings"] == {
        "uidmap": [{"container_id": 0, "host_id": user.uid, "size": 1}],
        "gidmap": [{"container_id": 0, "host_id": user.gid, "size": 1}],
    }


def test_info_as_root(home: Path) -> None:
    code, out, err = _run(
        None, home, "info", "--format", "{{.Store.UsernsMode}} {{.Host.IdMappings}}"
    )
    assert (code, out, err) == (0, "root <nil>\n", "")
    from boxwright.runtime.emulation import emulation_report

    code, out, err = _run(None, home, "info", "--format", "json")
    assert (code, err) == (0, "")
    assert json.loads(out)["host"]["emulation"] == emulation_report()
