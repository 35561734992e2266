"""Paths inside a root directory, resolved as if the root were ``/``.

Every path that comes from an image is hostile until resolved here. The rules, after
umoci and filepath-securejoin:

* An entry name is first cleaned lexically (:func:`clean_entry_name`): ``./a//b/`` is
  ``a/b``, ``..`` never climbs above the root (``../x`` is ``x``) and a leading ``/`` is
  dropped, so absolute and climbing names are *contained*, never refused. A name that
  reduces to the root itself is refused unless the caller allows it (a directory entry
  ``./`` only updates the root's metadata; anything else naming the root is refused, as
  umoci does since CVE-2021-29136).
* Only the *parents* of a path are resolved, component by component: a symlink met on the
  way is followed inside the root (an absolute target restarts at the root, ``..`` stops at
  the root), with a limit of 255 links. The last component is never followed unless asked,
  so an entry whose name is a symlink replaces the link instead of writing through it.
* Writes go through directory file descriptors (:class:`RootDir`) opened with
  ``O_NOFOLLOW | O_DIRECTORY`` one component at a time, and every operation uses
  ``dir_fd=``; no path string is re-resolved by the kernel through a link.
"""

from __future__ import annotations

import errno
import os
import stat
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from boxwright._closing import Closing
from boxwright.errors import LayerError, UnsafePathError

MAX_SYMLINKS = 255
NAME_MAX = 255
PATH_MAX = 4096
#: How a directory is opened inside a root: never through a symlink, never inherited.
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
#: How a new file is created inside a root: only if nothing is there, never through a symlink.
NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_CACHE_SIZE = 128


def _short(name: str) -> str:
    return repr(name if len(name) <= 120 else name[:100] + "...")


def clean_entry_name(name: str, *, allow_root: bool = False) -> str:
    """Normalize a tar entry name to a relative path inside the root (``""`` is the root).

    ``"./a//b/"`` → ``"a/b"``; ``"/etc/x"`` → ``"etc/x"``; ``"../../x"`` → ``"x"``.
    Raises :class:`UnsafePathError` for a NUL byte, a component longer than 255 bytes, a path
    longer than 4095 bytes, or a name that reduces to the root when ``allow_root`` is false.
    """
    # Fast path: an already clean short ASCII name ("./" prefix and trailing "/" allowed),
    # which is what almost every entry of a real layer looks like.
    rel = name[2:] if name.startswith("./") else name
    if rel.endswith("/"):
        rel = rel.rstrip("/")
    if rel and len(rel) <= NAME_MAX and rel.isascii() and rel[0] != "/" and "\x00" not in rel:
        fast = rel.split("/")
        if "" not in fast and "." not in fast and ".." not in fast:
            return rel
    if "\x00" in name:
        raise UnsafePathError(f"tar entry {_short(name)} contains a NUL byte")
    parts: list[str] = []
    for part in name.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        if len(os.fsencode(part)) > NAME_MAX:
            raise UnsafePathError(
                f"tar entry {_short(name)} has a component longer than {NAME_MAX} bytes"
            )
        parts.append(part)
    if not parts:
        if allow_root:
            return ""
        raise UnsafePathError(
            f"tar entry {_short(name)} names the root directory itself; refusing it"
        )
    cleaned = "/".join(parts)
    if len(os.fsencode(cleaned)) >= PATH_MAX:
        raise UnsafePathError(f"tar entry {_short(name)} is longer than {PATH_MAX - 1} bytes")
    return cleaned


def split_parent(rel: str) -> tuple[str, str]:
    """``"a/b/c"`` → ``("a/b", "c")``; ``"c"`` → ``("", "c")``."""
    head, _, tail = rel.rpartition("/")
    return head, tail


def _components_reversed(path: str) -> list[str]:
    """The names of ``path`` last first (a stack to pop), without empty ones and ``.``."""
    return [p for p in reversed(path.split("/")) if p not in ("", ".")]


