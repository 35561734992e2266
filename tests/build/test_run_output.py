"""RUN output through ``on_event``: every line a step's process writes, as an event of that step.

The lines are exact (no newline, decoded with replacement), in order within each stream,
tagged with the stage and the step, all delivered before a failing step's BuildError, and
never on the caller's own streams when an ``on_event`` collects them. The same build as an
unprivileged user gives the same events, also through fakeroot (a glibc rootfs in a
single-ID namespace). :func:`output_lines` itself: long lines in pieces, split characters,
bad bytes, a callback that raises.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boxwright.build.context import BuildEvent, BuildOptions
from boxwright.build.executor import build
from boxwright.build.runoutput import output_lines
from boxwright.errors import BuildError
from boxwright.store.pullpush import pull
from boxwright.store.store import Store
from boxwright_testing.builds import (
    BASE,
    glibc_context,
    run_build,
    write_context,
)
from boxwright_testing.users import User, as_user, chown_tree

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (and to make a test user)")

LONG = 1 << 17  # a 128 KiB line: two pipe buffers' worth, one event
CONTAINERFILE = f"""FROM {BASE}
RUN echo one; echo err-one >&2; echo two; echo; echo err-two >&2; printf 'no-newline'
ENV X=1
RUN s=x; i=0; while [ $i -lt 17 ]; do s=$s$s; i=$((i+1)); done; echo "$s"; echo "$X" >&2
"""
Line = tuple[str, str, int, int]  # text, stream, stage, step
EXPECTED: list[Line] = [
    ("one", "stdout", 0, 2),
    ("two", "stdout", 0, 2),
    ("", "stdout", 0, 2),
    ("no-newline", "stdout", 0, 2),
    ("err-one", "stderr", 0, 2),
    ("err-two", "stderr", 0, 2),
    ("x" * LONG, "stdout", 0, 4),
    ("1", "stderr", 0, 4),
]


def _lines(events: list[BuildEvent], kind: str = "output") -> list[Line]:
    """The output events, stdout lines before stderr lines of each step (each in order)."""
    found = [(e.text, e.stream, e.stage, e.step) for e in events if e.kind == kind]
    return sorted(found, key=lambda line: (line[3], line[1] == "stderr"))


@needs_root
def test_run_output_arrives_as_events_of_its_step(
    bstore: Store, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ctx = write_context(tmp_path / "ctx", CONTAINERFILE)
    events: list[BuildEvent] = []
    capfd.readouterr()
    run_build(bstore, ctx, events)
    assert _lines(events) == EXPECTED
    # each line comes after its own STEP line and before the next one
    starts = [i for i, e in enumerate(events) if e.kind == "step"]
    for i, event in enumerate(events):
        if event.kind == "output":
            assert events[max(s for s in starts if s < i)].step == event.step
    leaked = capfd.readouterr()
    assert "one" not in leaked.out and "err-one" not in leaked.err


@needs_root
def test_a_failing_run_delivers_its_output_before_the_error(bstore: Store, tmp_path: Path) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN echo before; echo oops >&2; exit 3\n")
    events: list[BuildEvent] = []
    with pytest.raises(BuildError, match='STEP "RUN echo before; echo oops >&2; exit 3"'):
        run_build(bstore, ctx, events)
    assert _lines(events) == [("before", "stdout", 0, 2), ("oops", "stderr", 0, 2)]


@needs_root
def test_without_on_event_the_output_goes_to_the_callers_streams(
    bstore: Store, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    ctx = write_context(tmp_path / "ctx", f"FROM {BASE}\nRUN echo to-fd-1; echo to-fd-2 >&2\n")
    capfd.readouterr()
    build(BuildOptions(context=ctx), bstore)
    seen = capfd.readouterr()
    assert seen.out == "to-fd-1\n" and seen.err == "to-fd-2\n"


@needs_root
def test_parallel_stages_report_whole_lines_of_their_own(bstore: Store, tmp_path: Path) -> None:
    count = 400
    loop = 'i=0; while [ $i -lt {n} ]; do echo "{me}-$i-padding-padding"; i=$((i+1)); done'
    text = (
        f"FROM {BASE} AS a\nRUN {loop.format(n=count, me='a')}\n"
        f"FROM {BASE} AS b\nRUN {loop.format(n=count, me='b')} >&2\n"
        f"FROM {BASE}\nCOPY --from=a /bin/sh /a\nCOPY --from=b /bin/sh /b\n"
    )
    events: list[BuildEvent] = []
    run_build(bstore, write_context(tmp_path / "ctx", text), events)
    output = [e for e in events if e.kind == "output"]
    for stage, me, stream in ((0, "a", "stdout"), (1, "b", "stderr")):
        mine = [(e.text, e.stream) for e in output if e.stage == stage]
        assert mine == [(f"{me}-{i}-padding-padding", stream) for i in range(count)]
    assert len(output) == 2 * count


# -- as an unprivileged user ------------------------------------------------------------------


def _build_lines(root: str, context: str, layout: str) -> list[Line]:
    store = Store(root)
    pull(f"oci:{layout}:1", store=store, name=BASE)
    events: list[BuildEvent] = []
    try:
        build(BuildOptions(context=Path(context), timestamp=0, on_event=events.append), store)
    except BuildError as error:
        return [*_lines(events), (str(error).rsplit(": ", 1)[-1], "error", -1, -1)]
    return _lines(events)


def _as_root_and_user(user: User, user_dir: Path, base_layout: Path) -> tuple[object, object]:
    layout = user_dir / "layout"
    shutil.copytree(base_layout, layout)
    chown_tree(user_dir, user)
    ctx, where = str(user_dir / "ctx"), str(layout)
    as_root = _build_lines(str(user_dir / "root-store"), ctx, where)
    return as_root, as_user(user, _build_lines, str(user_dir / "user-store"), ctx, where)


@needs_root
def test_an_unprivileged_build_reports_the_same_output(
    unprivileged_user: User, user_dir: Path, base_layout: Path
) -> None:
    write_context(user_dir / "ctx", CONTAINERFILE + "RUN echo last; echo gone >&2; exit 5\n")
    as_root, as_user_lines = _as_root_and_user(unprivileged_user, user_dir, base_layout)
    expected = [
        *EXPECTED,
        ("last", "stdout", 0, 5),
        ("gone", "stderr", 0, 5),
        ("exit status 5", "error", -1, -1),
    ]
    assert as_root == expected
    assert as_user_lines == expected


@needs_root
def test_output_of_a_step_run_under_fakeroot(
    unprivileged_user: User, user_dir: Path, base_layout: Path
) -> None:
    ctx = glibc_context(user_dir / "ctx")
    (ctx / "Containerfile").write_text(
        "FROM scratch\nCOPY rootfs/ /\n"
        "RUN touch /f && chown 1000:1000 /f && stat -c '%u:%g' /f && id -u >&2 && printf end\n"
    )
    as_root, as_user_lines = _as_root_and_user(unprivileged_user, user_dir, base_layout)
    expected = [("1000:1000", "stdout", 0, 3), ("end", "stdout", 0, 3), ("0", "stderr", 0, 3)]
    assert as_root == expected
    assert as_user_lines == expected


# -- output_lines -------------------------------------------------------------------------------


def _collect(chunks: list[tuple[str, bytes]], limit: int) -> list[tuple[str, str]]:
    got: list[tuple[str, str]] = []
    with output_lines(lambda line, stream: got.append((stream, line)), limit=limit) as fds:
        for stream, data in chunks:
            os.write(fds[0] if stream == "stdout" else fds[1], data)
    return got


def test_lines_pieces_characters_and_bad_bytes() -> None:
    got = _collect(
        [
            ("stdout", b"ab"),
            ("stdout", b"c\nabcdefghij\n"),
            ("stdout", "\u00e9\u00e9\u00e9\n".encode()),
            ("stdout", b"\xffok\r\n"),
            ("stdout", b"last"),
        ],
        limit=4,
    )
    assert got == [
        ("stdout", "abc"),
        ("stdout", "abcd"),
        ("stdout", "efgh"),
        ("stdout", "ij"),
        ("stdout", "\u00e9\u00e9"),  # the 4-byte piece holds two whole characters
        ("stdout", "\u00e9"),
        ("stdout", "\ufffdok\r"),
        ("stdout", "last"),
    ]


def _reference(data: bytes, limit: int) -> list[str]:
    """The lines :func:`output_lines` must deliver for ``data``, however it is chunked."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # a final newline ends the last line; it starts no new one
    out: list[str] = []
    for line in lines:
        while len(line) > limit:
            out.append(line[:limit].decode())
            line = line[limit:]
        out.append(line.decode())
    return out


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(st.binary(max_size=20).map(lambda b: bytes(c % 3 + 9 for c in b))),
    limit=st.integers(min_value=1, max_value=6),
)
def test_any_chunking_gives_the_same_lines(chunks: list[bytes], limit: int) -> None:
    # bytes 9, 10 and 11: tab, newline, vertical tab (ASCII: one character each)
    got = _collect([("stdout", chunk) for chunk in chunks], limit=limit)
    assert [line for _, line in got] == _reference(b"".join(chunks), limit)


