"""Shared CLI output: JSON rendering, progress reporters, tables, sizes."""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from boxwright.cli.output import (
    PlainProgress,
    RichProgress,
    SilentProgress,
    emit_json,
    human_size,
    make_progress,
    render_mapping,
    render_table,
    short_name,
    to_json,
)
from boxwright.oci.digest import Digest

DIGEST = Digest.from_bytes(b"hello")


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (None, "?"),
        (0, "0 B"),
        (999, "999 B"),
        (1000, "1 kB"),
        (1234, "1.23 kB"),
        (1_234_567, "1.23 MB"),
        (123_456_789, "123 MB"),
        (5 * 10**12, "5 TB"),
        (7 * 10**15, "7000 TB"),
    ],
)
def test_human_size(size: int | None, text: str) -> None:
    assert human_size(size) == text


def test_short_name() -> None:
    assert short_name(str(DIGEST)) == "sha256:" + DIGEST.hex[:12]
    assert short_name("config") == "config"
    assert short_name("/a/very/long/path/to/some/file.txt", width=12) == "…me/file.txt"


def test_emit_json_renders_library_values() -> None:
    @dataclass
    class Item:
        path: Path
        when: datetime

    out = io.StringIO()
    emit_json(
        {
            "Digest": DIGEST,
            "Item": Item(Path("/x"), datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)),
            "Tags": {"b", "a"},
            "Name": "ünïcode",
        },
        stream=out,
    )
    assert out.getvalue() == (
        "{\n"
        f'    "Digest": "{DIGEST}",\n'
        '    "Item": {\n'
        '        "path": "/x",\n'
        '        "when": "2024-01-02T03:04:05+00:00"\n'
        "    },\n"
        '    "Tags": [\n        "a",\n        "b"\n    ],\n'
        '    "Name": "ünïcode"\n'
        "}\n"
    )


def test_to_json_refuses_unknown_objects() -> None:
    with pytest.raises(TypeError, match="cannot render object as JSON"):
        to_json({"x": object()})


def test_make_progress_picks_by_quiet_and_terminal() -> None:
    assert type(make_progress(quiet=True, stream=io.StringIO())) is SilentProgress
    assert isinstance(make_progress(quiet=False, stream=io.StringIO()), PlainProgress)
    rich = make_progress(quiet=False, stream=io.StringIO(), force_terminal=True)
    assert isinstance(rich, RichProgress)


def test_plain_progress_prints_one_line_per_finished_item() -> None:
    out = io.StringIO()
    with make_progress(quiet=False, stream=out) as progress:
        progress("start", str(DIGEST), 0, 2_000_000)
        progress("progress", str(DIGEST), 1_000_000, 2_000_000)
        progress("done", str(DIGEST), 2_000_000, 2_000_000)
        progress("done", str(DIGEST), 2_000_000, 2_000_000)
        progress("skipped", "config", 0, 1500)
        progress("done", "manifest", 512, None)
    assert out.getvalue() == (
        f"sha256:{DIGEST.hex[:12]}: done (2 MB)\n"
        "config: already present (1.5 kB)\n"
        "manifest: done (512 B)\n"
    )


def test_plain_progress_is_thread_safe() -> None:
    out = io.StringIO()
    progress = PlainProgress(out)

    def worker(n: int) -> None:
        for done in range(0, 101, 10):
            progress("progress", f"blob-{n}", done, 100)
        progress("done", f"blob-{n}", 100, 100)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = out.getvalue().splitlines()
    assert sorted(lines) == sorted(f"blob-{n}: done (100 B)" for n in range(16))


def test_rich_progress_draws_bars() -> None:
    out = io.StringIO()
    with make_progress(quiet=False, stream=out, force_terminal=True) as progress:
        progress("start", str(DIGEST), 0, 4000)
        progress("done", str(DIGEST), 4000, 4000)
        progress("skipped", "config", 0, None)
    text = out.getvalue()
    assert f"sha256:{DIGEST.hex[:12]}" in text
    assert "4.0/4.0 kB" in text
    assert "config (already present)" in text


def test_silent_progress_writes_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with make_progress(quiet=True) as progress:
        progress("done", "x", 1, 1)
    assert capsys.readouterr() == ("", "")


def test_plain_table_aligns_columns_without_trailing_spaces() -> None:
    out = io.StringIO()
    render_table(
        ["name", "size", "note"], [["a", 1, None], ["longer-name", 12345, "x"]], stream=out
    )
    assert out.getvalue() == ("NAME         SIZE   NOTE\na            1\nlonger-name  12345  x\n")


def test_table_rejects_ragged_rows() -> None:
    with pytest.raises(ValueError, match="row has 1 cells, expected 2"):
        render_table(["a", "b"], [["only"]], stream=io.StringIO())


def test_rich_table_on_terminal() -> None:
    out = io.StringIO()
    render_table(["name", "size"], [["hello", "12 B"]], stream=out, force_terminal=True)
    text = out.getvalue()
    assert "NAME" in text and "SIZE" in text and "hello" in text and "12 B" in text


def test_render_mapping_aligns_values() -> None:
    out = io.StringIO()
    render_mapping({"Name": "hello", "Architecture": "amd64", "Empty": ""}, stream=out)
    assert out.getvalue() == "Name:         hello\nArchitecture: amd64\nEmpty:\n"


@dataclass(frozen=True)
class _Event:
    kind: str
    digest: Digest
    media_type: str
    done: int
    total: int | None


def test_reporters_accept_event_objects() -> None:
    out = io.StringIO()
    with make_progress(quiet=False, stream=out) as progress:
        progress(_Event("started", DIGEST, "application/octet-stream", 0, 3000))
        progress(_Event("progress", DIGEST, "application/octet-stream", 1500, 3000))
        progress(_Event("done", DIGEST, "application/octet-stream", 3000, 3000))
        progress(_Event("manifest", Digest.from_bytes(b"m"), "application/json", 420, 420))
    assert out.getvalue() == (
        f"sha256:{DIGEST.hex[:12]}: done (3 kB)\n"
        f"sha256:{Digest.from_bytes(b'm').hex[:12]}: written (420 B)\n"
    )
    rich_out = io.StringIO()
    with make_progress(quiet=False, stream=rich_out, force_terminal=True) as progress:
        progress(_Event("started", DIGEST, "application/octet-stream", 0, 3000))
        progress(_Event("done", DIGEST, "application/octet-stream", 3000, 3000))
    assert "3.0/3.0 kB" in rich_out.getvalue()
