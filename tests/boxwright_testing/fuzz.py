"""Shared strategies and the one property of the fuzz tests (``test_fuzz_*.py``).

The property every parser of outside input must have: for ANY input it returns a value or
raises a :class:`~boxwright.errors.BoxwrightError` with a message; any other exception
(``KeyError``, ``TypeError``, ``RecursionError``, ``UnicodeError``, ``ValueError``,
``OverflowError``, ``IndexError``, ...) is a bug that hypothesis reports with the input.
:func:`outcome` checks it. How long each test runs comes from the hypothesis profile
(``tests/conftest.py``): fuzz tests set no ``max_examples`` of their own.

The strategies make inputs a parser meets from a hostile source:

* :func:`hostile_text` — text with control characters, odd Unicode, lone surrogates;
* :func:`json_values` — JSON values of every type, huge numbers, deep nesting, long strings,
  lone surrogates (valid JSON text: ``"\\ud800"``);
* :func:`mutated` — a valid document with some of its members replaced by values of the
  wrong type, deleted, or joined by unknown members (near-valid documents go deepest);
* :func:`json_bytes` — one value as bytes, as a hostile writer might encode it: compact or
  indented, escaped or raw UTF-8, duplicate keys, NaN/Infinity, truncated, with invalid
  UTF-8 spliced in, wrapped in thousands of brackets, with a BOM.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import strategies as st

from boxwright.errors import BoxwrightError

T = TypeVar("T")

fuzz = pytest.mark.fuzz
"""The marker of every fuzz test (``pytest -m fuzz`` runs them all)."""


def outcome(
    parse: Callable[..., T], *args: Any, errors: type[BoxwrightError] | tuple[type, ...] = ()
) -> T | BoxwrightError:
    """``parse(*args)``, or the :class:`BoxwrightError` it raised (with a message).

    ``errors`` narrows the error classes allowed (a reference parser raises
    :class:`InvalidReferenceError`, not any ``BoxwrightError``); every other exception
    propagates and fails the test.
    """
    try:
        return parse(*args)
    except BoxwrightError as error:
        if errors and not isinstance(error, errors):
            raise AssertionError(f"{parse.__qualname__} raised {type(error).__name__}") from error
        assert str(error).strip(), f"{type(error).__name__} without a message"
        return error


# -- text --------------------------------------------------------------------------------------

_ODD = (
    "\x00",
    "\x1b[2J",
    "\r\n",
    "\u2028",
    "\ufeff",
    "\ud800",
    "\udfff",
    "\U0001f600",
    "\u0130",  # İ: lower() makes it two characters
    "\u212a",  # Kelvin sign: lower() is ASCII k
    "\uff10",  # fullwidth zero: isdigit() but not ASCII
    "\u00b2",  # superscript two: isdigit() but int() refuses it
    "\u0661",  # Arabic-Indic one: int() accepts it
    "\\",
    '"',
    "'",
    "$",
    "{",
    "}",
    "/",
    ":",
    "@",
    "..",
    "*",
    "[",
    "]",
    "%",
    "=",
    ",",
    ";",
    " ",
    "\t",
    "\n",
)


def hostile_text(max_size: int = 60, alphabet: st.SearchStrategy[str] | None = None) -> Any:
    """Text of any code points (lone surrogates included), biased towards the odd ones."""
    chars = alphabet if alphabet is not None else st.characters(codec=None)
    return st.lists(st.one_of(chars, st.sampled_from(_ODD)), max_size=max_size).map("".join)


def fragments(pieces: list[str], max_size: int = 20) -> Any:
    """Text joined from ``pieces`` (grammar fragments) and odd characters."""
    return st.lists(
        st.one_of(st.sampled_from(pieces), st.sampled_from(_ODD)), max_size=max_size
    ).map("".join)


# -- JSON ---------------------------------------------------------------------------------------

_NUMBERS = st.one_of(
    st.integers(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.sampled_from([0, -1, 1, 2, 2**31, 2**32 - 1, 2**32, 2**63, 2**64, -(2**63), 10**400]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.5, -0.0, 1e308, 2.0]),
)
_STRINGS = st.one_of(
    hostile_text(20),
    st.sampled_from(
        [
            "",
            "sha256:" + "a" * 64,
            "sha256:" + "A" * 64,
            "sha512:" + "b" * 128,
            "md5:" + "c" * 32,
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
            "application/vnd.oci.image.config.v1+json",
            "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.docker.container.image.v1+json",
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "linux",
            "amd64",
            "2024-01-02T03:04:05Z",
            "2024-01-02T03:04:05.123456789123+01:00",
            "0000-00-00T00:00:00Z",
            "9999-99-99T99:99:99Z",
            "../../etc/passwd",
            "/abs",
            "4294967295:4294967295",
            "x" * 5000,
        ]
    ),
)
_LEAVES = st.one_of(st.none(), st.booleans(), _NUMBERS, _STRINGS)


def json_values(max_leaves: int = 12) -> Any:
    """Any JSON value (and nesting to a few hundred levels now and then)."""
    shallow = st.recursive(
        _LEAVES,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(st.one_of(_STRINGS, st.text(max_size=8)), inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )
    return st.one_of(shallow, st.builds(_nested, st.integers(50, 900), _LEAVES))


def _nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for i in range(depth):
        value = [value] if i % 2 else {"a": value}
    return value


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


def _replace(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        copy = dict(value)
        if new is _DELETE and not rest:
            copy.pop(head, None)
        else:
            copy[head] = _replace(value[head], rest, new)
        return copy
    copy_list = list(value)
    if new is _DELETE and not rest:
        del copy_list[head]
    else:
        copy_list[head] = _replace(value[head], rest, new)
    return copy_list


_DELETE = object()


@st.composite
def mutated(draw: st.DrawFn, documents: st.SearchStrategy[Any], max_changes: int = 3) -> Any:
    """A document of ``documents`` with up to ``max_changes`` members replaced by any JSON
    value, deleted, or extended with an unknown member."""
    doc = draw(documents)
    for _ in range(draw(st.integers(0, max_changes))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete" and path:
            doc = _replace(doc, path, _DELETE)
        elif action == "add":
            target = doc
            for part in path:
                target = target[part]
            if isinstance(target, dict):
                key = draw(st.one_of(_STRINGS, st.text(max_size=8)))
                doc = _replace(doc, path, {**target, key: draw(json_values(4))})
            elif isinstance(target, list):
                doc = _replace(doc, path, [*target, draw(json_values(4))])
        else:
            doc = _replace(doc, path, draw(json_values(6)))
    return doc


def _with_duplicate_key(text: str, draw: st.DrawFn) -> str:
    """``text`` (an object) with one more member whose key repeats an earlier one."""
    if not text.startswith("{") or text == "{}":
        return text
    obj = json.loads(text)
    key = draw(st.sampled_from(sorted(obj)))
    extra = json.dumps(draw(json_values(4)))
    return "{" + json.dumps(key) + ":" + extra + "," + text[1:]


@st.composite
def json_bytes(draw: st.DrawFn, values: st.SearchStrategy[Any]) -> bytes:
    """A value of ``values`` encoded as bytes, the way a careless or hostile writer might."""
    value = draw(values)
    try:
        text = json.dumps(
            value,
            ensure_ascii=draw(st.booleans()),
            indent=draw(st.sampled_from([None, None, 2, "\t"])),
        )
    except RecursionError:
        text = "[" * 100_000
    how = draw(
        st.sampled_from(
            ["plain"] * 6
            + ["duplicate", "nan", "truncate", "splice", "deep", "bom", "surrogate", "trailing"]
        )
    )
    if how == "duplicate":
        text = _with_duplicate_key(text, draw)
    elif how == "nan":
        token = draw(st.sampled_from(["NaN", "Infinity", "-Infinity"]))
        text = text.replace("null", token, 1) if "null" in text else "[" + token + "]"
    elif how == "truncate":
        text = text[: draw(st.integers(0, len(text)))]
    elif how == "deep":
        depth = draw(st.sampled_from([500, 990, 5000, 200_000]))
        text = (
            text.replace("null", "[" * depth + "]" * depth, 1)
            if "null" in text
            else ("[" * depth + "]" * depth)
        )
    elif how == "surrogate":
        text = text.replace('""', '"\\udc80"', 1) if '""' in text else '"\\ud800"'
    elif how == "trailing":
        text += draw(st.sampled_from([" x", "{}", "\x00", "]"]))
    data = text.encode("utf-8", "surrogatepass")
    if how == "splice":
        at = draw(st.integers(0, len(data)))
        data = (
            data[:at]
            + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00"]))
            + data[at:]
        )
    elif how == "bom":
        data = b"\xef\xbb\xbf" + data
    return data


__all__ = ["fragments", "fuzz", "hostile_text", "json_bytes", "json_values", "mutated", "outcome"]
