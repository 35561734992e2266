"""The parse tree itself: stages, meta ARGs, directives, heredoc attributes the oracle does not
report (expand, chomp), ONBUILD triggers, every parse error naming file and line, and how the
Containerfile is found."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boxwright.build.containerfile import Flag, Heredoc, Location, find_containerfile, parse
from boxwright.errors import BuildError, ContainerfileError, UsageError

MULTI = """\
# syntax=docker/dockerfile:1
# check=error=true
ARG BASE=alpine
ARG PLATFORM
FROM --platform=$PLATFORM ${BASE}:3 AS Builder
RUN make
FROM scratch
COPY --from=builder /out /
"""


def test_stages_and_meta_args() -> None:
    cf = parse(MULTI, "ctx/Containerfile")
    assert cf.filename == "ctx/Containerfile"
    assert cf.escape == "\\"
    assert dict(cf.directives) == {"syntax": "docker/dockerfile:1", "check": "error=true"}
    assert [a.args for a in cf.meta_args] == [("BASE=alpine",), ("PLATFORM",)]
    first, second = cf.stages
    assert (first.index, first.name, first.base, first.platform) == (
        0,
        "builder",
        "${BASE}:3",
        "$PLATFORM",
    )
    assert first.from_instruction.location == Location("ctx/Containerfile", 5, 5)
    assert [i.original for i in first.instructions] == ["RUN make"]
    assert (second.index, second.name, second.base, second.platform) == (1, None, "scratch", None)
    copy = second.instructions[0]
    assert copy.flags == (Flag("from", "builder"),)
    assert copy.flag("from") == "builder" and copy.has_flag("from") and not copy.has_flag("link")
    assert cf.stage("BUILDER") is first and cf.stage("1") is second and cf.stage("x") is None


def test_duplicate_stage_names_are_accepted_and_the_last_is_the_named_one() -> None:
    # BuildKit and buildah accept them (BuildKit's lint warns: DuplicateStageName).
    cf = parse("FROM a AS x\nFROM b AS X\nFROM c\n")
    assert [(s.index, s.name, s.base) for s in cf.stages] == [
        (0, "x", "a"),
        (1, "x", "b"),
        (2, None, "c"),
    ]
    assert cf.stage("x") is cf.stages[1] and cf.stage("0") is cf.stages[0]


def test_shell_and_exec_forms() -> None:
    cf = parse(
        'FROM a\nRUN  echo  "x"  \nCMD ["a", "b c"]\nENTRYPOINT ["a" "b"]\nCOPY --link a b\n'
    )
    run, cmd, entry, copy = cf.stages[0].instructions
    assert (run.args, run.json_form, run.original) == (('echo  "x"',), False, 'RUN  echo  "x"  ')
    assert (cmd.args, cmd.json_form) == (("a", "b c"), True)
    assert (entry.args, entry.json_form) == (('["a" "b"]',), False)
    assert copy.flags == (Flag("link", None),) and copy.args == ("a b",)


def test_heredoc_attributes() -> None:
    text = (
        "FROM a\n"
        "RUN <<-'EOT' bash\n\techo $HOME\n\t\tdeeper\n\tEOT\n"
        'COPY <<one 3<<"two" /d/\n$x\none\ny\ntwo\n'
        'RUN <<E"O"F\nz\nEOF\n'
    )
    run, copy, partly = parse(text).stages[0].instructions
    (doc,) = run.heredocs
    assert doc == Heredoc("EOT", "\techo $HOME\n\t\tdeeper\n", expand=False, chomp=True, fd=0)
    assert doc.body() == "echo $HOME\ndeeper\n"
    assert run.location == Location("Containerfile", 2, 5)
    assert run.original == "RUN <<-'EOT' bash\n\techo $HOME\n\t\tdeeper\nEOT\n"
    assert copy.heredocs == (
        Heredoc("one", "$x\n", expand=True, chomp=False, fd=0),
        Heredoc("two", "y\n", expand=False, chomp=False, fd=3),
    )
    assert copy.args == ('<<one 3<<"two" /d/',)
    assert partly.heredocs == (Heredoc("EOF", "z\n", expand=False, chomp=False),)


def test_onbuild_trigger_keeps_its_heredoc() -> None:
    cf = parse("FROM a\nONBUILD RUN <<EOF\necho t\nEOF\nONBUILD COPY --chown=1 . /s\n")
    heredoc, copy = cf.stages[0].instructions
    assert heredoc.keyword == "ONBUILD" and heredoc.args == ("RUN <<EOF",)
    assert heredoc.location == Location("Containerfile", 2, 4)
    assert heredoc.onbuild is not None
    assert heredoc.onbuild.keyword == "RUN"
    assert heredoc.onbuild.heredocs == (Heredoc("EOF", "echo t\n", True, False),)
    assert copy.onbuild is not None and copy.onbuild.flags == (Flag("chown", "1"),)
    assert copy.flags == ()


def test_escape_directive_changes_continuation() -> None:
    cf = parse("# escape=`\nFROM a\nRUN dir C:\\ `\n  /w\nRUN b \\\n")
    first, second = cf.stages[0].instructions
    assert cf.escape == "`" and first.escape == "`"
    assert first.args == ("dir C:\\   /w",)
    assert second.args == ("b \\",)


def test_directive_only_at_the_top() -> None:
    cf = parse("# hello\n# escape=`\nFROM a\nRUN a \\\n  b\n")
    assert cf.escape == "\\" and dict(cf.directives) == {}
    assert cf.stages[0].instructions[0].args == ("a   b",)


def test_crlf_and_bom() -> None:
    cf = parse("\ufeffFROM a\r\nRUN x \\\r\n  y\r\nCOPY <<E /f\r\nl1\r\nE\r\n")
    run, copy = cf.stages[0].instructions
    assert run.args == ("x   y",)
    assert copy.heredocs[0].content == "l1\r\n"


ERRORS = [
    ("", "Dockerfile:1: file with no instructions"),
    ("# only a comment\n\n", "Dockerfile:2: file with no instructions"),
    ("FROM a\nFOO bar\n", "Dockerfile:2: unknown instruction: FOO"),
    ("FROM a\n\nRUN <<EOF\nx\n", "Dockerfile:3: unterminated heredoc"),
    ("# escape=`\n# ESCAPE=\\\nFROM a\n", "Dockerfile:2: only one escape parser directive"),
    ("# escape=x\nFROM a\n", "Dockerfile:1: invalid escape token 'x' does not match ` or \\"),
    ("FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM a AS b c\n", "Dockerfile:1: FROM requires either one or three arguments"),
    ("FROM a AS 1st\n", "Dockerfile:1: invalid name for build stage: '1st'"),
    ("FROM --pull a\n", "Dockerfile:1: FROM has no flag --pull"),
    ("ARG A\nRUN x\nFROM a\n", "Dockerfile:2: no build stage in current context"),
    ("ARG A\n", "Dockerfile:1: no FROM instruction"),
    ('FROM a\n\nCMD ["a", 1]\n', "Dockerfile:3: when using JSON array syntax"),
    ("FROM a\nSHELL /bin/sh -c\n", "Dockerfile:2: SHELL requires the arguments to be in JSON"),
    ("FROM a\nCOPY onlyone\n", "Dockerfile:2: COPY requires at least two arguments"),
    ("FROM a\nADD\n", "Dockerfile:2: ADD requires at least two arguments"),
    ("FROM a\nWORKDIR\n", "Dockerfile:2: WORKDIR requires exactly one argument"),
    ("FROM a\nENV\n", "Dockerfile:2: ENV requires at least one argument"),
    ("FROM a\nARG\n", "Dockerfile:2: ARG requires at least one argument"),
    ('FROM a\nVOLUME ["/a", ""]\n', "Dockerfile:2: VOLUME specified can not be an empty string"),
    ("FROM a\nHEALTHCHECK EXEC x\n", "Dockerfile:2: Unknown type 'EXEC' in HEALTHCHECK"),
    ("FROM a\nHEALTHCHECK NONE x\n", "Dockerfile:2: HEALTHCHECK NONE takes no arguments"),
    ("FROM a\nONBUILD ONBUILD RUN x\n", "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD`"),
    ("FROM a\nONBUILD FROM b\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"),
    ("FROM a\nONBUILD\n", "Dockerfile:2: ONBUILD requires at least one argument"),
    ("FROM a\nRUN x \\\n  y\nENV A\n", "Dockerfile:4: ENV must have two arguments"),
]


@pytest.mark.parametrize(("text", "message"), ERRORS, ids=[m for _, m in ERRORS])
def test_errors_name_file_and_line(text: str, message: str) -> None:
    with pytest.raises(ContainerfileError) as info:
        parse(text, "Dockerfile")
    assert str(info.value).startswith(message)
    assert isinstance(info.value, BuildError)


def test_find_containerfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    with pytest.raises(UsageError, match="no Containerfile or Dockerfile in"):
        find_containerfile(ctx, None)
    (ctx / "Dockerfile").write_text("FROM a\n")
    assert find_containerfile(ctx, None) == ctx / "Dockerfile"
    (ctx / "Containerfile").write_text("FROM a\n")
    assert find_containerfile(ctx, None) == ctx / "Containerfile"
    assert find_containerfile(ctx, "-") == "-"
    (ctx / "sub").mkdir()
    (ctx / "sub" / "Build.file").write_text("FROM a\n")
    monkeypatch.chdir(tmp_path)
    assert find_containerfile(ctx, "sub/Build.file") == ctx / "sub" / "Build.file"
    assert find_containerfile(ctx, "ctx/Dockerfile") == Path("ctx/Dockerfile")
    assert find_containerfile(ctx, os.fspath(ctx)) == ctx / "Containerfile"
    with pytest.raises(UsageError, match="no Containerfile at 'missing'"):
        find_containerfile(ctx, "missing")
