"""tar-split: the record containers/storage keeps of each layer's tar, and the tar rebuilt from it.

containers/storage unpacks a layer into its driver's directory and keeps, beside the layer
record, ``ID.tar-split.gz``: a gzip of JSON lines, one *entry* each, in order (``position``
counts them). A *segment* entry (``"type": 2``) holds raw bytes of the tar base64-encoded in
``payload``: headers, PAX and GNU extension blocks, the padding after file content and the
end-of-archive blocks. A *file* entry (``"type": 1``) names a path (``name``, or ``name_raw``
base64 when the name is not UTF-8) and its content size (``size``, omitted when 0); the
content is not stored but read back from the unpacked layer, and ``payload`` is its CRC-64
(ISO polynomial, as Go's ``hash/crc64``), big-endian, base64. Concatenating the segments and
the file contents gives back the original tar byte for byte, so the layer keeps its
``diff-digest`` (the diff_id) however it is read out.

:class:`TarSplitAssembler` is that reassembly as a :class:`~boxwright.oci.readers.Reader`
(the caller verifies the result against the diff_id); :class:`TarSplitRecorder` writes the
record of a tar while the tar streams past (it is fed every byte of the uncompressed layer,
in order, and keeps only the current header in memory).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Generator, Iterator
from typing import IO, Final

from boxwright._closing import Closing
from boxwright.errors import LayerError, TransportError
from boxwright.layer.compression import compress_writer, decompress
from boxwright.layer.tarread import parse_pax_records
from boxwright.oci.readers import Reader

FILE_TYPE: Final = 1
SEGMENT_TYPE: Final = 2
_BLOCK: Final = 512
_CHUNK: Final = 1 << 20
_MAX_LINE: Final = 64 << 20
_MAX_EXTENDED: Final = 1 << 20


class Crc64:
    """The running CRC-64/ISO of the bytes given to :meth:`update`: Go's ``hash/crc64`` with
    ``crc64.ISO`` (reflected, all-ones initial value and final xor), which tar-split uses.

    Computed by ``fastcrc`` (a compiled table-driven CRC, several GB/s; imported here, on the
    first checksum, so nothing else pays for it).
    """

    __slots__ = ("_crc", "_go_iso")

    def __init__(self) -> None:
        from fastcrc.crc64 import go_iso

        self._go_iso = go_iso
        self._crc: int | None = None

    def update(self, data: bytes | memoryview) -> None:
        """Add ``data`` to the checksum."""
        if self._crc is None:
            self._crc = self._go_iso(data)
        else:
            self._crc = self._go_iso(data, self._crc)

    def digest(self) -> bytes:
        """The checksum as Go's ``Sum`` gives it: eight bytes, big-endian."""
        return (self._crc or 0).to_bytes(8, "big")


def _entries(stream: Reader, where: str) -> Iterator[dict[str, object]]:
    """The entries of an (uncompressed) tar-split stream, in order, each checked for shape."""
    pending = b""
    position = 0
    while True:
        chunk = stream.read(_CHUNK)
        if chunk:
            pending += chunk
        lines = pending.split(b"\n")
        pending = lines.pop()
        if len(pending) > _MAX_LINE:
            raise TransportError(f"{where}: a tar-split entry is larger than {_MAX_LINE} bytes")
        if not chunk and pending.strip():
            lines.append(pending)
            pending = b""
        for line in lines:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                raise TransportError(f"{where}: entry {position} is not JSON") from None
            if not isinstance(entry, dict) or entry.get("type") not in (FILE_TYPE, SEGMENT_TYPE):
                raise TransportError(f"{where}: entry {position} is not a tar-split entry")
            position += 1
            yield entry
        if not chunk:
            return


