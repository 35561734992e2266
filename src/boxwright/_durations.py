"""Go durations (``2s``, ``500ms``, ``1m30s``, ``1.5h``, ``0``) read from outside input.

skopeo's ``--retry-delay`` and buildah's healthcheck times are Go ``time.Duration`` values,
so boxwright reads them with Go's grammar and arithmetic (``time.ParseDuration``): an
optional ``+``, then one or more decimal numbers of ASCII digits each followed by a unit
(``ns``, ``us``, ``µs``, ``μs``, ``ms``, ``s``, ``m``, ``h``); ``0`` alone needs no unit; the
whole part is counted exactly and the fraction as Go counts it. Every caller raises its own
typed error from the :class:`DurationError` this raises.
"""

from __future__ import annotations

import re
from typing import Final, Literal

MAX_DURATION: Final = 2**63
"""Nanoseconds a Go ``time.Duration`` (an int64) can hold: a duration must stay below it."""

_UNITS: Final = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_PART: Final = re.compile(r"([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)")
_FRACTION_DIGITS: Final = 18
"""Fraction digits Go keeps before its accumulator would overflow; later ones do not count."""

Reason = Literal["empty", "negative", "malformed", "too long"]


class DurationError(ValueError):
    """A text that is not a non-negative Go duration; ``reason`` says which way it fails."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.reason: Reason = reason


def parse_go_duration(text: str) -> int:
    """The nanoseconds in ``text`` (surrounding white space ignored); a DurationError for an
    empty, negative, unitless or malformed one, or one of ``MAX_DURATION`` or more."""
    value = text.strip()
    if not value:
        raise DurationError("empty")
    if value.startswith("-"):
        raise DurationError("negative")
    value = value.removeprefix("+")
    if value == "0":
        return 0
    total, position = 0, 0
    while position < len(value) or position == 0:
        match = _PART.match(value, position)
        if match is None or not (match.group(1) or match.group(2)):
            raise DurationError("malformed")
        total += _part_nanoseconds(match.group(1), match.group(2) or "", _UNITS[match.group(3)])
        if not total < MAX_DURATION:
            raise DurationError("too long")
        position = match.end()
    return total


def _part_nanoseconds(whole: str, fraction: str, unit: int) -> int:
    """One number-and-unit part in nanoseconds, as Go's ``ParseDuration`` counts it: the
    whole number exactly, the fraction through a float and truncated."""
    whole = whole.lstrip("0")
    if len(whole) > len(str(MAX_DURATION)):
        return MAX_DURATION  # too long in any unit; int() of thousands of digits would refuse
    nanoseconds = int(whole or "0") * unit
    kept = fraction[:_FRACTION_DIGITS]
    if kept.strip("0"):
        nanoseconds += int(float(int(kept)) * (unit / 10 ** len(kept)))
    return nanoseconds


__all__ = ["MAX_DURATION", "DurationError", "parse_go_duration"]
