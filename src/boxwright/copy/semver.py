"""Semantic-version tags and ranges for ``sync --semver``, as Masterminds/semver reads them.

Tags: ``1``, ``1.2``, ``v1.2.3``, ``1.2.3-rc.1`` (missing parts are 0; build metadata after
``+`` is ignored). Ranges: comparators ``= != > >= < <=``, ``~1.2`` (patch updates), ``^1.2``
(minor updates), ``1.2.x`` / ``1.*`` wildcards, joined by ``,`` or spaces (all must hold) and
``||`` (either side). A prerelease tag is in a range only when a comparator names a
prerelease of the same major.minor.patch, as Masterminds does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from boxwright.errors import UsageError

_VERSION = re.compile(
    r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?", re.ASCII
)
_COMPARATOR = re.compile(
    r"(=|!=|>=|<=|>|<|~|\^)?\s*(v?[0-9xX*]+(?:\.[0-9xX*]+){0,2}(?:-[0-9A-Za-z.-]+)?)"
)


@dataclass(frozen=True, order=False, slots=True)
class Version:
    """A parsed version; compares by major, minor, patch, then prerelease (SemVer 2.0)."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()

    def key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        """Sort key: a release sorts after its prereleases; numeric identifiers numerically."""
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)


def parse_version(text: str) -> Version | None:
    """The version a tag names, or None when it is not one."""
    m = _VERSION.fullmatch(text.strip())
    if m is None:
        return None
    pre = tuple(m.group(4).split(".")) if m.group(4) else ()
    return Version(int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), pre)


@dataclass(frozen=True, slots=True)
class _Bound:
    op: str
    version: Version

    def holds(self, v: Version) -> bool:
        a, b = v.key(), self.version.key()
        return {
            "=": a == b,
            "!=": a != b,
            ">": a > b,
            ">=": a >= b,
            "<": a < b,
            "<=": a <= b,
        }[self.op]


def _expand(op: str, text: str, whole: str) -> list[_Bound]:
    """One comparator as lower/upper bounds."""
    body = text.lstrip("vV")
    parts = body.split("-", 1)
    numbers = parts[0].split(".")
    pre = tuple(parts[1].split(".")) if len(parts) > 1 else ()
    wild = next((i for i, n in enumerate(numbers) if n in ("x", "X", "*")), None)
    if wild is not None:
        numbers = numbers[:wild]
    given = len(numbers)
    try:
        nums = [int(n) for n in numbers] + [0] * (3 - given)
    except ValueError:
        raise UsageError(f"invalid version {text!r} in range {whole!r}") from None
    base = Version(nums[0], nums[1], nums[2], pre)

    def bump(level: int) -> Version:
        n = nums[:level] + [0] * (3 - level)
        n[level - 1] += 1
        return Version(n[0], n[1], n[2], ("0",))  # the lowest prerelease of the next version

    if given == 0:
        return []  # "*" or "x": anything
    if op in ("", "=") and (wild is not None or given < 3):
        return [_Bound(">=", base), _Bound("<", bump(given))]
    if op == "~":
        return [_Bound(">=", base), _Bound("<", bump(2 if given >= 2 else 1))]
    if op == "^":
        level = 1 if nums[0] > 0 or given == 1 else (2 if nums[1] > 0 or given == 2 else 3)
        return [_Bound(">=", base), _Bound("<", bump(level))]
    return [_Bound(op or "=", base)]


@dataclass(frozen=True, slots=True)
class SemverRange:
    """A parsed range: alternatives (``||``) of conjunctions of bounds."""

    text: str
    alternatives: tuple[tuple[_Bound, ...], ...]

    @classmethod
    def parse(cls, text: str) -> SemverRange:
        """Parse ``text``; :class:`UsageError` names what does not parse."""
        alternatives = []
        for alternative in text.split("||"):
            rest = alternative.replace(",", " ").strip()
            if not rest:
                raise UsageError(f"invalid version range {text!r}: an empty alternative")
            bounds: list[_Bound] = []
            position = 0
            while position < len(rest):
                if rest[position].isspace():
                    position += 1
                    continue
                m = _COMPARATOR.match(rest, position)
                if m is None:
                    raise UsageError(
                        f"invalid version range {text!r} at {rest[position:]!r}: expected "
                        "comparators such as >=1.2, <2, ~1.4, ^1, 1.x"
                    )
                bounds += _expand(m.group(1) or "", m.group(2), text)
                position = m.end()
            alternatives.append(tuple(bounds))
        return cls(text, tuple(alternatives))

    def contains(self, version: Version) -> bool:
        """Whether ``version`` is in the range (prereleases only where a bound names one)."""
        for bounds in self.alternatives:
            if not all(bound.holds(version) for bound in bounds):
                continue
            if version.prerelease and not any(
                b.version.prerelease
                and b.version.prerelease != ("0",)
                and (b.version.major, b.version.minor, b.version.patch)
                == (version.major, version.minor, version.patch)
                for b in bounds
            ):
                continue
            return True
        return False


__all__ = ["SemverRange", "Version", "parse_version"]
