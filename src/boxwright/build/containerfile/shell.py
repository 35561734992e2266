"""Word expansion as BuildKit does it for ``ADD COPY ENV EXPOSE FROM LABEL STOPSIGNAL USER
VOLUME WORKDIR`` and ``ARG`` defaults (never for ``RUN``/``CMD``/``ENTRYPOINT``/``SHELL``/
``HEALTHCHECK``: the shell in the container does that).

:class:`Lexer` follows BuildKit's ``shell.Lex`` rule for rule: single quotes are literal,
double quotes expand ``$`` and let the escape character escape ``"``, ``$`` and itself, an
unquoted escape character escapes anything, ``$V``/``${V}`` and the modifiers ``${V:-w}``
``${V-w}`` ``${V:+w}`` ``${V+w}`` ``${V:?w}`` ``${V?w}`` ``${V#p}`` ``${V##p}`` ``${V%p}``
``${V%%p}`` ``${V/p/r}`` ``${V//p/r}``; anything else (``${V:=w}``, ``${#V}``) is an error, as
in BuildKit. :class:`Expander` is the interface the executor uses; :func:`parse_key_values`
splits ``ENV``/``LABEL``/``ARG`` the way BuildKit's line parsers do.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from boxwright.build.containerfile.globmatch import Glob, GlobBuilder, any_char, literal
from boxwright.errors import ContainerfileError

if TYPE_CHECKING:
    from boxwright.build.containerfile.model import Instruction

_EOF = ""
_SPECIAL_PARAMS = frozenset("@*#?-$!0")
#: Blanks that separate words on a Containerfile line (a newline ends the line instead).
WHITESPACE = re.compile(r"[\t\v\f\r ]+")


class ExpansionError(ValueError):
    """A word that does not expand (bad substitution, unmatched quote, ``${V:?msg}``).

    Internal: :class:`Expander` turns it into a :class:`ContainerfileError`; the parser's
    heredoc detection ignores it as BuildKit does.
    """


class _Words:
    """BuildKit's ``wordsStruct``: splits expanded text on unquoted whitespace."""

    __slots__ = ("in_word", "word", "words")

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def result(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class Lexer:
    """One run of BuildKit's shell lexer over ``text`` with the variables ``env``.

    ``raw_quotes`` keeps the quote characters in the result, ``raw_escapes`` keeps the escape
    characters, ``skip_unset`` leaves references to unset variables as written (the parser
    uses these three to find heredoc words, as BuildKit does).
    """

    def __init__(
        self,
        env: Mapping[str, str],
        escape: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset: bool = False,
    ) -> None:
        # A lexer's settings, as BuildKit's shell.Lex has them; its state is set below.
        self.env = env
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()
        self._text = ""
        self._pos = 0

    def process(self, text: str) -> tuple[str, list[str]]:
        """``text`` expanded as one word, and split into words (ProcessWord, ProcessWords)."""
        self._text = text
        self._pos = 0
        try:
            return self._until(_EOF, self.raw_escapes)
        except ExpansionError as err:
            raise ExpansionError(f"failed to process {text!r}: {err}") from None
        except RecursionError:  # the grammar recurses once per nested ${...}
            raise ExpansionError(
                f"failed to process {text[:60]!r}...: substitutions nested too deeply"
            ) from None

    # -- scanner -------------------------------------------------------------------------
    def _peek(self) -> str:
        return self._text[self._pos] if self._pos < len(self._text) else _EOF

    def _next(self) -> str:
        ch = self._peek()
        if ch:
            self._pos += 1
        return ch

    # -- grammar -------------------------------------------------------------------------
    def _until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            return self._until_inner(stop)
        finally:
            self.raw_escapes = saved

    def _until_inner(self, stop: str) -> tuple[str, list[str]]:
        out: list[str] = []
        words = _Words()
        special: dict[str, Callable[[], str]] = {
            "$": self._dollar,
            "'": self._single_quote,
            '"': self._double_quote,
        }
        while (ch := self._peek()) != _EOF:
            if stop and ch == stop:
                self._next()
                return "".join(out), words.result()
            handler = special.get(ch)
            if handler is not None:
                text = handler()
                out.append(text)
                if ch == "$":
                    words.add_string(text)
                else:
                    words.add_raw(text)
                continue
            ch = self._next()
            if ch == self.escape:
                if self.raw_escapes:
                    words.add_raw(ch)
                    out.append(ch)
                ch = self._next()
                if ch == _EOF:
                    break
                words.add_raw(ch)
            else:
                words.add_char(ch)
            out.append(ch)
        if stop:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.result()

    # The two quote readers follow moby's processSingleQuote and processDoubleQuote: alike in
    # shape, but only inside double quotes do ``$`` expand and the escape character work.
    def _single_quote(self) -> str:
        first = self._next()
        out = [first] if self.raw_quotes else []
        while True:
            ch = self._next()
            if ch == _EOF:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def _double_quote(self) -> str:
        first = self._next()
        out = [first] if self.raw_quotes else []
        while True:
            ch = self._peek()
            if ch == _EOF:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                self._next()
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            ch = self._next()
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self._peek()
                if following == _EOF:
                    continue
                if following in ('"', "$", self.escape):
                    ch = self._next()
            out.append(ch)

    def _name(self) -> str:
        """A variable name: letters, digits, ``_``; or all leading digits; or one special.

        Letters and digits in Go's sense (``unicode.IsLetter``/``IsDigit``: categories L and
        Nd), which are Python's ``isalpha``/``isdecimal``."""
        first = self._peek()
        if first == _EOF:
            return ""
        if first.isdecimal():
            start = self._pos
            while self._peek() != _EOF and self._peek().isdecimal():
                self._next()
            return self._text[start : self._pos]
        if first in _SPECIAL_PARAMS:
            return self._next()
        start = self._pos
        while (ch := self._peek()) != _EOF and (ch.isalpha() or ch.isdecimal() or ch == "_"):
            self._next()
        return self._text[start : self._pos]

    def _lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matched.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False

    def _dollar(self) -> str:
        self._next()
        if self._peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value, found = self._lookup(name)
            if not found and self.skip_unset:
                return "$" + name
            return value
        self._next()
        head = self._peek()
        if head == _EOF:
            raise ExpansionError("syntax error: missing '}'")
        if head in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self._name()
        ch = self._next()
        modifier = ch
        if ch == "}":
            value, found = self._lookup(name)
            if not found and self.skip_unset:
                return "${" + name + "}"
            return value
        if ch == "/":
            return self._replace(name)
        if ch == ":":
            ch = self._next()
            modifier += ch
        elif ch not in ("+", "-", "?", "#", "%"):
            raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")
        try:
            word, _ = self._until("}", ch in ("#", "%"))
        except ExpansionError:
            if self._peek() == _EOF:
                raise ExpansionError("syntax error: missing '}'") from None
            raise
        value, found = self._lookup(name)
        if self.skip_unset and not found:
            return "${" + name + modifier + word + "}"
        return _modified(name, modifier, word, value, found)

    def _replace(self, name: str) -> str:
        replace_all = self._peek() == "/"
        if replace_all:
            self._next()
        try:
            pattern, _ = self._until("/", True)
        except ExpansionError:
            if self._peek() == _EOF:
                raise ExpansionError("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self._until("}", True)
        except ExpansionError:
            if self._peek() == _EOF:
                raise ExpansionError("syntax error: missing '}'") from None
            raise
        value, found = self._lookup(name)
        if self.skip_unset and not found:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        glob = _pattern_glob(pattern)
        if replace_all:
            return glob.replace_all(value, _go_expand(replacement))
        match = glob.search(value)
        if match is None:
            return value
        return value[: match[0]] + replacement + value[match[1] :]


def _go_expand(template: str) -> str:
    """Go's ``Regexp.Expand`` for a pattern without groups: ``$$`` is ``$``, ``$name`` and
    ``${name}`` are empty (BuildKit's ``${V//p/r}`` goes through ``ReplaceAllString``)."""
    return re.sub(
        r"\$(\$|\{\w+\}|\w+)",
        lambda m: "$" if m.group(1) == "$" else "",
        template,
    )


def _pattern_glob(pattern: str) -> Glob:
    """A shell wildcard pattern (``*``, ``?``, escapes; no brackets), matched in linear time
    (:mod:`.globmatch`: a backtracking regex would hang on ``*a*a*a*a*b``)."""
    glob = GlobBuilder()
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            glob.star(any_char)
        elif ch == "?":
            glob.char(any_char)
        elif ch == "\\":
            following = pattern[i] if i < len(pattern) else ""
            if following in ("}", "/"):
                continue
            i += 1
            if following not in ("*", "?", "\\"):
                raise ExpansionError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{following}'"
                )
            glob.char(literal(following))
        else:
            glob.char(literal(ch))
    return glob.build()


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    """``value`` without the shortest (or with ``greedy`` the longest) prefix matching."""
    ends = _pattern_glob(pattern).prefix_ends(value)
    if not ends:
        return value
    return value[ends[-1] if greedy else ends[0] :]


