"""The one sanitiser for human output: characters a terminal would obey are shown escaped.

Text for people (tables, trees, ``key: value`` summaries, ``--format`` templates, progress
lines, build steps, error and log lines) quotes what images, registries and archives say:
file names, labels, history, tags, media types, error bodies. A crafted image could put
terminal control sequences there and retitle or clear the terminal, move the cursor, or
forge rows of a table (a file named ``etc/x\\nFAKE  /etc/shadow``). Every such text passes
:func:`escape` before it reaches a terminal, through the renderers of
:mod:`boxwright.cli.output`, the template renderer, :func:`echo`, the error handler of
:mod:`boxwright.cli.main`, and the log formatter and tracebacks of
:mod:`boxwright.cli.logoutput`. JSON output and byte-exact output (``inspect --raw``) are data
for programs and are not changed (JSON escapes C0 controls itself).

What is escaped, and how (the form of Go's ``strconv.Quote``, without the quotes):

* C0 controls U+0000-U+001F, ESC included: ``\\t``, ``\\n``, ``\\r`` by name, the others
  as ``\\xNN`` (ESC is ``\\x1b``); DEL U+007F as ``\\x7f``;
* every other character of Unicode categories Cc, Cf, Zl and Zp as ``\\uNNNN`` (or
  ``\\UNNNNNNNN`` above U+FFFF): C1 controls U+0080-U+009F (U+009B is CSI to many
  terminals), the bidirectional overrides and isolates U+202A-U+202E and U+2066-U+2069
  that reorder what is shown (Trojan Source), the marks U+200E, U+200F and U+061C, zero-width
  characters, and the line and paragraph separators U+2028 and U+2029;
* a byte that was not UTF-8 (a name decoded with ``surrogateescape``) as ``\\xNN``, that
  byte; any other lone surrogate as ``\\uNNNN``;
* in a value of a table, a tree or a ``key: value`` summary (:func:`escape`), a backslash
  as ``\\\\`` where it could otherwise be read as the start of an escape: when it is
  followed by a backslash, by one of the letters ``n r t x u U``, or by a character that is
  itself escaped. Elsewhere (``C:\\dir``, ``s/\\./x/``) it is shown as it is. So every
  escape in a cell stands for exactly one character and the cell reads back to the value
  (``tests/cli/test_sanitize.py`` checks this for any text): a file literally named
  ``a\\nb`` shows as ``a\\\\nb``, one with a newline as ``a\\nb``.
* in a line of prose (an error or log line, a build step, a RUN's output, a message) and in
  a value a ``--format`` template prints (:func:`escape_message`), backslashes as written:
  messages quote values in Python's ``repr`` form (already escaped, not to be doubled), and
  a value without control characters is printed exactly as it is, as skopeo prints it, for
  the scripts that read it. There ``\\n`` can stand for a newline or for the two
  characters; the tables of ``explain`` and ``diff`` tell them apart.

This module imports nothing heavy (no ``logging``, no ``traceback``): the error handler uses
it on every failing run, and a build's steps on every build.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import IO

import click

#: Unicode categories shown escaped: controls, format characters (bidi overrides, zero-width
#: characters), line and paragraph separators, and surrogates (bytes that were not UTF-8).
_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})

#: An ASCII text needs work only if it holds a control character (or, outside JSON, a
#: backslash).
_ASCII_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ASCII_SPECIAL = re.compile(r"[\x00-\x1f\x7f\\]")

_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

#: What, after a backslash, would read as an escape.
_ESCAPE_LETTERS = frozenset("\\nrtxuU")


def is_unsafe(char: str) -> bool:
    """Whether the one character ``char`` is shown escaped (see the module docstring)."""
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return True
    if code < 0x80:
        return False
    return unicodedata.category(char) in _CATEGORIES


def _form(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    if code < 0x80:
        return f"\\x{code:02x}"
    if 0xDC80 <= code <= 0xDCFF:  # surrogateescape: the byte that was not UTF-8
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _escape(text: str, keep: str, backslashes: bool) -> str:
    if text.isascii() and (_ASCII_SPECIAL if backslashes else _ASCII_CONTROL).search(text) is None:
        return text
    forms = [None if char in keep or not is_unsafe(char) else _form(char) for char in text]
    out: list[str] = []
    last = len(text) - 1
    for i, char in enumerate(text):
        form = forms[i]
        if form is not None:
            out.append(form)
        elif (
            backslashes
            and char == "\\"
            and i < last
            and (text[i + 1] in _ESCAPE_LETTERS or forms[i + 1] is not None)
        ):
            out.append("\\\\")
        else:
            out.append(char)
    return "".join(out)


def escape(text: str) -> str:
    """A value for a table cell, a tree node or a summary: every character a terminal could
    obey shown escaped, and a backslash doubled where it would read as an escape, so the cell
    reads back to exactly the value (see the module docstring)."""
    return _escape(text, "", True)


def escape_message(text: str, *, keep: str = "") -> str:
    """A line of prose (an error, a log record, a build step) or a value printed for a script
    (a ``--format`` template's): every character a terminal could obey shown escaped;
    backslashes as written.

    Messages quote values in Python's ``repr`` form, whose escapes must not be doubled, and a
    value without control characters is printed exactly as it is. ``keep`` names characters
    to leave as they are: ``"\\t"`` for a process's output lines.
    """
    return _escape(text, keep, False)


def escape_lines(text: str) -> str:
    """Text of several lines as :func:`escape_message`, its newlines kept."""
    return _escape(text, "\n", False)


def escape_json(text: str) -> str:
    """JSON text with the characters JSON leaves raw (C1, DEL, bidi, separators) as ``\\uNNNN``.

    ``json.dumps`` escapes only C0 controls, quotes and backslashes; the result is still JSON
    and decodes to the same values. Used where JSON is part of human text (``{{json .X}}`` in a
    ``--format`` template); JSON output proper is printed exactly as serialized.
    """
    if text.isascii() and _ASCII_CONTROL.search(text) is None:
        return text
    out: list[str] = []
    for char in text:
        if char == "\\" or not is_unsafe(char):
            out.append(char)
            continue
        code = ord(char)
        if code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{code:04x}")
    return "".join(out)


def echo(text: str = "", *, err: bool = False, file: IO[str] | None = None) -> None:
    """Print one line of human text (:func:`escape_message`): how every message line of the
    CLI is printed.

    ``text`` is one line; a newline inside it is shown as ``\\n`` (print a blank line with
    ``echo()``).
    """
    click.echo(escape_message(text), err=err, file=file)


#: The shape of :func:`escape` and :func:`escape_json`, as the template renderer takes them.
Escaper = Callable[[str], str]

__all__ = [
    "Escaper",
    "echo",
    "escape",
    "escape_json",
    "escape_lines",
    "escape_message",
    "is_unsafe",
]
