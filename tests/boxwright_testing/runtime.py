"""Helpers for the runtime tests: image configs, forked (unprivileged) runs, users.

Every module a forked child needs is imported here, before any child drops to an
unprivileged user who cannot read the interpreter's files.
"""

from __future__ import annotations

import os
import pickle
import stat
import tarfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boxwright.runtime.idmap
import boxwright.runtime.native
import boxwright.runtime.ocirunner
import boxwright.runtime.runner
import boxwright.runtime.spec  # noqa: F401 - loaded before any child drops privileges
from boxwright.oci.config import ImageConfig
from boxwright_testing.users import User, drop_privileges


def image_config(**config: Any) -> ImageConfig:
    """An amd64 Linux image config with the given ``config`` object (PATH set)."""
    body = {"Env": ["PATH=/usr/bin:/bin"], **config}
    return ImageConfig.from_data(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": body,
            "rootfs": {"type": "layers", "diff_ids": []},
        }
    )


def in_child(
    func: Callable[..., Any], *args: Any, user: User | None = None, timeout: float = 60
) -> Any:
    """Run ``func(*args)`` in a forked child (as ``user`` when given); return or re-raise.

    The child's stdout and stderr go to /dev/null, so a container's output cannot garble the
    test run. Its result comes back pickled; an exception comes back as an AssertionError
    carrying its type, message and traceback (and ``exit_code`` for a RunError).
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            if user is not None:
                drop_privileges(user)
                os.environ.pop("XDG_RUNTIME_DIR", None)
            outcome: tuple[str, Any] = ("ok", func(*args))
        except BaseException as error:
            code = getattr(error, "exit_code", None)
            outcome = ("error", (type(error).__name__, str(error), code, traceback.format_exc()))
        with os.fdopen(write_fd, "wb") as out:
            out.write(pickle.dumps(outcome))
        os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as reader:
        data = reader.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data)
    if kind == "error":
        raise ChildError(*value)
    return value


class ChildError(AssertionError):
    """An exception raised in :func:`in_child`: its class name, message and exit code."""

    def __init__(self, kind: str, message: str, exit_code: int | None, trace: str) -> None:
        super().__init__(f"{kind}: {message}\n{trace}")
        self.kind = kind
        self.message = message
        self.exit_code = exit_code


GLIBC_PROGRAMS = ("sh", "chown", "touch", "mkdir", "mknod", "id", "ls", "stat", "cat", "chmod")


def glibc_rootfs(dest: Path, programs: tuple[str, ...] = GLIBC_PROGRAMS) -> Path:
    """A small merged-/usr rootfs of the host's own dynamically linked programs and the
    libraries ``ldd`` names (glibc and its loader): fakeroot's preload works in it, unlike in
    the static busybox rootfs. Files are copied (owned by the caller), not linked."""
    import shutil
    import subprocess

    for name in ("usr/bin", "usr/lib", "usr/lib64", "etc", "tmp", "home/alice"):
        (dest / name).mkdir(parents=True, exist_ok=True)
    for name in ("bin", "lib", "lib64", "sbin"):
        (dest / name).symlink_to(f"usr/{'bin' if name == 'sbin' else name}")
    (dest / "tmp").chmod(0o1777)
    needed: set[str] = set()
    for program in programs:
        path = shutil.which(program, path="/usr/bin:/bin")
        assert path is not None, f"{program} is not installed"
        shutil.copy2(path, dest / "usr/bin" / program)
        listed = subprocess.run(["ldd", path], capture_output=True, text=True, check=True)
        for line in listed.stdout.splitlines():
            words = line.split()
            needed.update(w for w in words if w.startswith("/"))
    for library in needed:
        real = os.path.realpath(library)
        target = dest / library.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copy2(real, target)
    (dest / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000:Alice:/home/alice:/bin/sh\n"
    )
    (dest / "etc" / "group").write_text("root:x:0:\nalice:x:1000:\nstaff:x:50:alice\n")
    return dest


def preload_boxwright() -> None:
    """Import every boxwright module now: a child that dropped to an unprivileged user cannot
    read the interpreter's files (under /root) to import one later."""
    import importlib
    import pkgutil

    import boxwright

    for module in pkgutil.walk_packages(boxwright.__path__, "boxwright."):
        importlib.import_module(module.name)
    for name in (
        "isal.isal_zlib",
        "isal.igzip",
        "isal.igzip_threaded",
        "zstandard",
        "tarfile",
        "encodings.ascii",
        "encodings.idna",
    ):
        importlib.import_module(name)


# A build step that asks for owners, a setuid mode and a device: what fakeroot must keep
# (tests/runtime/test_runtime_ownership.py, test_runtime_nested.py).
OWNERSHIP_STEP = (
    "touch /owned && chown 1000:50 /owned && mkdir -p /srv/app && touch /srv/app/x "
    "&& chown -R 7:8 /srv && mknod /null c 1 3 && chmod 4711 /owned && echo $(id -u) > /who"
)


def check_owned_layer(members: dict[str, tarfile.TarInfo]) -> None:
    """The owners, modes and device :data:`OWNERSHIP_STEP` (and a step run as ``alice``)
    asked for are in the layer."""
    owned = members["owned"]
    assert (owned.uid, owned.gid, stat.S_IMODE(owned.mode)) == (1000, 50, 0o4711)
    for name in ("srv", "srv/app", "srv/app/x"):
        assert (members[name].uid, members[name].gid) == (7, 8), name
    null = members["null"]
    assert null.ischr() and (null.devmajor, null.devminor) == (1, 3)
    assert (members["home/alice/made"].uid, members["home/alice/made"].gid) == (1000, 1000)
    assert (members["usr/bin/sh"].uid, members["usr/bin/sh"].gid) == (0, 0)