def _payload(entry: dict[str, object], where: str) -> bytes:
    value = entry.get("payload")
    if value is None:
        return b""
    if not isinstance(value, str):
        raise TransportError(f"{where}: an entry's payload is not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise TransportError(f"{where}: an entry's payload is not base64") from None


def entry_name(entry: dict[str, object], where: str) -> bytes:
    """The path a file entry names, as bytes (``name_raw`` when the name is not UTF-8)."""
    raw = entry.get("name_raw")
    if isinstance(raw, str) and raw:
        return base64.b64decode(raw)
    name = entry.get("name", "")
    if not isinstance(name, str):
        raise TransportError(f"{where}: a file entry's name is not text")
    return os.fsencode(name)


FileOpener = Callable[[bytes], IO[bytes]]
"""Opens the unpacked content of a file entry (its name as the tar gave it)."""


class TarSplitAssembler(Closing):
    """The original tar of a layer, rebuilt from its tar-split record and unpacked files.

    ``record`` is the gzip-compressed tar-split stream; ``open_file`` opens a file entry's
    content in the driver's directory. Each file's size and CRC-64 are checked against the
    record as it is read (a changed file is a :class:`~boxwright.errors.LayerError`); the
    caller checks the whole against the diff_id.
    """

    def __init__(self, record: Reader, open_file: FileOpener, where: str) -> None:
        self._record = record
        self._plain = decompress(record, "gzip")
        self._open_file = open_file
        self._where = where
        self._parts = self._generate()
        self._buffer = b""

    def _generate(self) -> Generator[bytes, None, None]:
        for entry in _entries(self._plain, self._where):
            if entry["type"] == SEGMENT_TYPE:
                data = _payload(entry, self._where)
                if data:
                    yield data
                continue
            size = entry.get("size", 0) or 0
            if not isinstance(size, int) or size < 0:
                raise TransportError(f"{self._where}: a file entry has a bad size")
            if size == 0:
                continue
            name = entry_name(entry, self._where)
            expected = _payload(entry, self._where)
            crc = Crc64()
            left = size
            with self._open_file(name) as f:
                while left:
                    chunk = f.read(min(left, _CHUNK))
                    if not chunk:
                        break
                    crc.update(chunk)
                    left -= len(chunk)
                    yield chunk
                more = f.read(1)
            if left or more or (expected and crc.digest() != expected):
                raise LayerError(
                    f"{self._where}: {os.fsdecode(name)!r} in the layer's directory no longer "
                    "matches the layer's tar-split record (the store was changed under it)"
                )

    def read(self, n: int = -1, /) -> bytes:
        while n < 0 or len(self._buffer) < n:
            part = next(self._parts, None)
            if part is None:
                break
            self._buffer += part
        if n < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def close(self) -> None:
        self._parts.close()
        self._plain.close()
        self._record.close()


def _octal(field: bytes) -> int:
    if field and field[0] & 0x80:  # base-256, as GNU tar writes large numbers
        value = int.from_bytes(field[1:], "big")
        return value
    text = field.split(b"\x00", 1)[0].strip(b" \x00")
    return int(text, 8) if text else 0


class TarSplitRecorder:
    """Writes the tar-split record of a tar that is fed to it in order with :meth:`feed`.

    ``out`` receives the gzip-compressed record. The recorder follows the tar's own framing
    (ustar, GNU long names, PAX headers) to tell headers from content: header blocks, their
    extension data and every padding become segments; each entry becomes a file entry named
    as the tar names it (the PAX ``path`` or GNU long name when there is one), with the size
    and CRC-64 of its content. What follows the end-of-archive marker becomes segments of
    about a MiB each, so no part of the tar is held whole. It also collects the owners the
    headers name (``uids``, ``gids``), which containers/storage records as
    ``uidset``/``gidset``.
    """

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._gz = compress_writer(out, "gzip")
        self._position = 0
        self._segment = bytearray()
        self._header = bytearray()
        self._content_left = 0
        self._padding_left = 0
        self._extended_left = 0
        self._extended_kind = b""
        self._extended = bytearray()
        self._pax: dict[str, bytes] = {}
        self._long_name: bytes | None = None
        self._crc: Crc64 | None = None
        self._pending_name = b""
        self._pending_size = 0
        self._padding_after = 0
        self._ended = False
        self.uids: set[int] = set()
        self.gids: set[int] = set()

    def _emit(self, entry: dict[str, object]) -> None:
        entry["position"] = self._position
        self._position += 1
        self._gz.write(json.dumps(entry, separators=(",", ":")).encode() + b"\n")

    def _flush_segment(self) -> None:
        if self._segment:
            payload = base64.b64encode(bytes(self._segment)).decode()
            self._emit({"type": SEGMENT_TYPE, "payload": payload})
            self._segment.clear()

    def feed(self, data: bytes | memoryview) -> None:
        """Take the next bytes of the tar."""
        view = memoryview(data).cast("B")
        while view:
            if self._ended:
                self._segment += view
                if len(self._segment) >= _CHUNK:  # trailing bytes: flushed, never piled up
                    self._flush_segment()
                return
            # The content, the extended header and the padding are each consumed the same way,
            # each ending in its own step (_end_file, _end_extended, the next header).
            if self._content_left:
                take = min(self._content_left, len(view))
                assert self._crc is not None
                self._crc.update(view[:take])
                self._content_left -= take
                view = view[take:]
                if not self._content_left:
                    self._end_file()
                continue
            if self._extended_left:
                take = min(self._extended_left, len(view))
                self._segment += view[:take]
                if len(self._extended) < _MAX_EXTENDED:
                    self._extended += view[:take]
                self._extended_left -= take
                view = view[take:]
                if not self._extended_left:
                    self._end_extended()
                continue
            if self._padding_left:
                take = min(self._padding_left, len(view))
                self._segment += view[:take]
                self._padding_left -= take
                view = view[take:]
                continue
            take = min(_BLOCK - len(self._header), len(view))
            self._header += view[:take]
            view = view[take:]
            if len(self._header) == _BLOCK:
                block = bytes(self._header)
                self._header.clear()
                self._segment += block
                self._on_header(block)

    def _on_header(self, block: bytes) -> None:
        if block == bytes(_BLOCK):
            self._ended = True
            return
        kind = block[156:157]
        size = _octal(block[124:136])
        padding = -size % _BLOCK
        if kind in (b"x", b"g", b"X", b"L", b"K"):
            self._extended_kind = kind
            self._extended.clear()
            self._extended_left = size
            self._padding_left = padding
            if not size:
                self._end_extended()
            return
        name = self._name(block)
        self.uids.add(int(self._pax["uid"]) if "uid" in self._pax else _octal(block[108:116]))
        self.gids.add(int(self._pax["gid"]) if "gid" in self._pax else _octal(block[116:124]))
        if "size" in self._pax:
            size = int(self._pax["size"])
            padding = -size % _BLOCK
        if kind in (b"1", b"2", b"3", b"4", b"5", b"6"):
            size, padding = 0, 0
        self._pax = {}
        self._long_name = None
        self._flush_segment()
        self._pending_name = name
        self._pending_size = size
        self._padding_after = padding
        if size:
            self._crc = Crc64()
            self._content_left = size
        else:
            self._crc = None
            self._end_file()

    def _name(self, block: bytes) -> bytes:
        if "path" in self._pax:
            return self._pax["path"]
        if self._long_name is not None:
            return self._long_name
        name = block[0:100].split(b"\x00", 1)[0]
        if block[257:263] in (b"ustar\x00", b"ustar "):
            prefix = block[345:500].split(b"\x00", 1)[0] if block[257:263] == b"ustar\x00" else b""
            if prefix:
                name = prefix + b"/" + name
        return name

    def _end_extended(self) -> None:
        data = bytes(self._extended)
        if self._extended_kind in (b"x", b"X"):
            self._pax.update(parse_pax_records(data, "tar-split"))
        elif self._extended_kind == b"L":
            self._long_name = data.split(b"\x00", 1)[0]

    def _end_file(self) -> None:
        # The field order of tar-split's Go struct: type, name or name_raw, size, payload.
        entry: dict[str, object] = {"type": FILE_TYPE}
        try:
            entry["name"] = self._pending_name.decode("utf-8")
        except UnicodeDecodeError:
            entry["name_raw"] = base64.b64encode(self._pending_name).decode()
        if self._pending_size:
            entry["size"] = self._pending_size
        entry["payload"] = (
            base64.b64encode(self._crc.digest()).decode() if self._crc is not None else None
        )
        self._emit(entry)
        self._padding_left = self._padding_after

    def close(self) -> None:
        """Write the last segment and finish the gzip stream (``out`` stays open)."""
        if self._content_left or self._extended_left or self._header:
            raise LayerError("the layer's tar ended inside an entry")
        self._flush_segment()
        self._gz.close()


__all__ = ["Crc64", "TarSplitAssembler", "TarSplitRecorder", "entry_name"]
