"""``WWW-Authenticate`` challenges and the token scopes a request needs.

RFC 7235 allows several challenges in one header and several headers; parameters are
``name=token`` or ``name="quoted string"`` with backslash escapes, separated by commas. The
parser here is strict about that grammar and lenient about whitespace, as Go's
``net/http``-based registries write it. Pure functions, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_SCHEME = re.compile(rf"\s*({_TOKEN})(?=\s|,|$)")
# A bare value should be a token; Go registries also send bare URLs, so take up to , or space.
_PARAM = re.compile(rf'\s*({_TOKEN})\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s",]+))\s*')
_ESCAPE = re.compile(r"\\(.)")


@dataclass(frozen=True)
class Challenge:
    """One authentication challenge: a scheme (lowercased) and its parameters.

    Parameter names are lowercased, values kept as sent.
    """

    scheme: str
    params: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")

    @property
    def service(self) -> str:
        return self.params.get("service", "")

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes of a Bearer challenge (space-separated in one ``scope`` parameter)."""
        return tuple(self.params.get("scope", "").split())


def parse_www_authenticate(headers: Iterable[str]) -> list[Challenge]:
    """Every challenge in the given ``WWW-Authenticate`` header values, in order.

    Unparseable rest of a header is ignored (a challenge already read is kept), as browsers
    and Go clients do; a header with no recognisable scheme gives nothing.
    """
    challenges: list[Challenge] = []
    for header in headers:
        challenges.extend(_parse_one(header))
    return challenges


def _parse_one(text: str) -> list[Challenge]:
    out: list[Challenge] = []
    pos = 0
    while pos < len(text):
        while pos < len(text) and text[pos] in ", \t":
            pos += 1
        scheme = _SCHEME.match(text, pos)
        if scheme is None:
            break
        params: dict[str, str] = {}
        pos = scheme.end()
        while True:
            param = _PARAM.match(text, pos)
            if param is None:
                break
            name, quoted, bare = param.group(1), param.group(2), param.group(3)
            value = _ESCAPE.sub(r"\1", quoted) if quoted is not None else bare
            params[name.lower()] = value
            pos = param.end()
            if pos < len(text) and text[pos] == ",":
                pos += 1
                # A comma then a token not followed by "=" starts the next challenge.
                nxt = _PARAM.match(text, pos)
                if nxt is None:
                    break
            else:
                break
        out.append(Challenge(scheme.group(1).lower(), params))
    return out


def repository_scope(repo: str, actions: str) -> str:
    """``repository:NAME:ACTIONS`` as the token spec writes it (``actions`` like ``pull,push``)."""
    return f"repository:{repo}:{actions}"


CATALOG_SCOPE = "registry:catalog:*"
