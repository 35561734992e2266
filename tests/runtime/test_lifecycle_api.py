"""The Python API of containers that keep running (:class:`boxwright.runtime.Container`), as
root and as an unprivileged user: create, start, exec, logs, stop, wait, inspect, remove,
run_attached and attach, with their exact outcomes and errors."""

from __future__ import annotations

import logging
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from boxwright.errors import ContainerNotFoundError, RunError, UsageError
from boxwright.runtime import Container, RunOptions
from boxwright.runtime.logs import LogRecord
from boxwright.store.store import Store
from boxwright_testing.users import as_user
from cli.conftest import Caller, caller  # noqa: F401 - the fixture, as root and as a user

SERVICE = (
    'echo up; echo err >&2; trap "echo bye; exit 3" TERM; while :; do busybox sleep 0.05; done'
)


def as_caller(who: Caller, func: Callable[..., Any], *args: Any) -> Any:
    """``func(*args)`` in this process for root, in a forked child as the user otherwise.

    The user's runs warn on ``boxwright.runtime`` that the single-ID namespace cannot keep
    ownership changes (the test image has no glibc loader); pytest's log capture would
    write that into the container's stderr, so the logger is quiet for the call.
    """
    quiet = logging.getLogger("boxwright.runtime")
    was = quiet.disabled
    quiet.disabled = True
    try:
        return func(*args) if who.user is None else as_user(who.user, func, *args)
    finally:
        quiet.disabled = was


