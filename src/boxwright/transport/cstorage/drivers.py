"""The graph drivers' directories for a layer being written: overlay's and vfs's layouts.

``overlay``: ``overlay/ID/diff`` holds the layer alone (whiteouts as 0:0 character devices,
opaque directories marked with an xattr), beside ``link`` (its short name, a symlink
``overlay/l/NAME`` → ``../ID/diff``), ``lower`` (the short names of the layers below, top
first), ``work/`` and ``merged/``, or ``empty/`` for a base layer. ``vfs``: ``vfs/dir/ID``
holds the whole tree up to the layer (what containers/storage's vfs driver makes by copying
its parent's directory and applying the layer's diff, whiteouts removing what they name).
The root directory of a layer has its parent's permission bits, ``0555`` for a base layer.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
from pathlib import Path
from typing import Final

from boxwright.layer.overlayfs import OPAQUE_VALUE, OPAQUE_XATTR
from boxwright.transport.atomic import atomic_write
from boxwright.transport.cstorage.records import StorePaths

BASE_ROOT_MODE: Final = 0o555
_TRUSTED_OPAQUE: Final = "trusted.overlay.opaque"


def _short_id() -> str:
    """A 26-character link name, as the overlay driver's ``generateID``."""
    return base64.b32encode(secrets.token_bytes(20)).decode()[:26]


def prepare(paths: StorePaths) -> None:
    """The driver's own directories in the graph root."""
    if paths.driver == "overlay":
        (paths.root / "overlay" / "l").mkdir(parents=True, exist_ok=True, mode=0o700)
    else:
        (paths.root / "vfs" / "dir").mkdir(parents=True, exist_ok=True, mode=0o700)


def create(paths: StorePaths, layer_id: str, parent: str) -> Path:
    """A fresh, empty directory for the layer's files (what was left of an earlier attempt
    removed first), with the root mode it keeps; returns it."""
    remove(paths, layer_id)
    mode = BASE_ROOT_MODE
    if parent:
        mode = os.stat(paths.layer_dir(parent)).st_mode & 0o7777
    target = paths.layer_dir(layer_id)
    if paths.driver == "overlay":
        target.parent.mkdir(mode=0o700)
    target.mkdir()
    os.chmod(target, mode)
    return target


def finish(paths: StorePaths, layer_id: str, parent: str, *, privileged: bool) -> None:
    """What the driver keeps beside a layer's files once they are all there."""
    if paths.driver != "overlay":
        return
    home = paths.root / "overlay" / layer_id
    if privileged:
        _mark_opaque_trusted(home / "diff")
    (home / "work").mkdir(mode=0o700)
    (home / "merged").mkdir(mode=0o700)
    if parent:
        parent_home = paths.root / "overlay" / parent
        lower = "l/" + (parent_home / "link").read_text().strip()
        with contextlib.suppress(FileNotFoundError):
            lower += ":" + (parent_home / "lower").read_text().strip()
        (home / "lower").write_text(lower)
    else:
        (home / "empty").mkdir(mode=0o700)
    short = _short_id()
    os.symlink(f"../{layer_id}/diff", paths.root / "overlay" / "l" / short)
    atomic_write(home / "link", short.encode())


def remove(paths: StorePaths, layer_id: str) -> None:
    """Remove the layer's directories and its short name, whatever of them exists."""
    if paths.driver == "overlay":
        home = paths.root / "overlay" / layer_id
        with contextlib.suppress(OSError):
            short = (home / "link").read_text().strip()
            if short and "/" not in short:
                (paths.root / "overlay" / "l" / short).unlink()
        shutil.rmtree(home, ignore_errors=True)
    else:
        shutil.rmtree(paths.layer_dir(layer_id), ignore_errors=True)


def _mark_opaque_trusted(root: Path) -> None:
    """Turn the ``user.overlay.opaque`` markers of ``root`` into the ``trusted.`` ones a
    privileged kernel overlay mount reads."""
    for path, _dirs, _files in os.walk(root):
        try:
            value = os.getxattr(path, OPAQUE_XATTR, follow_symlinks=False)
        except OSError:
            continue
        if value == OPAQUE_VALUE:
            os.setxattr(path, _TRUSTED_OPAQUE, OPAQUE_VALUE, follow_symlinks=False)
            os.removexattr(path, OPAQUE_XATTR, follow_symlinks=False)


__all__ = ["BASE_ROOT_MODE", "create", "finish", "prepare", "remove"]
