"""Running test code as a real unprivileged user: one throw-away account and a forked child.

The rootless tests of every package need the same three things, kept here once:

* :func:`throwaway_user` makes an account with ``useradd`` and removes it with ``userdel``
  (the session fixture ``unprivileged_user`` of :mod:`boxwright_testing.fixtures` is one of them);
* :func:`as_user` runs a function in a forked child that dropped to that user with
  ``setgroups``/``setresgid``/``setresuid`` (what ``setpriv --reuid --regid --clear-groups``
  does) and hands its result, or its error, back through a pipe. A fork is used rather than
  exec'ing a new interpreter: the test run's interpreter may live where the user cannot read
  it (under ``/root``), so every module the child needs must be imported before the call;
* :func:`owned_dir` and :func:`chown_tree` give the user somewhere to work, since pytest's
  ``tmp_path`` is private to root;
* :func:`ranged_user` is an account with subordinate ID ranges, as podman's users have
  (:func:`add_subordinate_range` gives one to any account, :func:`has_subordinate_range`
  tells).

Part of the ``boxwright_testing`` plugin package (``tests/conftest.py``), so
``from boxwright_testing.users import ...`` works from every test folder.
"""

from __future__ import annotations

import os
import pickle
import pwd
import shutil
import subprocess
import tempfile
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


@dataclass(frozen=True)
class User:
    """A throw-away unprivileged account."""

    name: str
    uid: int
    gid: int


@contextmanager
def throwaway_user(prefix: str = "bxu", *, system: bool = True) -> Iterator[User]:
    """An account made with ``useradd`` for the block, removed with ``userdel`` after it.

    A system account (the default) gets no ``/etc/subuid`` range, so its user namespaces map a
    single ID. Skips when not root (making a user needs root) or when ``useradd`` is missing.
    """
    if os.geteuid() != 0:
        pytest.skip("creating a test user needs root")
    if shutil.which("useradd") is None:
        pytest.skip("useradd is not installed")
    name = f"{prefix}{uuid.uuid4().hex[:10]}"
    argv = ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name]
    if system:
        argv.insert(1, "--system")
    subprocess.run(argv, check=True, capture_output=True)
    try:
        entry = pwd.getpwnam(name)
        yield User(name, entry.pw_uid, entry.pw_gid)
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)


