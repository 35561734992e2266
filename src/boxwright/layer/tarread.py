"""A small, strict tar reader for applying layers: one header at a time, straight from chunks.

:mod:`tarfile` is general and slow on the hot path of ``unpack`` (a dozen Python calls per
header field). Layers need much less: ustar headers with the GNU and PAX extensions that
image builders write. This reader parses a header with one :mod:`struct` call, takes file
content as memoryview slices of the large chunks it reads (no copy before ``os.write``) and
is strict where :mod:`tarfile` in stream mode is lax, as Go's ``archive/tar`` (umoci) is:

* ustar, GNU and PAX headers; PAX ``x`` records (``path``, ``linkpath``, ``size``, ``uid``,
  ``gid``, ``mtime``, ``atime``, ``SCHILY.xattr.*``) and global ``g`` records (which apply to
  every later entry, as :mod:`tarfile` does); GNU long names and link names (``L``/``K``);
  base-256 numbers; the ustar ``prefix`` field (POSIX magic only: GNU keeps times there).
* The header checksum is checked (unsigned sum, or the signed sum old tars wrote).
* The archive ends at an all-zero block, or at a clean end of the stream between entries.
  A stream that stops inside a header or inside an entry's content, a bad checksum, a bad
  number, a malformed PAX record, an extended header larger than 1 MiB, a negative size or
  id, and GNU sparse entries raise :class:`~boxwright.errors.LayerError` naming the entry
  or the offset. Unknown entry types are returned as they are (their content skipped) for
  the caller to refuse by name.

Names and link targets are decoded as UTF-8 with ``surrogateescape`` (so any byte survives);
xattr values stay bytes.
"""

from __future__ import annotations

import contextlib
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from boxwright.errors import LayerError
from boxwright.oci.readers import Reader

BLOCK: Final = 512
#: How much is read at a time (a threaded LayerReader hands out chunks of this size).
READ_SIZE: Final = 4 << 20
#: Largest PAX or GNU long-name payload accepted (Go's archive/tar uses the same bound).
MAX_SPECIAL_SIZE: Final = 1 << 20

REGULAR: Final = b"0"
HARDLINK: Final = b"1"
SYMLINK: Final = b"2"
CHARDEV: Final = b"3"
BLOCKDEV: Final = b"4"
DIRECTORY: Final = b"5"
FIFO: Final = b"6"
#: An OCI whiteout: ``DIR/.wh.NAME`` deletes ``NAME`` from the layers below.
WHITEOUT_PREFIX: Final = ".wh."
#: The opaque marker: ``DIR/.wh..wh..opq`` hides everything the layers below had in ``DIR``.
OPAQUE_WHITEOUT: Final = ".wh..wh..opq"
#: Types whose header carries no content, whatever its size field says.
_HEADER_ONLY: Final = frozenset((HARDLINK, SYMLINK, CHARDEV, BLOCKDEV, DIRECTORY, FIFO))
_REGULAR_ALIASES: Final = frozenset((REGULAR, b"\x00", b"7"))  # 7: contiguous file
_PAX_TYPES: Final = frozenset((b"x", b"g", b"X"))  # X: Solaris' name for x
_EXTENDED_TYPES: Final = _PAX_TYPES | {b"L", b"K"}  # headers that describe the next entry
_ZERO_BLOCK: Final = bytes(BLOCK)
_POSIX_MAGIC: Final = b"ustar\x00"
_XATTR_PREFIX: Final = "SCHILY.xattr."

# name mode uid gid size mtime chksum type linkname magic version uname gname
# devmajor devminor prefix (padding)
_HEADER: Final = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s12x")
_CHKSUM_SPACES: Final = 8 * 0x20
_TERMINATORS: Final = (0, 0x20)  # NUL, space


def _short(name: str) -> str:
    return repr(name if len(name) <= 120 else name[:100] + "...")


def _place(where: str | int) -> str:
    """Where a problem is, for a message: an entry's description or a stream offset."""
    return where if isinstance(where, str) else f"the header at offset {where}"


def _number(field: bytes, what: str, where: str | int) -> int:
    """A numeric header field: octal text (NUL or space terminated) or base-256."""
    if field and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:  # negative base-256 (two's complement)
            value -= 1 << (8 * (len(field) - 1))
        elif field[0] != 0x80:
            value |= (field[0] & 0x7F) << (8 * (len(field) - 1))
        return value
    text = field.split(b"\x00", 1)[0].strip()
    if not text:
        return 0
    if text.isdigit():
        with contextlib.suppress(ValueError):
            return int(text, 8)
    raise LayerError(
        f"layer is not a valid tar stream: {_place(where)} has an invalid {what} field"
    )


