"""Layers from overlay directories, and overlay directories merged into one plain tree.

:func:`overlay_changes` writes the layer of an overlay upper directory over its lower
directories (the store's snapshot diffs, top first). It follows the entry rules of
:func:`~boxwright.layer.generate.generate_layer` exactly, on the two views the kernel shows
(the lowers merged, and the upper over them), so that a container on the overlay driver and
one on the copy driver give byte-identical layers for the same operations:

* every upper entry is written, except a directory (copied up when something below it
  changed) or a file whose owner, mode, mtime, size and content equal the lower one's and
  that has no second link (a copy-up that changed nothing, e.g. an open for writing that
  wrote nothing);
* a whiteout node (char 0:0) becomes ``DIR/.wh.NAME`` when the lowers hold ``NAME``;
* an opaque directory (a lower directory removed and made again) gets one whiteout per lower
  child it no longer holds, as ``generate_layer`` writes for a directory emptied in place;
  the children of a lower directory replaced by a non-directory get none.

Ownership comes from the ``ownership`` lookup (the container's side record, seeded at create
by :func:`merged_ownership` with what the snapshots' records say for the paths they hold),
then the rootless rule of :mod:`boxwright.layer.generate`. Overlay's own ``user.overlay.*``
attributes are never written.

:func:`merge_overlay_dirs` copies overlay-format directories (bottom first) onto a plain
directory with the same rules: the copy driver's rootfs, or an overlay container turned into
a copy one.
"""

from __future__ import annotations

import dataclasses
import filecmp
import os
import stat
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from boxwright.errors import LayerError
from boxwright.layer.generate import (
    GenerateOptions,
    GenerateResult,
    OwnershipLookup,
    PlanItem,
    _Emitter,
    plan_entry,
    plan_whiteout,
    write_plan,
)
from boxwright.layer.overlayfs import (
    OVERLAY_XATTR_PREFIX,
    LowerView,
    copy_xattrs,
    is_opaque,
    is_whiteout,
)
from boxwright.layer.ownership import OwnershipRecord
from boxwright.layer.pathsafe import remove_at
from boxwright.layer.snapshot import (
    Snapshot,
    SnapshotEntry,
    entry_from_stat,
    exclude_predicate,
    walk,
)


class _OverlayEmitter(_Emitter):
    """The generate emitter, leaving out overlay's private attributes."""

    def xattrs(self, path: str, target: int | str) -> dict[str, bytes]:
        found = super().xattrs(path, target)
        return {k: v for k, v in found.items() if not k.startswith(OVERLAY_XATTR_PREFIX)}


def _same(upper: SnapshotEntry, lower: os.stat_result, upper_path: str, lower_path: str) -> bool:
    """Whether a copied-up entry still equals its lower original (nothing to write)."""
    if (
        upper.mode != lower.st_mode
        or upper.uid != lower.st_uid
        or upper.gid != lower.st_gid
        or upper.mtime_ns != lower.st_mtime_ns
    ):
        return False
    if stat.S_ISDIR(upper.mode):
        return True
    if upper.size != lower.st_size or upper.nlink > 1:
        return False  # a copy-up starts with one link: more were made in the container
    if upper.rdev != lower.st_rdev:
        return False
    if stat.S_ISLNK(upper.mode):
        return upper.target == os.readlink(lower_path)
    if stat.S_ISREG(upper.mode):
        try:
            return filecmp.cmp(upper_path, lower_path, shallow=False)
        except OSError:
            return False
    return True


def _same_record(rel: str, ownership: OwnershipLookup | None, base: OwnershipLookup | None) -> bool:
    """Whether the side record holds the same entry for ``rel`` as the lowers' record."""
    if ownership is None or base is None:
        return True
    return ownership.get(rel) == base.get(rel)


