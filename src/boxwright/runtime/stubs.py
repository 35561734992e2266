"""Mount points a run makes in a rootfs, and taking them away again without trusting the rootfs.

A mount destination the rootfs lacks (``/proc``, a volume's ``/mnt/v``, ``/etc/hosts``) needs
a *stub*, an empty directory or file, before anything can be mounted there; a committed layer
must not keep the stubs a run made, so they are removed after it. The container runs in
between and owns the rootfs: it can rename a stub's parent and leave a symlink to a host path
in its place, so neither making nor removing may go by host path strings (a cleaner that
did followed such a link and deleted host files, as BuildKit's did, CVE-2024-23652).

:class:`MountStubs` therefore

* resolves a destination inside the rootfs as if it were ``/`` (every link, the last
  component's too, is followed *inside* the rootfs, as :func:`resolve_in_root` does) through
  directory handles opened with ``O_NOFOLLOW`` (:class:`~boxwright.layer.pathsafe.RootDir`),
  and creates what is missing there with ``mkdirat``/``openat(O_EXCL | O_NOFOLLOW)``;
* remembers, for each stub it made, a handle on the directory it made it in (opened at
  creation, never looked up again), its name and its device and inode;
* removes afterwards only what it made: ``unlinkat``/``rmdir`` through that handle, and only
  when the name still holds the same device and inode, still empty. A stub that is gone,
  replaced or filled is left as it is; a renamed parent takes its stubs along, and they are
  removed where they went, which is always inside the rootfs (a rename never crosses a mount,
  so a directory of the rootfs cannot leave it).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from boxwright.errors import BoxwrightError, RunError, UnsafePathError
from boxwright.layer.pathsafe import MAX_SYMLINKS, NEW_FILE_FLAGS, RootDir, split_parent


@dataclass(frozen=True)
class _Stub:
    """One entry a run made: ``name`` in the directory ``parent`` (a handle of ours)."""

    parent: int
    name: str
    device: int
    inode: int
    is_dir: bool


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


class MountStubs:
    """The mount points made for one run in ``rootfs``; see the module docstring.

    Use as a context manager: leaving it removes the stubs that are still what was made.
    :meth:`close` forgets them instead (they stay).
    """

    def __init__(self, rootfs: Path | str) -> None:
        self.rootfs = Path(rootfs)
        self._created: list[str] = []
        self._tree = RootDir(self.rootfs, on_create=self._created.append)
        self._made: list[_Stub] = []

    def __enter__(self) -> MountStubs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def ensure(self, destination: str, *, is_file: bool = False) -> Path:
        """Make ``destination`` exist inside the rootfs; return the host path it resolves to.

        Missing parents become directories (0755); a missing last component becomes an empty
        file (0644) when ``is_file``, else a directory. Symlinks on the way, the last one
        included, are followed inside the rootfs. Raises :class:`RunError` when a component
        is in the way (a file where a directory must be, a loop of links).
        """
        try:
            return self._ensure(destination, is_file)
        except (OSError, BoxwrightError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else error
            raise RunError(
                f"cannot make the mount point {destination} in the rootfs: {reason}", 125
            ) from error

    def _ensure(self, destination: str, is_file: bool) -> Path:
        rel = "/".join(_parts(destination))
        links = 0
        while True:
            head, name = split_parent(rel)
            if not name or name == "..":
                _, canon = self._open(rel)
                return self._host(canon)
            parent, canon = self._open(head)
            try:
                st = os.stat(name, dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:
                self._make(parent, name, is_file)
                return self._host(f"{canon}/{name}" if canon else name)
            if not stat.S_ISLNK(st.st_mode):
                return self._host(f"{canon}/{name}" if canon else name)
            links += 1
            if links > MAX_SYMLINKS:
                raise UnsafePathError(f"too many levels of symbolic links resolving {destination}")
            target = os.readlink(name, dir_fd=parent)
            base = "" if target.startswith("/") else canon
            rel = "/".join(_parts(f"{base}/{target}"))

    def _open(self, rel: str) -> tuple[int, str]:
        """The handle of directory ``rel``, made with its missing parents (each recorded)."""
        fd, canon = self._tree.open_dir(rel, create=True)
        for key in self._created:
            head, name = split_parent(key)
            parent, _ = self._tree.open_dir(head)  # cached by the walk that made ``key``
            self._record(parent, name, True)
        self._created.clear()
        return fd, canon

    def _make(self, parent: int, name: str, is_file: bool) -> None:
        if is_file:
            os.close(os.open(name, NEW_FILE_FLAGS, 0o644, dir_fd=parent))
        else:
            os.mkdir(name, 0o755, dir_fd=parent)
        self._record(parent, name, not is_file)

    def _record(self, parent: int, name: str, is_dir: bool) -> None:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        self._made.append(_Stub(os.dup(parent), name, st.st_dev, st.st_ino, is_dir))

    def _host(self, canon: str) -> Path:
        return self.rootfs.joinpath(*canon.split("/")) if canon else self.rootfs

    def remove(self) -> None:
        """Remove, newest first, each stub that is still the empty entry that was made."""
        try:
            for stub in reversed(self._made):
                _remove_if_same(stub)
        finally:
            self.close()

    def close(self) -> None:
        """Drop every handle; the stubs stay where they are."""
        for stub in self._made:
            os.close(stub.parent)
        self._made.clear()
        self._tree.close()


def _remove_if_same(stub: _Stub) -> None:
    try:
        st = os.stat(stub.name, dir_fd=stub.parent, follow_symlinks=False)
    except OSError:
        return  # gone, or its directory is
    if (st.st_dev, st.st_ino) != (stub.device, stub.inode):
        return  # replaced: not ours any more
    try:
        if stub.is_dir and stat.S_ISDIR(st.st_mode):
            os.rmdir(stub.name, dir_fd=stub.parent)  # fails, and is left, when not empty
        elif not stub.is_dir and stat.S_ISREG(st.st_mode) and st.st_size == 0:
            os.unlink(stub.name, dir_fd=stub.parent)
    except OSError:
        return


def mount_point(rootfs: Path | str, destination: str, *, is_file: bool = False) -> Path:
    """Make ``destination`` exist inside ``rootfs`` (as :meth:`MountStubs.ensure`) and return
    its host path, keeping what was made: for a runner's own mount namespace, where what it
    makes lands on a tmpfs or a volume it mounted, or stays for the run's caller to remove."""
    stubs = MountStubs(rootfs)
    try:
        return stubs.ensure(destination, is_file=is_file)
    finally:
        stubs.close()


__all__ = ["MountStubs", "mount_point"]