def test_streams_are_read_separately_and_empty_pipes_give_nothing() -> None:
    got = _collect([("stderr", b"e1\n"), ("stdout", b"o1\n"), ("stderr", b"e2")], limit=64)
    assert [line for line in got if line[0] == "stdout"] == [("stdout", "o1")]
    assert [line for line in got if line[0] == "stderr"] == [("stderr", "e1"), ("stderr", "e2")]
    assert _collect([], limit=64) == []


def test_a_raising_callback_still_drains_the_pipe_and_raises_at_the_end() -> None:
    calls: list[str] = []

    def deliver(line: str, _stream: str) -> None:
        calls.append(line)
        raise ValueError(f"refused {line}")

    big = b"y" * 1000 + b"\n"
    with pytest.raises(ValueError, match="refused first"), output_lines(deliver) as (out, _err):
        os.write(out, b"first\n")
        for _ in range(300):  # 300 KB: blocks forever unless the reader keeps reading
            os.write(out, big)
    assert calls == ["first"]
    assert not [t for t in threading.enumerate() if t.name.startswith("run-std")]


@needs_root
def test_builder_run_writes_to_the_given_descriptors(bstore: Store, tmp_path: Path) -> None:
    from boxwright.build.builder import Builder

    paths = [tmp_path / "out", tmp_path / "err"]
    fds = [os.open(path, os.O_WRONLY | os.O_CREAT, 0o600) for path in paths]
    try:
        with Builder.from_image(BASE, store=bstore) as builder:
            script = "echo o; echo e >&2; exit 4"
            assert builder.run(["sh", "-c", script], output=(fds[0], fds[1])) == 4
            assert builder.run(["sh", "-c", "echo both; echo both-err >&2"], output=fds[0]) == 0
    finally:
        for fd in fds:
            os.close(fd)
    assert paths[0].read_text() == "o\nboth\nboth-err\n"
    assert paths[1].read_text() == "e\n"
