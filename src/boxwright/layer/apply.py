"""Applying a layer (an uncompressed tar stream) onto a directory, with the OCI rules.

The tar is read one header at a time by :class:`~boxwright.layer.tarread.TarReader` (file
content goes from its chunks straight to ``os.write``); ``extractall`` is never used. Each
entry name is cleaned and contained (see :mod:`boxwright.layer.pathsafe`: ``../x`` and
``/x`` both land on ``x`` inside the root, as umoci does), its parent is resolved inside the
root through directory handles, and the last component is never followed, so an entry over
an existing symlink replaces the link. What the OCI image spec asks for:

* ``.wh.NAME`` removes ``NAME`` of the lower layers; ``.wh..wh..opq`` empties its directory of
  lower-layer content. Paths this same layer wrote are never removed by its whiteouts.
* Regular files, directories (an existing directory is kept and its metadata updated),
  symlinks (stored verbatim, never followed), hardlinks (the target is resolved inside the
  root, must exist and must not be a directory), fifos, character and block devices.
* Owners (``chown`` as root, skipped when the new file already has the entry's owner),
  modes including setuid/setgid/sticky (set after ``chown``, which clears them; a file is
  created with its mode, so ``chmod`` is needed only for special bits or a narrower
  umask), ``SCHILY.xattr.*`` PAX records (set after ``chown``, which clears
  ``security.capability``), and mtimes (directories last, deepest first, since writing
  their children changes them). A directory the layer writes into (or removes from)
  without an entry of its own keeps the times it had, as umoci does.

Rootless mode (the default when not root): nothing is chowned; owners other than ``0:0``,
devices (which become empty regular files, with a warning) and xattrs the kernel refuses
are kept in the :class:`~boxwright.layer.ownership.OwnershipRecord` given in the options;
directories without owner ``rwx`` stay writable while the layer applies and get their mode
at the end.

Overlay mode (``ApplyOptions.overlay``, for the store's snapshots): the layer is applied alone
into an empty directory in the format of :mod:`boxwright.layer.overlayfs`, to be stacked as an
overlay lower directory. A whiteout becomes a whiteout node (char device 0:0), an opaque
marker sets ``user.overlay.opaque="y"`` on its directory, and a directory written over a
whiteout node of the same layer is made opaque (the lower one it replaces is gone). Nothing is
deleted: the lower layers are not in this directory. With ``overlay_lowers`` (the snapshots
below, top first), a parent directory the layer writes into without an entry of its own gets
the metadata the lower layers give it (as an overlay copy-up would), rather than a default
mode and the time of applying; and a hardlink to a file of a lower layer copies that file up
first, since a link cannot cross layers.

On error the function raises (:class:`~boxwright.errors.LayerError` or a subclass naming
the entry); the caller deletes the partial tree (:func:`boxwright.layer.pathsafe.remove_tree`
works for an unprivileged caller too).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from boxwright.errors import BoxwrightError, LayerError, UnsafePathError
from boxwright.layer.overlayfs import (
    OPAQUE_VALUE,
    OPAQUE_XATTR,
    LowerView,
    copy_xattrs,
    is_whiteout,
    set_xattr,
)
from boxwright.layer.ownership import OwnershipEntry, OwnershipRecord, owners_in_side_record
from boxwright.layer.pathsafe import (
    NEW_FILE_FLAGS,
    RootDir,
    chmod_at,
    clean_entry_name,
    remove_at,
    split_parent,
)
from boxwright.layer.tarread import OPAQUE_WHITEOUT, WHITEOUT_PREFIX, TarEntry, TarReader
from boxwright.oci.readers import Reader


def _default_rootless() -> bool:
    return owners_in_side_record()


@dataclass
class ApplyOptions:
    """How to apply a layer.

    ``rootless``: do not chown, turn devices into empty files, keep what the filesystem
    cannot hold in ``ownership`` (default: true unless running as root). ``ownership``: the
    side record to update (None: the facts are dropped). ``keep_ownership``: as root, chown
    entries to the owners in the tar (false: everything stays owned by the caller).
    ``on_warning``: called with each warning as it happens (they are also in the result).
    ``overlay``: write the overlay format of a store snapshot (see the module docstring);
    ``overlay_lowers``: in overlay mode, the snapshot directories below as
    ``(diff directory, its side record or None)``, top first. ``root_mode``: the permission
    bits the root directory keeps: a layer's entry for the root (``./``) sets its owner,
    xattrs and times but not its mode (unpack keeps its target ``0700`` this way, so the
    image's setuid files are never reachable by other users while it is written).
    """

    rootless: bool = field(default_factory=_default_rootless)
    ownership: OwnershipRecord | None = None
    keep_ownership: bool = True
    on_warning: Callable[[str], None] | None = None
    overlay: bool = False
    overlay_lowers: Sequence[tuple[Path, OwnershipRecord | None]] = ()
    root_mode: int | None = None


@dataclass
class ApplyResult:
    """What applying a layer did: counts, bytes of file content, warnings, paths written."""

    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    hardlinks: int = 0
    devices: int = 0
    fifos: int = 0
    whiteouts: int = 0
    bytes: int = 0
    warnings: list[str] = field(default_factory=list)
    written: set[str] = field(default_factory=set)

    @property
    def links(self) -> int:
        """Symlinks and hardlinks together."""
        return self.symlinks + self.hardlinks


def read_umask() -> int | None:
    """The process's umask, read without changing it (None when /proc cannot say)."""
    try:
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return None


class _Applier:
    def __init__(self, root: Path, options: ApplyOptions) -> None:
        self.options = options
        self.rootless = options.rootless
        self.chown = not options.rootless and options.keep_ownership
        self.record = options.ownership
        self.result = ApplyResult()
        self.written = self.result.written
        self.overlay = options.overlay
        #: Overlay mode: parents created without an entry, whiteout nodes this layer made.
        self.implicit: set[str] = set()
        self.whiteout_nodes: set[str] = set()
        self.lowers = LowerView([p for p, _ in options.overlay_lowers]) if self.overlay else None
        self.tree = RootDir(root, rootless=self.rootless, on_create=self._created_parent)
        self.dir_times: dict[str, tuple[int, int]] = {}
        # Directories holding something this layer wrote: an opaque whiteout keeps them.
        self.holders: set[str] = {""}
        umask = read_umask()
        self.umask = 0o7777 if umask is None else umask
        self.euid = os.geteuid()

    # -- driver ---------------------------------------------------------------------------------

    def run(self, stream: Reader) -> ApplyResult:
        reader = TarReader(stream)
        try:
            while (entry := reader.next()) is not None:
                self.tree.trim()
                self._entry(reader, entry)
            reader.drain()  # let a verifying reader see EOF (tar end padding)
            if self.implicit and self.lowers is not None:
                self._lower_parent_metadata()
            self._restore_dir_times()  # before modes: a restored mode may deny search
            if self.rootless:
                self.tree.restore_modes()
        finally:
            self.tree.close()
        return self.result

    def _entry(self, reader: TarReader, member: TarEntry) -> None:
        name = clean_entry_name(member.name, allow_root=True)
        try:
            if not name:
                if member.type != b"5":
                    raise UnsafePathError(
                        f"tar entry {member.name!r} would replace the root directory with a "
                        "non-directory; refusing it"
                    )
                self._dir_metadata(self.tree.fd, "", member)
                return
            parent, base = split_parent(name)
            if base.startswith(WHITEOUT_PREFIX):
                self._whiteout(parent, base, member)
                return
            pfd, pcanon = self.tree.open_dir(parent, create=True)
            path = f"{pcanon}/{base}" if pcanon else base
            if pcanon not in self.holders:
                self._hold(pcanon)
            if pcanon not in self.dir_times:
                self._keep_times(pfd, pcanon)
            kind = member.type
            if kind == b"0":
                self._file(reader, member, pfd, base, path)
            elif kind == b"5":  # DIRTYPE
                self._dir(member, pfd, base, path)
            elif kind == b"2":  # SYMTYPE
                self._symlink(member, pfd, base, path)
            elif kind == b"1":  # LNKTYPE
                self._hardlink(member, pfd, base, path)
            elif kind in (b"3", b"4"):  # CHRTYPE, BLKTYPE
                self._device(member, pfd, base, path)
            elif kind == b"6":  # FIFOTYPE
                self._fifo(member, pfd, base, path)
            else:
                raise LayerError(
                    f"tar entry {member.name!r} has unsupported type {kind!r}; "
                    "layers hold files, directories, links, fifos and devices"
                )
            self.written.add(path)
        except BoxwrightError:
            raise
        except ValueError as exc:  # e.g. a NUL byte in a link target
            raise UnsafePathError(f"tar entry {member.name!r} is invalid: {exc}") from exc
        except OSError as exc:
            raise LayerError(
                f"cannot apply tar entry {member.name!r}: {exc.strerror or exc}"
            ) from exc

    # -- helpers ------------------------------------------------------------------------------

    def _created_parent(self, path: str) -> None:
        self.written.add(path)
        if self.overlay:
            self.implicit.add(path)

    def _keep_times(self, fd: int, path: str) -> None:
        """Remember the times of a directory this layer writes into without describing it,
        so they are put back at the end: adding or removing a child must not change them."""
        st = os.fstat(fd)
        self.dir_times[path] = (st.st_atime_ns, st.st_mtime_ns)

    def _hold(self, directory: str) -> None:
        while directory not in self.holders:
            self.holders.add(directory)
            directory = split_parent(directory)[0]

    def _warn(self, message: str) -> None:
        self.result.warnings.append(message)
        if self.options.on_warning is not None:
            self.options.on_warning(message)

    def _clear(self, pfd: int, base: str, path: str) -> None:
        """Remove what is at ``base`` (a link is removed, never followed)."""
        try:
            st = os.lstat(base, dir_fd=pfd)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            remove_at(pfd, base, force_writable=self.rootless)
            self.tree.forget(path)
            if self.record is not None:
                self.record.drop_subtree(path)
        else:
            os.unlink(base, dir_fd=pfd)

    def _note(
        self,
        path: str,
        member: TarEntry,
        *,
        mode: int | None = None,
        rdev: tuple[int, int] | None = None,
        xattrs: dict[str, bytes] | None = None,
    ) -> None:
        """Keep in the side record what the filesystem does not hold for ``path``."""
        record = self.record
        if record is None:
            return
        owner_lost = self.rootless and (member.uid != 0 or member.gid != 0)
        if owner_lost or mode is not None or xattrs:
            record.set(path, OwnershipEntry(member.uid, member.gid, mode, rdev, xattrs or {}))
        elif len(record):
            record.remove(path)

    def _xattrs(self, target: int | str, member: TarEntry) -> dict[str, bytes]:
        """Set the entry's xattrs on ``target`` (an fd, or a path whose last part is not
        followed); return those the kernel refused."""
        refused: dict[str, bytes] = {}
        for attr, data in (member.xattrs or {}).items():
            error = set_xattr(target, attr, data)
            if error is not None:
                refused[attr] = data
                self._warn(
                    f"{member.name}: xattr {attr} not set ({error.strerror}); "
                    + ("kept in the ownership record" if self.record is not None else "dropped")
                )
        return refused

    def _set_owner_mode_fd(
        self, fd: int, member: TarEntry, created_mode: int, pfd: int, pcanon: str
    ) -> None:
        """Owner and mode of a file just created in ``pfd``: a chown that would change
        nothing (the owner is who created it) is skipped, and so is a chmod."""
        if self.chown and (
            member.uid != self.euid or self.tree.creation_gid(pcanon, pfd) != member.gid
        ):
            os.fchown(fd, member.uid, member.gid)
        mode = member.mode & 0o7777
        if mode != created_mode & ~self.umask or (mode & 0o7000 and self.chown):
            os.fchmod(fd, mode)

    # -- entry kinds --------------------------------------------------------------------------

    def _create_file(self, pfd: int, base: str, path: str, mode: int) -> int:
        try:
            return os.open(base, NEW_FILE_FLAGS, mode, dir_fd=pfd)
        except FileExistsError:
            self._clear(pfd, base, path)
            return os.open(base, NEW_FILE_FLAGS, mode, dir_fd=pfd)

    def _file(
        self,
        reader: TarReader,
        member: TarEntry,
        pfd: int,
        base: str,
        path: str,
    ) -> None:
        created = member.mode & 0o777
        fd = self._create_file(pfd, base, path, created)
        try:
            if member.size:
                self.result.bytes += reader.copy_to(fd)
            self._set_owner_mode_fd(fd, member, created, pfd, split_parent(path)[0])
            refused = self._xattrs(fd, member) if member.xattrs else None
            os.utime(fd, ns=(member.atime_ns, member.mtime_ns))
        finally:
            os.close(fd)
        self._note(path, member, xattrs=refused)
        self.result.files += 1

    def _dir(self, member: TarEntry, pfd: int, base: str, path: str) -> None:
        try:
            os.mkdir(base, 0o700, dir_fd=pfd)
        except FileExistsError:
            st = os.lstat(base, dir_fd=pfd)
            if not stat.S_ISDIR(st.st_mode):
                self._clear(pfd, base, path)
                os.mkdir(base, 0o700, dir_fd=pfd)
        fd, canon = self.tree.open_dir(path)
        if canon != path:  # cannot happen unless the tree changes under us
            raise UnsafePathError(f"directory entry {member.name!r} moved while applying")
        if self.overlay:
            self.implicit.discard(path)
            if path in self.whiteout_nodes:
                os.setxattr(fd, OPAQUE_XATTR, OPAQUE_VALUE)
        self._dir_metadata(fd, path, member)
        self.result.dirs += 1

    def _dir_metadata(self, fd: int, path: str, member: TarEntry) -> None:
        if self.chown:
            os.fchown(fd, member.uid, member.gid)
        mode = member.mode & 0o7777
        if not path and self.options.root_mode is not None:
            mode = self.options.root_mode
        if self.rootless:
            os.fchmod(fd, mode | 0o700)
            self.tree.defer_mode(path, mode)
        else:
            os.fchmod(fd, mode)
        self.tree.changed(path)
        refused = self._xattrs(fd, member) if member.xattrs else None
        self.dir_times[path] = (member.atime_ns, member.mtime_ns)
        self._note(path, member, xattrs=refused)
        if path:
            self.written.add(path)

    def _symlink(self, member: TarEntry, pfd: int, base: str, path: str) -> None:
        target = member.linkname
        if not target:
            raise LayerError(f"symlink entry {member.name!r} has an empty target")
        try:
            os.symlink(target, base, dir_fd=pfd)
        except FileExistsError:
            self._clear(pfd, base, path)
            os.symlink(target, base, dir_fd=pfd)
        self._path_metadata(member, pfd, base, path, chmod=False)
        self.result.symlinks += 1

    def _path_metadata(
        self,
        member: TarEntry,
        pfd: int,
        base: str,
        path: str,
        *,
        chmod: bool,
        mode: int | None = None,
        rdev: tuple[int, int] | None = None,
    ) -> None:
        """Owner, mode, xattrs and times of an entry that cannot be opened (link, fifo, dev)."""
        if self.chown:
            os.chown(base, member.uid, member.gid, dir_fd=pfd, follow_symlinks=False)
        if chmod:
            chmod_at(pfd, base, member.mode & 0o7777)
        refused = None
        if member.xattrs:
            refused = self._xattrs(f"/proc/self/fd/{pfd}/{base}", member)
        os.utime(base, ns=(member.atime_ns, member.mtime_ns), dir_fd=pfd, follow_symlinks=False)
        self._note(path, member, mode=mode, rdev=rdev, xattrs=refused)

    def _hardlink(self, member: TarEntry, pfd: int, base: str, path: str) -> None:
        linkname = clean_entry_name(member.linkname, allow_root=True)
        missing = LayerError(
            f"hardlink {member.name!r} points to {member.linkname!r}, which does not exist "
            "in this layer or below it"
        )
        if not linkname:
            raise UnsafePathError(f"hardlink {member.name!r} points to the root directory")
        tparent, tbase = split_parent(linkname)
        try:
            if self.lowers is not None and not self._copy_up(linkname):
                raise FileNotFoundError(linkname)
            tfd, tcanon = self.tree.open_dir(tparent)
            tst = os.lstat(tbase, dir_fd=tfd)
        except (FileNotFoundError, NotADirectoryError, LayerError):
            raise missing from None
        if stat.S_ISDIR(tst.st_mode):
            raise UnsafePathError(
                f"hardlink {member.name!r} points to directory {member.linkname!r}; "
                "directories cannot be hardlinked"
            )
        tpath = f"{tcanon}/{tbase}" if tcanon else tbase
        if tpath != path:
            tfd = os.dup(tfd)  # stays valid even if clearing the destination drops cached fds
            try:
                try:
                    os.link(tbase, base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
                except FileExistsError:
                    self._clear(pfd, base, path)
                    os.link(tbase, base, src_dir_fd=tfd, dst_dir_fd=pfd, follow_symlinks=False)
            except FileNotFoundError:
                raise missing from None
            finally:
                os.close(tfd)
            if self.record is not None:
                entry = self.record.get(tpath)
                if entry is not None:
                    self.record.set(path, entry)
                elif len(self.record):
                    self.record.remove(path)
        self.result.hardlinks += 1

    def _fifo(self, member: TarEntry, pfd: int, base: str, path: str) -> None:
        try:
            os.mkfifo(base, 0o600, dir_fd=pfd)
        except FileExistsError:
            self._clear(pfd, base, path)
            os.mkfifo(base, 0o600, dir_fd=pfd)
        self._path_metadata(member, pfd, base, path, chmod=True)
        self.result.fifos += 1

    def _device(self, member: TarEntry, pfd: int, base: str, path: str) -> None:
        kind = stat.S_IFCHR if member.type == b"3" else stat.S_IFBLK
        rdev = (member.devmajor, member.devminor)
        self.result.devices += 1
        if not self.rootless:
            try:
                device = os.makedev(*rdev)
                try:
                    os.mknod(base, kind | 0o600, device, dir_fd=pfd)
                except FileExistsError:
                    self._clear(pfd, base, path)
                    os.mknod(base, kind | 0o600, device, dir_fd=pfd)
            except PermissionError:
                pass  # root inside a user namespace: fall back as in rootless mode
            else:
                self._path_metadata(member, pfd, base, path, chmod=True)
                return
        what = "character" if kind == stat.S_IFCHR else "block"
        self._warn(
            f"{member.name}: {what} device {rdev[0]}:{rdev[1]} cannot be created without "
            "privileges; written as an empty file"
            + (" (kept in the ownership record)" if self.record is not None else "")
        )
        perm = member.mode & 0o7777
        fd = self._create_file(pfd, base, path, perm & 0o777)
        os.close(fd)
        self._path_metadata(member, pfd, base, path, chmod=True, mode=kind | perm, rdev=rdev)

    # -- whiteouts ----------------------------------------------------------------------------

    def _whiteout(self, parent: str, base: str, member: TarEntry) -> None:
        self.result.whiteouts += 1
        opaque = base == OPAQUE_WHITEOUT
        victim = base[len(WHITEOUT_PREFIX) :]
        if not opaque:
            if victim in ("", ".", ".."):
                raise UnsafePathError(
                    f"whiteout {member.name!r} names no file (it would remove a directory "
                    "above it); refusing it"
                )
            if victim.startswith(WHITEOUT_PREFIX):
                self._warn(f"{member.name}: unknown whiteout metadata entry ignored")
                return
        if self.overlay:
            self._overlay_whiteout(parent, victim, opaque)
            return
        try:
            pfd, pcanon = self.tree.open_dir(parent)
        except (FileNotFoundError, LayerError):
            return  # nothing below to remove
        if pcanon not in self.dir_times:
            self._keep_times(pfd, pcanon)
        if opaque:
            fd = os.dup(pfd)
            try:
                self._opaque(fd, pcanon)
            finally:
                os.close(fd)
            return
        path = f"{pcanon}/{victim}" if pcanon else victim
        if path in self.written:
            return  # whiteouts only hide lower layers
        if remove_at(pfd, victim, force_writable=self.rootless):
            self.tree.forget(path)
            if self.record is not None:
                self.record.drop_subtree(path)

    def _opaque(self, fd: int, canon: str) -> None:
        with os.scandir(fd) as entries:
            children = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        for name, is_dir in children:
            path = f"{canon}/{name}" if canon else name
            if path in self.written or path in self.holders:
                if is_dir:
                    child = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                    try:
                        self._opaque(child, path)
                    finally:
                        os.close(child)
                continue
            remove_at(fd, name, force_writable=self.rootless)
            self.tree.forget(path)
            if self.record is not None:
                self.record.drop_subtree(path)

    # -- overlay format -----------------------------------------------------------------------

    def _overlay_whiteout(self, parent: str, victim: str, opaque: bool) -> None:
        """Record a whiteout in overlay form: a 0:0 node, or the opaque xattr on the parent."""
        pfd, pcanon = self.tree.open_dir(parent, create=True)
        if pcanon not in self.holders:
            self._hold(pcanon)
        if pcanon not in self.dir_times:
            self._keep_times(pfd, pcanon)
        if opaque:
            os.setxattr(pfd, OPAQUE_XATTR, OPAQUE_VALUE)
            return
        path = f"{pcanon}/{victim}" if pcanon else victim
        if path in self.written:
            return  # whiteouts only hide lower layers
        try:
            os.mknod(victim, stat.S_IFCHR, os.makedev(0, 0), dir_fd=pfd)
        except FileExistsError:
            return  # the same whiteout twice
        except PermissionError as exc:
            raise LayerError(
                f"cannot create the whiteout node for {path!r} ({exc.strerror}): the store's "
                "overlay format needs Linux 5.8 or later for unprivileged users; use the copy "
                "driver (BOXWRIGHT_DRIVER=copy)"
            ) from exc
        self.whiteout_nodes.add(path)

    def _lower(self, path: str) -> tuple[Path, os.stat_result, OwnershipRecord | None] | None:
        """Where ``path`` lives in the lower layers: its real path, lstat and side record."""
        assert self.lowers is not None
        found = self.lowers.lookup(path)
        if found is None:
            return None
        index, st = found
        diff, record = self.options.overlay_lowers[index]
        return Path(diff, path), st, record

    def _copy_lower_record(self, path: str, record: OwnershipRecord | None) -> None:
        if self.record is None:
            return
        entry = record.get(path) if record is not None else None
        if entry is not None:
            self.record.set(path, entry)
        else:
            self.record.remove(path)

    def _lower_parent_metadata(self) -> None:
        """Give each parent created without an entry the owner, mode, times and xattrs the
        lower layers give that directory (what an overlay copy-up keeps)."""
        for path in sorted(self.implicit):
            lower = self._lower(path)
            if lower is None or not stat.S_ISDIR(lower[1].st_mode):
                continue
            real, st, record = lower
            try:
                fd, canon = self.tree.open_dir(path)
            except (FileNotFoundError, NotADirectoryError, LayerError):
                continue  # replaced later in the layer
            if canon != path:
                continue
            if self.chown:
                os.fchown(fd, st.st_uid, st.st_gid)
            mode = stat.S_IMODE(st.st_mode)
            if self.rootless:
                os.fchmod(fd, mode | 0o700)
                self.tree.defer_mode(path, mode)
            else:
                os.fchmod(fd, mode)
            copy_xattrs(str(real), fd)
            self.dir_times[path] = (st.st_atime_ns, st.st_mtime_ns)
            self._copy_lower_record(path, record)
            self.tree.trim()

    def _copy_up(self, path: str) -> bool:
        """Make lower file ``path`` part of this layer (for a hardlink to it); False when it
        is in neither this layer nor below."""
        parent, base = split_parent(path)
        try:
            pfd, _ = self.tree.open_dir(parent)
            st = os.lstat(base, dir_fd=pfd)
        except (FileNotFoundError, NotADirectoryError, LayerError):
            pass
        else:
            return not is_whiteout(st)
        lower = self._lower(path)
        if lower is None or stat.S_ISDIR(lower[1].st_mode):
            return False
        real, st, record = lower
        pfd, pcanon = self.tree.open_dir(parent, create=True)
        if pcanon not in self.dir_times:
            self._keep_times(pfd, pcanon)
        if stat.S_ISLNK(st.st_mode):
            os.symlink(os.readlink(real), base, dir_fd=pfd)
        elif stat.S_ISREG(st.st_mode):
            self._copy_up_file(real, st, pfd, base)
        else:
            os.mknod(base, st.st_mode, st.st_rdev, dir_fd=pfd)
        if self.chown:
            os.chown(base, st.st_uid, st.st_gid, dir_fd=pfd, follow_symlinks=False)
        if not stat.S_ISLNK(st.st_mode):
            chmod_at(pfd, base, stat.S_IMODE(st.st_mode))
        os.utime(base, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=pfd, follow_symlinks=False)
        self._copy_lower_record(path, record)
        self.written.add(path)
        return True

    def _copy_up_file(self, real: Path, st: os.stat_result, pfd: int, base: str) -> None:
        fd = os.open(base, NEW_FILE_FLAGS, 0o600, dir_fd=pfd)
        try:
            with open(real, "rb") as source:
                try:
                    left = st.st_size
                    while left and (copied := os.copy_file_range(source.fileno(), fd, left)):
                        left -= copied
                except OSError:  # no in-kernel copy between these file systems
                    os.ftruncate(fd, 0)
                    os.lseek(fd, 0, os.SEEK_SET)
                    source.seek(0)
                    while chunk := source.read(1 << 20):
                        view = memoryview(chunk)
                        while view:
                            view = view[os.write(fd, view) :]
            copy_xattrs(str(real), fd)
        finally:
            os.close(fd)

    # -- the end ------------------------------------------------------------------------------

    def _restore_dir_times(self) -> None:
        for path in sorted(self.dir_times, key=lambda p: (-p.count("/") if p else 1, p)):
            times = self.dir_times[path]
            if not path:
                os.utime(self.tree.fd, ns=times)
                continue
            parent, base = split_parent(path)
            try:
                pfd, _ = self.tree.open_dir(parent)
                if stat.S_ISDIR(os.lstat(base, dir_fd=pfd).st_mode):
                    os.utime(base, ns=times, dir_fd=pfd, follow_symlinks=False)
            except (FileNotFoundError, NotADirectoryError, LayerError):
                continue  # removed later in the layer
            self.tree.trim()


def apply_layer(
    root: Path | str, stream: Reader, options: ApplyOptions | None = None
) -> ApplyResult:
    """Apply the uncompressed layer tar read from ``stream`` onto directory ``root``.

    ``root`` is created if missing. The stream is read to its end (past the tar end marker),
    so a verifying reader such as :class:`~boxwright.layer.streams.LayerReader` checks the
    diff_id. Raises :class:`LayerError` (or :class:`UnsafePathError` for a hostile entry,
    :class:`CompressionError` / :class:`DigestMismatchError` from the stream) naming the
    entry; the tree is then partial and the caller should remove it.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return _Applier(root, options or ApplyOptions()).run(stream)


def apply_layers(
    root: Path | str, streams: Iterable[Reader], options: ApplyOptions | None = None
) -> list[ApplyResult]:
    """Apply several uncompressed layer tars in order (lowest first); one result per layer."""
    options = options or ApplyOptions()
    return [apply_layer(root, stream, options) for stream in streams]


__all__ = ["ApplyOptions", "ApplyResult", "apply_layer", "apply_layers"]