def has_subordinate_range(user: User, path: str = "/etc/subuid") -> bool:
    """Whether ``path`` (``/etc/subuid`` or ``/etc/subgid``) gives ``user`` a range."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return False
    return any(line.split(":")[0] in (user.name, str(user.uid)) for line in lines)


def add_subordinate_range(user: User, start: int, *, home: Path | None = None) -> None:
    """Give ``user`` the 65536 subordinate UIDs and GIDs from ``start`` (``usermod``), and
    ``home`` as its home directory."""
    ids = f"{start}-{start + 65535}"
    argv = ["usermod", "--add-subuids", ids, "--add-subgids", ids, user.name]
    if home is not None:
        argv[1:1] = ["--home", str(home)]
    subprocess.run(argv, check=True, capture_output=True)


@contextmanager
def ranged_user(prefix: str, *, base: int = 200_000) -> Iterator[User]:
    """A throw-away non-system account with subordinate UID and GID ranges (podman's usual
    setup): ``useradd``'s, else 65536 IDs from ``base`` plus a slot this process's pid picks
    (so concurrent test runs do not share one). Skips when ``newuidmap``, ``newgidmap`` or
    ``usermod`` is missing, as :func:`throwaway_user` does when it cannot make the account."""
    for tool in ("newuidmap", "newgidmap", "usermod"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    with throwaway_user(prefix, system=False) as user:
        if not (has_subordinate_range(user) and has_subordinate_range(user, "/etc/subgid")):
            add_subordinate_range(user, base + (os.getpid() % 400) * 65536)
        yield user


def drop_privileges(user: User) -> None:
    """Become ``user`` for good, with no supplementary groups (in a forked child only)."""
    os.setgroups([])
    os.setresgid(user.gid, user.gid, user.gid)
    os.setresuid(user.uid, user.uid, user.uid)


def as_user(user: User, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``func(*args, **kwargs)`` in a forked child as ``user``; return or re-raise.

    The result comes back pickled; an exception (or an unpicklable result) comes back as an
    AssertionError carrying the child's error and traceback.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        try:
            drop_privileges(user)
            outcome: tuple[str, Any] = ("ok", func(*args, **kwargs))
        except BaseException as error:
            outcome = ("error", f"{type(error).__name__}: {error}\n{traceback.format_exc()}")
        with os.fdopen(write_fd, "wb") as out:
            try:
                out.write(pickle.dumps(outcome))
            except Exception as error:
                out.write(pickle.dumps(("error", f"unpicklable result: {error}")))
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        data = reader.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind == "error":
        raise AssertionError(f"as {user.name} (uid {user.uid}): {value}")
    return value


def chown_tree(path: Path, user: User) -> None:
    """Give ``path`` and everything below it to ``user`` (links themselves, not targets)."""
    for dirpath, dirnames, filenames in os.walk(path):
        for name in [*dirnames, *filenames]:
            os.lchown(os.path.join(dirpath, name), user.uid, user.gid)
    os.lchown(path, user.uid, user.gid)


@contextmanager
def owned_dir(user: User, prefix: str = "bx-user-") -> Iterator[Path]:
    """A fresh directory ``user`` owns under ``/tmp`` (world-searchable), removed after."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        os.chmod(path, 0o755)
        os.chown(path, user.uid, user.gid)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _hidden_prefixes() -> dict[Path, list[Path]]:
    """The interpreter's prefixes that sit under a directory others cannot search (a pyenv
    under ``/root``), by that directory."""
    import sys

    hidden: dict[Path, list[Path]] = {}
    for prefix in dict.fromkeys(Path(p).resolve() for p in (sys.prefix, sys.base_prefix)):
        for parent in reversed(prefix.parents):
            if parent != Path("/") and not os.stat(parent).st_mode & 0o001:
                hidden.setdefault(parent, []).append(prefix)
                break
    return hidden


def _cli_child_setup(user: User, hidden: dict[Path, list[Path]]) -> Callable[[], None]:
    """What the forked child does before it runs the command line as ``user``: a private
    mount namespace where each hiding directory is a tmpfs holding only the interpreter's
    prefixes (bound in), then ``user``'s IDs."""
    from boxwright.rootless.libc import CLONE_NEWNS, MS_BIND, MS_PRIVATE, MS_REC, mount, unshare

    def setup() -> None:
        unshare(CLONE_NEWNS)
        mount(None, "/", None, MS_REC | MS_PRIVATE, None)
        for top, prefixes in hidden.items():
            fds = [os.open(p, os.O_PATH | os.O_CLOEXEC) for p in prefixes]
            mount("tmpfs", str(top), "tmpfs", 0, "mode=755")
            for prefix, fd in zip(prefixes, fds, strict=True):
                os.makedirs(prefix, exist_ok=True)
                mount(f"/proc/self/fd/{fd}", str(prefix), None, MS_BIND | MS_REC, None)
                os.close(fd)
        drop_privileges(user)

    return setup


def run_cli_as(
    user: User, args: list[str], env: dict[str, str], *, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m boxwright ARGS`` as a new process of ``user`` (this checkout's sources on
    ``PYTHONPATH``), with a ``boxwright`` command on its ``PATH`` for what it runs in turn;
    its output captured. The test's interpreter stays usable where it lives under a
    directory the user cannot search (see :func:`_cli_child_setup`)."""
    import sys

    import boxwright

    src = Path(boxwright.__file__).resolve().parents[1]
    bin_dir = Path(tempfile.mkdtemp(prefix="bx-cli-bin-", dir="/tmp"))
    try:
        os.chmod(bin_dir, 0o755)
        wrapper = bin_dir / "boxwright"
        wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m boxwright "$@"\n')
        wrapper.chmod(0o755)
        full_env = {
            "PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin",
            "PYTHONPATH": str(src),
            "HOME": str(cwd or "/tmp"),
            "LANG": "C.UTF-8",
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "boxwright", *args],
            env=full_env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
            preexec_fn=_cli_child_setup(user, _hidden_prefixes()),
        )
    finally:
        shutil.rmtree(bin_dir, ignore_errors=True)