def resolve_in_root(root: Path | str, path: str, *, follow_last: bool = False) -> Path:
    """The host path of ``path`` interpreted inside ``root`` as if ``root`` were ``/``.

    Symlinks in the parents are followed inside the root (absolute targets are relative to
    the root, ``..`` is clamped at the root); the last component is followed only with
    ``follow_last``. Missing components are kept as they are (the result may not exist).
    More than 255 links raise :class:`UnsafePathError`. This is a path computation (lstat and
    readlink); code that writes must use :class:`RootDir`, which holds directory handles.
    """
    root = Path(root)
    pending = _components_reversed(path)
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        if not pending and not follow_last:
            resolved.append(part)
            break
        here = root.joinpath(*resolved, part)
        try:
            st = os.lstat(here)
        except FileNotFoundError:
            resolved.append(part)
            continue
        except NotADirectoryError:
            resolved.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_SYMLINKS:
                raise UnsafePathError(f"too many levels of symbolic links resolving {path!r}")
            target = os.readlink(here)
            if target.startswith("/"):
                resolved = []
            pending.extend(_components_reversed(target))
            continue
        resolved.append(part)
    return root.joinpath(*resolved)


def _proc_fd_path(fd: int) -> str:
    return f"/proc/self/fd/{fd}"


def chmod_at(dir_fd: int, name: str, mode: int) -> None:
    """chmod ``name`` in ``dir_fd`` without following a symlink at ``name``.

    Uses an ``O_PATH`` handle and its ``/proc/self/fd`` name, so no permission on the target
    is needed and a link is never followed (a symlink itself is left alone).
    """
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            return
        try:
            os.chmod(_proc_fd_path(fd), mode)
        except FileNotFoundError:  # no /proc: the name was just checked to be no link
            os.chmod(name, mode, dir_fd=dir_fd)
    finally:
        os.close(fd)


def remove_at(dir_fd: int, name: str, *, force_writable: bool = False) -> bool:
    """Remove ``name`` in ``dir_fd``: a file, a link (never followed) or a whole directory tree.

    ``force_writable`` (rootless) first gives the owner rwx on directories that lack it so
    their contents can be deleted. Returns False when ``name`` did not exist.
    """
    try:
        os.unlink(name, dir_fd=dir_fd)
        return True
    except FileNotFoundError:
        return False
    except IsADirectoryError:
        pass
    except PermissionError as exc:
        # Linux returns EISDIR for directories; EPERM comes from other systems.
        try:
            st = os.lstat(name, dir_fd=dir_fd)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(st.st_mode):
            raise exc from None
    _remove_dir(dir_fd, name, force_writable)
    return True


def _remove_dir(parent_fd: int, name: str, force_writable: bool) -> None:
    if force_writable:
        st = os.lstat(name, dir_fd=parent_fd)
        if st.st_mode & 0o700 != 0o700:
            chmod_at(parent_fd, name, stat.S_IMODE(st.st_mode) | 0o700)
    fd = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
    try:
        with os.scandir(fd) as entries:
            children = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        for child, is_dir in children:
            if is_dir:
                _remove_dir(fd, child, force_writable)
            else:
                os.unlink(child, dir_fd=fd)
    finally:
        os.close(fd)
    os.rmdir(name, dir_fd=parent_fd)


def remove_tree(path: Path | str) -> None:
    """Delete ``path`` and everything under it without following any symlink inside it.

    Directories lacking owner write or search permission (as a rootless unpack leaves them)
    are made writable first, so an unprivileged caller can always clean up what it unpacked.
    A missing ``path`` is not an error.
    """
    path = Path(path)
    parent = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        remove_at(parent, path.name, force_writable=True)
    finally:
        os.close(parent)