def _until(check: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _data(records: Any) -> list[tuple[str, bytes]]:
    return [(r.stream, r.data) for r in records]


def _lifecycle(root: Path, image: str) -> dict[str, Any]:
    store = Store(root)
    seen: dict[str, Any] = {}
    c = Container.create(image, RunOptions(args=(SERVICE,)), store=store, name="api")
    seen["created"] = (c.state().status, c.state().pid, c.is_running())
    pid = c.start()
    seen["started"] = (c.state().status, c.state().pid == pid, c.is_running())
    seen["start again"] = c.start() == pid  # a running container is left alone
    _until(lambda: len(list(c.logs())) == 2)
    # exec shares the PID namespace: PID 1 is the container's shell, its stdout the log's
    seen["exec"] = c.exec(["sh", "-c", "echo from-exec > /proc/1/fd/1; exit 6"])
    _until(lambda: len(list(c.logs())) == 3)
    seen["logs"] = sorted(_data(c.logs()))
    seen["tail"] = _data(c.logs(tail=1))
    seen["record"] = isinstance(next(iter(c.logs())), LogRecord)
    other = Container("api", store=store)  # a second object sees the same container
    seen["same"] = (other.id == c.id, other.state().pid == pid)
    seen["stop"] = c.stop(timeout=5)
    seen["wait"] = c.wait()
    state = c.inspect()["State"]
    seen["state"] = (state["Status"], state["Running"], state["Pid"], state["ExitCode"])
    seen["times"] = state["StartedAt"] < state["FinishedAt"]
    seen["stop again"] = c.stop()  # not running: None
    try:
        c.exec(["true"])
    except RunError as error:
        seen["exec stopped"] = (str(error), error.exit_code)
    seen["last"] = _data(c.logs(tail=1))
    c.remove()
    try:
        Container("api", store=store)
    except ContainerNotFoundError as error:
        seen["removed"] = type(error).__name__
    return seen


def test_create_start_exec_logs_stop_wait_remove(caller: Caller) -> None:  # noqa: F811
    seen = as_caller(caller, _lifecycle, caller.root, caller.image)
    assert seen["created"] == ("created", 0, False)
    assert seen["started"] == ("running", True, True)
    assert seen["start again"] is True
    assert seen["exec"] == 6
    assert seen["logs"] == [("stderr", b"err\n"), ("stdout", b"from-exec\n"), ("stdout", b"up\n")]
    assert seen["tail"] == [("stdout", b"from-exec\n")]
    assert seen["record"] is True
    assert seen["same"] == (True, True)
    assert seen["stop"] == 3
    assert seen["wait"] == 3
    assert seen["state"] == ("exited", False, 0, 3)
    assert seen["times"] is True
    assert seen["stop again"] is None
    assert seen["exec stopped"] == ("container api is not running", 125)
    assert seen["last"] == [("stdout", b"bye\n")]
    assert seen["removed"] == "ContainerNotFoundError"


#: What looking a container up and reading its state must not load (``exec``, ``stop``,
#: ``ps`` and ``logs`` start with it), nor what ``exec`` runs with (its native setns and
#: forks, ``runc exec``): the container store, the image and layer machinery, the blob
#: writers, the runners with their spec, ID-map and network modules.
HEAVY = (
    "boxwright.layer.apply",
    "boxwright.oci.config",
    "boxwright.runtime.conmon",
    "boxwright.runtime.idmap",
    "boxwright.runtime.native",
    "boxwright.runtime.network",
    "boxwright.runtime.ocirunner",
    "boxwright.runtime.spec",
    "boxwright.store.containers",
    "boxwright.store.images",
    "boxwright.store.rootfs",
    "boxwright.store.snapshots",
    "boxwright.transport.atomic",
    "socket",
)
PROBE = (
    "import sys\n"
    "import boxwright.runtime.nsexec, boxwright.runtime.ociruntime\n"
    "from boxwright.runtime.lifecycle import Container\n"
    "c = Container('watched')\n"
    "print(c.state().status, c.config.stop_signal, c.files.monitor_alive())\n"
    "print(' '.join(m for m in {heavy!r} if m in sys.modules))\n"
)


def _locks_of(pid: int, path: Path) -> list[str]:
    """The ``/proc/locks`` entries of process ``pid`` on the file at ``path``."""
    inode = f":{os.stat(path).st_ino} "
    with open("/proc/locks") as locks:
        return [" ".join(line.split()[1:4]) for line in locks
                if line.split()[4] == str(pid) and inode in line]  # fmt: skip


def _start_watched(root: Path, image: str) -> list[str]:
    c = Container.create(image, RunOptions(args=(SERVICE,)), store=Store(root), name="watched")
    c.start()
    return _locks_of(int(c.files.monitor_lock.read_text()), c.files.monitor_lock)


def _stop_watched(root: Path) -> dict[str, Any]:
    c = Container("watched", store=Store(root))
    seen: dict[str, Any] = {}
    fd = c.files.monitor_pidfd()
    assert fd is not None
    try:
        seen["stop"] = c.stop(timeout=5)
        seen["monitor ended"] = select.select([fd], [], [], 5)[0] == [fd]
    finally:
        os.close(fd)
    seen["pidfd after"] = c.files.monitor_pidfd()
    c.remove()
    return seen


def test_the_monitor_names_itself_and_a_lookup_loads_no_runner(caller: Caller) -> None:  # noqa: F811
    # monitor.lock says which process holds it: stop and wait watch that process end
    assert as_caller(caller, _start_watched, caller.root, caller.image) == ["FLOCK ADVISORY WRITE"]
    env = {
        **caller.env,
        "BOXWRIGHT_ROOT": str(caller.root),
        "PYTHONPATH": os.pathsep.join(sys.path),
    }
    probe = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY)], env=env,
                           capture_output=True, check=True)  # fmt: skip
    assert probe.stdout.decode().splitlines() == ["running SIGTERM True", ""]
    seen = as_caller(caller, _stop_watched, caller.root)
    assert seen == {"stop": 3, "monitor ended": True, "pidfd after": None}


