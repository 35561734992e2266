"""JSON in and out for the OCI model: strict parsing, compact output, Go-compatible output.

Documents are hostile input: they must be UTF-8 JSON objects of bounded size, without the
NaN/Infinity extensions Python would otherwise accept. Output comes in two flavours: the
compact form boxwright writes for new documents, and the exact bytes Go's ``encoding/json``
produces, for the conversions whose digests must match what containers/image computes.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any, NoReturn

from boxwright.errors import ManifestError

MAX_DOCUMENT_SIZE = 4 << 20
"""Largest manifest or config accepted (containers/image's iolimits use the same 4 MiB)."""


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def load_object(raw: bytes, what: str, *, limit: int = MAX_DOCUMENT_SIZE) -> dict[str, Any]:
    """Parse ``raw`` as one JSON object; raise :class:`ManifestError` naming ``what`` if not."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise ManifestError(f"{what}: expected bytes, not {type(raw).__name__}")
    if len(raw) > limit:
        raise ManifestError(f"{what} is {len(raw)} bytes, more than the limit of {limit} bytes")
    try:
        text = bytes(raw).decode("utf-8")
    except UnicodeDecodeError as e:
        raise ManifestError(f"{what} is not valid UTF-8 (byte {e.start})") from None
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        raise ManifestError(f"{what} is not valid JSON: {e}") from None
    if not isinstance(obj, dict):
        raise ManifestError(f"{what} must be a JSON object, not {type(obj).__name__}")
    return obj


def dumps_compact(obj: Any) -> bytes:
    """Compact UTF-8 JSON, key order as given: how boxwright writes new documents."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def dumps_go(obj: Any) -> bytes:
    """The bytes Go's ``json.Marshal`` writes for ``obj`` (maps must be pre-sorted by caller).

    Go escapes ``<``, ``>``, ``&``, U+2028 and U+2029, writes other non-ASCII characters as
    UTF-8 and replaces invalid code points (lone surrogates) with U+FFFD. Characters inside
    strings are the only place these occur in compact JSON, so a textual pass is exact.
    """
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return escape_like_go(_SURROGATE_RE.sub("\ufffd", text)).encode("utf-8")


def escape_like_go(text: str) -> str:
    """JSON text with ``<``, ``>``, ``&``, U+2028 and U+2029 escaped, as Go's encoder writes
    them (exact on JSON text: these characters only ever occur inside its strings)."""
    return _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group(0)], text)


GO_ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero ``time.Time`` as it marshals: what Go tools write for a time that is not set."""

_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.IGNORECASE
)


def go_time(value: str, where: str) -> str:
    """Re-format an RFC 3339 timestamp as Go's ``time.Time`` marshals it (RFC3339Nano).

    Trailing zeros of the fraction go, an all-zero fraction goes entirely, fractions beyond
    nanoseconds are truncated, and a zero offset is written ``Z``.
    """
    m = _RFC3339.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ManifestError(f"{where}: {value!r} is not an RFC 3339 timestamp")
    base, frac, zone = m.group(1), m.group(2) or "", m.group(3).upper()
    frac = frac[:10].rstrip("0")
    if frac == ".":
        frac = ""
    if zone in ("+00:00", "-00:00"):
        zone = "Z"
    return base.upper() + frac + zone


def epoch(created: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 time (nanoseconds allowed), None if unreadable."""
    if not created:
        return None
    text = created.strip().replace("Z", "+00:00").replace("z", "+00:00")
    main, dot, rest = text.partition(".")
    if dot:  # fromisoformat takes at most 6 digits of fraction
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{main}.{digits[:6]}{rest[len(digits) :]}"
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def compact_go(text: str) -> str:
    """Compact one JSON value's text as Go's ``json.Compact`` with HTML escaping does.

    Whitespace between tokens goes; numbers and string escapes stay exactly as written
    (unlike a decode/encode round trip), so re-embedded raw values keep their bytes.
    """
    out: list[str] = []
    in_string = False
    escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
            out.append(_GO_ESCAPES.get(ch, ch))
        elif ch == '"':
            in_string = True
            out.append(ch)
        elif ch not in " \t\r\n":
            out.append(ch)
    return "".join(out)


_WS = re.compile(r"[ \t\r\n]*")


def _skip_ws(text: str, pos: int) -> int:
    m = _WS.match(text, pos)
    return m.end() if m else pos


def raw_members(text: str, what: str) -> dict[str, str]:
    """The members of a JSON object as ``{key: raw value text}`` (later duplicates win).

    This is Go's ``map[string]json.RawMessage`` decoding: values are kept as text so that
    re-encoding them changes nothing but whitespace.
    """
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    ws = _skip_ws
    try:
        pos = ws(text, 0)
        if text[pos : pos + 1] != "{":
            raise ValueError("expected an object")
        pos = ws(text, pos + 1)
        members: dict[str, str] = {}
        if text[pos : pos + 1] == "}":
            if text[ws(text, pos + 1) :]:
                raise ValueError("trailing data after the object")
            return members
        while True:
            key, pos = decoder.raw_decode(text, pos)
            if not isinstance(key, str):
                raise ValueError("object keys must be strings")
            pos = ws(text, pos)
            if text[pos : pos + 1] != ":":
                raise ValueError("expected ':'")
            pos = ws(text, pos + 1)
            _, end = decoder.raw_decode(text, pos)
            members.pop(key, None)
            members[key] = text[pos:end]
            pos = ws(text, end)
            sep = text[pos : pos + 1]
            pos = ws(text, pos + 1)
            if sep == "}":
                if text[pos:]:
                    raise ValueError("trailing data after the object")
                return members
            if sep != ",":
                raise ValueError("expected ',' or '}'")
    except (ValueError, RecursionError) as e:
        raise ManifestError(f"{what} is not a valid JSON object: {e}") from None
