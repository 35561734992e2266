"""The rootless side record: what a layer meant that the filesystem could not hold.

An unprivileged user cannot chown files, create device nodes or set ``trusted.*`` /
``security.*`` xattrs. When such a user unpacks an image, every path is owned by that user,
devices become empty regular files, and those xattrs are dropped. So that a later repack
writes back exactly what was read, the intended metadata is kept in an
:class:`OwnershipRecord`, a JSON file next to the rootfs (umoci keeps the same facts in a
``user.rootlesscontainers`` xattr per file; a single file survives copies and tools that
drop xattrs, and costs nothing for the many paths that need no record).

**The rule** (used by apply, generate and repack), per path relative to the root:

* a path **with a record** is written with the recorded uid, gid and, when recorded, mode
  (the full ``st_mode`` including the file type, so a recorded character device is written
  as a device with the recorded ``rdev``) and the recorded extra xattrs;
* a path **without a record**, in rootless mode, is written as owned by ``0:0`` when the
  file is owned by the current effective uid/gid: the unprivileged user acts as root of
  the image, as ``umoci --rootless`` does. Other owners are written as they are.

Apply therefore records only what differs from that default: an owner other than
``0:0``, a device, an xattr that could not be set. :meth:`OwnershipRecord.intended` is the
rule in code.

File format (version 1)::

    {"version": 1, "entries": {"etc/x": {"uid": 1000, "gid": 1000},
                               "dev/null": {"uid": 0, "gid": 0, "mode": 8630, "rdev": [1, 3]},
                               "bin/ping": {"uid": 0, "gid": 0,
                                            "xattrs": {"security.capability": "<base64>"}}}}
"""

from __future__ import annotations

import base64
import json
import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from boxwright._atomic import replace_file
from boxwright._idmaps import own_uid_map
from boxwright.errors import UnpackError

RECORD_VERSION = 1


@dataclass(frozen=True, slots=True)
class OwnershipEntry:
    """Intended metadata of one path: owner, and optionally mode, device number and xattrs."""

    uid: int
    gid: int
    mode: int | None = None
    rdev: tuple[int, int] | None = None
    xattrs: Mapping[str, bytes] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"uid": self.uid, "gid": self.gid}
        if self.mode is not None:
            out["mode"] = self.mode
        if self.rdev is not None:
            out["rdev"] = list(self.rdev)
        if self.xattrs:
            out["xattrs"] = {
                k: base64.b64encode(v).decode("ascii") for k, v in sorted(self.xattrs.items())
            }
        return out

    @classmethod
    def from_json(cls, data: Any) -> OwnershipEntry:
        if not isinstance(data, dict):
            raise ValueError("an entry must be an object")
        uid, gid = data.get("uid"), data.get("gid")
        if not isinstance(uid, int) or not isinstance(gid, int) or uid < 0 or gid < 0:
            raise ValueError("uid and gid must be non-negative integers")
        mode = data.get("mode")
        if mode is not None and (not isinstance(mode, int) or mode < 0):
            raise ValueError("mode must be a non-negative integer")
        rdev_raw = data.get("rdev")
        rdev: tuple[int, int] | None = None
        if rdev_raw is not None:
            if (
                not isinstance(rdev_raw, list)
                or len(rdev_raw) != 2
                or not all(isinstance(x, int) and x >= 0 for x in rdev_raw)
            ):
                raise ValueError("rdev must be [major, minor]")
            rdev = (rdev_raw[0], rdev_raw[1])
        xattrs_raw = data.get("xattrs", {})
        if not isinstance(xattrs_raw, dict):
            raise ValueError("xattrs must be an object")
        xattrs = {str(k): base64.b64decode(v, validate=True) for k, v in xattrs_raw.items()}
        return cls(uid, gid, mode, rdev, xattrs)


class Intended(NamedTuple):
    """What generate writes for a path: owner, full mode, device numbers, extra xattrs."""

    uid: int
    gid: int
    mode: int
    rdev: tuple[int, int] | None
    xattrs: Mapping[str, bytes]


def _clean_key(path: str) -> str:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ValueError(f"ownership record paths must not contain '..': {path!r}")
    return "/".join(parts)


