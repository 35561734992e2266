"""Wildcard patterns matched in linear time: a small NFA instead of a backtracking regex.

The patterns of ``${V#p}``/``${V%p}``/``${V/p/r}`` and of ``.containerignore`` come from the
Containerfile and the build context, which may be hostile. Compiled to Python regular
expressions, a pattern such as ``*a*a*a*a*a*a*a*a*b`` backtracks exponentially against a
long value and hangs the build; BuildKit and moby use Go's RE2-style engine, which cannot.
:class:`Glob` simulates the pattern's automaton over the text instead: time is proportional
to (text length) x (pattern length), whatever the pattern.

A pattern is built from three kinds of pieces (:class:`GlobBuilder`): one character that
satisfies a test, any number of such characters (``*``), and "nothing, or directories"
(``**/`` of ignore files: any text that is empty or ends with ``/``).
"""

from __future__ import annotations

from collections.abc import Callable

CharTest = Callable[[str], bool]


def any_char(_ch: str) -> bool:
    """Every character."""
    return True


def not_slash(ch: str) -> bool:
    """Every character but ``/``."""
    return ch != "/"


def _is_slash(ch: str) -> bool:
    return ch == "/"


def literal(expected: str) -> CharTest:
    """The test for exactly the character ``expected``."""
    return expected.__eq__


class GlobBuilder:
    """Builds a :class:`Glob` piece by piece, left to right."""

    def __init__(self) -> None:
        self._moves: list[list[tuple[CharTest, int]]] = []
        self._skips: list[list[int]] = []

    def char(self, test: CharTest) -> GlobBuilder:
        """One character for which ``test`` is true."""
        here = len(self._moves)
        self._moves.append([(test, here + 1)])
        self._skips.append([])
        return self

    def star(self, test: CharTest) -> GlobBuilder:
        """Any number of characters (none included) for which ``test`` is true."""
        here = len(self._moves)
        self._moves.append([(test, here)])
        self._skips.append([here + 1])
        return self

    def dirs(self) -> GlobBuilder:
        """Nothing, or any text that ends with ``/`` (the regex ``(.*/)?``)."""
        here = len(self._moves)
        inside = here + 1
        self._moves.append([(not_slash, inside), (_is_slash, here)])
        self._skips.append([here + 2])
        self._moves.append([(not_slash, inside), (_is_slash, here)])
        self._skips.append([])
        return self

    def build(self) -> Glob:
        return Glob(self._moves, self._skips)


class Glob:
    """A compiled pattern; the state ``len(moves)`` is the accepting one."""

    __slots__ = ("_accept", "_moves", "_skips", "_start")

    def __init__(self, moves: list[list[tuple[CharTest, int]]], skips: list[list[int]]) -> None:
        self._moves = moves
        self._skips = skips
        self._accept = len(moves)
        self._start = self._closure((0,))

    def _closure(self, states: tuple[int, ...] | list[int]) -> list[int]:
        """``states`` and every state reachable from them without reading a character."""
        seen = set(states)
        todo = list(states)
        while todo:
            state = todo.pop()
            if state < self._accept:
                for nxt in self._skips[state]:
                    if nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
        return sorted(seen)

    def _step(self, states: list[int], ch: str) -> list[int]:
        targets = [t for s in states if s < self._accept for test, t in self._moves[s] if test(ch)]
        return self._closure(targets) if targets else []

    def fullmatch(self, text: str) -> bool:
        """Whether the whole of ``text`` matches."""
        states = self._start
        for ch in text:
            states = self._step(states, ch)
            if not states:
                return False
        return self._accept in states

    def prefix_ends(self, text: str) -> list[int]:
        """Every ``k`` (ascending) for which ``text[:k]`` matches the whole pattern."""
        states = self._start
        ends = [0] if self._accept in states else []
        for k, ch in enumerate(text, 1):
            states = self._step(states, ch)
            if not states:
                break
            if self._accept in states:
                ends.append(k)
        return ends

    def search(self, text: str, pos: int = 0) -> tuple[int, int] | None:
        """The leftmost match starting at ``pos`` or later, the longest of those:
        ``(start, end)``, or None."""
        best: tuple[int, int] | None = None
        threads: dict[int, int] = {}  # state -> the smallest start that reached it
        k = pos
        while True:
            if best is None:
                for state in self._start:
                    threads.setdefault(state, k)
            start = threads.get(self._accept)
            if start is not None and (best is None or start <= best[0]):
                best = (start, k)
            if best is not None:
                threads = {s: b for s, b in threads.items() if b <= best[0]}
            if k == len(text) or not threads:
                return best
            ch = text[k]
            moved: dict[int, int] = {}
            for state, begin in threads.items():
                if state == self._accept:
                    continue
                for test, target in self._moves[state]:
                    if test(ch):
                        for reached in self._closure((target,)):
                            if begin < moved.get(reached, begin + 1):
                                moved[reached] = begin
            threads = moved
            k += 1

    def replace_all(self, text: str, replacement: str) -> str:
        """Every match replaced as Go's ``Regexp.ReplaceAllString`` does: left to right, no
        overlaps, an empty match right after another match not replaced."""
        out: list[str] = []
        last_end = 0
        pos = 0
        while pos <= len(text):
            found = self.search(text, pos)
            if found is None:
                break
            start, end = found
            out.append(text[last_end:start])
            if end > last_end or start == 0:
                out.append(replacement)
            last_end = end
            pos = pos + 1 if pos + 1 > end else end
        out.append(text[last_end:])
        return "".join(out)


__all__ = ["CharTest", "Glob", "GlobBuilder", "any_char", "literal", "not_slash"]
