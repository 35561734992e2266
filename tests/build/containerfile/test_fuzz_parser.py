"""Fuzz tests of the parsers of a build's input: Containerfile, words, ignore files, values.

Parsers covered (the text comes from a Containerfile, a build context or ``--change``):

* ``build/containerfile/parser.py``: ``parse`` (directives, continuations, heredocs, flags,
  JSON exec form, stages);
* ``build/containerfile/shell.py``: ``Lexer``/``Expander`` (BuildKit's word expansion with
  every ``${V...}`` modifier and its wildcard patterns), ``split_words``,
  ``parse_key_values`` (``ENV``/``LABEL``/``ARG``);
* ``build/containerfile/ignore.py``: ``read_patterns``, ``IgnoreMatcher`` (compiling and
  matching ``.containerignore`` patterns);
* ``build/stages.py``: ``plan_stages`` (stage names and numbers, ``--from``, ``--target``);
* ``build/instructions.py``: ``add_ports`` (``EXPOSE``), ``set_healthcheck``,
  ``set_stop_signal``, ``json_words``;
* ``build/configedit.py``: ``parse_duration``, ``parse_healthcheck``, ``check_signal`` (the
  values of ``--change`` and of instructions).

The property (see ``tests/boxwright_testing/fuzz.py``): any text gives a value or a
:class:`ContainerfileError`/:class:`UsageError` — never another exception, never a hang
(a wildcard pattern against a long value must not backtrack exponentially).
"""

from __future__ import annotations

import time

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from boxwright.build import instructions as ins
from boxwright.build.configedit import check_signal, parse_duration, parse_healthcheck
from boxwright.build.containerfile.ignore import IgnoreMatcher, read_patterns
from boxwright.build.containerfile.model import Containerfile
from boxwright.build.containerfile.parser import parse
from boxwright.build.containerfile.shell import Expander, parse_key_values, split_words
from boxwright.build.stages import plan_stages
from boxwright.errors import BoxwrightError, ContainerfileError, UsageError
from boxwright.oci.config import ImageConfig
from boxwright_testing.fuzz import fragments, fuzz, hostile_text, outcome

pytestmark = fuzz

_TYPED = (ContainerfileError, UsageError)

_LINES = [
    "FROM busybox\n",
    "FROM busybox AS base\n",
    "FROM base\n",
    "FROM --platform=$BUILDPLATFORM busybox AS b2\n",
    "FROM ${IMG:-busybox}\n",
    "FROM 0\n",
    "ARG IMG=busybox\n",
    "ARG A\n",
    'ENV A=1 B="two words"\n',
    "ENV A 1\n",
    "LABEL a=b\n",
    "RUN echo hi\n",
    'RUN ["echo", "hi"]\n',
    'RUN ["echo", 1]\n',
    "RUN <<EOF\necho hi\nEOF\n",
    "RUN <<-'EOT' cat\n\tbody\nEOT\n",
    "COPY --from=base /a /b\n",
    "COPY --from=\u00b2 /a /b\n",
    "COPY --chown=1000:1000 a b\n",
    "COPY <<EOF /x\ncontent\nEOF\n",
    "ADD --checksum=sha256:abc a b\n",
    "RUN --mount=type=cache,from=base,target=/c true\n",
    "WORKDIR /srv\n",
    "USER app\n",
    "EXPOSE 80 53/udp 8000-8002\n",
    "EXPOSE \u00b2\n",
    "EXPOSE 1-99999999999\n",
    "STOPSIGNAL SIGTERM\n",
    "STOPSIGNAL \u00b2\n",
    "HEALTHCHECK --interval=30s CMD true\n",
    "HEALTHCHECK --retries=\u00b2 CMD true\n",
    "HEALTHCHECK --timeout=1e400s CMD true\n",
    "HEALTHCHECK NONE\n",
    'SHELL ["/bin/sh", "-c"]\n',
    "ONBUILD RUN true\n",
    "VOLUME /data\n",
    'CMD ["a"]\n',
    "ENTRYPOINT a b\n",
    "MAINTAINER me\n",
    "# syntax=docker/dockerfile:1\n",
    "# escape=`\n",
    "# escape=x\n",
    "# comment\n",
    "\\\n",
    "`\n",
    " \\\n",
    "\n",
    "\r\n",
    "--\n",
    "${",
    "$",
    "'",
    '"',
    "[",
    "<<",
]