class OwnershipRecord:
    """Intended uid/gid/mode/rdev/xattrs per relative path, saved as one JSON file.

    Keys are normalized relative paths (``"./a//b/"`` is ``"a/b"``). The record is a plain
    mapping in memory; :meth:`save` writes it atomically (temporary file in the same
    directory, fsync, rename).
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self._entries: dict[str, OwnershipEntry] = {}

    @classmethod
    def load(cls, path: Path | str) -> OwnershipRecord:
        """Read the record at ``path``; a missing file gives an empty record bound to it."""
        record = cls(path)
        try:
            raw = Path(path).read_bytes()
        except FileNotFoundError:
            return record
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict) or doc.get("version") != RECORD_VERSION:
                raise ValueError(f"expected an object with version {RECORD_VERSION}")
            entries = doc.get("entries")
            if not isinstance(entries, dict):
                raise ValueError("'entries' must be an object")
            for key, value in entries.items():
                record._entries[_clean_key(key)] = OwnershipEntry.from_json(value)
        except (ValueError, TypeError) as exc:
            raise UnpackError(
                f"ownership record {path} is corrupt ({exc}); it cannot be used to repack "
                "with the original owners — unpack the image again"
            ) from exc
        return record

    def save(self, path: Path | str | None = None) -> Path:
        """Write the record atomically to ``path`` (default: where it was loaded from)."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise UnpackError("ownership record has no file to save to")
        doc = {
            "version": RECORD_VERSION,
            "entries": {k: self._entries[k].to_json() for k in sorted(self._entries)},
        }
        data = json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()
        replace_file(target, data, 0o600)
        self.path = target
        return target

    # -- mapping ------------------------------------------------------------------------------

    def get(self, path: str) -> OwnershipEntry | None:
        """The entry of ``path``, or None."""
        return self._entries.get(_clean_key(path))

    def set(self, path: str, entry: OwnershipEntry) -> None:
        """Record ``entry`` for ``path`` (replacing any earlier one)."""
        self._entries[_clean_key(path)] = entry

    def remove(self, path: str) -> None:
        """Forget ``path`` (nothing happens if it has no entry)."""
        self._entries.pop(_clean_key(path), None)

    def drop_subtree(self, path: str) -> None:
        """Forget ``path`` and every path under it (after a directory is removed)."""
        key = _clean_key(path)
        if not key:
            self._entries.clear()
            return
        self._entries.pop(key, None)
        prefix = key + "/"
        for doomed in [k for k in self._entries if k.startswith(prefix)]:
            del self._entries[doomed]

    def rename_prefix(self, old: str, new: str) -> None:
        """Move the entries of ``old`` and everything under it to ``new`` (after a rename)."""
        old_key, new_key = _clean_key(old), _clean_key(new)
        prefix = old_key + "/"
        moved = {k: v for k, v in self._entries.items() if k == old_key or k.startswith(prefix)}
        for key in moved:
            del self._entries[key]
        for key, value in moved.items():
            self._entries[new_key + key[len(old_key) :]] = value

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and _clean_key(path) in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def items(self) -> Iterator[tuple[str, OwnershipEntry]]:
        """(path, entry) pairs in path order."""
        for key in sorted(self._entries):
            yield key, self._entries[key]

    # -- the rule -----------------------------------------------------------------------------

    def intended(
        self,
        path: str,
        st: os.stat_result,
        *,
        euid: int | None = None,
        egid: int | None = None,
    ) -> Intended:
        """The uid, gid, mode, rdev and extra xattrs a layer should carry for ``path``.

        ``st`` is the ``lstat`` of the file on disk. A record wins; otherwise the current
        effective uid/gid (or ``euid``/``egid``) map to 0, other owners stay as they are.
        """
        entry = self._entries.get(_clean_key(path))
        mode = st.st_mode
        if entry is not None:
            if entry.mode is not None:
                mode = entry.mode
            rdev = entry.rdev
            if rdev is None and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)):
                rdev = (os.major(st.st_rdev), os.minor(st.st_rdev))
            return Intended(entry.uid, entry.gid, mode, rdev, entry.xattrs)
        uid = 0 if st.st_uid == (os.geteuid() if euid is None else euid) else st.st_uid
        gid = 0 if st.st_gid == (os.getegid() if egid is None else egid) else st.st_gid
        rdev = None
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            rdev = (os.major(st.st_rdev), os.minor(st.st_rdev))
        return Intended(uid, gid, mode, rdev, {})


def owners_in_side_record() -> bool:
    """Whether this process keeps owners other than its own in the side record: it is not
    root, or it is root of a user namespace that maps a single ID (root of a container
    started by an unprivileged user without subordinate ranges), where a ``chown`` to
    another ID fails."""
    if os.geteuid() != 0:
        return True
    rows = own_uid_map()
    # Its own question of the map (config.paths asks whether uid 0 is the host's): one row of
    # one ID, whatever ID outside it stands for.
    return rows is not None and len(rows) == 1 and rows[0][2] == 1


__all__ = ["Intended", "OwnershipEntry", "OwnershipRecord", "owners_in_side_record"]
