"""Random Containerfiles assembled from tricky line fragments (continuations, comments and
blanks inside them, heredoc openers and terminators, JSON and near-JSON, flags, directives)
must parse exactly as BuildKit's Go parser parses them, or fail where it fails."""

from __future__ import annotations

import dockerfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_parser_oracle import compare, flatten

from boxwright.errors import ContainerfileError

FRAGMENTS = [
    "RUN echo hi",
    "RUN echo a \\",
    "RUN echo 'q \\",
    "  && echo b",
    "# comment",
    "",
    "   ",
    "\t# indented comment",
    "RUN <<EOF",
    "RUN <<-EOF cat",
    "COPY <<A <<'B' /d/",
    "EOF",
    "\tEOF",
    "A",
    "B",
    "body $x \\",
    'CMD ["a", "b"]',
    'CMD ["a" "b"]',
    "ENTRYPOINT [ ] tail",
    'ENV A=1 B="2 3"',
    "ENV K v w",
    'LABEL x="y z" \\',
    "ARG N=1 M",
    "COPY --from=a --chown=1:1 a b",
    "RUN --mount=type=cache,target=/x -- make",
    "RUN --network=none `echo` x `",
    "EXPOSE 80 443/udp",
    "USER u",
    "WORKDIR /w",
    'VOLUME ["/v"]',
    "HEALTHCHECK --retries=2 CMD true",
    "ONBUILD RUN x",
    "RUN x \\\\",
    "RUN x \\  ",
    "\\",
    'RUN "unterminated',
    "FROM y AS z2",
    "RUN cat 3<<X",
    "X",
    "RUN echo $'<<NO'",
    "ADD a b \\",
    "    c",
    'RUN ["bad", 1]',
    "run lower",
]
HEADERS = ["", "# escape=`\n", "# syntax=x/y\n# check=skip=all\n", "# nope=1\n# escape=`\n"]

# Messages of checks BuildKit makes after parsing (instructions.Parse, dispatch) that we make
# while parsing: the Go parser alone accepts these files.
STRICTER = (
    "requires",
    "unknown instruction",
    "no build stage",
    "no FROM",
    "isn't allowed",
    "HEALTHCHECK",
    "VOLUME specified",
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(HEADERS), st.lists(st.sampled_from(FRAGMENTS), max_size=12))
def test_random_files_match_buildkit(header: str, lines: list[str]) -> None:
    text = header + "FROM base\n" + "\n".join(lines) + "\n"
    try:
        theirs = dockerfile.parse_string(text)
    except dockerfile.GoParseError:
        theirs = None
    try:
        ours = flatten(text)
    except ContainerfileError as err:
        if theirs is not None:
            assert any(s in str(err) for s in STRICTER), (text, err)
        return
    assert theirs is not None, text
    assert [c.cmd.upper() for c in theirs] == [i.keyword for i in ours]
    for mine, reference in zip(ours, theirs, strict=True):
        compare(mine, reference)