@st.composite
def containerfiles(draw: st.DrawFn) -> str:
    """A Containerfile of grammar pieces, with odd text spliced in."""
    return draw(fragments(_LINES, max_size=12))


def _exercise(cf: Containerfile, scope: dict[str, str]) -> None:
    """What a build does with a parsed file before running anything: typed errors only."""
    outcome(plan_stages, cf, scope, None, errors=_TYPED)
    for stage in cf.stages:
        outcome(cf.stage, stage.base)
        outcome(plan_stages, cf, scope, stage.base, errors=_TYPED)
        for instruction in (*stage.instructions, stage.from_instruction):
            expander = Expander(scope, cf.escape, str(instruction.location))
            for arg in instruction.args:
                outcome(expander.words, arg, errors=_TYPED)
            if instruction.keyword in ("ENV", "LABEL", "ARG"):
                outcome(parse_key_values, instruction, errors=_TYPED)
            words = outcome(expander.words, " ".join(instruction.args), errors=_TYPED)
            if isinstance(words, BoxwrightError):
                continue
            config = ImageConfig.from_data({"config": {}})
            if instruction.keyword == "EXPOSE":
                outcome(ins.add_ports, config, words, errors=_TYPED)
            elif instruction.keyword == "STOPSIGNAL":
                outcome(ins.set_stop_signal, config, " ".join(words), errors=_TYPED)
            elif instruction.keyword == "HEALTHCHECK":
                flags = [(f.name, f.value) for f in instruction.flags]
                outcome(
                    ins.set_healthcheck,
                    config,
                    instruction.args,
                    instruction.json_form,
                    flags,
                    errors=_TYPED,
                )


@given(st.one_of(containerfiles(), hostile_text(200)), st.sampled_from([{}, {"IMG": "base"}]))
@example("FROM busybox\nEXPOSE \u00b2\n", {})
@example("FROM busybox\nEXPOSE 1-99999999999\n", {})
@example("FROM busybox\nSTOPSIGNAL \u00b2\n", {})
@example("FROM busybox\nHEALTHCHECK --retries=\u00b2 CMD true\n", {})
@example("FROM busybox\nHEALTHCHECK --timeout=1e400s CMD true\n", {})
@example("FROM busybox\nCOPY --from=\u00b2 /a /b\n", {})
@example("FROM \u00b2\n", {})
def test_any_containerfile_parses_and_plans_or_raises_a_containerfile_error(
    text: str, scope: dict[str, str]
) -> None:
    cf = outcome(parse, text, "Containerfile", errors=ContainerfileError)
    if isinstance(cf, Containerfile):
        _exercise(cf, scope)


_WORD_PIECES = [
    "$A",
    "${A}",
    "${A:-x}",
    "${A-x}",
    "${A:+x}",
    "${A+x}",
    "${A:?msg}",
    "${A#*}",
    "${A##*a}",
    "${A%a*}",
    "${A%%*}",
    "${A/a/b}",
    "${A//a/$$}",
    "${A/\\*/b}",
    "${A:=x}",
    "${#A}",
    "${",
    "}",
    "${A:-${B:-${C}}}",
    "'",
    '"',
    "\\",
    "`",
    "*",
    "?",
    "a",
    " ",
    "$1",
    "$@",
    "${1}",
]


@given(
    fragments(_WORD_PIECES, max_size=25),
    st.dictionaries(st.sampled_from(["A", "B", "C"]), hostile_text(20), max_size=3),
    st.sampled_from(["\\", "`"]),
)
@example("${A:-" * 2000, {}, "\\")
@example("${A##" + "*" * 40 + "b}", {"A": "a" * 40}, "\\")
@example("${A%%" + "*a" * 20 + "b}", {"A": "a" * 60}, "\\")
@example("${A/" + "*a" * 20 + "b/x}", {"A": "a" * 60}, "\\")
def test_any_word_expands_or_raises_a_containerfile_error(
    text: str, env: dict[str, str], escape: str
) -> None:
    expander = Expander(env, escape, "Containerfile:1")
    started = time.monotonic()
    outcome(expander.word, text, errors=ContainerfileError)
    outcome(expander.words, text, errors=ContainerfileError)
    assert time.monotonic() - started < 2, "expansion took seconds: a backtracking pattern?"
    assert isinstance(split_words(text, escape), list)


