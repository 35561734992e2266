"""Hostile images, archives and registries cannot drive the terminal boxwright prints to.

Each command runs as a real process (``python -m boxwright``) on an image whose file names,
labels, environment, history, media types, RepoTags or tags hold terminal control sequences;
the tests read the exact bytes printed: no control character a terminal obeys, no forged
row, the escaped form exactly where the value is shown, and JSON and ``--raw`` byte for byte
as before.
"""

from __future__ import annotations

import http.server
import json
import os
import pty
import re
import subprocess
import sys
import threading
import tty
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hostile_images import (
    BYTE_SHOWN,
    CLEAR,
    CREATED_BY,
    FORGED,
    HOSTILE_NAMES,
    LABELS,
    TITLE,
    clean_layers,
    hostile_layers,
    raw_controls,
    write_docker_archive,
    write_oci_layout,
)

from boxwright.explain import explain_image
from boxwright.inspect import inspect_image

LABELS_SHOWN = (
    "bidi=\\u202eabc, c1=\\u009b31m, clear=\\x1b[2J, row=a\\nFAKE  /etc/shadow, "
    "title=\\x1b]0;pwned\\x07"
)


def boxwright(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """Run the real command line; stdout and stderr are pipes."""
    return subprocess.run(
        [sys.executable, "-m", "boxwright", *args],
        capture_output=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def assert_terminal_safe(done: subprocess.CompletedProcess[bytes]) -> list[str]:
    """No raw control character (but newlines) on stdout or stderr, and no line that a file
    name or label started; returns stdout's lines."""
    assert raw_controls(done.stdout) == []
    assert raw_controls(done.stderr) == []
    lines = done.stdout.decode().splitlines()
    assert not [line for line in lines + done.stderr.decode().splitlines() if "FAKE" in line[:4]]
    return lines


@pytest.fixture
def hostile(tmp_path: Path) -> str:
    return write_oci_layout(tmp_path / "hostile", hostile_layers())


@pytest.fixture
def clean(tmp_path: Path) -> str:
    return write_oci_layout(tmp_path / "clean", clean_layers(), hostile=False)


def _table(rows: list[tuple[str, str, str]], header: tuple[str, str, str]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def test_explain_files_shows_every_hostile_name_escaped_on_its_own_row(hostile: str) -> None:
    done = boxwright("explain", "--files", hostile)
    assert done.returncode == 0, done.stderr
    lines = assert_terminal_safe(done)
    rows = [("A", shown, "1") for shown in HOSTILE_NAMES.values()]
    table = _table(rows, ("OP", "PATH", "SIZE"))
    start = lines.index(table[0])
    assert lines[start : start + len(table)] == table
    assert "A   /etc/x\\nFAKE  /etc/shadow  1" in lines
    assert _table([("A", BYTE_SHOWN, "1")], ("OP", "PATH", "SIZE"))[1] in lines
    assert f"labels:     {LABELS_SHOWN}" in lines
    assert "env:        PATH=/bin, CR=a\\rb" in lines
    history = next(line for line in lines if line.startswith("0 "))
    assert history.endswith("RUN echo \\x1b]0;pwned\\x07\\x1b[2J")


def test_explain_json_is_unchanged_and_keeps_the_values(hostile: str) -> None:
    done = boxwright("explain", "--files", "--format", "json", hostile)
    assert done.returncode == 0, done.stderr
    expected = explain_image(hostile, files=True).to_json() + "\n"
    assert done.stdout == expected.encode("utf-8", "surrogateescape")
    report = json.loads(done.stdout.decode("utf-8", "surrogateescape"))
    assert report["config"]["labels"] == LABELS
    assert b"\\u001b]0;pwned\\u0007" in done.stdout


def test_explain_tree_names_a_hostile_media_type_escaped(tmp_path: Path) -> None:
    ref = write_oci_layout(
        tmp_path / "m", clean_layers(), hostile=False, media_type=f"application/x{CLEAR}"
    )
    done = boxwright("explain", ref)
    assert done.returncode == 0, done.stderr
    lines = assert_terminal_safe(done)
    assert lines[3].startswith("      layer sha256:")
    assert lines[3].split(" ")[8] == "application/x\\x1b[2J"


def test_diff_shows_hostile_config_history_and_paths_escaped(clean: str, hostile: str) -> None:
    done = boxwright("diff", clean, hostile)
    assert done.returncode == 0, done.stderr
    lines = assert_terminal_safe(done)
    assert "config.Labels[title]  (absent)  \\x1b]0;pwned\\x07" in lines
    assert "config.Labels[row]    (absent)  a\\nFAKE  /etc/shadow" in lines
    assert "config.Env[CR]        (absent)  a\\rb" in lines
    assert "B      0           /bin/sh -c echo \\x1b]0;pwned\\x07\\x1b[2J" in lines
    files = [re.fullmatch(r"\+  (.*?) +file  1 B", line) for line in lines]
    shown = {match.group(1) for match in files if match is not None}
    assert shown == set(HOSTILE_NAMES.values()) | {BYTE_SHOWN}


def test_inspect_template_escapes_the_values_not_the_template(hostile: str) -> None:
    template = '{{.Labels.title}}\\t{{index .Labels "row"}}\\n{{json .Labels}} {{.Env}}'
    done = boxwright("inspect", "--format", template, hostile)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        b"\\x1b]0;pwned\\x07\ta\\nFAKE  /etc/shadow\n"
        b'{"bidi":"\\u202eabc","c1":"\\u009b31m","clear":"\\u001b[2J",'
        b'"row":"a\\nFAKE  /etc/shadow","title":"\\u001b]0;pwned\\u0007"}'
        b" [PATH=/bin CR=a\\rb]\n"
    )
    assert done.stderr == b""


def test_inspect_json_raw_and_config_are_byte_exact(hostile: str, tmp_path: Path) -> None:
    summary = boxwright("inspect", hostile)
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout == (inspect_image(hostile).to_json() + "\n").encode()
    assert json.loads(summary.stdout)["Labels"] == LABELS
    layout = tmp_path / "hostile"
    index = json.loads((layout / "index.json").read_bytes())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = (layout / "blobs" / "sha256" / manifest_digest[7:]).read_bytes()
    raw = boxwright("inspect", "--raw", hostile)
    assert raw.stdout == manifest
    config_digest = json.loads(manifest)["config"]["digest"]
    config = boxwright("inspect", "--config", "--raw", hostile)
    assert config.stdout == (layout / "blobs" / "sha256" / config_digest[7:]).read_bytes()
    assert CREATED_BY.encode("unicode_escape").replace(b"\\x", b"\\u00") in config.stdout


def test_an_error_quoting_hostile_repo_tags_is_one_escaped_line(tmp_path: Path) -> None:
    archive = tmp_path / "two.tar"
    ref = write_docker_archive(archive, [[f"a:1{TITLE}"], [f"b:2\n{FORGED}"]])
    for args in ([], ["--debug"]):
        done = boxwright(*args, "inspect", ref)
        assert done.returncode == 1
        assert_terminal_safe(done)
        assert done.stdout == b""
        last = done.stderr.decode().splitlines()[-1]
        assert last == (
            f"Error: {archive} holds 2 images; name one as docker-archive:{archive}:NAME:TAG "
            "or :@N (tags: a:1\\x1b]0;pwned\\x07, b:2\\nFAKE  /etc/shadow)"
        )
    assert done.stderr.decode().startswith("Traceback (most recent call last):\n")


def test_build_step_lines_are_escaped(tmp_path: Path) -> None:
    context = tmp_path / "context"
    context.mkdir()
    (context / "Containerfile").write_text(f'FROM scratch\nLABEL t="{TITLE}" c="{CLEAR}"\n')
    done = boxwright("build", str(context), env={"BOXWRIGHT_ROOT": str(tmp_path / "root")})
    assert done.returncode == 0, done.stderr
    lines = assert_terminal_safe(done)
    assert lines[:2] == [
        "STEP 1/2: FROM scratch",
        'STEP 2/2: LABEL t="\\x1b]0;pwned\\x07" c="\\x1b[2J"',
    ]


def test_run_output_relayed_by_build_keeps_tabs_and_escapes_the_rest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from boxwright.build.context import BuildEvent
    from boxwright.cli.buildrun import _shower

    show = _shower(quiet=False)
    show(BuildEvent("output", f"col\tumn {TITLE}\r{CLEAR}", stream="stdout"))
    show(BuildEvent("output", f"warn{CLEAR}", stream="stderr"))
    captured = capsys.readouterr()
    assert captured.out == "col\tumn \\x1b]0;pwned\\x07\\r\\x1b[2J\n"
    assert captured.err == "warn\\x1b[2J\n"


def test_a_hostile_container_name_is_refused_in_one_escaped_line(tmp_path: Path) -> None:
    env = {"BOXWRIGHT_ROOT": str(tmp_path / "root")}
    made = boxwright(
        "container", "from", "--driver", "copy", "--name", f"c{TITLE}", "scratch", env=env
    )
    assert made.returncode == 1
    assert_terminal_safe(made)
    assert made.stderr.decode().splitlines() == [
        "Error: invalid container name 'c\\x1b]0;pwned\\x07': use letters, digits and '_.-', "
        "starting with a letter or digit"
    ]
    listed = boxwright("container", "ls", env=env)
    assert listed.returncode == 0, listed.stderr
    assert assert_terminal_safe(listed)[1:] == []


class _HostileTags(http.server.BaseHTTPRequestHandler):
    """A registry whose tag list holds control sequences (a real registry refuses such tags)
    and whose every manifest is unknown."""

    def do_GET(self) -> None:
        if self.path == "/v2/":
            self._send(200, {})
        elif self.path.startswith("/v2/repo/tags/list"):
            self._send(200, {"name": "repo", "tags": [f"v1{TITLE}", f"v2\n{FORGED}"]})
        else:
            self._send(404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "unknown"}]})

    do_HEAD = do_GET

    def _send(self, status: int, document: Any) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hostile_registry() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _HostileTags)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_sync_lines_and_list_tags_show_hostile_tags_escaped(
    hostile_registry: str, tmp_path: Path
) -> None:
    repo = f"docker://{hostile_registry}/repo"
    done = boxwright(
        "sync", "--src", "docker", "--dest", "dir", "--src-tls-verify=false", "--keep-going",
        repo, str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 1
    assert_terminal_safe(done)
    assert done.stdout == b"0 copied, 0 already there, 2 failed\n"
    failed = [line for line in done.stderr.decode().splitlines() if line.startswith("Failed ")]
    assert [line.split(": ")[0] for line in failed] == [
        f"Failed {repo}:v1\\x1b]0;pwned\\x07",
        f"Failed {repo}:v2\\nFAKE  /etc/shadow",
    ]
    tags = boxwright("list-tags", "--tls-verify=false", repo)
    assert tags.returncode == 0, tags.stderr
    assert (
        tags.stdout
        == (
            json.dumps(
                {"Repository": f"{hostile_registry}/repo", "Tags": [f"v1{TITLE}", f"v2\n{FORGED}"]},
                indent=4,
            )
            + "\n"
        ).encode()
    )
    assert raw_controls(tags.stdout) == []


_SGR = re.compile(rb"\x1b\[[0-9;]*m")


def _on_a_terminal(*args: str) -> bytes:
    """What the command writes to a terminal (a pty in raw mode, 250 columns), both streams."""
    master, slave = pty.openpty()
    tty.setraw(slave)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "boxwright", *args],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=slave,
            env={**os.environ, "COLUMNS": "250", "LINES": "50", "TERM": "xterm-256color"},
        )
        os.close(slave)
        slave = -1
        chunks = []
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every writer closed the pty
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert process.wait(timeout=60) == 0
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    return b"".join(chunks)


