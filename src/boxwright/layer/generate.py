"""Generating a layer: a deterministic tar of a whole tree, or of what changed since a snapshot.

What goes into a diff layer (``before`` is a :class:`~boxwright.layer.snapshot.Snapshot`):

- every path that is new, or changed by the snapshot's rule (type, mode, owner, size, mtime,
  ctime, inode, link target, rdev); a changed directory is written as its own entry, while
  parents that did not change are left out (as umoci's and buildah's diffs do: the lower
  layers already hold them);
- a whiteout ``DIR/.wh.NAME`` for every deleted path whose parent is still a directory; a
  deleted directory gets one whiteout, not one per child; when a directory became a file,
  a symlink or anything else, the replacement entry alone stands for it (applying a non-directory
  over a directory removes the directory), so its old children get no whiteouts.

Entries are written in byte order of their path by :class:`~boxwright.layer.tarwriter.TarWriter`,
with normalized headers, so the same tree (contents, modes, owners, mtimes after clamping)
always gives the same bytes. Paths sharing an inode within the layer become hardlinks to the
first of them in that order. Sockets cannot live in a tar and are skipped with a warning;
names starting with ``.wh.`` cannot be told apart from whiteouts and are refused.

Ownership (:class:`~boxwright.layer.ownership.OwnershipRecord`): a path with a record is
written with the recorded uid/gid/mode (as a device when the record says so, with the recorded
extra xattrs); without one, in rootless mode, the current euid/egid are written as 0 — the
unprivileged user stands for root of the image, as ``umoci --rootless`` does — and other ids
as they are.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Protocol

from boxwright._log import Logger
from boxwright.errors import LayerError
from boxwright.layer.pathsafe import DIR_FLAGS
from boxwright.layer.snapshot import Exclude, Snapshot, SnapshotEntry, exclude_predicate
from boxwright.layer.tarwriter import (
    BLOCKDEV,
    CHARDEV,
    DIRECTORY,
    FIFO,
    HARDLINK,
    REGULAR,
    SYMLINK,
    WHITEOUT_PREFIX,
    TarHeader,
    TarWriter,
    whiteout_name,
)

log = Logger(__name__)

_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK

#: Host-specific attributes never put into a layer (the list umoci keeps).
IGNORED_XATTRS = frozenset(
    {
        "security.selinux",
        "system.nfs4_acl",
        "trusted.overlay.opaque",
        "trusted.overlay.redirect",
        "trusted.overlay.origin",
        "trusted.overlay.impure",
        "trusted.overlay.nlink",
        "trusted.overlay.upper",
        "trusted.overlay.metacopy",
        "user.rootlesscontainers",
    }
)

_TYPES: dict[int, bytes] = {
    stat.S_IFREG: REGULAR,
    stat.S_IFDIR: DIRECTORY,
    stat.S_IFLNK: SYMLINK,
    stat.S_IFCHR: CHARDEV,
    stat.S_IFBLK: BLOCKDEV,
    stat.S_IFIFO: FIFO,
}


# A Protocol of read-only properties, as CredentialsLike and ProgressEventLike are: each
# names what its module reads of a type from a layer above.
class OwnershipEntryLike(Protocol):
    """What generate reads from an ownership record entry (``OwnershipEntry`` fits)."""

    @property
    def uid(self) -> int: ...
    @property
    def gid(self) -> int: ...
    @property
    def mode(self) -> int | None: ...
    @property
    def rdev(self) -> tuple[int, int] | None: ...
    @property
    def xattrs(self) -> Mapping[str, bytes]: ...


class OwnershipLookup(Protocol):
    """The side record of intended metadata (``OwnershipRecord`` fits)."""

    def get(self, path: str, /) -> OwnershipEntryLike | None: ...


@dataclass(frozen=True)
class GenerateOptions:
    """How a layer is generated.

    ``clamp_mtime``: no entry gets an mtime later than this (seconds since the epoch; as
    ``SOURCE_DATE_EPOCH`` / ``--timestamp``). ``ownership``: the rootless side record.
    ``rootless``: the current euid/egid stand for 0:0 (see the module docstring).
    ``exclude``: relative paths (with their subtrees) or a predicate on relative paths to leave
    out of the layer, e.g. the unpack metadata files.
    """

    clamp_mtime: int | None = None
    ownership: OwnershipLookup | None = None
    rootless: bool = False
    exclude: Exclude = None


@dataclass
class GenerateResult:
    """What a generated layer holds, for reports and history entries.

    ``added``/``modified``/``deleted`` are relative paths in sorted order (``deleted`` lists
    the whited-out paths), ``skipped`` the paths left out (sockets). ``entries`` and ``size``
    count tar entries and uncompressed bytes. ``snapshot`` is the state the layer was made
    from: the baseline for the next diff.
    """

    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    entries: int = 0
    size: int = 0
    snapshot: Snapshot = field(default_factory=Snapshot)

    @property
    def empty(self) -> bool:
        """Whether the layer changes nothing."""
        return not (self.added or self.modified or self.deleted)


def _key(path: str) -> bytes:
    return os.fsencode(path)


#: One entry of a layer to write: (tar name as bytes, for the order; path; is a whiteout).
PlanItem = tuple[bytes, str, bool]


def plan_entry(path: str) -> PlanItem:
    """The plan item writing ``path``; a name the whiteout convention reserves is refused."""
    if path.rpartition("/")[2].startswith(WHITEOUT_PREFIX):
        raise LayerError(
            f"cannot put {path!r} into a layer: names starting with {WHITEOUT_PREFIX!r} "
            "are reserved for whiteouts; rename or remove it"
        )
    return (_key(path), path, False)


def plan_whiteout(path: str) -> PlanItem:
    """The plan item writing the whiteout that deletes ``path``."""
    return (_key(whiteout_name(path)), path, True)


def write_plan(emitter: _Emitter, plan: list[PlanItem], result: GenerateResult) -> GenerateResult:
    """Write ``plan`` through ``emitter`` (entered here) in tar name order, sort the result's
    path lists the same way, and record the entry count and size in ``result``.

    The one writing step of :func:`generate_layer` and of the overlay layer generator, so both
    give byte-identical layers for the same changes.
    """
    plan.sort()
    for names in (result.added, result.modified, result.deleted, result.skipped):
        names.sort(key=_key)
    with emitter:
        for _, path, whiteout in plan:
            if whiteout:
                emitter.writer.add_whiteout(path)
            else:
                emitter.add(path)
        emitter.writer.close()
        result.entries = emitter.writer.entries
        result.size = emitter.writer.bytes_written
    return result


def generate_layer(
    root: str | os.PathLike[str],
    before: Snapshot | None,
    out: IO[bytes],
    options: GenerateOptions | None = None,
) -> GenerateResult:
    """Write to ``out`` an uncompressed tar of what changed under ``root`` since ``before``.

    With ``before=None`` the whole tree is written (a base layer). The caller compresses and
    hashes ``out`` (e.g. with :class:`~boxwright.layer.streams.LayerWriter`). Raises
    :class:`LayerError` when the tree cannot be read or changes while it is written.
    """
    opts = options or GenerateOptions()
    # The emitter may refresh entries it disturbs (rootless read of an unreadable file), so
    # the result's snapshot owns a dict of its own.
    skip = exclude_predicate(opts.exclude)
    current = dict(Snapshot.take(root, skip).entries)
    result = GenerateResult(snapshot=Snapshot(current))
    plan: list[PlanItem] = []
    for path, entry in current.items():
        if stat.S_ISSOCK(entry.mode):
            result.skipped.append(path)
            log.warning("skipping socket %s: a layer cannot hold sockets", path)
            continue
        old = before.entries.get(path) if before is not None else None
        if before is not None:
            if old is None:
                result.added.append(path)
            elif old.differs(entry):
                result.modified.append(path)
            else:
                continue
        else:
            result.added.append(path)
        plan.append(plan_entry(path))
    if before is not None:
        for path, old in before.entries.items():
            if path in current or stat.S_ISSOCK(old.mode) or (skip is not None and skip(path)):
                continue  # still there, never in a layer, or excluded (not deleted)
            parent = path.rpartition("/")[0]
            if parent:
                now_parent = current.get(parent)
                if now_parent is None or not now_parent.is_dir():
                    continue  # covered by the parent's whiteout or its replacement entry
            result.deleted.append(path)
            plan.append(plan_whiteout(path))
    return write_plan(_Emitter(root, current, out, opts), plan, result)


def tree_layer(
    root: str | os.PathLike[str], out: IO[bytes], options: GenerateOptions | None = None
) -> GenerateResult:
    """Write to ``out`` an uncompressed tar of the whole tree under ``root`` (a base layer)."""
    return generate_layer(root, None, out, options)


class _Emitter:
    """Writes the entries of one layer: headers from the snapshot, content and xattrs from disk.

    Directory handles of the current path's parents are kept open (opened one component at a
    time with ``O_NOFOLLOW``), so no path string is re-resolved through a symlink.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        entries: dict[str, SnapshotEntry],
        out: IO[bytes],
        opts: GenerateOptions,
    ) -> None:
        self.root = os.fspath(root)
        self.entries = entries
        self.opts = opts
        self.writer = TarWriter(out, clamp_mtime=opts.clamp_mtime)
        self.euid = os.geteuid()
        self.egid = os.getegid()
        self.links: dict[tuple[int, int], str] = {}
        self.root_fd = os.open(self.root, DIR_FLAGS)
        #: Open directories along the current path: (relative path, fd), root first.
        self.chain: list[tuple[str, int]] = [("", self.root_fd)]
        self.proc = os.path.isdir("/proc/self/fd")

    def __enter__(self) -> _Emitter:
        return self

    def __exit__(self, *exc: object) -> None:
        for _, fd in self.chain:
            os.close(fd)
        self.chain = []

    def dir_fd(self, rel: str) -> int:
        """An open handle on directory ``rel`` (``""`` is the root)."""
        chain = self.chain
        # Keep the longest prefix of the chain that is an ancestor-or-self of ``rel``.
        keep = 1
        for i in range(1, len(chain)):
            name = chain[i][0]
            if rel == name or rel.startswith(name + "/"):
                keep = i + 1
            else:
                break
        for _, fd in chain[keep:]:
            os.close(fd)
        del chain[keep:]
        have = chain[-1][0]
        if have == rel:
            return chain[-1][1]
        rest = rel[len(have) + 1 :] if have else rel
        for part in rest.split("/"):
            parent_rel, parent_fd = chain[-1]
            child = f"{parent_rel}/{part}" if parent_rel else part
            try:
                fd = os.open(part, DIR_FLAGS, dir_fd=parent_fd)
            except OSError as exc:
                raise self._changed(child, exc) from exc
            chain.append((child, fd))
        return chain[-1][1]

    def _changed(self, rel: str, exc: OSError) -> LayerError:
        where = os.path.join(self.root, rel)
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return LayerError(
                f"{where} changed while the layer was written; retry when nothing modifies the tree"
            )
        return LayerError(f"cannot read {where}: {exc.strerror or exc}")

    def add(self, path: str) -> None:
        """Write the entry of ``path`` (a hardlink when its inode was already written)."""
        entry = self.entries[path]
        header = self.header(path, entry)
        if header.type == DIRECTORY:
            fd = self.dir_fd(path)
            header.xattrs.update(self.xattrs(path, fd))
            self.writer.add(header)
            return
        parent, _, name = path.rpartition("/")
        pfd = self.dir_fd(parent)
        if entry.nlink > 1:
            first = self.links.setdefault((entry.dev, entry.ino), path)
            if first != path:
                self.writer.add(
                    TarHeader(
                        path,
                        HARDLINK,
                        mode=header.mode,
                        uid=header.uid,
                        gid=header.gid,
                        mtime=header.mtime,
                        linkname=first,
                    )
                )
                return
        if header.type == REGULAR and stat.S_ISREG(entry.mode):
            fd = self.open_file(path, pfd, name, entry)
            try:
                header.xattrs.update(self.xattrs(path, fd))
                if header.size:
                    self.writer.add_file(header, fd)
                else:
                    self.writer.add(header)
            finally:
                os.close(fd)
            return
        header.xattrs.update(self.xattrs(path, self.lpath(pfd, name, path)))
        if header.type == REGULAR:
            header.size = 0  # a recorded non-device on a placeholder: content is not kept
        self.writer.add(header)

    def header(self, path: str, entry: SnapshotEntry) -> TarHeader:
        """The normalized header of ``path`` after the ownership rule."""
        mode = entry.mode
        uid, gid = entry.uid, entry.gid
        devmajor = os.major(entry.rdev)
        devminor = os.minor(entry.rdev)
        extra: dict[str, bytes] = {}
        record = self.opts.ownership.get(path) if self.opts.ownership is not None else None
        if record is not None:
            uid, gid = record.uid, record.gid
            if record.mode is not None:
                recorded = record.mode
                # The type comes from the record only for what a rootless unpack turns into
                # a placeholder regular file (devices, fifos); otherwise the disk wins.
                rkind = stat.S_IFMT(recorded)
                if rkind in (stat.S_IFCHR, stat.S_IFBLK, stat.S_IFIFO) and stat.S_ISREG(mode):
                    mode = recorded
                else:
                    mode = stat.S_IFMT(mode) | stat.S_IMODE(recorded)
            if record.rdev is not None:
                devmajor, devminor = record.rdev
            extra = dict(record.xattrs)
        elif self.opts.rootless:
            if uid == self.euid:
                uid = 0
            if gid == self.egid:
                gid = 0
        kind = _TYPES.get(stat.S_IFMT(mode))
        if kind is None:
            raise LayerError(f"cannot put {path!r} into a layer: unsupported file type")
        return TarHeader(
            path,
            kind,
            mode=stat.S_IMODE(mode),
            uid=uid,
            gid=gid,
            mtime=entry.mtime_ns // 1_000_000_000,
            size=entry.size if kind == REGULAR else 0,
            linkname=entry.target or "",
            devmajor=devmajor if kind in (CHARDEV, BLOCKDEV) else 0,
            devminor=devminor if kind in (CHARDEV, BLOCKDEV) else 0,
            xattrs=extra,
        )

    def open_file(self, path: str, pfd: int, name: str, entry: SnapshotEntry) -> int:
        """Open a regular file for reading; in rootless mode, lift a missing read bit briefly."""
        try:
            fd = os.open(name, _FILE_FLAGS, dir_fd=pfd)
        except PermissionError as exc:
            if not (self.opts.rootless and entry.uid == self.euid):
                raise self._changed(path, exc) from exc
            # Our own file without owner read permission (umoci's rootless FsEval does this).
            os.chmod(name, stat.S_IMODE(entry.mode) | stat.S_IRUSR, dir_fd=pfd)
            try:
                fd = os.open(name, _FILE_FLAGS, dir_fd=pfd)
            finally:
                os.chmod(name, stat.S_IMODE(entry.mode), dir_fd=pfd)
            # The chmods moved ctime: keep the result's snapshot a valid baseline.
            self.entries[path] = entry._replace(
                ctime_ns=os.stat(name, dir_fd=pfd, follow_symlinks=False).st_ctime_ns
            )
        except OSError as exc:
            raise self._changed(path, exc) from exc
        st = os.fstat(fd)
        if st.st_size != entry.size or st.st_ino != entry.ino:
            os.close(fd)
            raise self._changed(path, FileNotFoundError(errno.ENOENT, "changed"))
        return fd

    def lpath(self, pfd: int, name: str, path: str) -> str:
        """A path naming ``name`` in directory ``pfd`` for the xattr calls (never followed)."""
        if self.proc:
            return f"/proc/self/fd/{pfd}/{name}"
        return os.path.join(self.root, path)

    def xattrs(self, path: str, target: int | str) -> dict[str, bytes]:
        """The extended attributes of a path worth carrying in a layer (empty values dropped)."""
        follow = isinstance(target, int)
        try:
            names = os.listxattr(target, follow_symlinks=follow)
        except OSError as exc:
            if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.EACCES):
                return {}
            raise self._changed(path, exc) from exc
        found: dict[str, bytes] = {}
        for attr in names:
            if attr in IGNORED_XATTRS:
                continue
            try:
                value = os.getxattr(target, attr, follow_symlinks=follow)
            except OSError as exc:
                if exc.errno in (errno.ENODATA, errno.ENOTSUP, errno.EPERM, errno.EACCES):
                    continue
                raise self._changed(path, exc) from exc
            if value:
                found[attr] = value
            else:
                log.debug("dropping empty xattr %s of %s (PAX cannot carry it)", attr, path)
        return found


__all__ = [
    "IGNORED_XATTRS",
    "GenerateOptions",
    "GenerateResult",
    "OwnershipEntryLike",
    "OwnershipLookup",
    "generate_layer",
    "tree_layer",
]
