"""The values a template sees, and how Go prints them.

Data is plain Python: ``dict`` is a Go map (fields are its keys, a missing key is
:data:`MISSING`, printed ``<no value>``; ``%v`` and JSON sort its keys), ``list``/``tuple``
a slice, ``str``, ``int``, ``float``, ``bool``, ``None`` (``nil``). Three wrappers say what
plain Python cannot: :class:`GoStruct` (named fields in order, a missing one is an error, a
value may be computed on first use, JSON may differ from the template's view), :class:`GoNil`
(a nil slice, map or pointer: ``[]``, ``map[]``, ``<nil>``; ``null`` in JSON) and
:class:`GoTime` (a ``time.Time``: ``2024-01-02 03:04:05 +0000 UTC``; RFC 3339 in JSON).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from boxwright.oci._json import escape_like_go


class _Missing:
    """A map's missing key (Go's invalid value)."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class GoNil:
    """A nil of a kind (``slice``, ``map`` or ``pointer``)."""

    kind: str = "pointer"


@dataclass(frozen=True, slots=True)
class GoTime:
    """A ``time.Time``, kept as its RFC 3339 text."""

    rfc3339: str


class GoStruct:
    """A Go struct: ``fields`` in declaration order; a value that is a zero-argument callable
    is computed on first use (a method of podman's report types). ``json`` is what ``{{json
    .}}`` writes (default: the fields, computed); ``type_name`` names it in errors."""

    __slots__ = ("_fields", "_json", "_values", "type_name")

    def __init__(
        self,
        fields: Mapping[str, Any],
        *,
        json: Callable[[], Any] | None = None,
        type_name: str = "struct",
    ) -> None:
        self._fields = dict(fields)
        self._values: dict[str, Any] = {}
        self._json = json
        self.type_name = type_name

    def names(self) -> list[str]:
        return list(self._fields)

    def has(self, name: str) -> bool:
        return name in self._fields

    def get(self, name: str) -> Any:
        if name not in self._values:
            value = self._fields[name]
            self._values[name] = value() if callable(value) else value
        return self._values[name]

    def json_value(self) -> Any:
        if self._json is not None:
            return self._json()
        return {name: self.get(name) for name in self._fields}


class JsonText(str):
    """What the ``json`` function returns: printed through the JSON escaper, not the text one."""

    __slots__ = ()


_GO_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:\d{2})")


def go_time_string(rfc3339: str) -> str:
    """An RFC 3339 time as Go's ``time.Time.String`` writes it."""
    m = _GO_TIME.fullmatch(rfc3339)
    if m is None:
        return rfc3339
    date, clock, zone = m.groups()
    if "." in clock:
        clock = clock.rstrip("0").rstrip(".")
    if zone == "Z":
        return f"{date} {clock} +0000 UTC"
    offset = zone.replace(":", "")
    return f"{date} {clock} {offset} {offset}"


def go_float(value: float) -> str:
    """``value`` as Go's ``%v`` prints a float64: the shortest digits, in exponent form when
    the decimal exponent is below -4 or at least 6 (strconv's ``'g'`` with precision -1)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    mantissa, _, exp_text = text.partition("e")
    digits = mantissa.lstrip("-").replace(".", "").lstrip("0") or "0"
    digits = digits.rstrip("0") or "0"
    exp = _decimal_exponent(value)
    if exp < -4 or exp >= 6:
        head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        sign = "-" if value < 0 else ""
        return f"{sign}{head}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if value == int(value):
        return str(int(value))
    return format(value, "f").rstrip("0") if exp_text else mantissa


def _decimal_exponent(value: float) -> int:
    if value == 0:
        return 0
    return int(f"{abs(value):e}".partition("e")[2])


def go_print(value: Any) -> str:
    """``value`` as Go's ``fmt.Sprint`` (``%v``) prints it."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if value is None:
        return "<nil>"
    if value is MISSING:
        return "<no value>"
    if isinstance(value, GoNil):
        return {"slice": "[]", "map": "map[]"}.get(value.kind, "<nil>")
    if isinstance(value, GoTime):
        return go_time_string(value.rfc3339)
    if isinstance(value, GoStruct):
        return "{" + " ".join(go_print(value.get(n)) for n in value.names()) + "}"
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: _sort_key(kv[0]))
        return "map[" + " ".join(f"{go_print(k)}:{go_print(v)}" for k, v in items) + "]"
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_print(v) for v in value) + "]"
    return str(value)


def _sort_key(key: Any) -> tuple[int, Any]:
    return (0, key) if isinstance(key, int | float) else (1, str(key))


def truth(value: Any) -> bool:
    """Go's template truth: false, 0, nil, and empty strings, slices and maps are false."""
    if value is None or value is MISSING or isinstance(value, GoNil):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value) > 0
    return True


def plain(value: Any) -> Any:
    """``value`` as plain JSON data (structs as their JSON view, nils as ``None``, times as
    RFC 3339, map keys sorted as Go's encoder sorts them)."""
    if isinstance(value, GoStruct):
        view = value.json_value()
        if isinstance(view, Mapping):  # a struct's fields keep their order
            return {str(k): plain(v) for k, v in view.items()}
        return plain(view)
    if isinstance(value, GoNil) or value is MISSING:
        return None
    if isinstance(value, GoTime):
        return value.rfc3339
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return {str(k): plain(v) for k, v in items}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def to_json(value: Any, *, escape_html: bool) -> JsonText:
    """Compact JSON of ``value`` as Go writes it; ``escape_html`` as ``json.Marshal`` does
    (``<``, ``>``, ``&``), else as an encoder with ``SetEscapeHTML(false)``."""
    text = json.dumps(plain(value), ensure_ascii=False, separators=(",", ":"))
    if escape_html:
        text = escape_like_go(text)
    else:
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return JsonText(text)


# One isinstance test per Go type (bool before int: a bool is an int); other isinstance
# ladders (the registry's failure kinds) look alike and sort other types.
def type_name(value: Any) -> str:
    """A Go-like type name for error messages."""
    if isinstance(value, GoStruct):
        return value.type_name
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        return "slice"
    if isinstance(value, GoTime):
        return "time.Time"
    return "interface {}"


__all__ = [
    "MISSING",
    "GoNil",
    "GoStruct",
    "GoTime",
    "JsonText",
    "go_float",
    "go_print",
    "go_time_string",
    "plain",
    "to_json",
    "truth",
    "type_name",
]
