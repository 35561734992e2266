"""Copying host files into a container's rootfs: the rules of ``buildah copy`` and ``COPY``.

Sources are host paths (globs expand, sorted; a pattern that matches nothing is an error). A
top-level source that is a symlink is followed (on the host, or inside the
:class:`~boxwright.build.sources.SourceRoot` the sources come from: a build context, a stage
or an image, where an absolute target is relative to that root and ``..`` stops at it); inside
a copied directory links are copied as links, and files hard-linked together stay
hard-linked. The destination is a path *inside the rootfs*, relative to the working directory
when not absolute:

* symlinks on the way to it are followed inside the rootfs, the last component too (BuildKit's
  ``fs.RootPath``): with ``/src -> /symlink``, ``/src/`` names ``/symlink/``, created when it is
  missing, and a link to a file names that file;
* it names a directory (the content goes inside it) when it ends with ``/`` or is an existing
  directory; otherwise it is the new name of the (single) source; several sources need a
  directory;
* a directory source copies its *contents* (``contents_only``, as ``COPY``); with
  ``contents_only=False`` the directory itself is copied under the destination, as ``cp -r``;
* missing parents are created (mode 0755, owned like the copied files), an existing entry in
  the way is replaced (a directory merges with a directory), the last component is never
  followed, and everything is written through directory handles (``layer.pathsafe.RootDir``);
* mtimes are kept, owners are ``0:0`` unless ``owner`` is given, or kept from a
  :class:`SourceRoot` with ``keep_owners`` (a stage or an image: BuildKit keeps the owners the
  files have there, and makes missing parents ``0:0``); the source mode is kept unless
  ``chmod`` is given (then files and directories both get it).

Rootless (``rootless=True``: the process cannot chown), a written path gets an explicit entry
in the container's side record (:class:`~boxwright.layer.ownership.OwnershipRecord`) when its
owner is not ``0:0`` or the record holds one for it (a lower layer's), so a commit writes the
owner that was asked for; a ``0:0`` path with no entry is the record's default already (a
file of the user's), and a COPY of thousands of files adds nothing to it.
Devices become empty files with the device recorded, as a rootless unpack does; sockets are
skipped, as buildah skips them.

Archives (:func:`extract_archive`, for ``add``): gzip, zstd, xz, bzip2 or plain tar, applied by
:func:`boxwright.layer.apply.apply_layer` inside the destination directory, with its safety
rules; the archive's owners are kept (``--chown`` does not apply to extracted content, as in
buildah and Docker).
"""

from __future__ import annotations

import bz2
import glob
import hashlib
import lzma
import os
import stat
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import unquote, urlparse

from boxwright.build.sources import SourceRoot
from boxwright.errors import (
    BoxwrightError,
    DigestMismatchError,
    InvalidIDError,
    LayerError,
    UsageError,
)
from boxwright.layer.apply import ApplyOptions, apply_layer, read_umask
from boxwright.layer.compression import PEEK_SIZE, decompress, detect_compression, is_tar_start
from boxwright.layer.ownership import OwnershipEntry, OwnershipRecord, owners_in_side_record
from boxwright.layer.pathsafe import (
    RootDir,
    clean_entry_name,
    remove_at,
    resolve_in_root,
    split_parent,
)
from boxwright.oci.digest import CHUNK as _CHUNK
from boxwright.oci.digest import Digest
from boxwright.oci.ids import check_id, parse_user_spec
from boxwright.unpack.users import resolve_user

_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
PARENT_MODE = 0o755


@dataclass
class CopyResult:
    """What a copy wrote: counts, bytes of content, and a digest describing the content.

    ``digest`` is ``file:<hex>`` (one regular file: the sha256 of its content), ``dir:<hex>``
    (one directory) or ``multi:<hex>`` (several sources), the latter two over every path,
    type and content in order; buildah's ``--add-history`` notes name the content that way.
    """

    files: int = 0
    dirs: int = 0
    links: int = 0
    bytes: int = 0
    digest: str = ""
    written: list[str] = field(default_factory=list)


# -- host side: sources, owners, modes -------------------------------------------------------


