"""Random access to the members of an uncompressed tar archive, without extracting it.

Archive transports (``oci-archive:``, ``docker-archive:``) read a handful of small JSON files
and stream a few large blobs out of one tar. Extracting the archive would double the disk use
and open the door to path traversal; instead the archive is scanned once for its headers and
each member is later read in place, as a window (offset, size) of the archive file.

Member names are normalized (``./a`` and ``a`` are the same); names that are absolute or climb
out with ``..`` are never found by a lookup, so hostile entries are inert. A symbolic link is
followed once, inside the archive (``docker save`` links ``ID/layer.tar`` to ``../HEX.tar``).
"""

from __future__ import annotations

import os
import posixpath
import tarfile
from dataclasses import dataclass
from pathlib import Path

from boxwright.errors import ImageNotFoundError, TransportError, UnsafePathError
from boxwright.oci.readers import WrappedReader
from boxwright.transport.regular import open_regular

_MAX_LINK_HOPS = 1


def clean_member_name(name: str) -> str | None:
    """The canonical form of a member name, or None if it is absolute or leaves the root."""
    if not name or name.startswith("/"):
        return None
    cleaned = posixpath.normpath(name)
    if cleaned in (".", "..") or cleaned.startswith("../"):
        return None
    return cleaned


def safe_member_name(name: str, what: str) -> str:
    """Like :func:`clean_member_name`, but raise :class:`UnsafePathError` for a bad name."""
    if not isinstance(name, str):
        raise UnsafePathError(f"{what}: expected a file name, got {type(name).__name__}")
    cleaned = clean_member_name(name)
    if cleaned is None:
        raise UnsafePathError(
            f"{what} {name!r} points outside the archive (absolute or '..' path); refusing it"
        )
    return cleaned


@dataclass(frozen=True, slots=True)
class Member:
    """Where one regular file (or link) lives inside the archive."""

    name: str
    offset: int
    size: int
    kind: str  # "file", "symlink", "hardlink" or "other"
    linkname: str = ""


class Window(WrappedReader):
    """A reader of ``size`` bytes of ``file`` starting at ``offset`` (its own file handle)."""

    def __init__(self, path: Path, offset: int, size: int) -> None:
        self._file = open_regular(path, follow_symlinks=True)
        self._file.seek(offset)
        self._left = size
        self._size = size

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._file.read(n)
        if len(data) < n:
            got = self._size - self._left + len(data)
            raise TransportError(
                f"archive is truncated: member ends after {got} of {self._size} bytes"
            )
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._file.close()


class TarIndex:
    """The members of one tar archive, scanned once, read in place on demand."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.members: dict[str, Member] = {}
        try:
            with (
                open_regular(self.path, follow_symlinks=True) as archive,
                tarfile.open(fileobj=archive, mode="r:") as tar,
            ):
                file_size = os.fstat(archive.fileno()).st_size
                for info in tar:
                    name = clean_member_name(info.name)
                    if name is None:
                        continue
                    if info.isreg():
                        kind = "file"
                    elif info.issym():
                        kind = "symlink"
                    elif info.islnk():
                        kind = "hardlink"
                    else:
                        kind = "other"
                    if info.size < 0:
                        raise TransportError(
                            f"archive {self.path} is corrupt: member {info.name!r} has a "
                            f"negative size ({info.size})"
                        )
                    if kind == "file" and info.offset_data + info.size > file_size:
                        raise TransportError(
                            f"archive {self.path} is truncated: member {info.name!r} needs "
                            f"{info.offset_data + info.size} bytes, the file has {file_size}"
                        )
                    self.members[name] = Member(
                        name, info.offset_data, info.size, kind, info.linkname
                    )
        except FileNotFoundError:
            raise ImageNotFoundError(f"archive {self.path} does not exist") from None
        except tarfile.TarError as e:
            raise TransportError(
                f"{self.path} is not a readable tar archive (truncated or corrupt): {e}"
            ) from None
        except OSError as e:
            raise TransportError(f"cannot read archive {self.path}: {e.strerror}") from None
        except (ValueError, OverflowError, EOFError) as e:
            # tarfile reports some corrupt headers so (a base-256 size below -2**63 makes it
            # seek to an offset no integer holds).
            raise TransportError(
                f"{self.path} is not a readable tar archive (corrupt header): {e}"
            ) from None

    def _resolve(self, name: str) -> Member | None:
        member = self.members.get(name)
        hops = 0
        while member is not None and member.kind in ("symlink", "hardlink"):
            if hops >= _MAX_LINK_HOPS + 1:
                return None
            hops += 1
            if member.kind == "symlink":
                target = posixpath.join(posixpath.dirname(member.name), member.linkname)
            else:
                target = member.linkname
            cleaned = clean_member_name(target)
            if cleaned is None:
                raise UnsafePathError(
                    f"archive member {member.name!r} links to {member.linkname!r}, outside "
                    "the archive; refusing it"
                )
            member = self.members.get(cleaned)
        if member is None or member.kind != "file":
            return None
        return member

    def find(self, name: str) -> Member | None:
        """The regular file ``name`` refers to (following one link), or None."""
        cleaned = clean_member_name(name)
        return None if cleaned is None else self._resolve(cleaned)

    def open(self, name: str) -> Window:
        """A reader of member ``name``; :class:`FileNotFoundError` if there is none."""
        member = self.find(name)
        if member is None:
            raise FileNotFoundError(name)
        return Window(self.path, member.offset, member.size)

    def read(self, name: str, limit: int) -> bytes:
        """The whole content of a small member (at most ``limit`` bytes)."""
        member = self.find(name)
        if member is None:
            raise FileNotFoundError(name)
        if member.size > limit:
            raise TransportError(
                f"archive member {name!r} is {member.size} bytes, more than the limit of {limit}"
            )
        with Window(self.path, member.offset, member.size) as w:
            return w.read()


__all__ = ["Member", "TarIndex", "Window", "clean_member_name", "safe_member_name"]
