"""Helpers of the rootfs driver tests: snapshot stacks built from hand-made layers, the script
of container operations both drivers run. The rootless tests run code as an unprivileged user
through ``boxwright_testing.users.as_user``; the modules its child needs are imported here.

Snapshots are made the way the store makes them (each layer applied alone in overlay format,
with the snapshots below as ``overlay_lowers``), in a plain directory: the drivers only read
``Snapshot.diff`` and ``Snapshot.ownership``.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from pathlib import Path
from typing import Any

import boxwright.layer.generate
import boxwright.layer.overlay
import boxwright.layer.snapshot
import boxwright.store.userns  # noqa: F401 - loaded before a child drops its privileges
from boxwright.layer.apply import ApplyOptions, apply_layer
from boxwright.layer.ownership import OwnershipRecord
from boxwright.oci.digest import Digest
from boxwright.store.snapshots import Snapshot

MTIME = 1_600_000_000
CLAMP = 1_700_000_000


def tar_layer(*entries: tuple[str, str, Any]) -> bytes:
    """A layer from ``(kind, name, arg)``: file (data), dir (mode), symlink (target), hardlink
    (target), whiteout (None), owned (a file with ``(uid, gid)``), device ((major, minor))."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for kind, name, arg in entries:
            info = tarfile.TarInfo(name)
            info.mtime = MTIME
            data = None
            if kind in ("file", "whiteout", "owned"):
                data = arg.encode() if isinstance(arg, str) else b""
                info.mode = 0o644
                if kind == "owned":
                    info.uid, info.gid = arg
                    data = b"owned\n"
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, arg
            elif kind == "symlink":
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, arg, 0o777
            elif kind == "hardlink":
                info.type, info.linkname, info.mode = tarfile.LNKTYPE, arg, 0o644
            elif kind == "device":
                info.type, info.mode = tarfile.CHRTYPE, 0o666
                info.devmajor, info.devminor = arg
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return buffer.getvalue()


BASE = tar_layer(
    ("dir", "bin", 0o755),
    ("file", "bin/tool", "tool v1\n"),
    ("dir", "etc", 0o755),
    ("file", "etc/passwd", "root:x:0:0::/root:/bin/sh\n"),
    ("file", "etc/hosts", "127.0.0.1 localhost\n"),
    ("file", "etc/motd", "hello\n"),
    ("dir", "opt", 0o755),
    ("dir", "opt/old", 0o755),
    ("file", "opt/old/a", "a\n"),
    ("file", "opt/old/b", "b\n"),
    ("dir", "srv", 0o755),
    ("file", "srv/data", "data\n"),
    ("dir", "tmp", 0o1777),
    ("dir", "var", 0o755),
    ("dir", "var/cache", 0o755),
    ("file", "var/cache/one", "1\n"),
    ("file", "var/cache/two", "2\n"),
    ("symlink", "etc/link", "passwd"),
    ("dir", "usr", 0o755),
    ("file", "usr/shared", "shared\n"),
    ("hardlink", "usr/shared-link", "usr/shared"),
    ("owned", "etc/owned", (1000, 1000)),
)
SECOND = tar_layer(
    # no "etc/" entry: an implicit parent that must keep the lower's metadata
    ("file", "etc/issue", "Linux\n"),
    ("whiteout", "opt/.wh.gone", None),
    ("file", "srv/.wh..wh..opq", None),
    ("dir", "srv", 0o750),
    ("file", "srv/fresh", "fresh\n"),
    ("file", "tmp/scratch", "scratch\n"),
    ("hardlink", "usr/again", "usr/shared"),  # a link to a file of the layer below
)


def build_snapshots(where: Path, layers: list[bytes] | None = None) -> list[Snapshot]:
    """Apply ``layers`` (default: BASE, SECOND) as store snapshots under ``where``."""
    snapshots: list[Snapshot] = []
    for index, layer in enumerate(layers if layers is not None else [BASE, SECOND]):
        path = where / f"snap{index}"
        path.mkdir(parents=True)
        record = OwnershipRecord(path / "ownership.json")
        lowers = [(s.diff, s.ownership) for s in reversed(snapshots)]
        options = ApplyOptions(overlay=True, ownership=record, overlay_lowers=lowers)
        apply_layer(path / "diff", io.BytesIO(layer), options)
        if len(record):
            record.save()
        digest = Digest("sha256", hashlib.sha256(layer).hexdigest())
        snapshots.append(
            Snapshot(digest, digest, path, path / "diff", record if len(record) else None)
        )
    return snapshots


def operations(root: Path, record: OwnershipRecord) -> list[str]:
    """The script both drivers run: every kind of change a container sees."""
    (root / "new" / "sub").mkdir(parents=True)
    (root / "new" / "a.txt").write_text("new file\n")
    (root / "new" / "sub" / "b.txt").write_text("nested\n")
    os.link(root / "new" / "a.txt", root / "new" / "a-link")
    os.link(root / "etc" / "hosts", root / "new" / "hosts-link")  # a link to a lower file
    os.symlink("../etc/passwd", root / "new" / "sym")
    (root / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/bash\n")  # modify a lower file
    os.chmod(root / "bin" / "tool", 0o700)  # chmod a lower file
    os.unlink(root / "etc" / "motd")  # delete a lower file
    for name in ("a", "b"):
        os.unlink(root / "opt" / "old" / name)
    os.rmdir(root / "opt" / "old")  # delete a lower directory
    for name in ("data", "fresh"):
        if (root / "srv" / name).exists():
            os.unlink(root / "srv" / name)
    os.rmdir(root / "srv")
    (root / "srv").write_text("now a file\n")  # replace a directory by a file
    for name in os.listdir(root / "var" / "cache"):
        os.unlink(root / "var" / "cache" / name)
    os.rmdir(root / "var" / "cache")
    (root / "var" / "cache").mkdir()  # a lower directory made again: opaque in overlay
    (root / "var" / "cache" / "three").write_text("3\n")
    os.unlink(root / "etc" / "link")
    os.symlink("hosts", root / "etc" / "link")  # replace a lower symlink
    with open(root / "usr" / "shared", "r+b"):
        pass  # opened for writing, nothing written: no change
    (root / "etc" / "owned").write_text("rewritten\n")  # keeps its recorded owner
    record.set("new/sub/b.txt", record.get("etc/owned") or _entry(1000))
    return sorted(os.listdir(root))


def _entry(uid: int) -> Any:
    from boxwright.layer.ownership import OwnershipEntry

    return OwnershipEntry(uid, uid)


def tar_names(data: bytes) -> list[str]:
    """The entry names of an uncompressed tar, in order."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        return [m.name for m in tar]
