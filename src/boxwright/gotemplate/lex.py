"""Go ``text/template`` source → items: text runs and the tokens of each action.

The rules are Go's: an action is ``{{ … }}``; ``{{- `` trims the white space before it and
`` -}}`` the white space after it (the dash must be followed, or preceded, by a space);
``{{/* … */}}`` is a comment. Inside an action: fields (``.Name``), variables (``$x``),
identifiers (functions and keywords), strings (``"…"`` with Go's escapes, raw ```…```),
characters (``'x'``), numbers, booleans, ``nil``, ``(``, ``)``, ``|``, ``:=``, ``=``, ``,``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from boxwright.errors import UsageError

LEFT: Final = "{{"
RIGHT: Final = "}}"
_SPACE = " \t\r\n"

# token kinds
FIELD: Final = "field"  # .Name (value: "Name"); a lone "." is DOT
DOT: Final = "dot"
VARIABLE: Final = "variable"  # $ or $name (value with the "$")
IDENT: Final = "ident"
STRING: Final = "string"
NUMBER: Final = "number"
CHAR: Final = "char"
BOOL: Final = "bool"
NIL: Final = "nil"
LPAREN: Final = "("
RPAREN: Final = ")"
PIPE: Final = "|"
DECLARE: Final = ":="
ASSIGN: Final = "="
COMMA: Final = ","

_NUMBER = re.compile(
    r"[+-]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|"
    r"(?:\d[\d_]*(?:\.[\d_]*)?|\.\d[\d_]*)(?:[eE][+-]?\d+)?)"
)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
    "'": "'",
}


class TemplateError(UsageError):
    """A template that does not parse, or that fails on the data it is given."""


@dataclass(frozen=True, slots=True)
class Token:
    """One token of an action; ``start``/``end`` are offsets in the template (adjacency
    decides whether ``$x.Field`` is one operand or two)."""

    kind: str
    value: object
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Action:
    """The tokens of one ``{{ … }}``, or a comment (``comment`` true, no tokens)."""

    tokens: tuple[Token, ...]
    start: int
    comment: bool = False


Item = str | Action


def lex(source: str) -> list[Item]:
    """The template's text runs and actions, in order, trim markers applied."""
    items: list[Item] = []
    pos = 0
    trim_next = False
    while True:
        at = source.find(LEFT, pos)
        text = source[pos:] if at < 0 else source[pos:at]
        if trim_next:
            text = text.lstrip(_SPACE)
        if at < 0:
            if text:
                items.append(text)
            return items
        inner = at + len(LEFT)
        if source.startswith("-", inner) and source[inner + 1 : inner + 2] in tuple(_SPACE):
            text = text.rstrip(_SPACE)
            inner += 1
        if text:
            items.append(text)
        action, pos, trim_next = _action(source, inner, at)
        items.append(action)


def _action(source: str, pos: int, start: int) -> tuple[Action, int, bool]:
    """The action starting at ``pos`` (after ``{{`` and a trim marker); where the text after
    it starts, and whether that text is trimmed."""
    body_start = pos
    while pos < len(source) and source[pos] in _SPACE:
        pos += 1
    if source.startswith("/*", pos):
        close = source.find("*/", pos + 2)
        if close < 0:
            raise TemplateError(f"template: unclosed comment at offset {start}")
        pos = close + 2
        return _close(source, pos, start, Action((), start, comment=True))
    tokens: list[Token] = []
    while True:
        while pos < len(source) and source[pos] in _SPACE:
            pos += 1
        if pos >= len(source):
            raise TemplateError(f"template: unclosed action at offset {start}")
        if source.startswith(RIGHT, pos) or (
            source.startswith("-" + RIGHT, pos) and source[pos - 1] in _SPACE and pos > body_start
        ):
            return _close(source, pos, start, Action(tuple(tokens), start))
        token = _token(source, pos)
        tokens.append(token)
        pos = token.end


