"""Every corpus file parsed by boxwright and by BuildKit's own Go parser (the ``dockerfile``
package wraps it) must give the same instructions: keyword, flags, exec/shell form, the
argument values BuildKit's line parsers derive, line ranges, the original text and the
heredocs (name, descriptor, content)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import dockerfile
import pytest

from boxwright.build.containerfile.model import Instruction
from boxwright.build.containerfile.parser import parse
from boxwright.build.containerfile.shell import parse_key_values, split_words

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(CORPUS.iterdir())
_WS = re.compile(r"[\t\v\f\r ]+")
_SPLIT = frozenset({"FROM", "EXPOSE", "ADD", "COPY", "VOLUME"})


def flatten(text: str) -> list[Instruction]:
    """Our instructions in file order (meta ARGs, then each FROM and its body)."""
    cf = parse(text, "corpus")
    out = list(cf.meta_args)
    for stage in cf.stages:
        out += [stage.from_instruction, *stage.instructions]
    return out


def buildkit_value(ins: Instruction) -> tuple[str, ...]:
    """What BuildKit's line parser puts in the node's value list, derived from our tree."""
    rest = ins.args[0] if ins.args and not ins.json_form else ""
    if ins.json_form:
        return ins.args
    if ins.keyword in _SPLIT:
        return tuple(_WS.split(rest)) if rest else ()
    if ins.keyword in ("ENV", "LABEL"):
        return tuple(part for kv in parse_key_values(ins) for part in (kv[0], kv[1] or ""))
    if ins.keyword == "ARG":
        return tuple(split_words(rest, ins.escape))
    if ins.keyword == "HEALTHCHECK":
        kind, _, command = rest.partition(" ")
        return (kind, command.lstrip()) if command.strip() else (kind,)
    return ins.args


def flag_text(ins: Instruction) -> tuple[str, ...]:
    return tuple(f"--{f.name}" + ("" if f.value is None else f"={f.value}") for f in ins.flags)


def compare(ours: Instruction, theirs: Any) -> None:
    assert theirs.cmd.upper() == ours.keyword
    assert theirs.start_line == ours.location.line
    assert theirs.end_line == ours.location.end_line
    assert theirs.original == ours.original
    assert theirs.flags == flag_text(ours)
    target = ours
    if ours.keyword == "ONBUILD":
        assert ours.onbuild is not None
        target = ours.onbuild
        assert theirs.sub_cmd.upper() == target.keyword
        assert flag_text(target) == () or theirs.flags == ()
    assert theirs.json == target.json_form
    assert theirs.value == buildkit_value(target)
    if ours.keyword != "ONBUILD":
        # The package drops an ONBUILD trigger's heredocs (BuildKit keeps them on the child).
        assert tuple((h.name, h.file_descriptor, h.content) for h in theirs.heredocs) == tuple(
            (h.name, h.fd, h.content) for h in ours.heredocs
        )


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_corpus_matches_buildkit(path: Path) -> None:
    text = path.read_bytes().decode("utf-8")
    theirs = dockerfile.parse_string(text)
    ours = flatten(text)
    assert [c.cmd.upper() for c in theirs] == [i.keyword for i in ours]
    for mine, reference in zip(ours, theirs, strict=True):
        compare(mine, reference)


def test_corpus_is_substantial() -> None:
    """The corpus covers the grammar: many files, every instruction keyword."""
    keywords = {i.keyword for p in FILES for i in flatten(p.read_text(encoding="utf-8"))}
    assert len(FILES) >= 15
    assert keywords == {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
        "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
        "WORKDIR",
    }  # fmt: skip
