"""One base for the objects that hold something until ``close()`` (a stream, connections,
directory handles): ``with obj:`` returns the object and closes it on leaving, whatever
happened in the block, as Python's own file objects do."""

from __future__ import annotations

from typing import Self


class Closing:
    """``with obj:`` closes ``obj`` on leaving; subclasses say in :meth:`close` what it frees."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