_IGNORE_PIECES = [
    "*",
    "**",
    "**/",
    "?",
    "[a-z]",
    "[^a]",
    "[",
    "]",
    "\\",
    "!",
    "/",
    "..",
    ".",
    "a",
    "b/",
    "#",
    "\n",
    " ",
    "[]",
    "[a-]",
    "[\\]",
]


@given(
    fragments(_IGNORE_PIECES, max_size=30),
    st.lists(fragments(["a", "b", "/", "..", ".", "*", "x.txt", "\\"], max_size=8), max_size=5),
)
@example("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*ab", ["a" * 60])
@example("**/**/**/**/**/**/**/**/**/**/**/**/**/**/x", ["a/" * 40 + "y"])
def test_any_ignore_file_compiles_and_matches_or_raises_a_containerfile_error(
    text: str, paths: list[str]
) -> None:
    matcher = outcome(
        IgnoreMatcher, read_patterns(text), ".containerignore", errors=ContainerfileError
    )
    if isinstance(matcher, IgnoreMatcher):
        started = time.monotonic()
        for path in paths:
            assert isinstance(matcher.matches(path), bool)
        assert time.monotonic() - started < 2, "matching took seconds: a backtracking pattern?"


@given(
    st.one_of(
        hostile_text(30),
        fragments(
            ["1", "0", ".", "5", "s", "m", "h", "ms", "us", "µs", "ns", "e", "-", "9" * 400],
            max_size=6,
        ),
    )
)
@example("1" + "0" * 400 + "s")
@example("9" * 5000 + "h")
def test_any_duration_is_nanoseconds_or_a_usage_error(text: str) -> None:
    value = outcome(parse_duration, text, "--interval", errors=UsageError)
    if isinstance(value, int):
        assert value >= 0


@given(
    st.one_of(
        hostile_text(30),
        fragments(["SIG", "TERM", "RTMIN", "+", "-", "3", "15", "64", "99", "\u00b2"], max_size=5),
    )
)
@example("\u00b2")
@example("1" * 5000)
def test_any_stop_signal_is_accepted_or_a_usage_error(text: str) -> None:
    outcome(check_signal, text, errors=UsageError)


@given(
    st.one_of(
        hostile_text(40),
        fragments(
            ["CMD", "CMD-SHELL", "NONE", " ", '["CMD", "a"]', "[", "'", '"', "[" * 3000], max_size=5
        ),
    )
)
def test_any_healthcheck_is_a_test_or_a_usage_error(text: str) -> None:
    outcome(parse_healthcheck, text, errors=UsageError)
    outcome(ins.json_words, text)


@given(
    st.lists(
        st.one_of(
            hostile_text(12),
            fragments(
                ["80", "/", "tcp", "udp", "-", "65535", "65536", "0", "\u00b2", "9" * 30],
                max_size=5,
            ),
        ),
        max_size=4,
    )
)
@example(["1-99999999999"])
@example(["\u00b2"])
def test_any_exposed_ports_are_added_or_a_usage_error(ports: list[str]) -> None:
    config = ImageConfig.from_data({"config": {}})
    added = outcome(ins.add_ports, config, ports, errors=UsageError)
    if not isinstance(added, BoxwrightError):
        assert all(0 <= int(key.split("/")[0]) <= 65535 for key in added.config.exposed_ports)


# -- crashes the fuzzers found, kept as exact regressions ---------------------------------------


@pytest.mark.parametrize(
    ("containerfile", "error", "message"),
    [
        # str.isdigit() accepts "²", int() refused it: ValueError
        ("FROM busybox\nEXPOSE \u00b2\n", UsageError, "not a port number or range"),
        # a range of 10**11 ports was expanded one by one: the build hung
        ("FROM busybox\nEXPOSE 1-99999999999\n", UsageError, "not a port number or range"),
        ("FROM busybox\nEXPOSE 2-1\n", UsageError, "ports are 0 to 65535, the lower one first"),
        ("FROM busybox\nSTOPSIGNAL \u00b2\n", UsageError, "is not a signal name or number"),
        ("FROM busybox\nHEALTHCHECK --retries=\u00b2 CMD true\n", UsageError, "not a number"),
        # float("9" * 400) is inf, and int(inf) raised OverflowError
        (
            "FROM busybox\nHEALTHCHECK --timeout=" + "9" * 400 + "s CMD true\n",
            UsageError,
            "too long",
        ),
    ],
)
def test_instruction_values_found_by_fuzzing_are_usage_errors(
    containerfile: str, error: type[BoxwrightError], message: str
) -> None:
    cf = parse(containerfile)
    started = time.monotonic()
    with pytest.raises(error, match=message):
        _exercise_strict(cf)
    assert time.monotonic() - started < 2


