"""The functions a template may call: Go's built-ins and podman's report functions.

Go: ``and``, ``or``, ``not``, ``len``, ``index``, ``slice``, ``print``, ``printf``,
``println``, ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``. podman (containers/common's
``report``): ``json``, ``lower``, ``upper``, ``title``, ``join``, ``split``, ``pad``,
``truncate``. A function receives evaluated arguments; a pipeline's previous value comes last.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from boxwright.gotemplate.lex import TemplateError
from boxwright.gotemplate.values import (
    MISSING,
    GoNil,
    go_print,
    to_json,
    truth,
    type_name,
)

Function = Callable[..., Any]


def _arity(name: str, args: Sequence[Any], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not low <= len(args) <= high:
        want = str(low) if low == high else f"{low} or more" if high > 99 else f"{low}-{high}"
        raise TemplateError(
            f"template: wrong number of args for {name}: want {want} got {len(args)}"
        )


def _and(*args: Any) -> Any:
    _arity("and", args, 1, 999)
    for arg in args:
        if not truth(arg):
            return arg
    return args[-1]


def _or(*args: Any) -> Any:
    _arity("or", args, 1, 999)
    for arg in args:
        if truth(arg):
            return arg
    return args[-1]


def _not(*args: Any) -> bool:
    _arity("not", args, 1)
    return not truth(args[0])


def _len(*args: Any) -> int:
    _arity("len", args, 1)
    value = args[0]
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if isinstance(value, GoNil):
        return 0
    if isinstance(value, list | tuple | Mapping):
        return len(value)
    raise TemplateError(f"template: error calling len: len of type {type_name(value)}")


def _int_arg(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TemplateError(f"template: error calling {what}: cannot index with {go_print(value)}")
    return value


def _index(*args: Any) -> Any:
    _arity("index", args, 1, 999)
    value = args[0]
    for key in args[1:]:
        if isinstance(value, Mapping):
            value = value.get(key, MISSING)
        elif isinstance(value, list | tuple | str):
            i = _int_arg(key, "index")
            if not 0 <= i < len(value):
                raise TemplateError(f"template: error calling index: index out of range: {i}")
            value = value[i]
        elif isinstance(value, GoNil) or value is None or value is MISSING:
            if isinstance(value, GoNil) and value.kind == "map":
                value = MISSING
                continue
            raise TemplateError("template: error calling index: index of untyped nil")
        else:
            raise TemplateError(
                f"template: error calling index: can't index item of type {type_name(value)}"
            )
    return value


def _slice(*args: Any) -> Any:
    _arity("slice", args, 1, 4)
    value = args[0]
    if not isinstance(value, str | list | tuple):
        raise TemplateError(f"template: error calling slice: can't slice {type_name(value)}")
    bounds = [_int_arg(a, "slice") for a in args[1:]]
    start = bounds[0] if bounds else 0
    end = bounds[1] if len(bounds) > 1 else len(value)
    if not 0 <= start <= end <= len(value):
        raise TemplateError(f"template: error calling slice: index out of range: {end}")
    return value[start:end]


def _sprint(*args: Any) -> str:
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_print(arg))
    return "".join(out)


def _sprintln(*args: Any) -> str:
    return " ".join(go_print(a) for a in args) + "\n"


_VERB = re.compile(r"%([-+# 0]*)(\d+|\*)?(?:\.(\d+|\*)?)?([a-zA-Z%])")


def _sprintf(*args: Any) -> str:
    _arity("printf", args, 1, 999)
    fmt = args[0]
    if not isinstance(fmt, str):
        raise TemplateError("template: error calling printf: the format must be a string")
    values = list(args[1:])
    used = 0

    def verb(match: re.Match[str]) -> str:
        nonlocal used
        flags, width, precision, kind = match.groups()
        if kind == "%":
            return "%"
        if width == "*" or precision == "*":
            raise TemplateError("template: printf: '*' widths are not supported")
        if used >= len(values):
            return f"%!{kind}(MISSING)"
        value = values[used]
        used += 1
        return _format_one(value, flags, width, precision, kind)

    text = _VERB.sub(verb, fmt)
    if used < len(values):
        extra = ", ".join(f"{type_name(v)}={go_print(v)}" for v in values[used:])
        text += f"%!(EXTRA {extra})"
    return text


def _format_one(value: Any, flags: str, width: str | None, precision: str | None, kind: str) -> str:
    spec_width = width or ""
    align = "<" if "-" in flags else ">"
    zero = "0" in flags and align == ">"
    if kind in "dboxX" and isinstance(value, int) and not isinstance(value, bool):
        base = {"d": "d", "b": "b", "o": "o", "x": "x", "X": "X"}[kind]
        sign = "+" if "+" in flags else ""
        body = format(value, f"{sign}{'#' if '#' in flags else ''}{base}")
        return _pad(body, spec_width, align, zero)
    if kind in "xX" and isinstance(value, str):
        body = value.encode("utf-8").hex()
        return _pad(body.upper() if kind == "X" else body, spec_width, align, zero)
    if kind in "eEfFgG" and isinstance(value, int | float) and not isinstance(value, bool):
        prec = "" if precision is None else f".{precision}"
        if kind in "fF" and precision is None:
            prec = ".6"
        body = format(float(value), f"{'+' if '+' in flags else ''}{prec}{kind}")
        return _pad(body, spec_width, align, zero)
    if kind == "q" and isinstance(value, str):
        return _pad(str(to_json(value, escape_html=False)), spec_width, align, False)
    if kind == "t" and isinstance(value, bool):
        return _pad("true" if value else "false", spec_width, align, False)
    if kind == "s" and isinstance(value, bool | int | float):
        return f"%!s({type_name(value)}={go_print(value)})"
    if kind in "sv":
        body = go_print(value)
        if precision is not None and kind == "s":
            body = body[: int(precision)]
        return _pad(body, spec_width, align, False)
    return f"%!{kind}({type_name(value)}={go_print(value)})"


def _pad(body: str, width: str, align: str, zero: bool) -> str:
    if not width:
        return body
    if zero:
        sign = body[:1] if body[:1] in "+-" else ""
        return sign + body[len(sign) :].rjust(int(width) - len(sign), "0")
    return format(body, f"{align}{width}")


def _comparable(a: Any, b: Any, name: str) -> tuple[Any, Any]:
    numbers = (int, float)
    if isinstance(a, bool) != isinstance(b, bool) or (
        not (isinstance(a, numbers) and isinstance(b, numbers)) and type(a) is not type(b)
    ):
        if a is None or b is None:
            return a, b
        raise TemplateError(f"template: error calling {name}: incompatible types for comparison")
    return a, b


def _eq(*args: Any) -> bool:
    _arity("eq", args, 2, 999)
    first = args[0]
    for other in args[1:]:
        a, b = _comparable(first, other, "eq")
        if a == b:
            return True
    return False


def _ne(*args: Any) -> bool:
    _arity("ne", args, 2)
    a, b = _comparable(args[0], args[1], "ne")
    return bool(a != b)


def _ordered(name: str, test: Callable[[Any, Any], bool]) -> Function:
    def compare(*args: Any) -> bool:
        _arity(name, args, 2)
        a, b = _comparable(args[0], args[1], name)
        if not isinstance(a, int | float | str) or isinstance(a, bool):
            raise TemplateError(f"template: error calling {name}: invalid type for comparison")
        return test(a, b)

    return compare


def _string(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise TemplateError(
            f"template: wrong type for value; expected string; got {type_name(value)} ({name})"
        )
    return value


def _strings(value: Any, name: str) -> list[str]:
    if isinstance(value, GoNil):
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise TemplateError(
            f"template: wrong type for value; expected []string; got {type_name(value)} ({name})"
        )
    return list(value)


def _json_function(escape_html: bool) -> Function:
    def json_(*args: Any) -> str:
        _arity("json", args, 1)
        return to_json(args[0], escape_html=escape_html)

    return json_


def _title(text: str) -> str:
    """Go's deprecated ``strings.Title``: the first letter of each word upper-cased."""
    return re.sub(r"(^|[\s\W])(\w)", lambda m: m.group(1) + m.group(2).upper(), text)


