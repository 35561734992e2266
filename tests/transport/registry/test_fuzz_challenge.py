"""Fuzz tests of the parsers of what a registry answers, outside the document bodies.

Parsers covered (the text comes from a registry's headers and small bodies):

* ``transport/registry/challenge.py``: ``parse_www_authenticate`` (``WWW-Authenticate``);
* ``transport/registry/client.py``: ``next_link`` (the pagination ``Link`` header);
* ``transport/registry/failures.py``: ``error_codes`` (the distribution API's error body);
* ``transport/registry/client.py``: ``content_length`` (``Content-Length``, which the HTTP
  library passes through as written);
* ``transport/registry/retry.py``: ``parse_retry_after`` (``Retry-After``);
* ``transport/registry/auth.py``: ``_token_body`` (a token service's answer).

Manifests and configs a registry serves go through the parsers of
``tests/oci/test_fuzz_documents.py``.

The property (see ``tests/boxwright_testing/fuzz.py``): any header value or body gives a value or a
:class:`RegistryError` — never another exception; and a challenge written out from its
parsed form parses to the same challenges.
"""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from urllib3 import HTTPResponse

from boxwright.errors import RegistryError
from boxwright.transport.registry.challenge import Challenge, parse_www_authenticate
from boxwright.transport.registry.client import content_length, next_link
from boxwright.transport.registry.failures import error_codes
from boxwright.transport.registry.retry import parse_retry_after
from boxwright.transport.registry.wire import Answer
from boxwright_testing.fuzz import (
    fragments,
    fuzz,
    hostile_text,
    json_bytes,
    json_values,
    mutated,
    outcome,
)

pytestmark = fuzz

_CHALLENGE_PIECES = [
    "Bearer",
    "Basic",
    "bearer",
    " ",
    "\t",
    ",",
    "=",
    '"',
    "\\",
    'realm="https://auth.example.com/token"',
    'service="registry.example.com"',
    'scope="repository:a/b:pull,push"',
    "realm=https://x/token",
    'error="insufficient_scope"',
    "Negotiate abc==",
    '""',
    '"unterminated',
]
_TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


@given(st.lists(st.one_of(hostile_text(60), fragments(_CHALLENGE_PIECES, max_size=14)), max_size=3))
@example([" " * 5000 + "x"])
@example(["Bearer " + "a=" * 3000])
@example(['Bearer realm="' + "\\" * 5001])
def test_any_challenge_header_parses_to_challenges(headers: list[str]) -> None:
    started = time.monotonic()
    challenges = parse_www_authenticate(headers)
    assert time.monotonic() - started < 2, "a header took seconds to parse"
    for challenge in challenges:
        assert isinstance(challenge, Challenge)
        assert challenge.scheme == challenge.scheme.lower()
        assert all(isinstance(v, str) for v in challenge.params.values())
        assert isinstance(challenge.scopes, tuple)


_names = st.text(alphabet=_TOKEN.lower(), min_size=1, max_size=8)
_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20
)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@given(
    st.lists(
        st.tuples(
            st.text(alphabet=_TOKEN, min_size=1, max_size=8),
            st.dictionaries(_names, _values, max_size=4),
        ),
        min_size=1,
        max_size=3,
    ),
    st.sampled_from([", ", ",", " , "]),
)
def test_challenges_round_trip(challenges: list[tuple[str, dict[str, str]]], joiner: str) -> None:
    text = joiner.join(
        scheme + (" " + ", ".join(f"{k}={_quote(v)}" for k, v in params.items()) if params else "")
        for scheme, params in challenges
    )
    parsed = parse_www_authenticate([text])
    assert [(c.scheme, c.params) for c in parsed] == [
        (scheme.lower(), params) for scheme, params in challenges
    ]


_LINK_PIECES = [
    "<",
    ">",
    "/v2/tags/list?n=10&last=a",
    ";",
    " rel=",
    '"next"',
    "next",
    "prev",
    ",",
    " ",
    '"',
    "https://other.example/x",
]


