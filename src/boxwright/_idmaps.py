"""The ID maps of a user namespace as the kernel shows them: the one reader of
``/proc/PID/uid_map`` and ``/proc/PID/gid_map``.

A private module outside the layers, as :mod:`boxwright._numbers` is, because the layers
that ask about the namespace a process is in sit on both sides of :mod:`boxwright.rootless`:
``config/paths.py`` (is this root only the root of the store's namespace?) and
``layer/ownership.py`` (does this namespace map a single ID?) below it, and
:mod:`boxwright.rootless.ranges` (:func:`~boxwright.rootless.ranges.read_mapping`) itself.
Each asks its own question of the same rows.
"""

from __future__ import annotations

IDMapRow = tuple[int, int, int]
"""One line of a map: the first ID inside the namespace, the first ID outside it, the count."""


def read_id_map(kind: str = "uid", pid: int | str = "self") -> tuple[IDMapRow, ...]:
    """The rows of ``/proc/PID/KIND_map`` (``kind``: ``uid`` or ``gid``), in the kernel's
    order; :class:`OSError` when the file cannot be read."""
    with open(f"/proc/{pid}/{kind}_map", "rb") as handle:
        return tuple(_row(line) for line in handle if line.strip())


def own_uid_map() -> tuple[IDMapRow, ...] | None:
    """This process's uid map; None when it cannot be read (no ``/proc``)."""
    try:
        return read_id_map()
    except OSError:
        return None


def _row(line: bytes) -> IDMapRow:
    inside, outside, count = line.split()
    return int(inside), int(outside), int(count)


__all__ = ["IDMapRow", "own_uid_map", "read_id_map"]
