"""The attach client's pure parts: podman's ``--detach-keys`` syntax, finding the sequence in
typed input, the window-size messages, and conmon's log timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from boxwright.errors import UsageError
from boxwright.runtime.attach import DetachMatcher, parse_detach_keys, parse_size
from boxwright.runtime.state import parse_time


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("ctrl-p,ctrl-q", b"\x10\x11"),
        ("ctrl-a", b"\x01"),
        ("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_", b"\x00\x1b\x1c\x1d\x1e\x1f"),
        ("a,b,ctrl-z", b"ab\x1a"),
        ("CTRL-X", b"\x18"),
        ("", b""),
    ],
)
def test_parse_detach_keys(text: str, keys: bytes) -> None:
    assert parse_detach_keys(text) == keys


@pytest.mark.parametrize("text", ["ctrl-", "ctrl-1", "ab", "a,,b", "ctrl-pp", "é"])
def test_parse_detach_keys_refuses(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_detach_keys(text)
    assert str(caught.value).startswith(f"invalid detach keys {text!r}: ")


def test_matcher_holds_a_prefix_until_it_is_decided() -> None:
    m = DetachMatcher(b"\x10\x11")
    assert m.feed(b"ab\x10") == (b"ab", False)  # ctrl-p held back
    assert m.feed(b"c") == (b"\x10c", False)  # not the sequence: both go on
    assert m.feed(b"\x10\x10") == (b"\x10", False)
    assert m.feed(b"\x11rest") == (b"", True)  # typed: nothing after it is passed
    assert DetachMatcher(b"").feed(b"\x10\x11") == (b"\x10\x11", False)
    assert DetachMatcher(b"\x18x").feed(b"1\x18y2\x18x3") == (b"1\x18y2", True)


def test_sizes_and_conmon_timestamps() -> None:
    assert parse_size(b"24 80") == (24, 80)
    assert parse_size(b"") is None
    assert parse_size(b"24 x") is None
    assert parse_size(b"1 2 3") is None
    assert parse_size(b"999999 1") is None
    moment = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
    assert parse_time("2026-01-02T03:04:05.123456789Z") == moment
    assert parse_time("2026-01-02T03:04:05.123456789+00:00") == moment
    assert parse_time("2026-01-02T05:04:05.123456789+02:00") == moment
    assert parse_time("2026-01-02T01:34:05.123456789-01:30") == moment
    with pytest.raises(ValueError):
        parse_time("2026-01-02T03:04:05+0x:00")