def _unsigned_sum(block: bytes) -> int:
    """The sum of the bytes of a 512-byte block, as the tar checksum wants it.

    Adler-32's first half is ``1 + sum`` modulo 65521, computed in C; the sum is below
    65521 (so that value is exact) whenever at most 256 bytes are non-zero, which is the
    case for nearly every header. Otherwise the bytes are summed one by one.
    """
    if block.count(0) >= BLOCK - 256:
        return (zlib.adler32(block) & 0xFFFF) - 1
    return sum(block)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def parse_pax_time(text: str) -> int:
    """A PAX time (``"1700000000.123456789"``, maybe negative) in nanoseconds, exactly."""
    text = text.strip()
    negative = text.startswith("-")
    whole, _, frac = (text[1:] if text[:1] in ("+", "-") else text).partition(".")
    if not (whole or frac) or not (whole or "0").isdigit() or (frac and not frac.isdigit()):
        raise ValueError(f"invalid time {text!r}")
    value = int(whole or "0") * 1_000_000_000 + int((frac + "000000000")[:9])
    return -value if negative else value


def parse_pax_records(data: bytes, where: str) -> dict[str, bytes]:
    """The ``"LEN key=value\\n"`` records of a PAX extended header; values stay bytes."""
    records: dict[str, bytes] = {}
    pos = 0
    end = len(data)
    while pos < end:
        if data[pos] == 0:  # NUL padding after the last record
            break
        space = data.find(b" ", pos, min(end, pos + 20))
        length_text = data[pos:space] if space > pos else b""
        if not length_text.isdigit():
            raise LayerError(f"layer is not a valid tar stream: {where} has a bad PAX record")
        length = int(length_text)
        stop = pos + length
        if length <= space - pos + 1 or stop > end or data[stop - 1] != 0x0A:
            raise LayerError(f"layer is not a valid tar stream: {where} has a bad PAX record")
        key, eq, value = data[space + 1 : stop - 1].partition(b"=")
        if not eq or not key:
            raise LayerError(f"layer is not a valid tar stream: {where} has a bad PAX record")
        records[_decode(key)] = value
        pos = stop
    return records


@dataclass(slots=True, repr=False)
class TarEntry:
    """One tar entry as a layer needs it.

    ``type`` is one byte (``b"0"`` regular, ``b"1"`` hardlink, ``b"2"`` symlink, ``b"3"`` /
    ``b"4"`` character / block device, ``b"5"`` directory, ``b"6"`` fifo, or an unknown
    type as written); ``size`` is the content length (0 for header-only types); times are
    in nanoseconds (``atime_ns`` is ``mtime_ns`` unless a PAX ``atime`` says otherwise);
    ``xattrs`` holds the ``SCHILY.xattr.*`` records by attribute name.
    """

    name: str
    type: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    atime_ns: int
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] | None = None

    def __repr__(self) -> str:
        return f"TarEntry({self.name!r}, type={self.type!r}, size={self.size})"