@given(st.one_of(hostile_text(60), fragments(_LINK_PIECES, max_size=16)))
@example("<" * 5000)
@example("<a>" + ";" * 5000)
def test_any_link_header_gives_a_link_or_none(text: str) -> None:
    started = time.monotonic()
    link = next_link({"link": text})
    assert time.monotonic() - started < 2, "a Link header took seconds to parse"
    assert link is None or isinstance(link, str)


_error_body = st.fixed_dictionaries(
    {
        "errors": st.lists(
            st.fixed_dictionaries({"code": st.just("DENIED"), "message": st.just("no")}), max_size=3
        )
    }
)


@given(
    st.one_of(json_bytes(mutated(_error_body)), json_bytes(json_values()), st.binary(max_size=100))
)
@example(b"[" * 100_000)
@example(b'{"errors":' + b"[" * 100_000)
def test_any_error_body_gives_codes(body: bytes) -> None:
    codes = error_codes(body)
    assert all(isinstance(code, str) and isinstance(message, str) for code, message in codes)


@given(
    st.one_of(
        hostile_text(30),
        fragments(["1", "0", " ", "\u00b2", "\u0661", "-", "9" * 5000], max_size=4),
    )
)
@example("\u00b2")
@example("9" * 5000)
def test_any_content_length_is_a_number_or_none(text: str) -> None:
    length = content_length({"content-length": text})
    assert length is None or (isinstance(length, int) and length >= 0)


@given(
    st.one_of(
        hostile_text(40),
        st.sampled_from(
            [
                "Wed, 21 Oct 2015 07:28:00 GMT",
                "120",
                "\u00b2",
                "9" * 5000,
                "Wed, 21 Oct 99999 07:28:00 GMT",
                "Mon, 1 Jan 0001 00:00:00 -2359",
            ]
        ),
    )
)
@example("\u00b2")
@example("9" * 5000)
def test_any_retry_after_is_seconds_or_none(text: str) -> None:
    seconds = parse_retry_after(text, datetime(2024, 1, 1, tzinfo=UTC))
    assert seconds is None or seconds >= 0


_token_answer = st.fixed_dictionaries(
    {"token": st.just("t"), "access_token": st.just("a"), "expires_in": st.just(300)}
)


def _token_body(body: bytes) -> object:
    from boxwright.transport.registry.auth import _token_body as token_body

    response = HTTPResponse(
        body=io.BytesIO(body),
        headers={"Content-Length": str(len(body))},
        status=200,
        preload_content=False,
    )
    return token_body(
        Answer(response, "https://auth.example/token", None), "registry.example", False
    )


@given(st.one_of(json_bytes(mutated(_token_answer)), st.binary(max_size=100)))
def test_any_token_answer_is_an_object_or_a_registry_error(body: bytes) -> None:
    outcome(_token_body, body, errors=RegistryError)


# -- crashes the fuzzers found, kept as exact regressions ---------------------------------------


@pytest.mark.parametrize("text", ["\u00b2", "\u00b9", "9" * 5000, " 12 "])
def test_content_length_reads_only_ascii_digits(text: str) -> None:
    # http.client passes any Content-Length through; int("²") raised ValueError.
    assert content_length({"content-length": text}) == (12 if text == " 12 " else None)


@pytest.mark.parametrize("text", ["\u00b2", "9" * 5000])
def test_retry_after_that_is_not_ascii_digits_is_unreadable(text: str) -> None:
    assert parse_retry_after(text) is None


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"errors":' + b"[" * 100_000])
def test_error_body_nested_too_deep_gives_no_codes(body: bytes) -> None:
    # json.loads raised RecursionError, which is not a ValueError.
    assert error_codes(body) == []


def test_token_answer_nested_too_deep_is_an_authentication_error() -> None:
    from boxwright.errors import AuthenticationError

    with pytest.raises(AuthenticationError, match="not JSON"):
        _token_body(b"[" * 100_000)
