"""The command line's log handler and tracebacks: escaped records, the levels of the global
flags, and the ``boxwright`` logger put back as it was."""

from __future__ import annotations

import io
import logging
import sys

import pytest

from boxwright.cli.logoutput import (
    HANDLER_NAME,
    TerminalSafeFormatter,
    format_traceback,
    install_handler,
)


def test_log_records_and_their_tracebacks_are_escaped() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TerminalSafeFormatter("%(levelname)s: %(message)s"))
    logger = logging.getLogger("boxwright.test_logoutput")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("skipping socket %s", "run/\x1b]0;pwned\x07\nFAKE")
        try:
            raise ValueError("bad \x1b[2J")
        except ValueError:
            logger.error("failed", exc_info=sys.exc_info())
    finally:
        logger.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "WARNING: skipping socket run/\\x1b]0;pwned\\x07\\nFAKE"
    assert lines[1] == "ERROR: failed"
    assert lines[-1] == "ValueError: bad \\x1b[2J"
    assert "\x1b" not in stream.getvalue()


def test_a_traceback_keeps_its_frames_and_escapes_the_message() -> None:
    try:
        raise ValueError("etc/x\nFAKE")
    except ValueError as error:
        shown = format_traceback(error)
    lines = shown.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1].startswith('  File "') and "test_logoutput.py" in lines[1]
    assert lines[-1] == "ValueError: etc/x\\nFAKE"
    assert shown.endswith("\n")


@pytest.mark.parametrize(
    ("debug", "quiet", "level"),
    [(False, False, logging.WARNING), (False, True, logging.ERROR), (True, False, logging.DEBUG)],
)
def test_the_handler_is_installed_once_and_put_back(
    debug: bool, quiet: bool, level: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger = logging.getLogger("boxwright")
    was = (logger.level, logger.propagate, list(logger.handlers))
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    earlier = install_handler(debug=True, quiet=False)  # one an earlier run left
    restore = install_handler(debug=debug, quiet=quiet)
    try:
        ours = [h for h in logger.handlers if h.get_name() == HANDLER_NAME]
        assert len(ours) == 1
        assert (logger.level, logger.propagate) == (level, False)
        logging.getLogger("boxwright.x.y").warning("a %s", "warning")
    finally:
        restore()
        assert [h for h in logger.handlers if h.get_name() == HANDLER_NAME] == []
        earlier()
    assert (logger.level, logger.propagate, list(logger.handlers)) == was
    if debug:
        assert stream.getvalue().endswith(" boxwright.x.y WARNING a warning\n")
    else:
        assert stream.getvalue() == ("" if quiet else "WARNING: a warning\n")