def expand_sources(
    sources: Iterable[str | os.PathLike[str]], base: Path | None = None
) -> list[Path]:
    """Host paths for ``sources``: globs expanded (sorted), relative ones under ``base``.

    Raises :class:`UsageError` when a source does not exist or a pattern matches nothing.
    """
    found: list[Path] = []
    for source in sources:
        text = os.fspath(source)
        if base is not None and not os.path.isabs(text):
            text = os.path.join(base, text)
        if glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=False))
            if not matches:
                raise UsageError(f"no files match {os.fspath(source)!r}")
            found.extend(Path(m) for m in matches)
        elif os.path.lexists(text):
            found.append(Path(text))
        else:
            raise UsageError(f"source {os.fspath(source)!r} does not exist")
    if not found:
        raise UsageError("nothing to copy: give at least one source")
    return found


def parse_chmod(value: str | int | None) -> int | None:
    """``--chmod`` as a mode: an octal string (``0640``, ``755``) or an int; None stays None."""
    if value is None or isinstance(value, int):
        if isinstance(value, int) and not 0 <= value <= 0o7777:
            raise UsageError(f"mode {value:o} is out of range (0000-7777)")
        return value
    text = value.strip()
    if not text or any(c not in "01234567" for c in text) or int(text, 8) > 0o7777:
        raise UsageError(f"--chmod {value!r} is not an octal mode such as 0644 or 755")
    return int(text, 8)


def resolve_owner(root: Path, spec: str | tuple[int, int] | None) -> tuple[int, int]:
    """``--chown USER[:GROUP]`` as numbers, names looked up in the rootfs' own files.

    The spec is parsed by :func:`boxwright.oci.ids.parse_user_spec` and a ``(uid, gid)`` pair
    checked by :func:`~boxwright.oci.ids.check_id`: an invalid ID (4294967295 would chown to
    ``(uid_t)-1``, leaving the owner root) raises :class:`InvalidIDError`. Numbers need no
    lookup; names are resolved in the container's ``/etc/passwd`` and ``/etc/group`` (read
    inside the rootfs, never the host's), and a user given alone takes its primary group, as
    the runtime rules of :mod:`boxwright.unpack.users` say.
    """
    if spec is None:
        return (0, 0)
    if isinstance(spec, tuple):
        return check_id(spec[0], "uid"), check_id(spec[1], "gid")
    parsed = parse_user_spec(spec, "--chown")
    if parsed.uid is not None and parsed.gid is not None:
        return parsed.uid, parsed.gid

    try:
        found = resolve_user(root, spec, "--chown")
    except InvalidIDError:
        raise
    except BoxwrightError as error:
        raise UsageError(f"--chown {spec!r}: {error}") from None
    return found.uid, found.gid


# -- the copier ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Meta:
    owner: tuple[int, int]
    chmod: int | None
    rootless: bool
    sources: SourceRoot | None = None