def _attached(root: Path, image: str) -> dict[str, Any]:
    store = Store(root)
    seen: dict[str, Any] = {}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        c = Container.create(image, RunOptions(args=("echo hi; echo oops >&2; exit 2",)),
                             store=store, name="fg")  # fmt: skip
        seen["code"] = c.run_attached(output=(out.fileno(), err.fileno()))
        out.seek(0)
        err.seek(0)
        seen["out"] = (out.read(), err.read())
    seen["logged"] = sorted(_data(c.logs()))
    with tempfile.TemporaryFile() as feed, tempfile.TemporaryFile() as out:
        feed.write(b"abc\n")
        feed.seek(0)
        cat = Container.create(image, RunOptions(args=("busybox tr a-z A-Z",)), store=store,
                               name="cat", interactive=True)  # fmt: skip
        cat.start()
        seen["attach"] = cat.attach(stdin=feed.fileno(), output=(out.fileno(), None))
        out.seek(0)
        seen["attached out"] = out.read()
    try:
        Container.create(image, RunOptions(), store=store, remove=True, restart="always")
    except UsageError as error:
        seen["rm and restart"] = str(error)
    for name in ("fg", "cat"):
        Container(name, store=store).remove()
    return seen


def test_run_attached_and_attach(caller: Caller) -> None:  # noqa: F811
    seen = as_caller(caller, _attached, caller.root, caller.image)
    assert seen["code"] == 2
    assert seen["out"] == (b"hi\n", b"oops\n")
    assert seen["logged"] == [("stderr", b"oops\n"), ("stdout", b"hi\n")]
    assert seen["attach"] == 0  # the end of the input closed tr's stdin
    assert seen["attached out"] == b"ABC\n"
    assert seen["rm and restart"] == "--rm and --restart cannot be used together"


def _created_started(root: Path, image: str) -> dict[str, Any]:
    store = Store(root)
    seen: dict[str, Any] = {}
    c = Container.create(image, RunOptions(args=(SERVICE,)), store=store, name="up", start=True)
    monitor = int(c.files.monitor_lock.read_text())
    seen["running"] = (c.state().status, c.files.monitor_alive(), monitor != os.getpid())
    _until(lambda: ("stdout", b"up\n") in _data(c.logs()))
    seen["stop"] = c.stop(timeout=5)
    c.remove()
    missing = RunOptions(entrypoint=("/nonexistent",), args=())
    for remove in (False, True):
        try:
            Container.create(image, missing, store=store, name=f"bad-{remove}", remove=remove,
                             start=True)  # fmt: skip
        except RunError as error:
            seen[f"failed {remove}"] = (error.exit_code, str(error))
    kept = Container("bad-False", store=store).state()
    seen["kept"] = (kept.status, kept.exit_code)
    try:
        Container.create("localhost/nothing:1", store=store, name="none", start=True)
    except Exception as error:  # its class is what is checked
        seen["no image"] = type(error).__name__
    seen["left"] = [c.name for c in Container.list(store=store)]
    return seen


def test_create_with_start_runs_it_under_a_monitor_forked_first(caller: Caller) -> None:  # noqa: F811
    seen = as_caller(caller, _created_started, caller.root, caller.image)
    assert seen["running"] == ("running", True, True)
    assert seen["stop"] == 3
    not_found = (127, "executable file `/nonexistent` not found")
    assert seen["failed False"] == not_found
    assert seen["failed True"] == not_found  # and removed, with --rm
    assert seen["kept"] == ("exited", 127)
    assert seen["no image"] == "ImageNotFoundError"
    assert seen["left"] == ["bad-False"]


@pytest.mark.parametrize("isolation", ["bogus"])
def test_create_refuses_an_unknown_isolation(tmp_path: Path, isolation: str) -> None:
    with pytest.raises(UsageError) as caught:
        Container.create("nothing", store=Store(tmp_path), isolation=isolation)
    assert str(caught.value) == "unknown isolation 'bogus': expected native or oci"
    assert os.listdir(tmp_path / "containers") == [] if (tmp_path / "containers").exists() else True