def _exercise_strict(cf: Containerfile) -> None:
    """Apply each instruction of the last stage as the build does, letting errors out."""
    for instruction in cf.stages[-1].instructions:
        words = Expander({}, cf.escape).words(" ".join(instruction.args))
        config = ImageConfig.from_data({"config": {}})
        if instruction.keyword == "EXPOSE":
            ins.add_ports(config, words)
        elif instruction.keyword == "STOPSIGNAL":
            ins.set_stop_signal(config, " ".join(words))
        elif instruction.keyword == "HEALTHCHECK":
            flags = [(f.name, f.value) for f in instruction.flags]
            ins.set_healthcheck(config, instruction.args, instruction.json_form, flags)


@pytest.mark.parametrize(
    "containerfile",
    [
        "FROM busybox\nFROM busybox\nCOPY --from=\u00b2 /a /b\n",  # int("²"): ValueError
        "FROM \u00b2\n",
        "FROM busybox\nCOPY --from=" + "1" * 5000 + " /a /b\n",  # int() of 5000 digits
    ],
)
def test_stage_names_that_look_like_numbers_are_names(containerfile: str) -> None:
    cf = parse(containerfile)
    plans = plan_stages(cf, {}, None)
    assert [p.base_stage for p in plans] == [None] * len(plans)
    assert cf.stage("\u00b2") is None


def test_exec_form_nested_too_deep_is_the_shell_form() -> None:
    # json's RecursionError escaped the exec-form check of the parser and of HEALTHCHECK.
    cf = parse("FROM busybox\nRUN " + "[" * 5000 + "\n")
    [run] = cf.stages[0].instructions
    assert (run.json_form, run.args) == (False, ("[" * 5000,))
    assert ins.json_words("[" * 100_000) is None
    assert parse_healthcheck("CMD " + "[" * 100_000) == ["CMD", "[" * 100_000]


def test_substitutions_nested_too_deep_are_a_containerfile_error() -> None:
    with pytest.raises(ContainerfileError, match="nested too deeply"):
        Expander({}, "\\", "Containerfile:2").word("${A:-" * 2000)


@pytest.mark.parametrize(
    ("word", "value", "expected"),
    [
        # these backtracked exponentially in Python's re: the build hung
        ("${A##" + "*" * 40 + "b}", "a" * 40, "a" * 40),
        ("${A%%" + "*a" * 20 + "b}", "a" * 60, "a" * 60),
        ("${A/" + "*a" * 20 + "b/x}", "a" * 60, "a" * 60),
        ("${A//" + "*a" * 20 + "b/x}", "a" * 60 + "b", "x"),
    ],
)
def test_substitution_patterns_match_in_linear_time(word: str, value: str, expected: str) -> None:
    started = time.monotonic()
    assert Expander({"A": value}).word(word) == expected
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("pattern", "path", "ignored"),
    [
        ("*a" * 20 + "b", "a" * 60, False),
        ("*a" * 20 + "b", "a" * 60 + "b", True),
        ("**/" * 14 + "x", "a/" * 40 + "y", False),
        ("**/" * 14 + "x", "a/" * 40 + "x", True),
    ],
)
def test_ignore_patterns_match_in_linear_time(pattern: str, path: str, ignored: bool) -> None:
    started = time.monotonic()
    assert IgnoreMatcher([pattern]).matches(path) is ignored
    assert time.monotonic() - started < 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [("\u00b2", None), ("1" * 5000, None), ("15", "15"), ("SIGRTMIN+3", "SIGRTMIN+3")],
)
def test_stop_signal_numbers_are_ascii(text: str, expected: str | None) -> None:
    if expected is None:
        with pytest.raises(UsageError, match="not a signal name or number"):
            check_signal(text)
    else:
        assert check_signal(text) == expected


@pytest.mark.parametrize("text", ["9" * 400 + "s", "1" + "0" * 400 + "h", "300000000h"])
def test_durations_beyond_go_int64_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError, match="too long"):
        parse_duration(text, "--interval")