class _Copier:
    """One copy into a rootfs: the RootDir walk, owners, deferred directory metadata."""

    def __init__(self, root: Path, record: OwnershipRecord, meta: _Meta) -> None:
        self.record = record
        self.meta = meta
        self.created: list[str] = []
        self.tree = RootDir(root, rootless=meta.rootless, on_create=self.created.append)
        self.dir_times: dict[str, tuple[int, int]] = {}
        self.links: dict[tuple[int, int], str] = {}
        self.result = CopyResult()
        self.hasher = hashlib.sha256()
        self.last_file_digest = ""
        umask = read_umask()
        self.umask = 0o7777 if umask is None else umask
        self.euid = os.geteuid()

    def close(self) -> None:
        try:
            for rel in self.created:
                self._own_dir(rel, PARENT_MODE, None)
            for rel in sorted(self.dir_times, key=lambda p: (-p.count("/"), p)):
                parent, name = split_parent(rel)
                pfd, _ = self.tree.open_dir(parent)
                os.utime(name, ns=self.dir_times[rel], dir_fd=pfd, follow_symlinks=False)
            if self.meta.rootless:
                self.tree.restore_modes()
        finally:
            self.tree.close()

    # -- ownership ------------------------------------------------------------------------------

    def owner_of(self, source: Path | str | None) -> tuple[int, int]:
        """The owner a path copied from host ``source`` gets (None: a directory the copy
        makes, which gets the copy's owner)."""
        if source is not None and self.meta.sources is not None:
            kept = self.meta.sources.owner(source)
            if kept is not None:
                return kept
        return self.meta.owner

    # A directory handle, a name and its path, as layer.apply's _path_metadata takes them:
    # alike in shape, for a copied file rather than an applied tar entry.
    def _own(
        self,
        pfd: int,
        name: str,
        rel: str,
        st_mode: int,
        rdev: int | None = None,
        owner: tuple[int, int] | None = None,
    ) -> None:
        """Give ``name`` its owner (``owner``, else the copy's): chown as root, a side-record
        entry rootless."""
        uid, gid = self.meta.owner if owner is None else owner
        if self.meta.rootless:
            device = stat.S_ISCHR(st_mode) or stat.S_ISBLK(st_mode)
            if (uid, gid) == (0, 0) and not device and self.record.get(rel) is None:
                # the side record's default for a file of ours (no lower entry to override)
                self.result.written.append(rel)
                return
            self.record.set(
                rel,
                OwnershipEntry(
                    uid,
                    gid,
                    st_mode if device else None,
                    (os.major(rdev), os.minor(rdev)) if device and rdev is not None else None,
                ),
            )
        else:
            os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
        self.result.written.append(rel)

    def _own_dir(
        self,
        rel: str,
        mode: int,
        times: tuple[int, int] | None,
        owner: tuple[int, int] | None = None,
    ) -> None:
        parent, name = split_parent(rel)
        pfd, _ = self.tree.open_dir(parent)
        self._own(pfd, name, rel, stat.S_IFDIR | mode, owner=owner)
        self._dir_mode(pfd, name, rel, mode)
        if times is not None:
            self.dir_times[rel] = times

    def _dir_mode(self, pfd: int, name: str, rel: str, mode: int) -> None:
        if self.meta.rootless and mode & 0o700 != 0o700:
            os.chmod(name, mode | 0o700, dir_fd=pfd, follow_symlinks=False)
            self.tree.defer_mode(rel, mode)
        else:
            os.chmod(name, mode, dir_fd=pfd, follow_symlinks=False)
        self.tree.changed(rel)

    # -- entries --------------------------------------------------------------------------------

    def _note(self, rel: str, kind: bytes, data: bytes = b"") -> None:
        self.hasher.update(rel.encode("utf-8", "surrogateescape") + b"\0" + kind + b"\0" + data)

    def _clear(self, pfd: int, name: str, rel: str, keep_dir: bool) -> bool:
        """Remove what is at ``name`` unless it is a directory and ``keep_dir``; True if a
        directory was kept."""
        try:
            st = os.lstat(name, dir_fd=pfd)
        except FileNotFoundError:
            return False
        if keep_dir and stat.S_ISDIR(st.st_mode):
            return True
        self.tree.forget(rel)
        remove_at(pfd, name, force_writable=self.meta.rootless)
        self.record.drop_subtree(rel)
        return False

    def directory(self, rel: str, st: os.stat_result | None, source: Path | None = None) -> None:
        """Make directory ``rel`` (canonical); ``st`` of its host ``source``, None for a plain
        target."""
        parent, name = split_parent(rel)
        pfd, _ = self.tree.open_dir(parent, create=True)
        if not self._clear(pfd, name, rel, keep_dir=True):
            os.mkdir(name, 0o700, dir_fd=pfd)
        mode, times = PARENT_MODE, None
        if st is not None:  # a copied directory: its mode (or --chmod) and times
            mode = stat.S_IMODE(st.st_mode) if self.meta.chmod is None else self.meta.chmod
            times = (st.st_atime_ns, st.st_mtime_ns)
        self._own_dir(rel, mode, times, self.owner_of(source))
        self.result.dirs += 1
        self._note(rel, b"d")

    def entry(self, source: Path | str, st: os.stat_result, rel: str) -> None:
        """Copy one non-directory ``source`` to ``rel`` (canonical parent)."""
        self.tree.trim()
        parent, name = split_parent(rel)
        pfd, pcanon = self.tree.open_dir(parent, create=True)
        if not stat.S_ISREG(st.st_mode) or st.st_nlink > 1:
            self._clear(pfd, name, rel, keep_dir=False)  # a new regular file clears on EEXIST
        mode = stat.S_IMODE(st.st_mode)
        if self.meta.chmod is not None and not stat.S_ISLNK(st.st_mode):
            mode = self.meta.chmod
        times = (st.st_atime_ns, st.st_mtime_ns)
        owner = self.owner_of(source)
        if stat.S_ISREG(st.st_mode):
            if st.st_nlink > 1 and (st.st_dev, st.st_ino) in self.links:
                first = self.links[(st.st_dev, st.st_ino)]
                fparent, fname = split_parent(first)
                ffd, _ = self.tree.open_dir(fparent)
                os.link(fname, name, src_dir_fd=ffd, dst_dir_fd=pfd, follow_symlinks=False)
                self.result.links += 1
                self._note(rel, b"h", first.encode())
                if self.meta.rootless:
                    self.record.set(rel, self.record.get(first) or OwnershipEntry(0, 0))
                return
            self._file(source, (pfd, pcanon), name, rel, mode, times, owner)
            if st.st_nlink > 1:
                self.links[(st.st_dev, st.st_ino)] = rel
            return
        if stat.S_ISLNK(st.st_mode):
            target = os.readlink(source)
            os.symlink(target, name, dir_fd=pfd)
            self._own(pfd, name, rel, st.st_mode, owner=owner)
            os.utime(name, ns=times, dir_fd=pfd, follow_symlinks=False)
            self.result.links += 1
            self._note(rel, b"l", os.fsencode(target))
            return
        if stat.S_ISFIFO(st.st_mode):
            os.mkfifo(name, 0o600, dir_fd=pfd)
            self._finish_special(pfd, name, rel, stat.S_IFIFO | mode, times, None, owner)
            self._note(rel, b"p")
            return
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            kind = stat.S_IFMT(st.st_mode)
            if self.meta.rootless:
                os.close(os.open(name, _NEW_FILE, 0o600, dir_fd=pfd))
            else:
                os.mknod(name, kind | 0o600, st.st_rdev, dir_fd=pfd)
            self._finish_special(pfd, name, rel, kind | mode, times, st.st_rdev, owner)
            self._note(rel, b"c", f"{st.st_rdev}".encode())
            return
        # sockets and other kinds are skipped, as buildah skips them

    def _finish_special(
        self,
        pfd: int,
        name: str,
        rel: str,
        full_mode: int,
        times: tuple[int, int],
        rdev: int | None = None,
        owner: tuple[int, int] | None = None,
    ) -> None:
        self._own(pfd, name, rel, full_mode, rdev, owner)
        os.chmod(name, stat.S_IMODE(full_mode), dir_fd=pfd, follow_symlinks=False)
        os.utime(name, ns=times, dir_fd=pfd, follow_symlinks=False)
        self.result.files += 1

    def _file(
        self,
        source: Path | str,
        parent: tuple[int, str],
        name: str,
        rel: str,
        mode: int,
        times: tuple[int, int],
        owner: tuple[int, int],
    ) -> None:
        """Copy a regular file into directory ``parent`` (its handle and canonical path).

        A file without setuid, setgid or sticky bits is created with its mode, and a chmod
        follows only when the umask took bits away; a chown only when the owner a new file
        gets (the caller, the directory's group) is not the one asked for. Special bits are
        set by a chmod after the chown, which would clear them. Whatever is at ``name``
        already (a link is never followed) is removed when the exclusive create meets it.
        """
        pfd, pcanon = parent
        plain = not mode & 0o7000
        digest = hashlib.sha256()
        src = os.open(source, _READ)
        try:
            try:
                dst = os.open(name, _NEW_FILE, mode if plain else 0o600, dir_fd=pfd)
            except FileExistsError:
                self._clear(pfd, name, rel, keep_dir=False)
                dst = os.open(name, _NEW_FILE, mode if plain else 0o600, dir_fd=pfd)
            try:
                while chunk := os.read(src, _CHUNK):
                    digest.update(chunk)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(dst, view) :]
                    self.result.bytes += len(chunk)
                if not self.meta.rootless and (
                    owner[0] != self.euid or self.tree.creation_gid(pcanon, pfd) != owner[1]
                ):
                    os.fchown(dst, *owner)
                if not plain or mode & self.umask:
                    os.fchmod(dst, mode)
                os.utime(dst, ns=times)
            finally:
                os.close(dst)
        finally:
            os.close(src)
        if self.meta.rootless:
            self._own(pfd, name, rel, stat.S_IFREG | mode, owner=owner)
        else:
            self.result.written.append(rel)
        self.result.files += 1
        self._note(rel, b"f", digest.digest())
        self.last_file_digest = digest.hexdigest()

    def tree_copy(self, source: Path, rel: str) -> None:
        """Copy the contents of host directory ``source`` into directory ``rel``."""
        with os.scandir(source) as entries:
            children = sorted(entries, key=lambda e: e.name)
        for child in children:
            child_rel = f"{rel}/{child.name}" if rel else child.name
            st = child.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode):
                self.directory(child_rel, st, Path(child.path))
                self.tree_copy(Path(child.path), child_rel)
            else:
                self.entry(child.path, st, child_rel)


