"""``boxwright unshare``: a command in the store's user and mount namespaces.

What ``buildah unshare`` and ``podman unshare`` give an unprivileged user: a shell (or a
command) where the store's files carry their container owners and ``container mount`` shows
the overlay itself, mounted where the shell sees it.

* **ranges**: the store's own namespaces, joined through the pause process
  (:func:`boxwright.rootless.namespace.enter_store_namespace`). A ``container mount`` made
  there stays mounted for the next command, in or out of ``unshare``.
* **single**: a new user namespace mapping only the caller (``0`` → the user, ``setgroups``
  denied) and a private mount namespace, as ``buildah unshare`` makes without ranges. The
  store's files all show as root's; mounts made there end with the command.
* **root**: nothing to enter; the command runs as it is.

The command gets the environment buildah gives it (``USER=root``, ``USERNAME``, ``GROUP``,
``LOGNAME``, ``UID=0``, ``GID=0``, ``CONTAINERS_GRAPHROOT`` = the store,
``CONTAINERS_RUNROOT`` = the runtime directory) plus ``BOXWRIGHT_ROOT``, so a ``boxwright``
run inside uses the same store, and ``BOXWRIGHT_ROOTLESS_UID``, the caller's uid outside.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from boxwright.config.paths import ROOT_ENV, ROOTLESS_UID_ENV, host_uid, runtime_dir, store_root
from boxwright.errors import UsageError
from boxwright.rootless.forked import enter_namespaces
from boxwright.rootless.namespace import enter_store_namespace

DEFAULT_SHELL = "/bin/sh"


def enter_session(root: Path | str | None = None) -> str:
    """Move this single-threaded process into the namespaces ``unshare`` gives (see the module
    docstring) for the store at ``root``; return the store's mode."""
    where = Path(root or store_root()).absolute()
    uid = host_uid()
    mode = enter_store_namespace(where)
    if mode == "single" and os.geteuid() != 0:
        enter_namespaces(user=True, mount=True)
        os.environ[ROOTLESS_UID_ENV] = str(uid)
    return mode


def session_environment(
    root: Path | str | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The environment a command in the session gets: ``base`` (default: this process's)
    with the variables of the module docstring set."""
    where = Path(root or store_root()).absolute()
    env = dict(os.environ if base is None else base)
    env.update(
        {
            "USER": "root",
            "USERNAME": "root",
            "GROUP": "root",
            "LOGNAME": "root",
            "UID": "0",
            "GID": "0",
            "CONTAINERS_GRAPHROOT": str(where),
            "CONTAINERS_RUNROOT": str(runtime_dir()),
            ROOT_ENV: str(where),
        }
    )
    if os.geteuid() == 0 and os.environ.get(ROOTLESS_UID_ENV):
        env[ROOTLESS_UID_ENV] = os.environ[ROOTLESS_UID_ENV]
    return env


def session_command(args: Sequence[str], env: Mapping[str, str]) -> list[str]:
    """``args`` with its program found on ``env``'s ``PATH``; with no ``args``, ``$SHELL``
    (else ``/bin/sh``). :class:`UsageError` when the program is not found."""
    argv = list(args) or [env.get("SHELL") or DEFAULT_SHELL]
    program = argv[0]
    found = program if "/" in program else shutil.which(program, path=env.get("PATH"))
    if found is None or not os.access(found, os.X_OK) or os.path.isdir(found):
        raise UsageError(f"cannot run {program!r}: no such executable (looked in $PATH)")
    return [found, *argv[1:]]


__all__ = ["DEFAULT_SHELL", "enter_session", "session_command", "session_environment"]
