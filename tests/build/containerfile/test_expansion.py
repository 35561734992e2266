"""Expander against BuildKit's shell lexer: the envVarTest table, the lex_test.go modifier
cases (with the variables each looks up), word splitting, escapes and the ENV/LABEL/ARG
key-value forms."""

from __future__ import annotations

from pathlib import Path

import pytest

from boxwright.build.containerfile.parser import parse
from boxwright.build.containerfile.shell import Expander, parse_key_values
from boxwright.errors import ContainerfileError

ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def _table() -> list[tuple[str, str]]:
    rows = []
    text = (Path(__file__).parent / "envvar_cases.txt").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        source, expected = line.split("|")
        rows.append((source.strip(), expected.strip()))
    return rows


TABLE = _table()


@pytest.mark.parametrize(("source", "expected"), TABLE, ids=[s for s, _ in TABLE])
def test_envvar_table(source: str, expected: str) -> None:
    ex = Expander(ENV, location="Containerfile:7")
    if expected == "error":
        with pytest.raises(ContainerfileError, match=r"^Containerfile:7: failed to process"):
            ex.word(source)
    else:
        assert ex.word(source) == expected


def test_table_is_the_whole_file() -> None:
    assert len(TABLE) == 97


MODIFIERS = [
    ("x ${UNUSED}", {"DUMMY": "dummy"}, "x ", {"UNUSED"}),
    ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx  ccc", None),
    ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", {"FOO": "xxx", "BAR": ""}, "xxx bbb ccc", None),
    ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa bbb ", None),
    ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", {"FOO": "xxx", "BAR": ""}, "aaa  ", None),
    ("${FOO?aaa}", {"FOO": "xxx"}, "xxx", {"FOO"}),
    ("${BAR?bbb}", {"BAR": ""}, "", {"BAR"}),
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x", {"FOO"}),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx", {"FOO"}),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y", {"FOO"}),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy", {"FOO", "BAR"}),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", {"FOO", "BAR"}),
    ("${FOO#}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy", {"FOO"}),
    ("${FOO##}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y", {"FOO"}),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy.", {"FOO", "ABC"}),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a", {"FOO"}),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO%y}", {"FOO": "xxyy"}, "xxy", {"FOO"}),
    ("${FOO%%y*}", {"FOO": "xxyy"}, "xx", {"FOO"}),
    ("${FOO%y*}", {"FOO": "xxyy"}, "xxy", {"FOO"}),
    ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", {"FOO", "BAR"}),
    (
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
        "/foo.*/*.txt - /foo..*.txt",
        {"FOO", "NEEDLE"},
    ),
    (
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
        "/tmp/bar.txt - /bar.txt",
        None,
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"},
        "/foo/b/c.txt - /foo/c.txt",
        None,
    ),
    (
        "${FOO/$NEEDLE/$REPLACEMENT}",
        {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
        "https://google.de",
        None,
    ),
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt", {"FOO"}),
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy", {"FOO", "BAR"}),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy", {"FOO"}),
    ("${FOO///}", {}, "", {"FOO"}),
    (
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tgz",
        {"VERSION": "v1.2.3", "TARGETOS": "linux", "TARGETARCH": "arm", "TARGETVARIANT": "v7"},
        "something-v1.2.3.linux-arm-v7.tgz",
        {"VERSION", "TARGETOS", "TARGETARCH", "TARGETVARIANT"},
    ),
]


@pytest.mark.parametrize(("source", "env", "expected", "used"), MODIFIERS)
def test_modifiers(source: str, env: dict[str, str], expected: str, used: set[str] | None) -> None:
    ex = Expander(env)
    assert ex.word(source) == expected
    if used is not None:
        assert ex.used == used


@pytest.mark.parametrize(
    "source",
    [
        "${BAZ?ccc}",
        "${BAR:?bbb}",
        "${BAZ:?ccc}",
        "${BAZ:?}",
        "${FOO=aaa}",
        "${FOO=:aaa}",
        "${FOO=}",
        "${FOO//ww}",
        "${FOO//}",
        "${FOO#\\x}",
    ],
)
def test_modifier_errors(source: str) -> None:
    with pytest.raises(ContainerfileError):
        Expander({"FOO": "xxx", "BAR": ""}).word(source)


def test_mandatory_messages() -> None:
    env = {"VAR": "", "ARG": "x"}
    with pytest.raises(ContainerfileError, match="VAR: message herex"):
        Expander(env).word("${VAR:?message here$ARG}")
    with pytest.raises(ContainerfileError, match="VAR: is not allowed to be unset"):
        Expander({}).word("${VAR?}")
    assert Expander(env).word("${VAR?message here$ARG}") == ""


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("hello", ["hello"]),
        ("hello world", ["hello", "world"]),
        ("  hello   world  ", ["hello", "world"]),
        ("'hello world'", ["hello world"]),
        ('"hello world" x', ["hello world", "x"]),
        ('""', []),
        ("a\\ b c", ["a b", "c"]),
        ("$EMPTY", []),
        ("$SPACED", ["a", "b"]),
        ('"$SPACED"', ["a  b"]),
        ("x${SPACED}y", ["xa", "by"]),
        ("'$SPACED'", ["$SPACED"]),
    ],
)
def test_words(source: str, expected: list[str]) -> None:
    assert Expander({"EMPTY": "", "SPACED": "a  b"}).words(source) == expected


def test_backtick_escape() -> None:
    ex = Expander({"V": "v"}, escape="`")
    assert ex.word("C:\\path\\$V") == "C:\\path\\v"
    assert ex.word("a`$V") == "a$V"
    assert ex.word('"x`"y"') == 'x"y'


def _ins(text: str) -> list[tuple[str, str | None]]:
    instruction = parse(f"FROM scratch\n{text}\n", "Containerfile").stages[0].instructions[0]
    return parse_key_values(instruction)


def test_key_values() -> None:
    assert _ins("ENV A=1 B=\"two words\" C='s $q' D=e\\ s E=") == [
        ("A", "1"),
        ("B", '"two words"'),
        ("C", "'s $q'"),
        ("D", "e\\ s"),
        ("E", ""),
    ]
    assert _ins("ENV LEGACY value with    spaces") == [("LEGACY", "value with    spaces")]
    assert _ins('LABEL "a b"=c') == [('"a b"', "c")]
    assert _ins("ARG A B=2 C=") == [("A", None), ("B", "2"), ("C", "")]
    expanded = [
        (Expander({}).word(k), Expander({}).word(v or "")) for k, v in _ins('ENV B="two words"')
    ]
    assert expanded == [("B", "two words")]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ENV A", "Containerfile:2: ENV must have two arguments"),
        ("ENV A=1 B", "Containerfile:2: Syntax error - can't find = in 'B'"),
        ("LABEL a=b c", "Containerfile:2: Syntax error - can't find = in 'c'"),
    ],
)
def test_key_value_errors(text: str, message: str) -> None:
    with pytest.raises(ContainerfileError) as info:
        parse(f"FROM scratch\n{text}\n", "Containerfile")
    assert str(info.value).startswith(message)