class RootDir(Closing):
    """Directory handles inside a root, for writing a tree without ever crossing a symlink.

    ``open_dir(rel, create=...)`` walks ``rel`` one component at a time from the root's file
    descriptor with ``O_NOFOLLOW | O_DIRECTORY``; a symlink on the way is read and resolved
    inside the root (as :func:`resolve_in_root` does) and the walk continues from the
    directory handle it leads to. Opened directories are kept in a small LRU cache keyed by
    their canonical (symlink-free) path, so consecutive tar entries in one directory cost
    no lookups; :meth:`forget` drops a path and its descendants after they are removed or
    replaced.

    ``rootless``: directories the walk passes through that lack owner ``rwx`` are given it
    (the original mode is remembered and put back by :meth:`restore_modes`), since an
    unprivileged user cannot create entries in a read-only directory it owns otherwise.
    ``on_create`` is called with the canonical path of each missing parent that is created.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        rootless: bool = False,
        on_create: Callable[[str], None] | None = None,
        dir_mode: int = 0o755,
    ) -> None:
        self.root = Path(root)
        self.fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        self.rootless = rootless
        self.on_create = on_create
        self.dir_mode = dir_mode
        self._cache: OrderedDict[str, int] = OrderedDict()
        self._gids: dict[str, int | None] = {}  # creation_gid() of cached directories
        self._restore: dict[str, int] = {}
        if rootless:
            self._ensure_writable(self.fd, "")

    # -- lifetime -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close every handle (the root's too)."""
        for fd in self._cache.values():
            os.close(fd)
        self._cache.clear()
        self._gids.clear()
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    # -- walking ------------------------------------------------------------------------------

    def _fd_for_canonical(self, canon: list[str]) -> int:
        fd = self.fd
        for i in range(len(canon)):
            key = "/".join(canon[: i + 1])
            cached = self._cache.get(key)
            if cached is None:
                cached = os.open(canon[i], DIR_FLAGS, dir_fd=fd)
                self._cache[key] = cached
            fd = cached
        return fd

    def open_dir(self, rel: str, *, create: bool = False) -> tuple[int, str]:
        """A handle on directory ``rel`` (resolved inside the root) and its canonical path.

        With ``create``, missing directories are made (mode ``dir_mode``); otherwise a
        missing one raises :class:`FileNotFoundError`. A component that is neither a directory
        nor a link to one raises :class:`LayerError`. The handle belongs to the cache: do not
        close it.
        """
        if not rel:
            return self.fd, ""
        cached = self._cache.get(rel)
        if cached is not None:
            self._cache.move_to_end(rel)
            return cached, rel
        # resolve_in_root's walk, held as directory handles so no rename can redirect a write.
        pending = _components_reversed(rel)
        canon: list[str] = []
        fd = self.fd
        links = 0
        while pending:
            part = pending.pop()
            if part == "..":
                if canon:
                    canon.pop()
                    fd = self._fd_for_canonical(canon)
                continue
            key = "/".join([*canon, part])
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                fd = cached
                canon.append(part)
                continue
            target = self._open_child(fd, part, key, create)
            if isinstance(target, str):
                links += 1
                if links > MAX_SYMLINKS:
                    raise UnsafePathError(
                        f"too many levels of symbolic links resolving {_short(rel)}"
                    )
                if target.startswith("/"):
                    canon = []
                    fd = self.fd
                pending.extend(_components_reversed(target))
                continue
            self._cache[key] = target
            fd = target
            canon.append(part)
        return fd, "/".join(canon)

    def _open_child(self, fd: int, part: str, key: str, create: bool) -> int | str:
        """Open directory ``part`` under ``fd``; return its fd, or a symlink's target text."""
        for _attempt in range(3):
            try:
                child = os.open(part, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                try:
                    os.mkdir(part, self.dir_mode, dir_fd=fd)
                except FileExistsError:
                    continue
                if self.on_create is not None:
                    self.on_create(key)
                continue
            except NotADirectoryError:
                st = os.lstat(part, dir_fd=fd)
                if stat.S_ISLNK(st.st_mode):
                    return os.readlink(part, dir_fd=fd)
                raise LayerError(
                    f"{_short(key)} is not a directory, so nothing can be created under it"
                ) from None
            except PermissionError:
                if not self.rootless:
                    raise
                self._unlock_child(fd, part, key)
                continue
            if self.rootless:
                self._ensure_writable(child, key)
            return child
        raise LayerError(f"cannot open directory {_short(key)} inside the root")

    def trim(self) -> None:
        """Close the least recently used handles beyond the cache size.

        Handles are only closed here (and by :meth:`forget`), never in the middle of a walk,
        so every handle returned since the last ``trim()`` stays valid until the next one.
        """
        while len(self._cache) > _CACHE_SIZE:
            key, fd = self._cache.popitem(last=False)
            os.close(fd)
            self._gids.pop(key, None)

    # -- rootless permissions -----------------------------------------------------------------

    def _ensure_writable(self, fd: int, key: str) -> None:
        mode = stat.S_IMODE(os.fstat(fd).st_mode)
        if mode & 0o700 != 0o700:
            os.fchmod(fd, mode | 0o700)
            self._restore.setdefault(key, mode)

    def _unlock_child(self, parent_fd: int, part: str, key: str) -> None:
        st = os.lstat(part, dir_fd=parent_fd)
        mode = stat.S_IMODE(st.st_mode)
        if not stat.S_ISDIR(st.st_mode) or mode & 0o700 == 0o700:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), key)
        chmod_at(parent_fd, part, mode | 0o700)
        self._restore.setdefault(key, mode)

    def defer_mode(self, rel: str, mode: int) -> None:
        """Set the final mode of directory ``rel``: kept for :meth:`restore_modes` when it
        lacks owner ``rwx`` (the directory itself must stay writable until then)."""
        if mode & 0o700 == 0o700:
            self._restore.pop(rel, None)
        else:
            self._restore[rel] = mode

    def restore_modes(self) -> None:
        """Put back the modes of directories made writable during the walk, deepest first."""
        for rel in sorted(self._restore, key=lambda p: (-p.count("/"), p)):
            mode = self._restore[rel]
            try:
                if rel:
                    parent, name = split_parent(rel)
                    pfd, _ = self.open_dir(parent)
                    st = os.lstat(name, dir_fd=pfd)
                    if stat.S_ISDIR(st.st_mode):
                        chmod_at(pfd, name, mode)
                else:
                    os.fchmod(self.fd, mode)
            except (FileNotFoundError, NotADirectoryError, LayerError):
                continue  # removed or replaced later in the layer
        self._restore.clear()

    # -- invalidation -------------------------------------------------------------------------

    def forget(self, rel: str) -> None:
        """Drop cached handles of ``rel`` and everything under it (after removal/replacement)."""
        prefix = rel + "/"
        doomed = [k for k in self._cache if k == rel or k.startswith(prefix)]
        for key in doomed:
            os.close(self._cache.pop(key))
            self._gids.pop(key, None)
        self._gids.pop(rel, None)
        for key in [k for k in self._restore if k == rel or k.startswith(prefix)]:
            del self._restore[key]

    def cache_dir(self, rel: str, fd: int) -> None:
        """Adopt ``fd`` (a directory just created at canonical ``rel``) into the cache."""
        old = self._cache.pop(rel, None)
        if old is not None:
            os.close(old)
        self._gids.pop(rel, None)
        self._cache[rel] = fd

    # -- what creating a file gives -----------------------------------------------------------

    def creation_gid(self, rel: str, fd: int) -> int | None:
        """The group a file created now in directory ``rel`` (the handle ``fd`` that
        :meth:`open_dir` returned for it) surely gets, or None when that is not certain.

        A new file takes the directory's group when the directory is setgid (or on a
        filesystem mounted with ``grpid``), else the caller's effective group: when the
        directory's group is the effective group, or the directory is setgid, both rules
        agree. Cached with the handle, so applying a layer can skip a ``chown`` that would
        change nothing.
        """
        gid = self._gids.get(rel, -1)
        if gid == -1:
            st = os.fstat(fd)
            sure = st.st_mode & stat.S_ISGID or st.st_gid == os.getegid()
            gid = st.st_gid if sure else None
            self._gids[rel] = gid
        return gid

    def changed(self, rel: str) -> None:
        """Directory ``rel`` had its owner or mode changed: forget what was derived from them."""
        self._gids.pop(rel, None)


def mkdir_parents_in_root(root: Path | str, rel: str, mode: int = 0o755) -> Path:
    """Create directory ``rel`` and its missing parents inside ``root``, never outside it.

    Symlinks on the way are resolved inside the root. Returns the host path of the (canonical)
    directory that now exists.
    """
    cleaned = clean_entry_name(rel, allow_root=True)
    with RootDir(root, dir_mode=mode) as tree:
        _, canon = tree.open_dir(cleaned, create=True)
    return Path(root).joinpath(*canon.split("/")) if canon else Path(root)


__all__ = [
    "DIR_FLAGS",
    "MAX_SYMLINKS",
    "NEW_FILE_FLAGS",
    "RootDir",
    "chmod_at",
    "clean_entry_name",
    "mkdir_parents_in_root",
    "remove_at",
    "remove_tree",
    "resolve_in_root",
    "split_parent",
]
