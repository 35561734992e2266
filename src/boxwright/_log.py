"""The library's loggers, which load :mod:`logging` only when a record is first made.

Every module that logs holds a :class:`Logger` of its name (``log = Logger(__name__)``):
importing the module costs no ``logging`` (~3 ms with what it imports), so a run that logs
nothing, a cached rebuild among them, never loads it. A :class:`Logger`'s first call makes
the standard logger of its name (``logging.getLogger(name)``: handlers, levels and
``caplog`` see the same records as ever), and the library's first call runs, before its
record is made, what :func:`when_used` registered: the command line's handler and level.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import logging
    from collections.abc import Callable

_lock = threading.RLock()
_pending: list[Callable[[], None]] = []
_used = False


def when_used(setup: Callable[[], None]) -> Callable[[], None]:
    """Run ``setup`` before the library's first log record: at once if one was made.

    Returns the function that drops ``setup`` if it has not run (the command line's run
    ends without a record).
    """
    with _lock:
        if not _used:
            _pending.append(setup)
            return lambda: _drop(setup)
    setup()
    return lambda: None


def _drop(setup: Callable[[], None]) -> None:
    with _lock:
        if setup in _pending:
            _pending.remove(setup)


def _standard(name: str) -> logging.Logger:
    """``logging.getLogger(name)``, after what :func:`when_used` registered ran once."""
    global _used
    import logging

    if not _used:
        with _lock:
            while _pending:
                _pending.pop(0)()
            _used = True
    return logging.getLogger(name)


class Logger:
    """A named logger that becomes the standard logger of its name at its first call.

    The methods are the standard logger's; the record names the caller's line, as a direct
    call's does.
    """

    __slots__ = ("_logger", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._logger: logging.Logger | None = None

    def _get(self) -> logging.Logger:
        logger = self._logger
        if logger is None:
            logger = self._logger = _standard(self.name)
        return logger

    def debug(self, msg: object, *args: object, stacklevel: int = 1, **kwargs: Any) -> None:
        """Log ``msg % args`` at DEBUG."""
        self._get().debug(msg, *args, stacklevel=stacklevel + 1, **kwargs)

    def info(self, msg: object, *args: object, stacklevel: int = 1, **kwargs: Any) -> None:
        """Log ``msg % args`` at INFO."""
        self._get().info(msg, *args, stacklevel=stacklevel + 1, **kwargs)

    def warning(self, msg: object, *args: object, stacklevel: int = 1, **kwargs: Any) -> None:
        """Log ``msg % args`` at WARNING."""
        self._get().warning(msg, *args, stacklevel=stacklevel + 1, **kwargs)

    def error(self, msg: object, *args: object, stacklevel: int = 1, **kwargs: Any) -> None:
        """Log ``msg % args`` at ERROR."""
        self._get().error(msg, *args, stacklevel=stacklevel + 1, **kwargs)
