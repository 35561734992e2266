"""Deterministic tar writing: the same entries always give the same bytes.

Layers are content addressed, so a layer of the same tree must hash the same every time.
:class:`TarWriter` writes PAX-format entries with normalized headers:

- entries in byte order of their path (a parent always precedes its children); the writer
  refuses an entry that is out of order or repeated;
- ``uname``/``gname`` empty, no ``atime``/``ctime`` records, integer ``mtime`` clamped to
  ``clamp_mtime`` when one is given (``min(mtime, clamp)``), device numbers 0 except for
  devices, directory names ending in ``/``;
- extended attributes as ``SCHILY.xattr.NAME`` PAX records in sorted order; names or values
  that are not UTF-8 go out byte for byte, paths too;
- the archive ends with two zero blocks and no padding to a 10 KiB record.

Headers are encoded here (:func:`encode_header`, ustar blocks plus a PAX extended header when a
field does not fit) rather than by :mod:`tarfile`: the bytes must not change with the Python
version (``tarfile`` changed how it fills the device fields in 3.11), and this is about four
times faster. Content is copied from an open file descriptor in large chunks (never a whole
big file in memory) through one write buffer, so thousands of small files cost few ``write``
calls.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import IO

from boxwright.errors import LayerError
from boxwright.layer.tarread import (
    BLOCK,
    BLOCKDEV,
    CHARDEV,
    DIRECTORY,
    FIFO,
    HARDLINK,
    OPAQUE_WHITEOUT,
    REGULAR,
    SYMLINK,
    WHITEOUT_PREFIX,
)
from boxwright.oci.digest import CHUNK

_ZEROS = bytes(BLOCK)
_NAME_MAX = 100
_MAX_ID = 8**7  # uid, gid, mode, device numbers: 7 octal digits
_MAX_BIG = 8**11  # size, mtime: 11 octal digits
_PAX_NAME = b"././@PaxHeader"
_PAX_TYPE = b"x"


def _ustar(
    name: bytes,
    typeflag: bytes,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    linkname: bytes,
    devmajor: int,
    devminor: int,
) -> bytes:
    """One 512-byte ustar header block (numbers octal, empty uname/gname, no prefix)."""
    block = b"".join(
        (
            name.ljust(_NAME_MAX, b"\0"),
            b"%07o\0%07o\0%07o\0%011o\0%011o\0        " % (mode, uid, gid, size, mtime),
            typeflag,
            linkname.ljust(_NAME_MAX, b"\0"),
            b"ustar\x0000",
            bytes(64),  # uname, gname
            b"%07o\0%07o\0" % (devmajor, devminor),
            bytes(167),  # prefix and padding
        )
    )
    return b"%s%06o\0 %s" % (block[:148], sum(block), block[156:])


def _pax_record(keyword: bytes, value: bytes) -> bytes:
    """``LEN KEY=VALUE\\n`` where LEN counts the whole record, its own digits included."""
    body = len(keyword) + len(value) + 3
    length = body + len(str(body))
    if len(str(length)) != len(str(body)):
        length = body + len(str(length))
    return b"%d %s=%s\n" % (length, keyword, value)


def encode_header(header: TarHeader, mtime: int) -> bytes:
    """The bytes of one entry's header: a PAX extended header if needed, then the ustar block.

    A PAX record carries what ustar cannot: a path or link target longer than 100 bytes or
    not ASCII, ids, sizes or mtimes out of octal range (or negative mtimes), and xattrs
    (``SCHILY.xattr.NAME``). Records are in sorted keyword order. Names and values that are
    not UTF-8 (``surrogateescape`` names from a non-UTF-8 host, binary xattrs) are written
    byte for byte, as GNU tar and Go's archive/tar do and read back; no ``hdrcharset`` record
    is added (GNU tar warns about it, and Python's tarfile reads the raw bytes back with
    ``surrogateescape`` without it).
    """
    typeflag = header.type
    name = os.fsencode(header.name)
    if typeflag == DIRECTORY:
        name += b"/"
    linkname = os.fsencode(header.linkname)
    size = header.size if typeflag == REGULAR else 0
    uid, gid = header.uid, header.gid
    device = typeflag in (CHARDEV, BLOCKDEV)
    devmajor = header.devmajor if device else 0
    devminor = header.devminor if device else 0
    if uid < 0 or gid < 0 or size < 0:
        raise LayerError(f"invalid tar header for {header.name!r}: negative uid, gid or size")
    if not (0 <= devmajor < _MAX_ID and 0 <= devminor < _MAX_ID):
        raise LayerError(f"device numbers of {header.name!r} do not fit in a tar header")
    records: dict[bytes, bytes] = {}
    if len(name) > _NAME_MAX or not name.isascii():
        records[b"path"] = name
        name = name.decode("ascii", "replace").encode("ascii", "replace")[:_NAME_MAX]
    if len(linkname) > _NAME_MAX or not linkname.isascii():
        records[b"linkpath"] = linkname
        linkname = linkname.decode("ascii", "replace").encode("ascii", "replace")[:_NAME_MAX]
    if uid >= _MAX_ID:
        records[b"uid"] = b"%d" % uid
        uid = 0
    if gid >= _MAX_ID:
        records[b"gid"] = b"%d" % gid
        gid = 0
    if size >= _MAX_BIG:
        records[b"size"] = b"%d" % size
    if not 0 <= mtime < _MAX_BIG:
        records[b"mtime"] = b"%d" % mtime
        mtime = 0
    for attr, value in header.xattrs.items():
        records[b"SCHILY.xattr." + os.fsencode(attr)] = value
    block = _ustar(
        name,
        typeflag,
        header.mode & 0o7777,
        uid,
        gid,
        size if size < _MAX_BIG else 0,
        mtime,
        linkname,
        devmajor,
        devminor,
    )
    return _pax_header(records) + block if records else block


def _pax_header(records: dict[bytes, bytes]) -> bytes:
    """A PAX extended header carrying ``records`` in sorted keyword order, padded to a block."""
    payload = b"".join(_pax_record(key, records[key]) for key in sorted(records))
    pax = _ustar(_PAX_NAME, _PAX_TYPE, 0, 0, 0, len(payload), 0, b"", 0, 0)
    return pax + payload + _ZEROS[: -len(payload) % BLOCK]


@dataclass(slots=True)
class TarHeader:
    """One entry as it will be written (before normalization of ``mtime``).

    ``name`` is the relative path without a trailing ``/`` (the writer adds it to
    directories). ``mode`` holds the permission bits incl. setuid/setgid/sticky; type bits,
    if present, are dropped. ``xattrs`` maps attribute names to raw values.
    """

    name: str
    type: bytes = REGULAR
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    mtime: int = 0
    size: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)


class TarWriter:
    """Write a deterministic tar stream to ``out`` (see the module docstring for the rules).

    Call :meth:`add` (or :meth:`add_file` for regular files with content) in sorted order, then
    :meth:`close`, which writes the end-of-archive blocks and flushes (it does not close
    ``out``). ``entries`` and ``bytes_written`` count what was written.
    """

    def __init__(self, out: IO[bytes], *, clamp_mtime: int | None = None) -> None:
        self._out = out
        self._clamp = clamp_mtime
        self._buffer = bytearray()
        self._last: bytes | None = None
        self._closed = False
        self.entries = 0
        self.bytes_written = 0

    def add(self, header: TarHeader) -> None:
        """Write an entry without content (directory, link, device, fifo, empty file)."""
        if header.type == REGULAR and header.size:
            raise LayerError(f"tar entry {header.name!r}: regular file content needs add_file")
        self._emit(self._header_bytes(header))

    def add_file(self, header: TarHeader, fd: int) -> None:
        """Write a regular file entry with exactly ``header.size`` bytes read from ``fd``.

        Raises :class:`LayerError` when the file is shorter than its header says (it changed
        while the layer was written).
        """
        self._emit(self._header_bytes(header))
        size = header.size
        left = size
        while left:
            chunk = os.read(fd, min(left, CHUNK))
            if not chunk:
                raise LayerError(
                    f"{header.name} shrank from {size} to {size - left} bytes while the layer "
                    "was written; retry when nothing modifies the tree"
                )
            left -= len(chunk)
            self._emit(chunk)
        pad = -size % BLOCK
        if pad:
            self._emit(_ZEROS[:pad])

    def add_whiteout(self, path: str) -> None:
        """Write the whiteout ``DIR/.wh.NAME`` that deletes ``path`` from lower layers."""
        self.add(TarHeader(whiteout_name(path), REGULAR, mode=0))

    def close(self) -> None:
        """End the archive (two zero blocks) and flush; ``out`` stays open."""
        if self._closed:
            return
        self._buffer += _ZEROS + _ZEROS
        self._flush()
        self._out.flush()
        self._closed = True

    def _header_bytes(self, header: TarHeader) -> bytes:
        if self._closed:
            raise LayerError("tar writer is closed")
        name = header.name
        if not name or name.startswith("/") or name.endswith("/"):
            raise LayerError(f"invalid tar entry name {name!r}: want a relative path")
        key = os.fsencode(name)
        if self._last is not None and key <= self._last:
            raise LayerError(
                f"tar entry {name!r} is out of order or repeated: entries must be sorted"
            )
        self._last = key
        mtime = header.mtime
        if self._clamp is not None and mtime > self._clamp:
            mtime = self._clamp
        self.entries += 1
        return encode_header(header, mtime)

    def _emit(self, data: bytes) -> None:
        if len(data) >= CHUNK:
            # A big chunk of content goes out as is, after what is buffered before it.
            self._flush()
            self._out.write(data)
            self.bytes_written += len(data)
            return
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            self._out.write(self._buffer)
            self.bytes_written += len(self._buffer)
            self._buffer = bytearray()


def whiteout_name(path: str) -> str:
    """The name of the whiteout entry that deletes ``path``: ``DIR/.wh.NAME``."""
    parent, _, base = path.rpartition("/")
    return f"{parent}/{WHITEOUT_PREFIX}{base}" if parent else WHITEOUT_PREFIX + base


__all__ = [
    "BLOCKDEV",
    "CHARDEV",
    "DIRECTORY",
    "FIFO",
    "HARDLINK",
    "OPAQUE_WHITEOUT",
    "REGULAR",
    "SYMLINK",
    "WHITEOUT_PREFIX",
    "TarHeader",
    "TarWriter",
    "encode_header",
    "whiteout_name",
]
