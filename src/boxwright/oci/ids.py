"""User and group IDs, and ``USER[:GROUP]`` specs: the one parser every entry point uses.

A uid or gid is a decimal number from 0 to 4294967294 (:data:`MAX_ID`). 4294967295 is
``(uid_t)-1``, which ``setresuid(2)``, ``setresgid(2)`` and ``chown(2)`` read as "leave this
ID unchanged": a process asked to become it stays root, and a file chowned to it keeps the
owner it was created with (root). Nothing that is not a valid ID may therefore reach them.

A spec part is a number only when it is written as plain ASCII digits; a sign, spaces,
underscores, other scripts' digits, an empty part, a control character or a value past
:data:`MAX_ID` is refused with :class:`~boxwright.errors.InvalidIDError` (Python's ``int()``
would accept ``" +1_000 "``; Go's ``strconv.Atoi``, which runc and podman use, accepts a
sign). Anything else is a name, resolved by the caller against the image's own
``/etc/passwd`` and ``/etc/group``. runc narrows numeric IDs further, to 0..2147483647, for
32-bit systems; boxwright takes the whole range the kernel gives ``uid_t``.
"""

from __future__ import annotations

from dataclasses import dataclass

from boxwright._numbers import is_ascii_number
from boxwright.errors import InvalidIDError

#: The largest valid uid or gid: one less than ``(uid_t)-1``.
MAX_ID = 0xFFFF_FFFE


def check_id(value: int, kind: str = "uid") -> int:
    """``value`` when it is a valid ``kind`` ("uid" or "gid"), else :class:`InvalidIDError`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID:
        raise InvalidIDError(f"{kind} {value!r} is out of range: IDs are 0 to {MAX_ID}")
    return value


#: How much of a refused spec an error message repeats (an image config may hold megabytes).
_SHOWN = 64


def _shown(text: str) -> str:
    """``text`` for an error message: quoted with control characters escaped, and cut short."""
    return repr(text if len(text) <= _SHOWN else text[:_SHOWN] + "...")


def parse_id(text: str, kind: str = "uid") -> int:
    """A ``kind`` written as decimal digits (``"1000"``), checked; else :class:`InvalidIDError`."""
    if not is_ascii_number(text):
        raise InvalidIDError(f"{kind} {_shown(text)} is not a number from 0 to {MAX_ID}")
    if len(text.lstrip("0")) > len(str(MAX_ID)):
        shown = text if len(text) <= _SHOWN else _shown(text)
        raise InvalidIDError(f"{kind} {shown} is out of range: IDs are 0 to {MAX_ID}")
    return check_id(int(text), kind)


def _part(text: str, kind: str, name: str) -> int | str:
    """One side of a spec: an ID when numeric, else a name that could exist."""
    if is_ascii_number(text):
        return parse_id(text, kind)
    bad = (
        not text
        or text[0] in "+-"
        or text.isnumeric()
        or any(c.isspace() or not c.isprintable() or c == ":" for c in text)
    )
    if bad:
        raise InvalidIDError(
            f"{_shown(text)} is neither a {kind} (0 to {MAX_ID}) nor a {name} name"
        )
    return text


@dataclass(frozen=True, slots=True)
class UserSpec:
    """A parsed ``USER[:GROUP]``: each side a checked ID (``int``) or a name (``str``)."""

    user: int | str
    group: int | str | None = None

    @property
    def uid(self) -> int | None:
        """The uid when the user was given as a number."""
        return self.user if isinstance(self.user, int) else None

    @property
    def gid(self) -> int | None:
        """The gid when the group was given as a number."""
        return self.group if isinstance(self.group, int) else None


def parse_user_spec(spec: str, what: str = "user") -> UserSpec:
    """``USER[:GROUP]`` (an image's ``User``, ``--user``, ``--chown``) as a :class:`UserSpec`.

    An empty spec is root (``UserSpec(0)``), as in runc. ``what`` names the spec's origin in
    the error (``"--chown"``, ``"image User"``). Raises :class:`InvalidIDError`.
    """
    if not spec:
        return UserSpec(0)
    user, sep, group = spec.partition(":")
    try:
        if not user:
            raise InvalidIDError("the user is empty (expected USER[:GROUP])")
        if sep and not group:
            raise InvalidIDError("the group is empty (expected USER[:GROUP])")
        return UserSpec(_part(user, "uid", "user"), _part(group, "gid", "group") if sep else None)
    except InvalidIDError as error:
        raise InvalidIDError(f"invalid {what} {_shown(spec)}: {error}") from None


__all__ = ["MAX_ID", "UserSpec", "check_id", "parse_id", "parse_user_spec"]
