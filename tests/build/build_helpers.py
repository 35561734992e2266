"""Helpers for the build tests (a uniquely named module, so importing it never collides with
another test directory's helpers): an unprivileged user and a way to run code as it.

:func:`as_user` forks and drops to the user with ``setgroups``/``setresgid``/``setresuid``
instead of exec'ing a new interpreter, since the test run's interpreter may live where that
user cannot read it; every module the child needs must be imported before the call.
"""

from __future__ import annotations

import os
import pickle
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class User:
    """A throw-away unprivileged account."""

    name: str
    uid: int
    gid: int


def as_user(user: User, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``func(*args, **kwargs)`` in a child process as ``user``; return or re-raise."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        try:
            os.setgroups([])
            os.setresgid(user.gid, user.gid, user.gid)
            os.setresuid(user.uid, user.uid, user.uid)
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
        raise AssertionError(f"as {user.name}: {value}")
    return value
