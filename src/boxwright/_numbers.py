"""Decimal numbers read from outside input: ASCII digits only, of bounded length.

``str.isdigit()`` is true for the superscript two and the Arabic-Indic digits as well as for
``"2"``: ``int()`` then refuses the first (``ValueError``) and reads the others, and ``int()``
refuses any string of more than 4300 digits. Every parser of a number that a file, a header
or a command line gives goes through :func:`ascii_int`, so such text is simply "not a number"
and the parser raises its own typed error.
"""

from __future__ import annotations

MAX_DIGITS = 18
"""Digits accepted by default: every value up to 10**18 - 1 fits a signed 64-bit integer."""


def is_ascii_number(text: str) -> bool:
    """Whether ``text`` is one or more ASCII digits (no sign, space, underscore or other
    script's digit), of any length."""
    return text.isascii() and text.isdigit()


def ascii_int(text: str, max_digits: int = MAX_DIGITS) -> int | None:
    """``text`` as a non-negative integer if it is 1 to ``max_digits`` ASCII digits, else None."""
    if not len(text) <= max_digits or not is_ascii_number(text):
        return None
    return int(text)


__all__ = ["MAX_DIGITS", "ascii_int", "is_ascii_number"]