class TarReader:
    """Reads entries from an uncompressed tar stream: :meth:`next`, then the content.

    After :meth:`next` returns a regular file, its content may be taken with
    :meth:`copy_to` (written to a file descriptor) or :meth:`read_content`; content not
    taken is skipped by the next call to :meth:`next`. :meth:`drain` reads the stream to
    its end (past the end-of-archive blocks), so a verifying stream sees EOF.
    """

    def __init__(self, stream: Reader, read_size: int = READ_SIZE) -> None:
        self._stream = stream
        self._read_size = read_size
        self._buf = b""
        self._view = memoryview(self._buf)
        self._pos = 0
        self._offset = 0  # stream offset of self._buf[0]
        self._left = 0  # content bytes of the current entry not yet consumed
        self._pad = 0  # padding after that content
        self._current = ""
        self._eof = False
        self._done = False
        self._globals: dict[str, bytes] = {}

    # -- buffer -------------------------------------------------------------------------------

    def _fill(self) -> bool:
        """Make unread bytes available; False at the end of the stream."""
        if self._eof:
            return False
        data = self._stream.read(self._read_size)
        if not data:
            self._eof = True
            return False
        self._offset += len(self._buf)
        self._buf = data
        self._view = memoryview(data)
        self._pos = 0
        return True

    def _take(self, size: int) -> bytes | None:
        """Exactly ``size`` bytes, or None at a clean end (no byte left); a partial read
        raises :class:`EOFError`."""
        pos = self._pos
        end = pos + size
        if end <= len(self._buf):
            self._pos = end
            return self._buf[pos:end]
        parts = [self._buf[pos:]]
        got = len(parts[0])
        self._pos = len(self._buf)
        while got < size:
            if not self._fill():
                if got == 0:
                    return None
                raise EOFError
            step = min(size - got, len(self._buf))
            parts.append(self._buf[:step])
            self._pos = step
            got += step
        return b"".join(parts)

    def _skip(self, size: int) -> bool:
        """Skip ``size`` bytes; False if the stream ended first."""
        while size:
            avail = len(self._buf) - self._pos
            if avail >= size:
                self._pos += size
                return True
            size -= avail
            self._pos = len(self._buf)
            if not self._fill():
                return False
        return True

    def _where(self) -> str:
        return _place(self._offset + self._pos)

    # -- content ------------------------------------------------------------------------------

    def _truncated(self) -> LayerError:
        return LayerError(
            f"tar entry {_short(self._current)} is truncated: the layer ends inside it"
        )

    def _finish_content(self) -> None:
        if self._left and not self._skip(self._left):
            raise self._truncated()
        self._left = 0
        if self._pad and not self._skip(self._pad):
            raise self._truncated()
        self._pad = 0

    def copy_to(self, fd: int) -> int:
        """Write the current entry's remaining content to file descriptor ``fd``; return
        how many bytes were written."""
        left = self._left
        total = left
        while left:
            avail = len(self._buf) - self._pos
            if not avail:
                if not self._fill():
                    self._left = left
                    raise self._truncated()
                avail = len(self._buf)
            pos = self._pos
            step = avail if avail < left else left
            piece = self._view[pos : pos + step]
            done = os.write(fd, piece)
            while done < step:
                done += os.write(fd, piece[done:])
            self._pos = pos + step
            left -= step
        self._left = 0
        self._finish_content()
        return total

    def iter_content(self) -> Iterator[memoryview]:
        """The current entry's remaining content, piece by piece, without holding it whole.

        Each piece is a memoryview of the read buffer, valid until the next piece is asked
        for (hash it or write it at once). Content left unread when the iteration stops
        early is skipped by the next call to :meth:`next`.
        """
        while self._left:
            avail = len(self._buf) - self._pos
            if not avail:
                if not self._fill():
                    raise self._truncated()
                avail = len(self._buf)
            pos = self._pos
            step = avail if avail < self._left else self._left
            self._pos = pos + step
            self._left -= step
            yield self._view[pos : pos + step]
        self._finish_content()

    def read_content(self, limit: int = MAX_SPECIAL_SIZE) -> bytes:
        """The current entry's remaining content as bytes, for small entries: more than
        ``limit`` bytes raise :class:`LayerError` instead of filling memory."""
        if self._left > limit:
            raise LayerError(
                f"tar entry {_short(self._current)} holds {self._left} bytes, more than the "
                f"{limit} that may be read into memory"
            )
        try:
            data = self._take(self._left) if self._left else b""
        except EOFError:
            raise self._truncated() from None
        if data is None:
            raise self._truncated()
        self._left = 0
        self._finish_content()
        return data

    def drain(self) -> None:
        """Read the stream to its end (the zero blocks and padding after the archive)."""
        self._buf = b""
        self._view = memoryview(self._buf)
        self._pos = 0
        while not self._eof:
            if not self._stream.read(self._read_size):
                self._eof = True

    # -- headers ------------------------------------------------------------------------------

    def _special(self, size: int, kind: str) -> bytes:
        """The payload of a PAX or GNU long-name header, bounded and padded."""
        if size > MAX_SPECIAL_SIZE:
            raise LayerError(
                f"layer is not a valid tar stream: {self._where()} has a {kind} of {size} "
                f"bytes, more than the limit of {MAX_SPECIAL_SIZE}"
            )
        try:
            data = self._take(size) if size else b""
        except EOFError:
            data = None
        if data is None or not self._skip(-size % BLOCK):
            raise LayerError(f"layer is not a valid tar stream: the layer ends inside a {kind}")
        return data

    def _header(self) -> tuple[tuple[bytes, ...], int, _Extended] | None:
        """The next entry's ustar fields and content size, with the extended headers (PAX
        records, GNU long names) that came before it; None at the end of the archive."""
        ext = _Extended()
        while True:
            at = self._offset + self._pos
            try:
                header = self._take(BLOCK)
            except EOFError:
                raise LayerError(
                    f"layer is not a valid tar stream: it ends inside {_place(at)}"
                ) from None
            if header is None or header == _ZERO_BLOCK:
                if ext.pax is not None or ext.long_name is not None or ext.long_link is not None:
                    raise LayerError(
                        "layer is not a valid tar stream: it ends after an extended header, "
                        "before the entry it describes"
                    )
                return None
            fields: tuple[bytes, ...] = _HEADER.unpack(header)
            chksum = fields[6]
            if chksum[6] in _TERMINATORS:
                try:  # the common shape, "012345\0 "
                    stored = int(chksum[:6], 8)
                except ValueError:
                    stored = _number(chksum, "checksum", at)
            else:
                stored = _number(chksum, "checksum", at)
            if stored != _unsigned_sum(header) - sum(chksum) + _CHKSUM_SPACES and stored != (
                _signed_sum(header) - _signed_sum(chksum) + _CHKSUM_SPACES
            ):
                raise LayerError(
                    f"layer is not a valid tar stream: {_place(at)} has a bad checksum"
                )
            size_field = fields[4]
            if size_field[-1] in _TERMINATORS:
                try:  # the common shape, "00000001750\0": one C call
                    size = int(size_field[:-1], 8)
                except ValueError:
                    size = _number(size_field, "size", at)
            else:
                size = _number(size_field, "size", at)
            if size < 0:
                raise LayerError(
                    f"layer is not a valid tar stream: {_place(at)} has a negative size"
                )
            kind = fields[7]
            if kind not in _EXTENDED_TYPES:
                return fields, size, ext
            self._extended(kind, size, at, ext)

    def _extended(self, kind: bytes, size: int, at: int, ext: _Extended) -> None:
        """Read one extended header (PAX, global PAX, GNU long name or link) into ``ext``."""
        if kind in _PAX_TYPES:
            records = parse_pax_records(self._special(size, "PAX header"), _place(at))
            if kind == b"g":
                self._globals.update(records)
            elif ext.pax is None:
                ext.pax = records
            else:
                ext.pax.update(records)
        elif kind == b"L":
            ext.long_name = self._special(size, "GNU long name").split(b"\x00", 1)[0]
        else:
            ext.long_link = self._special(size, "GNU long link name").split(b"\x00", 1)[0]

    def next(self) -> TarEntry | None:
        """The next entry, or None at the end of the archive."""
        if self._done:
            return None
        self._finish_content()
        found = self._header()
        if found is None:
            self._done = True
            return None
        fields, size, ext = found
        (_, mode, uid, gid, _, mtime, _, kind) = fields[:8]
        pax = ext.pax
        if self._globals:
            pax = {**self._globals, **pax} if pax else dict(self._globals)
        text, link = _entry_names(fields, pax, ext)
        self._current = text
        if kind in _REGULAR_ALIASES:
            kind = DIRECTORY if kind == b"\x00" and text.endswith("/") else REGULAR
        elif kind == b"S":
            raise LayerError(
                f"tar entry {_short(text)} is a GNU sparse file, which layers do not "
                "support; rebuild the layer without --sparse"
            )
        try:  # the common shape: every field octal text ending in NUL or space
            if (
                mode[-1] not in _TERMINATORS
                or uid[-1] not in _TERMINATORS
                or gid[-1] not in _TERMINATORS
                or mtime[-1] not in _TERMINATORS
            ):
                raise ValueError
            entry = TarEntry(
                text,
                kind,
                int(mode[:-1], 8),
                int(uid[:-1], 8),
                int(gid[:-1], 8),
                size,
                int(mtime[:-1], 8) * 1_000_000_000,
                0,
                link,
            )
        except ValueError:
            entry = _entry_from_any_numbers(text, kind, fields, size, link)
        entry.atime_ns = entry.mtime_ns
        if pax is not None:
            _apply_pax(entry, pax)
        if entry.size < 0 or entry.uid < 0 or entry.gid < 0:
            raise LayerError(f"tar entry {_short(text)} has a negative size, uid or gid")
        if kind in (CHARDEV, BLOCKDEV):
            _read_device(entry, fields)
        if kind in _HEADER_ONLY:
            entry.size = 0
        self._left = entry.size
        self._pad = -entry.size % BLOCK
        return entry


