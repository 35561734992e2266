"""Go durations as ``time.ParseDuration`` reads them: grammar, arithmetic and refusals."""

from __future__ import annotations

import pytest

from boxwright._durations import MAX_DURATION, DurationError, parse_go_duration


@pytest.mark.parametrize(
    ("text", "nanoseconds"),
    [
        ("0", 0),
        ("+0", 0),
        (" 30s ", 30_000_000_000),
        ("1h2m3s", 3_723_000_000_000),
        ("1.5h", 5_400_000_000_000),
        ("1.s", 1_000_000_000),
        (".5ms", 500_000),
        ("+2s", 2_000_000_000),
        ("10us", 10_000),
        ("10µs", 10_000),
        ("10μs", 10_000),
        ("0.29s", 290_000_000),
        ("1.0000000001s", 1_000_000_000),
        ("9223372036854775807ns", MAX_DURATION - 1),
    ],
)
def test_durations_in_nanoseconds(text: str, nanoseconds: int) -> None:
    assert parse_go_duration(text) == nanoseconds


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("  ", "empty"),
        ("-1s", "negative"),
        ("-0", "negative"),
        ("2", "malformed"),
        ("00", "malformed"),
        ("+", "malformed"),
        (".s", "malformed"),
        ("1s2", "malformed"),
        ("2x", "malformed"),
        ("1e3s", "malformed"),
        ("\u0661s", "malformed"),  # an Arabic-Indic one: digits are ASCII only
        ("9223372036854775808ns", "too long"),
        ("2562048h", "too long"),
        ("9" * 5000 + "h", "too long"),
    ],
)
def test_what_is_not_a_duration_says_why(text: str, reason: str) -> None:
    with pytest.raises(DurationError) as caught:
        parse_go_duration(text)
    assert caught.value.reason == reason
    assert isinstance(caught.value, ValueError)