def overlay_changes(
    upper: Path,
    lowers: Sequence[Path],
    out: IO[bytes],
    options: GenerateOptions,
    ownership: OwnershipLookup | None,
    base_ownership: OwnershipLookup | None = None,
) -> GenerateResult:
    """Write to ``out`` the uncompressed tar of what overlay ``upper`` changes over ``lowers``
    (top first), deterministic, with the entry rules of the module docstring.

    ``ownership`` (the container's side record) replaces ``options.ownership``;
    ``base_ownership`` is the lowers' merged record: a copied-up path equal on disk to its
    lower original is still written when its recorded owner changed (a rootless ``chown``
    that only the side record keeps). Raises
    :class:`LayerError` when a directory cannot be read or holds a name starting ``.wh.``.
    """
    opts = dataclasses.replace(options, ownership=ownership)
    skip = exclude_predicate(opts.exclude)
    view = LowerView(lowers)
    root = os.fspath(upper)
    current: dict[str, SnapshotEntry] = {}
    cut: list[str] = []  # upper directories that do not merge with the lowers
    cut_set: set[str] = set()
    result = GenerateResult()
    plan: list[PlanItem] = []
    for rel, st, target in walk(root, skip):
        parent = rel.rpartition("/")[0]
        merged = parent not in cut_set
        if is_whiteout(st):
            if merged and view.lookup(rel) is not None:
                result.deleted.append(rel)
            continue
        entry = entry_from_stat(st, target)
        current[rel] = entry
        if stat.S_ISDIR(st.st_mode) and (not merged or is_opaque(os.path.join(root, rel))):
            cut.append(rel)
            cut_set.add(rel)
        if stat.S_ISSOCK(st.st_mode):
            result.skipped.append(rel)
            continue
        lower = view.lookup(rel)
        if lower is None:
            result.added.append(rel)
        else:
            lower_path = os.path.join(view.lowers[lower[0]], rel)
            if (
                merged
                and rel not in cut_set
                and _same(entry, lower[1], os.path.join(root, rel), lower_path)
                and _same_record(rel, ownership, base_ownership)
            ):
                continue
            result.modified.append(rel)
        plan.append(plan_entry(rel))
    result.deleted.extend(_hidden_lower_children(view, cut, current, skip))
    plan.extend(plan_whiteout(path) for path in result.deleted)
    result.snapshot = Snapshot(current)
    return write_plan(_OverlayEmitter(root, current, out, opts), plan, result)


def _hidden_lower_children(
    view: LowerView,
    cut: list[str],
    current: dict[str, SnapshotEntry],
    skip: Callable[[str], bool] | None,
) -> Iterator[str]:
    """The lower paths under each cut directory (opaque, or replacing a non-directory) that
    the upper does not hold: the layer deletes them."""
    for directory in cut:
        for name in view.children(directory):
            child = f"{directory}/{name}" if directory else name
            if child not in current and (skip is None or not skip(child)):
                yield child


def merged_ownership(
    layers: Sequence[tuple[Path, OwnershipRecord | None]], into: OwnershipRecord
) -> OwnershipRecord:
    """Fill ``into`` with the side record of the merged view of ``layers`` (top first): for
    each recorded path, the entry of the topmost layer that holds the path, if it has one
    (what applying the layers in order onto one tree records)."""
    view = LowerView([diff for diff, _ in layers])
    for index, (_, record) in enumerate(layers):
        if record is None:
            continue
        for path, entry in record.items():
            found = view.lookup(path)
            if found is not None and found[0] == index:
                into.set(path, entry)
    return into


# -- merging overlay directories into a plain tree ----------------------------------------------