def _entry_names(
    fields: tuple[bytes, ...], pax: dict[str, bytes] | None, ext: _Extended
) -> tuple[str, str]:
    """The entry's name and link target, each from its most specific source: a PAX record,
    a GNU long name, or the ustar fields (the name joined to its POSIX prefix)."""
    if pax is not None and "path" in pax:
        text = _decode(pax["path"])
    elif ext.long_name is not None:
        text = _decode(ext.long_name)
    else:
        raw = fields[0].split(b"\x00", 1)[0]
        prefix = fields[15]
        if fields[9] == _POSIX_MAGIC and prefix[0]:
            raw = prefix.split(b"\x00", 1)[0] + b"/" + raw
        text = _decode(raw)
    if pax is not None and "linkpath" in pax:
        link = _decode(pax["linkpath"])
    elif ext.long_link is not None:
        link = _decode(ext.long_link)
    elif fields[7] in (HARDLINK, SYMLINK):
        link = _decode(fields[8].split(b"\x00", 1)[0])
    else:
        link = ""
    return text, link


def _entry_from_any_numbers(
    text: str, kind: bytes, fields: tuple[bytes, ...], size: int, link: str
) -> TarEntry:
    """The entry built by :func:`_number`, which reads every form a numeric field may take
    (base-256, space-padded, unterminated); the reader's fast path reads only octal text."""
    where = f"tar entry {_short(text)}"
    return TarEntry(
        text,
        kind,
        _number(fields[1], "mode", where),
        _number(fields[2], "uid", where),
        _number(fields[3], "gid", where),
        size,
        _number(fields[5], "mtime", where) * 1_000_000_000,
        0,
        link,
    )