def _reverse_pattern(pattern: str) -> str:
    """``pattern`` reversed, an escape staying in front of the character it escapes."""
    pieces: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i != len(pattern) - 1:
            pieces.append(pattern[i : i + 2])
            i += 2
        else:
            pieces.append(pattern[i])
            i += 1
    return "".join(reversed(pieces))


def _modified(name: str, modifier: str, word: str, value: str, found: bool) -> str:
    """``${NAME<modifier>word}`` given NAME's ``value`` (``found``: whether it is set); a
    modifier with ``:`` treats an empty value as unset."""
    ch = modifier[-1]
    null_is_unset = modifier.startswith(":")
    unset = not found or (null_is_unset and value == "")
    if ch == "-":
        return word if unset else value
    if ch == "+":
        return "" if unset else word
    if ch == "?":
        if not found:
            raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
        if null_is_unset and value == "":
            raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
        return value
    if ch in ("#", "%"):
        greedy = word.startswith(ch)
        if greedy:
            word = word[1:]
        if ch == "%":
            return _trim_suffix(word, value, greedy)
        return _trim_prefix(word, value, greedy)
    raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # The shortest rightmost match is the shortest leftmost one in the reversed strings.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


class Expander:
    """Expands words against ``env`` as BuildKit's ``ProcessWord``/``ProcessWords`` do.

    ``used`` collects every variable name looked up (set or not): a step's cache key depends
    on exactly those values. ``location`` names the Containerfile line in error messages.
    """

    def __init__(self, env: Mapping[str, str], escape: str = "\\", location: str = "") -> None:
        self.env = env
        self.escape = escape
        self.location = location
        self.used: set[str] = set()

    def _run(self, text: str) -> tuple[str, list[str]]:
        lexer = Lexer(self.env, self.escape)
        try:
            return lexer.process(text)
        except ExpansionError as err:
            where = f"{self.location}: " if self.location else ""
            raise ContainerfileError(f"{where}{err}") from None
        finally:
            self.used |= lexer.matched | lexer.unmatched

    def word(self, text: str) -> str:
        """``text`` as one word: variables expanded, quotes and escapes removed, inner
        whitespace kept."""
        return self._run(text)[0]

    def words(self, text: str) -> list[str]:
        """``text`` expanded, then split on unquoted whitespace (quoted empties vanish, as in
        BuildKit)."""
        return self._run(text)[1]