def _case(change: Callable[[str], str], name: str) -> Function:
    def changed(*args: Any) -> str:
        _arity(name, args, 1)
        return change(_string(args[0], name))

    return changed


def _truncate(*args: Any) -> str:
    _arity("truncate", args, 2)
    text, length = _string(args[0], "truncate"), _int_arg(args[1], "truncate")
    return text if len(text) < length else text[:length]


def _join(*args: Any) -> str:
    _arity("join", args, 2)
    return _string(args[1], "join").join(_strings(args[0], "join"))


def _split(*args: Any) -> list[str]:
    _arity("split", args, 2)
    text, sep = _string(args[0], "split"), _string(args[1], "split")
    return list(text) if not sep else text.split(sep)


def _padded(*args: Any) -> str:
    _arity("pad", args, 3)
    text = _string(args[0], "pad")
    if not text:
        return text
    return " " * _int_arg(args[1], "pad") + text + " " * _int_arg(args[2], "pad")


def functions(*, escape_html_json: bool = False) -> dict[str, Function]:
    """The function map; ``escape_html_json`` chooses ``json``'s HTML escaping (podman's
    ``json`` does not escape, Go's ``json.Marshal`` does)."""
    return {
        "and": _and,
        "or": _or,
        "not": _not,
        "len": _len,
        "index": _index,
        "slice": _slice,
        "print": _sprint,
        "printf": _sprintf,
        "println": _sprintln,
        "eq": _eq,
        "ne": _ne,
        "lt": _ordered("lt", lambda a, b: a < b),
        "le": _ordered("le", lambda a, b: a <= b),
        "gt": _ordered("gt", lambda a, b: a > b),
        "ge": _ordered("ge", lambda a, b: a >= b),
        "json": _json_function(escape_html_json),
        "lower": _case(str.lower, "lower"),
        "upper": _case(str.upper, "upper"),
        "title": _case(_title, "title"),
        "join": _join,
        "split": _split,
        "pad": _padded,
        "truncate": _truncate,
    }


__all__ = ["Function", "functions"]