def _target(root: Path, dest: str, workdir: str) -> tuple[str, bool]:
    """The destination inside the rootfs ``root``, its links followed inside it (the last
    component too, as BuildKit's ``fs.RootPath``), and whether it was written as a directory.

    The result is a path computation; the writes that follow go through :class:`RootDir`,
    which resolves every component inside the root again."""
    text = dest if dest.startswith("/") else f"{workdir.rstrip('/')}/{dest}"
    as_dir = dest.endswith(("/", "/.")) or dest in ("", ".")
    rel = clean_entry_name(text, allow_root=True)
    if rel:
        resolved = resolve_in_root(root, rel, follow_last=True)
        rel = resolved.relative_to(root).as_posix() if resolved != root else ""
    return rel, as_dir


def _existing_dir(tree: RootDir, rel: str) -> str | None:
    """The canonical path of ``rel`` when it is a directory in the rootfs (links followed
    inside the root), else None."""
    try:
        _, canon = tree.open_dir(rel)
    except (FileNotFoundError, NotADirectoryError, LayerError):
        return None
    return canon


def copy_into(
    root: Path,
    record: OwnershipRecord,
    sources: Sequence[Path],
    dest: str,
    *,
    workdir: str = "/",
    owner: tuple[int, int] = (0, 0),
    chmod: int | None = None,
    contents_only: bool = True,
    rootless: bool | None = None,
    source_root: SourceRoot | None = None,
) -> CopyResult:
    """Copy host ``sources`` to ``dest`` inside the rootfs ``root`` (module docstring rules).

    ``record`` is the container's side record (updated in place; the caller saves it).
    ``rootless`` defaults to :func:`~boxwright.layer.ownership.owners_in_side_record`
    (not root, or root of a single-ID user namespace). ``source_root``: the root the sources
    are in (links at the top followed inside it, owners kept from it when it says so).
    """
    meta = _Meta(
        owner, chmod, owners_in_side_record() if rootless is None else rootless, source_root
    )
    rel, as_dir = _target(root, dest, workdir)
    copier = _Copier(root, record, meta)
    try:
        existing = _existing_dir(copier.tree, rel)
        into = as_dir or existing is not None
        if len(sources) > 1 and not into:
            raise UsageError(
                f"copying {len(sources)} sources needs a directory destination: "
                f"end {dest!r} with '/' or create it first"
            )
        if existing is None and into:
            copier.directory(rel, None)
            existing = _existing_dir(copier.tree, rel)
        for source in sources:
            _copy_one(copier, source, rel, existing, contents_only)
        kind = "multi"
        if len(sources) == 1:
            top = source_root.follow(sources[0]) if source_root else sources[0]
            kind = "dir" if os.path.isdir(top) else "file"
        if kind == "file" and copier.last_file_digest:
            copier.result.digest = f"file:{copier.last_file_digest}"
        else:
            copier.result.digest = f"{kind}:{copier.hasher.hexdigest()}"
    finally:
        copier.close()
    return copier.result