def split_words(rest: str, escape: str = "\\") -> list[str]:
    """BuildKit's ``parseWords``: whitespace-separated words, quotes and escapes kept."""
    # The state machine of parser.extract_flags in shape, but BuildKit's parseWords keeps the
    # quotes and escapes that extractBuilderFlags removes, and knows no ``--``; each is kept
    # whole to read side by side with its original.
    words: list[str] = []
    word: list[str] = []
    blank_ok = False
    quote = ""
    in_word = False
    i = 0
    n = len(rest)
    while i < n:
        ch = rest[i]
        if not in_word and not quote:
            if ch.isspace():
                i += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == n:
                    i += 1
                    continue
                word.append(ch)
                i += 1
                ch = rest[i]
            word.append(ch)
            i += 1
            continue
        if ch.isspace():
            if blank_ok or word:
                words.append("".join(word))
            word = []
            blank_ok = False
            in_word = False
            i += 1
            continue
        if ch in ("'", '"'):
            quote = ch
            blank_ok = True
        elif ch == escape:
            if i + 1 == n:
                i += 1
                continue
            word.append(ch)
            i += 1
            ch = rest[i]
        word.append(ch)
        i += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


def parse_key_values(instruction: Instruction) -> list[tuple[str, str | None]]:
    """The unexpanded ``(key, value)`` pairs of an ``ENV``, ``LABEL`` or ``ARG``.

    ``ENV K=V ...`` and ``LABEL K=V ...`` give one pair per word (quotes kept: expand both
    sides with :meth:`Expander.word`); the legacy ``ENV K V W`` gives ``("K", "V W")``. ``ARG``
    gives ``(name, None)`` for a declaration without default. A malformed line raises
    :class:`~boxwright.errors.ContainerfileError` naming the file and line.
    """
    rest = " ".join(instruction.args)
    words = split_words(rest, instruction.escape)
    where = instruction.location
    keyword = instruction.keyword
    if keyword == "ARG":
        pairs: list[tuple[str, str | None]] = []
        for word in words:
            key, sep, value = word.partition("=")
            pairs.append((key, value if sep else None))
        return pairs
    if not words:
        return []
    if "=" not in words[0]:
        parts = WHITESPACE.split(rest.strip(), maxsplit=1)
        if len(parts) < 2:
            raise ContainerfileError(f"{where}: {keyword} must have two arguments")
        return [(parts[0], parts[1])]
    out: list[tuple[str, str | None]] = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise ContainerfileError(
                f"{where}: Syntax error - can't find = in {word!r}. Must be of the form: name=value"
            )
        out.append((key, value))
    return out


__all__ = ["WHITESPACE", "Expander", "Lexer", "parse_key_values", "split_words"]