def _read_device(entry: TarEntry, fields: tuple[bytes, ...]) -> None:
    """Set a device entry's major and minor numbers from its ustar fields."""
    where = f"tar entry {_short(entry.name)}"
    entry.devmajor = _number(fields[13], "devmajor", where)
    entry.devminor = _number(fields[14], "devminor", where)


class _Extended:
    """The extended headers met before an entry: PAX records, GNU long name and link."""

    __slots__ = ("long_link", "long_name", "pax")

    def __init__(self) -> None:
        self.pax: dict[str, bytes] | None = None
        self.long_name: bytes | None = None
        self.long_link: bytes | None = None


def _signed_sum(data: bytes) -> int:
    """The sum of ``data`` with bytes read as signed, as some old tars made checksums."""
    return sum(b - 256 if b > 127 else b for b in data)


def _apply_pax(entry: TarEntry, pax: dict[str, bytes]) -> None:
    """Let an entry's PAX records override its ustar fields; collect its xattrs."""
    where = f"tar entry {_short(entry.name)}"
    try:
        if "size" in pax:
            entry.size = int(pax["size"])
        if "uid" in pax:
            entry.uid = int(pax["uid"])
        if "gid" in pax:
            entry.gid = int(pax["gid"])
    except ValueError:
        raise LayerError(f"{where} has an invalid PAX size, uid or gid") from None
    try:
        if "mtime" in pax:
            entry.mtime_ns = entry.atime_ns = parse_pax_time(pax["mtime"].decode("ascii"))
        if "atime" in pax:
            entry.atime_ns = parse_pax_time(pax["atime"].decode("ascii"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise LayerError(f"{where} has an invalid time: {exc}") from exc
    for key, value in pax.items():
        if key.startswith(_XATTR_PREFIX):
            if entry.xattrs is None:
                entry.xattrs = {}
            entry.xattrs[key[len(_XATTR_PREFIX) :]] = value
        elif key.startswith("GNU.sparse."):
            raise LayerError(
                f"{where} is a sparse file (PAX GNU.sparse), which layers do not support; "
                "rebuild the layer without --sparse"
            )


__all__ = [
    "MAX_SPECIAL_SIZE",
    "TarEntry",
    "TarReader",
    "parse_pax_records",
    "parse_pax_time",
]