def _copy_one(
    copier: _Copier, source: Path, rel: str, existing: str | None, contents_only: bool
) -> None:
    """Copy one host ``source`` to ``rel`` (``existing``: the directory it names, if any)."""
    sources = copier.meta.sources  # a top-level link is followed (inside the source root)
    real = sources.follow(source) if sources is not None else Path(os.path.realpath(source))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise UsageError(f"source {source.name!r} is a symlink to nothing") from None
    if stat.S_ISDIR(st.st_mode):
        if contents_only and existing is not None:
            target = existing
        elif contents_only:
            copier.directory(rel, None)
            target = _existing_dir(copier.tree, rel) or rel
        else:
            target = f"{existing}/{source.name}".lstrip("/") if existing is not None else rel
            copier.directory(target, st, real)
        copier.tree_copy(real, target)
    else:
        target = f"{existing}/{source.name}".lstrip("/") if existing is not None else rel
        if not target:
            raise UsageError(f"cannot replace the root directory with {source}")
        copier.entry(real, st, target)


# -- archives -------------------------------------------------------------------------------

_OTHER_ARCHIVE_MAGIC = (
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bzip2"),
)
"""Compressions ``ADD`` extracts beyond the layer codecs (gzip and zstd, recognised by
:func:`~boxwright.layer.compression.detect_compression`, skippable zstd frames included)."""