class _Merger:
    """Copies overlay-format directories onto ``dest``, bottom first (see the module doc)."""

    def __init__(self, dest: Path) -> None:
        self.dest = os.fspath(dest)
        self.root = os.geteuid() == 0
        self.dir_meta: dict[str, tuple[int, int, int, int, int]] = {}

    def merge(self, layer: Path) -> None:
        source = os.fspath(layer)
        links: dict[int, str] = {}
        for rel, st, target in walk(source):
            self._entry(source, rel, st, target, links)

    def _remove(self, rel: str) -> None:
        parent, _, base = rel.rpartition("/")
        fd = os.open(os.path.join(self.dest, parent), os.O_RDONLY | os.O_DIRECTORY)
        try:
            remove_at(fd, base, force_writable=not self.root)
        finally:
            os.close(fd)
        prefix = rel + "/"
        for key in [k for k in self.dir_meta if k == rel or k.startswith(prefix)]:
            del self.dir_meta[key]

    def _entry(
        self,
        source: str,
        rel: str,
        st: os.stat_result,
        target: str | None,
        links: dict[int, str],
    ) -> None:
        src = os.path.join(source, rel)
        dst = os.path.join(self.dest, rel)
        try:
            existing: os.stat_result | None = os.lstat(dst)
        except FileNotFoundError:
            existing = None
        if is_whiteout(st):
            if existing is not None:
                self._remove(rel)
            return
        if stat.S_ISDIR(st.st_mode):
            if existing is not None and (not stat.S_ISDIR(existing.st_mode) or is_opaque(src)):
                self._remove(rel)
                existing = None
            if existing is None:
                os.mkdir(dst, 0o700)
            if self.root:
                os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
            os.chmod(dst, stat.S_IMODE(st.st_mode) | (0 if self.root else 0o700))
            copy_xattrs(src, dst)
            self.dir_meta[rel] = (
                stat.S_IMODE(st.st_mode),
                st.st_atime_ns,
                st.st_mtime_ns,
                st.st_uid,
                st.st_gid,
            )
            return
        if existing is not None:
            self._remove(rel)
        if st.st_nlink > 1 and st.st_ino in links:
            os.link(links[st.st_ino], dst, follow_symlinks=False)
            return
        kind = stat.S_IFMT(st.st_mode)
        if kind == stat.S_IFREG:
            self._copy_file(src, dst, st)
        elif kind == stat.S_IFLNK:
            os.symlink(target or os.readlink(src), dst)
        elif kind == stat.S_IFIFO:
            os.mkfifo(dst, 0o600)
        elif kind in (stat.S_IFCHR, stat.S_IFBLK):
            os.mknod(dst, kind | 0o600, st.st_rdev)
        else:
            return  # sockets: never part of a layer
        if self.root:
            os.chown(dst, st.st_uid, st.st_gid, follow_symlinks=False)
        if kind != stat.S_IFLNK:
            os.chmod(dst, stat.S_IMODE(st.st_mode))
        copy_xattrs(src, dst)
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)
        if st.st_nlink > 1:
            links[st.st_ino] = dst

    def _copy_file(self, src: str, dst: str, st: os.stat_result) -> None:
        try:
            source = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except PermissionError:
            if self.root:
                raise
            os.chmod(src, stat.S_IMODE(st.st_mode) | stat.S_IRUSR)  # our own file, no read bit
            try:
                source = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            finally:
                os.chmod(src, stat.S_IMODE(st.st_mode))
        try:
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            try:
                left = st.st_size
                try:
                    while left and (copied := os.copy_file_range(source, fd, left)):
                        left -= copied
                except OSError:  # no in-kernel copy here: plain reads and writes
                    os.lseek(source, st.st_size - left, os.SEEK_SET)
                    while chunk := os.read(source, 1 << 20):
                        view = memoryview(chunk)
                        while view:
                            view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
        finally:
            os.close(source)

    def finish(self) -> None:
        """Directory times (deepest first, after every child is written), then modes."""
        order = sorted(self.dir_meta, key=lambda p: (-p.count("/"), p))
        for rel in order:
            _, atime, mtime, _, _ = self.dir_meta[rel]
            os.utime(os.path.join(self.dest, rel), ns=(atime, mtime), follow_symlinks=False)
        if not self.root:
            for rel in order:
                mode = self.dir_meta[rel][0]
                if mode & 0o700 != 0o700:
                    os.chmod(os.path.join(self.dest, rel), mode)


def merge_overlay_dirs(dest: Path, layers: Sequence[Path]) -> None:
    """Copy overlay-format directories ``layers`` (bottom first) onto directory ``dest``
    (created if missing): whiteout nodes remove, opaque directories replace, hardlinks within
    a layer stay linked, owners (as root), modes, times and xattrs are kept.

    Raises :class:`LayerError` naming the path that could not be copied.
    """
    dest.mkdir(parents=True, exist_ok=True)
    merger = _Merger(dest)
    try:
        for layer in layers:
            merger.merge(layer)
        merger.finish()
    except OSError as exc:
        raise LayerError(
            f"cannot copy the image's layers into {dest}: {exc.strerror or exc} "
            f"({exc.filename or ''})"
        ) from exc


__all__ = ["merge_overlay_dirs", "merged_ownership", "overlay_changes"]