def _close(source: str, pos: int, start: int, action: Action) -> tuple[Action, int, bool]:
    while pos < len(source) and source[pos] in _SPACE:
        pos += 1
    trim = False
    if source.startswith("-" + RIGHT, pos):
        trim = True
        pos += 1
    if not source.startswith(RIGHT, pos):
        raise TemplateError(f"template: unclosed action at offset {start}")
    return action, pos + len(RIGHT), trim


def _token(source: str, pos: int) -> Token:
    c = source[pos]
    if c == ".":
        match = _IDENT.match(source, pos + 1)
        if match is not None:
            return Token(FIELD, match.group(0), pos, match.end())
        number = _NUMBER.match(source, pos)
        if number is not None and number.end() > pos + 1:
            return _number(number.group(0), pos, number.end())
        return Token(DOT, ".", pos, pos + 1)
    if c == "$":
        match = _IDENT.match(source, pos + 1)
        end = match.end() if match is not None else pos + 1
        return Token(VARIABLE, source[pos:end], pos, end)
    if c == '"':
        return _quoted(source, pos)
    if c == "`":
        close = source.find("`", pos + 1)
        if close < 0:
            raise TemplateError(f"template: unterminated raw string at offset {pos}")
        return Token(STRING, source[pos + 1 : close], pos, close + 1)
    if c == "'":
        token = _quoted(source, pos, quote="'")
        text = str(token.value)
        if len(text) != 1:
            raise TemplateError(f"template: malformed character constant at offset {pos}")
        return Token(CHAR, ord(text), pos, token.end)
    if source.startswith(":=", pos):
        return Token(DECLARE, ":=", pos, pos + 2)
    if c in "()|=,":
        return Token(c, c, pos, pos + 1)
    if c.isdigit() or (c in "+-" and pos + 1 < len(source) and source[pos + 1].isdigit()):
        number = _NUMBER.match(source, pos)
        if number is not None:
            return _number(number.group(0), pos, number.end())
    match = _IDENT.match(source, pos)
    if match is not None:
        word = match.group(0)
        if word in ("true", "false"):
            return Token(BOOL, word == "true", pos, match.end())
        if word == "nil":
            return Token(NIL, None, pos, match.end())
        return Token(IDENT, word, pos, match.end())
    raise TemplateError(f"template: unexpected {c!r} in action at offset {pos}")


def _number(text: str, start: int, end: int) -> Token:
    clean = text.replace("_", "")
    try:
        value: int | float = int(clean, 0)
    except ValueError:
        try:
            value = float(clean)
        except ValueError:
            raise TemplateError(f"template: bad number syntax {text!r}") from None
    return Token(NUMBER, value, start, end)


def _quoted(source: str, pos: int, quote: str = '"') -> Token:
    out: list[str] = []
    i = pos + 1
    while i < len(source):
        c = source[i]
        if c == quote:
            return Token(STRING, "".join(out), pos, i + 1)
        if c == "\n":
            break
        if c != "\\":
            out.append(c)
            i += 1
            continue
        i += 1
        e = source[i : i + 1]
        if e in _ESCAPES:
            out.append(_ESCAPES[e])
            i += 1
        elif e in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[e]
            digits = source[i + 1 : i + 1 + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise TemplateError(f"template: bad escape in string at offset {pos}")
            out.append(chr(int(digits, 16)))
            i += 1 + width
        elif e in "01234567" and e:
            digits = source[i : i + 3]
            if len(digits) != 3 or not all(d in "01234567" for d in digits):
                raise TemplateError(f"template: bad escape in string at offset {pos}")
            out.append(chr(int(digits, 8)))
            i += 3
        else:
            raise TemplateError(f"template: unknown escape \\{e} in string at offset {pos}")
    raise TemplateError(f"template: unterminated quoted string at offset {pos}")


__all__ = ["Action", "Item", "TemplateError", "Token", "lex"]
