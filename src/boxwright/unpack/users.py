"""Resolve an image's ``User`` against the image's own ``/etc/passwd`` and ``/etc/group``.

The files are read inside the unpacked rootfs only, never on the host: every path component,
including the last, is resolved as if the rootfs were ``/`` (a symlink ``/etc/passwd ->
/etc/shadow`` names the *image's* shadow, and ``../../..`` stops at the root), and the final
open refuses to follow a link (CVE-2024-9676, where a tool read the host's file through a
symlinked ``/etc/passwd``). Nothing from the image is executed or loaded (no NSS).

The rules are those of runc's ``libcontainer/user.GetExecUser``, which umoci uses for the
runtime spec of a bundle: ``USER[:GROUP]`` by name or number; a numeric user needs no passwd
entry; the primary group is the passwd entry's unless a group is given; supplementary groups
are those of ``/etc/group`` that list the user by name, unless a group was given explicitly;
``HOME`` is the passwd entry's home, else ``/``.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from boxwright.errors import UnpackError
from boxwright.layer.pathsafe import resolve_in_root

#: The largest passwd or group file read (a hostile image may make it huge or endless).
MAX_DB_SIZE = 16 << 20


@dataclass(frozen=True, slots=True)
class ExecUser:
    """The identity a container process runs as."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()
    home: str = "/"


def _read_db(root: Path, path: str) -> list[list[str]] | None:
    """The colon-separated lines of a passwd-like file in the rootfs; None when it is absent."""
    full = resolve_in_root(root, path, follow_last=True)
    try:
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            return None
        raise
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise UnpackError(f"{path} in the image is not a regular file")
        data = f.read(MAX_DB_SIZE + 1)
    if len(data) > MAX_DB_SIZE:
        raise UnpackError(f"{path} in the image is larger than {MAX_DB_SIZE} bytes")
    lines = data.decode("utf-8", "replace").splitlines()
    return [line.split(":") for line in lines if line.strip() and not line.startswith("#")]


def _number(text: str) -> int | None:
    if text.isdigit() and text.isascii():
        value = int(text)
        return value if value < 2**32 else None
    return None


def resolve_user(root: Path, spec: str) -> ExecUser:
    """The :class:`ExecUser` for an image config's ``User`` (``""`` means root).

    Raises :class:`UnpackError` for a user or group name the image does not define.
    """
    user, _, group = spec.partition(":")
    uid_arg = _number(user)
    gid_arg = _number(group) if group else None
    passwd = _read_db(root, "/etc/passwd")
    uid, gid, home, name = (uid_arg if uid_arg is not None else 0), 0, "/", ""
    matched = None
    for fields in passwd or []:
        if len(fields) < 6:
            continue
        entry_uid = _number(fields[2])
        by_name = user and fields[0] == user
        by_uid = (not user and entry_uid == 0) or (uid_arg is not None and entry_uid == uid_arg)
        if by_name or by_uid:
            matched = fields
            break
    if matched is not None:
        name = matched[0]
        uid = _number(matched[2]) or 0
        gid = _number(matched[3]) or 0
        home = matched[5] or "/"
    elif user and uid_arg is None:
        where = "has no /etc/passwd" if passwd is None else "has no such user in /etc/passwd"
        raise UnpackError(f"cannot resolve user {user!r}: the image {where}")
    additional: list[int] = []
    if group or matched is not None:
        groups = _read_db(root, "/etc/group") or []
        if group:
            found = [
                f
                for f in groups
                if len(f) >= 3
                and (f[0] == group or (gid_arg is not None and _number(f[2]) == gid_arg))
            ]
            if found:
                gid = _number(found[0][2]) or 0
            elif gid_arg is not None:
                gid = gid_arg
            else:
                raise UnpackError(f"cannot resolve group {group!r}: not in the image's /etc/group")
        else:
            for f in groups:
                if len(f) >= 4 and name in f[3].split(","):
                    member_gid = _number(f[2])
                    if member_gid is not None and member_gid not in additional:
                        additional.append(member_gid)
    return ExecUser(uid, gid, tuple(additional), home)


__all__ = ["ExecUser", "resolve_user"]