def open_decompressed(path: Path) -> tuple[IO[bytes], str]:
    """The uncompressed bytes of ``path`` and the compression name (``none`` when plain):
    gzip, zstd, xz and bzip2 are recognised by their content, as ``ADD`` and a tarball build
    context take them."""
    raw = path.open("rb")
    head = raw.read(PEEK_SIZE)
    raw.seek(0)
    for magic, name in _OTHER_ARCHIVE_MAGIC:
        if head.startswith(magic):
            if name == "xz":
                return lzma.open(raw, "rb"), name
            return bz2.open(raw, "rb"), name
    name = detect_compression(head)
    if name == "none":
        return raw, name
    return decompress(raw, name, threaded=False), name


def is_archive(path: Path) -> bool:
    """Whether ``path`` is a (possibly compressed) tar archive that ``add`` extracts."""
    if not path.is_file():
        return False
    try:
        stream, _ = open_decompressed(path)
        with stream:
            block = stream.read(512)
        return block != bytes(512) and is_tar_start(block)
    except (OSError, EOFError, BoxwrightError, ValueError, lzma.LZMAError):
        return False


def extract_archive(
    root: Path,
    record: OwnershipRecord,
    archive: Path,
    dest: str,
    *,
    workdir: str = "/",
    rootless: bool | None = None,
) -> list[str]:
    """Extract ``archive`` into directory ``dest`` of the rootfs; return the paths written.

    The destination is created when missing (owned by 0:0, mode 0755); the tar is applied
    with :func:`~boxwright.layer.apply.apply_layer` (contained names, links, whiteouts,
    owners kept). Rootless, the side record gets an explicit entry for every written path.
    """
    rootless = owners_in_side_record() if rootless is None else rootless
    rel, _ = _target(root, dest if dest.endswith("/") else dest + "/", workdir)
    copier = _Copier(root, record, _Meta((0, 0), None, rootless))
    try:
        canon = _existing_dir(copier.tree, rel)
        if canon is None:
            copier.directory(rel, None)
            canon = _existing_dir(copier.tree, rel) or rel
    finally:
        copier.close()
    local = OwnershipRecord()
    stream, _ = open_decompressed(archive)
    with stream:
        result = apply_layer(
            root.joinpath(*canon.split("/")) if canon else root,
            stream,
            ApplyOptions(rootless=rootless, ownership=local),
        )
    prefix = f"{canon}/" if canon else ""
    written = sorted(result.written)
    if rootless:
        for path in written:
            record.set(prefix + path, local.get(path) or OwnershipEntry(0, 0))
    return [prefix + p for p in written]


# -- downloads ------------------------------------------------------------------------------


def download(
    url: str,
    directory: Path,
    *,
    checksum: str | None = None,
    progress: Callable[[int], None] | None = None,
    limit: int | None = None,
) -> tuple[Path, str, int | None]:
    """Fetch ``url`` into a new file under ``directory``; return (path, file name, mtime).

    The file name is the last path component of the URL (``index.html`` when there is
    none); the mtime comes from ``Last-Modified`` when the server sends it. With
    ``checksum`` (``sha256:<hex>``) the content is verified while it is written and a
    mismatch raises :class:`~boxwright.errors.DigestMismatchError`, leaving no file. With
    ``limit``, a body longer than ``limit`` bytes (by its ``Content-Length`` or as it
    arrives) raises :class:`~boxwright.errors.TransportError`, leaving no file.
    """

    expected = Digest.parse(checksum) if checksum else None
    name = unquote(urlparse(url).path.rstrip("/").rsplit("/", 1)[-1]) or "index.html"
    fd, tmp = tempfile.mkstemp(prefix=".download-", dir=directory)
    path = Path(tmp)
    hasher = hashlib.new(expected.algorithm if expected else "sha256")
    from boxwright.build.urlfetch import fetch  # urllib3 and the proxy rules: only for a URL

    try:
        with os.fdopen(fd, "wb") as out:
            mtime = fetch(url, out, hasher, progress, limit)
            out.flush()
            os.fsync(out.fileno())
        if expected is not None and hasher.hexdigest() != expected.encoded:
            raise DigestMismatchError(
                f"{url} has digest {expected.algorithm}:{hasher.hexdigest()}, "
                f"not the expected {expected}"
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, name, mtime


__all__ = [
    "CopyResult",
    "copy_into",
    "download",
    "expand_sources",
    "extract_archive",
    "is_archive",
    "open_decompressed",
    "parse_chmod",
    "resolve_owner",
]