def test_rich_tree_and_tables_on_a_terminal_obey_nothing_the_image_says(hostile: str) -> None:
    printed = _on_a_terminal("explain", "--files", hostile)
    text = _SGR.sub(b"", printed)  # rich's own colours: the only escape sequences allowed
    assert raw_controls(text) == []
    shown = text.decode()
    for name in HOSTILE_NAMES.values():
        assert f" {name} " in shown
    assert "[bold]markup[/bold]" in shown  # shown, not taken as rich markup
    assert "RUN echo \\x1b]0;pwned\\x07\\x1b[2J" in shown


def test_progress_lines_and_bars_show_hostile_names_escaped() -> None:
    import io

    from boxwright.cli.output import PlainProgress, RichProgress

    name = f"[b]x[/b]{TITLE}"  # short enough to be shown whole
    plain = io.StringIO()
    PlainProgress(plain)("done", name, 5, 5)
    assert plain.getvalue() == "[b]x[/b]\\x1b]0;pwned\\x07: done (5 B)\n"
    bars = io.StringIO()
    with RichProgress(bars, force_terminal=True) as progress:
        progress("done", name, 5, 5)
    drawn = bars.getvalue()
    assert TITLE not in drawn
    assert "[b]x[/b]\\x1b]0;pwned\\x07 " in drawn
