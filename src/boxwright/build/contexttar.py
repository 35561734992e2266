"""A build context from a tar archive (a downloaded tarball, or a tar on standard input).

:func:`unpack_context` takes a file holding the archive, plain or compressed with gzip, zstd,
xz or bzip2 (recognised by its content, not its name), and writes its files under an empty
directory. A build context is files, so the archive is held to what a context can be:

* regular files, directories, symbolic links and hard links only; a device, a FIFO or any
  other entry type is refused (:class:`~boxwright.errors.BuildContextError`);
* every name is resolved inside the directory: a name that climbs out of it (``../x``) or is
  absolute (``/x``) is refused (:class:`~boxwright.errors.UnsafePathError`), and every write
  goes through directory handles opened ``O_NOFOLLOW`` (:class:`~boxwright.layer.pathsafe.
  RootDir`), so a symbolic link the archive made earlier is resolved inside the directory,
  never on the host; a hard link must name a regular file the archive wrote before it;
* a symbolic link is written as the link it is, whatever it points to: COPY resolves it
  inside the context later, as it does for a local directory;
* owners are not kept (the files belong to the user running the build; COPY makes context
  files 0:0 anyway); modes keep their permission bits, files and links keep their mtimes;
* the uncompressed archive, headers included, may be at most ``limit`` bytes (so its entry
  count is bounded too); a stream cut short, in the archive or in its compression, is an
  error (:class:`~boxwright.errors.LayerError`), never a partial context.

:func:`is_archive` says whether a file holds such an archive: a compressed file is one (a
damaged one fails as it is unpacked), an uncompressed one when it starts with a tar header;
anything else that a download or standard input holds is a lone Containerfile, as docker and
podman take it.
"""

from __future__ import annotations

import lzma
import os
import posixpath
import stat
from pathlib import Path
from typing import IO

from boxwright.build.files import open_decompressed
from boxwright.errors import BuildContextError, LayerError, UnsafePathError
from boxwright.layer.compression import PEEK_SIZE, detect_compression, is_tar_start
from boxwright.layer.pathsafe import NEW_FILE_FLAGS, RootDir, clean_entry_name, remove_at
from boxwright.layer.tarread import (
    BLOCK,
    DIRECTORY,
    HARDLINK,
    REGULAR,
    SYMLINK,
    TarEntry,
    TarReader,
)
from boxwright.oci.readers import WrappedReader

_OTHER_COMPRESSIONS = (b"\xfd7zXZ\x00", b"BZh")  # xz, bzip2
_KINDS = {b"3": "a character device", b"4": "a block device", b"6": "a FIFO"}


class _Bounded(WrappedReader):
    """A reader that refuses to pass more than ``limit`` bytes (the uncompressed archive)."""

    def __init__(self, stream: IO[bytes], limit: int, what: str) -> None:
        self._stream = stream
        self._limit = limit
        self._what = what
        self._count = 0

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes of the stream."""
        try:
            data = self._stream.read(n)
        except (EOFError, lzma.LZMAError, OSError) as error:
            raise LayerError(f"{self._what}: the compressed stream is damaged ({error})") from None
        self._count += len(data)
        if self._count > self._limit:
            raise BuildContextError(
                f"{self._what}: the archive is larger than the limit of {self._limit} bytes"
            )
        return data


def is_archive(path: Path) -> bool:
    """Whether ``path`` holds an archive to unpack: compressed (gzip, zstd, xz, bzip2: what
    it holds is checked as it is unpacked) or a plain tar."""
    with open(path, "rb") as stream:
        head = stream.read(PEEK_SIZE)
    if head.startswith(_OTHER_COMPRESSIONS) or detect_compression(head) != "none":
        return True
    return len(head) >= BLOCK and head[:BLOCK] != bytes(BLOCK) and is_tar_start(head[:BLOCK])


def unpack_context(archive: Path, root: Path, limit: int, what: str) -> None:
    """Write the files of the tar ``archive`` under the empty directory ``root`` (module
    docstring); ``what`` names the archive in messages."""
    try:
        stream, _ = open_decompressed(archive)
        with stream:
            reader = TarReader(_Bounded(stream, limit, what))
            with RootDir(root) as tree:
                while (entry := reader.next()) is not None:
                    try:
                        _write(tree, reader, entry, what)
                    except OSError as error:
                        raise BuildContextError(
                            f"{what}: cannot write the entry {entry.name!r}: {error.strerror}"
                        ) from None
                reader.drain()  # to the end of the stream: a codec checks its end there
                tree.restore_modes()
    except LayerError as error:
        if str(error).startswith(f"{what}: "):
            raise
        raise type(error)(f"{what}: {error}") from None


def _name(name: str, what: str) -> str:
    """The entry's path inside the context; one that leaves it is refused."""
    if name.startswith("/") or ".." in posixpath.normpath(name).split("/"):
        raise UnsafePathError(f"{what}: the entry {name!r} leaves the build context")
    return clean_entry_name(name, allow_root=True)


def _write(tree: RootDir, reader: TarReader, entry: TarEntry, what: str) -> None:
    rel = _name(entry.name, what)
    kind = entry.type
    mode = stat.S_IMODE(entry.mode)
    if kind == DIRECTORY:
        fd, canon = tree.open_dir(rel, create=True)
        os.chmod(fd, mode | 0o700)  # writable until the end, then its own mode
        tree.defer_mode(canon, mode)
        return
    if not rel:
        raise UnsafePathError(f"{what}: the entry {entry.name!r} would replace the context")
    if kind not in (REGULAR, SYMLINK, HARDLINK):
        described = _KINDS.get(kind, f"of type {kind!r}")
        raise BuildContextError(
            f"{what}: the entry {entry.name!r} is {described}; a build context holds only "
            "files, directories and links"
        )
    parent, _, name = rel.rpartition("/")
    dir_fd, canon = tree.open_dir(parent, create=True)
    if remove_at(dir_fd, name):
        tree.forget(f"{canon}/{name}" if canon else name)
    if kind == SYMLINK:
        os.symlink(entry.linkname, name, dir_fd=dir_fd)
        os.utime(name, ns=(entry.mtime_ns, entry.mtime_ns), dir_fd=dir_fd, follow_symlinks=False)
    elif kind == HARDLINK:
        _hardlink(tree, dir_fd, name, entry, what)
    else:
        fd = os.open(name, NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd)
        try:
            reader.copy_to(fd)
            os.fchmod(fd, mode)
            os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
        finally:
            os.close(fd)


def _hardlink(tree: RootDir, dir_fd: int, name: str, entry: TarEntry, what: str) -> None:
    """Link ``name`` to the regular file the entry's link name gives, inside the context."""
    target = _name(entry.linkname, what)
    parent, _, base = target.rpartition("/")
    try:
        source_fd, _ = tree.open_dir(parent)
        st = os.lstat(base, dir_fd=source_fd)
    except (FileNotFoundError, NotADirectoryError, LayerError):
        st = None
    if st is None or not stat.S_ISREG(st.st_mode):
        raise BuildContextError(
            f"{what}: the hard link {entry.name!r} names {entry.linkname!r}, which is not a "
            "file the archive holds before it"
        )
    os.link(base, name, src_dir_fd=source_fd, dst_dir_fd=dir_fd, follow_symlinks=False)


__all__ = ["is_archive", "unpack_context"]
