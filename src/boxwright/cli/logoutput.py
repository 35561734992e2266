"""Log records and tracebacks as the command line prints them: escaped, on stderr.

:mod:`boxwright.cli.sanitize` escapes every line; this module holds what needs Python's
``logging`` and ``traceback`` modules, so a run that logs nothing and fails in no traceback
loads neither: the handler the command line gives the ``boxwright`` logger
(:func:`install_handler`), its formatter, and :func:`format_traceback` (``--debug``).
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable

from boxwright.cli.sanitize import escape_lines, escape_message

HANDLER_NAME = "boxwright-cli"
"""The name of the log handler the command line installs (and removes when it ends)."""


def format_traceback(error: BaseException) -> str:
    """The traceback of ``error`` (and of the exceptions it was raised from), escaped.

    Frames keep their lines; each exception's own line (``Type: message``) is escaped as one
    line, so a message quoting a name with a newline cannot start a line of its own.
    """
    out: list[str] = []
    for chunk in traceback.TracebackException.from_exception(error).format():
        if chunk.startswith(("Traceback ", "  File ", "\n", "  [Previous")):
            out.append(escape_lines(chunk))
        else:
            out.append(escape_message(chunk.rstrip("\n")) + "\n")
    return "".join(out)


class TerminalSafeFormatter(logging.Formatter):
    """A log formatter whose messages are escaped as one line (tracebacks line by line)."""

    def format(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg, safe.args = escape_message(record.getMessage()), None
        return super().format(safe)

    def formatException(self, ei: logging._SysExcInfoType) -> str:
        if ei[1] is None:
            return escape_lines(super().formatException(ei))
        return format_traceback(ei[1]).rstrip("\n")

    def formatStack(self, stack_info: str) -> str:
        return escape_lines(super().formatStack(stack_info))


def install_handler(*, debug: bool, quiet: bool) -> Callable[[], None]:
    """Send the ``boxwright`` logger's records to the current ``sys.stderr``: warnings and
    errors (errors only when ``quiet``), everything with a timestamp and the logger's name when
    ``debug``; the logger's own records stop there (no propagation to the root logger).

    A handler an earlier run left is replaced. Returns the function that removes the handler
    and puts the logger's level and propagation back as they were, so a program that calls
    the command line in-process keeps its own logging.
    """
    logger = logging.getLogger("boxwright")
    level, propagate = logger.level, logger.propagate

    def restore() -> None:
        for added in [h for h in logger.handlers if h.get_name() == HANDLER_NAME]:
            logger.removeHandler(added)
        logger.setLevel(level)
        logger.propagate = propagate

    for old in [h for h in logger.handlers if h.get_name() == HANDLER_NAME]:
        logger.removeHandler(old)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(HANDLER_NAME)
    if debug:
        handler.setFormatter(
            TerminalSafeFormatter("%(asctime)s %(name)s %(levelname)s %(message)s")
        )
        logger.setLevel(logging.DEBUG)
    else:
        handler.setFormatter(TerminalSafeFormatter("%(levelname)s: %(message)s"))
        logger.setLevel(logging.ERROR if quiet else logging.WARNING)
    logger.addHandler(handler)
    logger.propagate = False
    return restore


__all__ = ["HANDLER_NAME", "TerminalSafeFormatter", "format_traceback", "install_handler"]
