"""``RunOptions.output``: a run's stdout and stderr to descriptors of the caller's choosing.

The descriptors are files opened by the test before the forked child starts the run (the
child's own stdout and stderr go to /dev/null, so anything that leaked to the inherited
streams would be missing from the files). Both runners, as root and as an unprivileged user.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from boxwright.errors import UsageError
from boxwright.runtime import RunOptions, run_in_rootfs
from boxwright_testing.runtime import image_config, in_child
from boxwright_testing.users import User, chown_tree

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="these tests run as root")

SCRIPT = "echo out-1; echo err-1 >&2; printf 'out-2'; printf 'err-2\\n' >&2; exit 3"
ISOLATIONS = [
    "native",
    pytest.param(
        "oci",
        marks=pytest.mark.skipif(
            shutil.which("runc") is None and shutil.which("crun") is None,
            reason="no OCI runtime (runc, crun) installed",
        ),
    ),
]


@contextmanager
def _files(where: Path, *names: str) -> Iterator[list[int]]:
    fds = [os.open(where / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) for name in names]
    try:
        yield fds
    finally:
        for fd in fds:
            os.close(fd)


def _run(
    rootfs: Path,
    output: int | tuple[int, int],
    isolation: str,
    user: User | None,
    script: str = SCRIPT,
) -> int:
    options = RunOptions(args=("sh", "-c", script), output=output)
    code = in_child(run_in_rootfs, rootfs, image_config(), options, isolation, user=user)
    assert isinstance(code, int)
    return code


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_one_descriptor_receives_both_streams_in_order(
    rootfs: Path, tmp_path: Path, isolation: str
) -> None:
    script = "echo out-1; echo err-1 >&2; echo out-2; echo err-2 >&2"
    with _files(tmp_path, "both") as (both,):
        assert _run(rootfs, both, isolation, None, script) == 0
    lines = (tmp_path / "both").read_text().splitlines()
    if isolation == "native":  # the very descriptor: the order of the writes
        assert lines == ["out-1", "err-1", "out-2", "err-2"]
    else:  # runc copies each stream through a pipe of its own: the order within each
        assert [line for line in lines if line.startswith("out")] == ["out-1", "out-2"]
        assert [line for line in lines if line.startswith("err")] == ["err-1", "err-2"]
        assert len(lines) == 4


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_a_pair_separates_stdout_from_stderr(rootfs: Path, tmp_path: Path, isolation: str) -> None:
    with _files(tmp_path, "out", "err") as (out, err):
        assert _run(rootfs, (out, err), isolation, None) == 3
    assert (tmp_path / "out").read_text() == "out-1\nout-2"
    assert (tmp_path / "err").read_text() == "err-1\nerr-2\n"


@pytest.mark.parametrize("isolation", ISOLATIONS)
def test_an_unprivileged_run_writes_to_the_given_descriptors(
    rootfs_template: Path, user_dir: Path, single_user: User, isolation: str
) -> None:
    rootfs = user_dir / "rootfs"
    shutil.copytree(rootfs_template, rootfs, symlinks=True)
    chown_tree(rootfs, single_user)
    with _files(user_dir, "out", "err") as (out, err):
        assert _run(rootfs, (out, err), isolation, single_user) == 3
    assert (user_dir / "out").read_text() == "out-1\nout-2"
    assert (user_dir / "err").read_text() == "err-1\nerr-2\n"


def test_a_closed_descriptor_is_a_usage_error(rootfs: Path) -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    os.close(write_fd)
    with pytest.raises(UsageError, match=f"run output: {write_fd} is not an open file descriptor"):
        RunOptions(args=("true",), output=write_fd).output_fds()


def test_a_terminal_run_ignores_output_and_none_inherits() -> None:
    assert RunOptions(args=("true",), output=1, terminal=True).output_fds() is None
    assert RunOptions(args=("true",)).output_fds() is None
    assert RunOptions(args=("true",), output=2).output_fds() == (2, 2)
