"""The library's lazy loggers: what the command line registers runs before the first record,
and a record names the line that made it."""

from __future__ import annotations

import pytest

from boxwright import _log
from boxwright._log import Logger, when_used


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """The module as in a process that has made no record yet."""
    monkeypatch.setattr(_log, "_used", False)
    monkeypatch.setattr(_log, "_pending", [])


@pytest.mark.usefixtures("fresh")
def test_a_setup_runs_before_the_first_record_only(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []
    when_used(lambda: seen.append("first"))
    dropped = when_used(lambda: seen.append("dropped"))
    dropped()
    assert seen == []
    with caplog.at_level("WARNING", logger="boxwright"):
        Logger("boxwright.t").warning("one %s", "record")
        assert seen == ["first"]
        Logger("boxwright.u").warning("two")
    assert seen == ["first"]
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("boxwright.t", "one record"),
        ("boxwright.u", "two"),
    ]
    undo = when_used(lambda: seen.append("at once"))
    assert seen == ["first", "at once"]
    undo()
    assert seen == ["first", "at once"]


@pytest.mark.usefixtures("fresh")
def test_a_record_names_its_callers_line(caplog: pytest.LogCaptureFixture) -> None:
    log = Logger("boxwright.t")
    with caplog.at_level("DEBUG", logger="boxwright"):
        log.debug("d")
        log.info("i")
        log.error("e")
    assert [(r.levelname, r.funcName, r.filename) for r in caplog.records] == [
        ("DEBUG", "test_a_record_names_its_callers_line", "test_log.py"),
        ("INFO", "test_a_record_names_its_callers_line", "test_log.py"),
        ("ERROR", "test_a_record_names_its_callers_line", "test_log.py"),
    ]
