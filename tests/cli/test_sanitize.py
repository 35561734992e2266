"""The sanitiser of human output: the exact forms, that a cell reads back to its value, and
that nothing a terminal obeys survives, for any text."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boxwright.cli.sanitize import (
    escape,
    escape_json,
    escape_lines,
    escape_message,
)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain/path.txt", "plain/path.txt"),
        ("etc/x\nFAKE  /etc/shadow", "etc/x\\nFAKE  /etc/shadow"),
        ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),
        ("\x1b[2J", "\\x1b[2J"),
        ("a\rb\tc\x00", "a\\rb\\tc\\x00"),
        ("del\x7f", "del\\x7f"),
        ("\x9b2J", "\\u009b2J"),
        ("nel\x85", "nel\\u0085"),
        ("bidi\u202eexe.txt", "bidi\\u202eexe.txt"),
        ("\u2066isolate\u2069", "\\u2066isolate\\u2069"),
        ("zero\u200bwidth", "zero\\u200bwidth"),
        ("line\u2028sep", "line\\u2028sep"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("byte\udcffname", "byte\\xffname"),
        ("日本語 ünïcode", "日本語 ünïcode"),
        ("[bold]x[/bold]", "[bold]x[/bold]"),
        # backslashes: doubled only where they would read as an escape
        ("C:\\dir", "C:\\dir"),
        ("s/\\./x/", "s/\\./x/"),
        ("printf 'a\\n'", "printf 'a\\\\n'"),
        ("\\x1b", "\\\\x1b"),
        ("\\\\", "\\\\\\"),
        ("\\\x1b", "\\\\\\x1b"),
        ("end\\", "end\\"),
    ],
)
def test_escape_forms(text: str, shown: str) -> None:
    assert escape(text) == shown


def test_messages_keep_backslashes_and_escape_every_control() -> None:
    assert escape_message("tag 'x\\x1b' and \x1b[2J in C:\\new") == (
        "tag 'x\\x1b' and \\x1b[2J in C:\\new"
    )
    assert escape_message("col\tumn\x1b", keep="\t") == "col\tumn\\x1b"
    assert escape_lines("Traceback\n  line \x1b]0;x\x07\n") == "Traceback\n  line \\x1b]0;x\\x07\n"


_ESCAPE = re.compile(r"\\(?:x([0-9a-f]{2})|u([0-9a-f]{4})|U([0-9a-f]{8})|([nrt\\]))")


def _unescape(shown: str) -> str:
    """The reader of :func:`escape`'s forms: ``\\xNN`` below 0x80 is the character, above it
    the byte that was not UTF-8; a backslash that starts no escape is itself."""

    def one(match: re.Match[str]) -> str:
        byte, bmp, astral, named = match.groups()
        if byte is not None:
            code = int(byte, 16)
            return chr(code) if code < 0x80 else chr(0xDC00 + code)
        if bmp is not None or astral is not None:
            return chr(int(bmp or astral, 16))
        return {"n": "\n", "r": "\r", "t": "\t", "\\": "\\"}[named]

    return _ESCAPE.sub(one, shown)


_TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("\\nrtxuU0123456789abcdef\x1b\x07\n\r\t\x7f\x9b\u202e\udcff ")),
        st.characters(),
    ),
    max_size=40,
)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_a_cell_reads_back_to_its_value_and_holds_nothing_a_terminal_obeys(text: str) -> None:
    shown = escape(text)
    assert _unescape(shown) == text
    assert not any(
        ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in "\u202a\u202b\u202c\u202d\u202e"
        for c in shown
    )
    assert not any(0x2066 <= ord(c) <= 0x2069 or 0xD800 <= ord(c) <= 0xDFFF for c in shown)
    shown_message = escape_message(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown_message)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _TEXT, max_size=4))
def test_json_in_human_text_stays_the_same_json(value: dict[str, str]) -> None:
    text = json.dumps(value, ensure_ascii=False)
    safe = escape_json(text)
    assert json.loads(safe) == value
    assert not any(0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in safe)
    assert escape_json('{"a":"\\u001b\\\\x"}') == '{"a":"\\u001b\\\\x"}'
    assert escape_json('["\x9b\U000e0041"]') == '["\\u009b\\udb40\\udc41"]'
