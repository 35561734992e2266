"""``boxwright explain`` from the command line: text, JSON, the --ci gate, one-line errors."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from click.testing import CliRunner
from explain_helpers import tar_layer

from boxwright.cli.main import main
from boxwright.explain import explain_image

Writer = Callable[..., str]

LOW = tar_layer([("dir", "app"), ("file", "app/big", b"B" * 4000), ("file", "app/keep", b"k")])
HIGH = tar_layer([("whiteout", "app/big"), ("file", "app/new", b"n" * 10)])
HISTORY = [
    {"created_by": "/bin/sh -c #(nop) ADD file:1 in /"},
    {"created_by": "/bin/sh -c rm /app/big", "created": "2024-05-06T07:08:09Z"},
    {"created_by": '/bin/sh -c #(nop)  CMD ["/app/new"]', "empty_layer": True},
]


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_json_output_is_the_report(layout_writer: Writer) -> None:
    ref = layout_writer([LOW, HIGH], history=HISTORY, config={"Cmd": ["/app/new"]})
    result = invoke("explain", "--files", "--format", "json", ref)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == json.loads(explain_image(ref, files=True).to_json())


def test_text_output_shows_path_history_waste_files_and_config(layout_writer: Writer) -> None:
    ref = layout_writer([LOW, HIGH], history=HISTORY, config={"Cmd": ["/app/new"]})
    result = invoke("explain", "--files", ref)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == ref
    assert lines[1].startswith("  manifest sha256:")
    assert lines[2].startswith("    config sha256:")
    assert lines[3].startswith("      layer sha256:")
    assert "STEP  LAYER       CREATED              SIZE" in result.stdout
    history = [line for line in lines if line.startswith(("0 ", "1 ", "2 "))]
    assert history[0].endswith("ADD file:1 in /")
    assert history[1].endswith("RUN rm /app/big")
    assert history[2].split()[1] == "(metadata)" and history[2].endswith('CMD ["/app/new"]')
    assert "wasted:      4 kB (4000 bytes)" in lines
    assert "Layer 1: 1 added, 0 changed, 1 deleted, 0 shadowed later" in lines
    assert any(line.split()[:2] == ["W", "/app/big"] for line in lines)
    assert 'cmd:        ["/app/new"]' in lines


def test_ci_gate_fails_with_one_line_and_passes_with_loose_limits(layout_writer: Writer) -> None:
    ref = layout_writer([LOW, HIGH], history=HISTORY)
    failed = invoke("explain", "--ci", "--format", "json", ref)
    assert failed.exit_code == 1
    errors = [line for line in failed.stderr.splitlines() if line.startswith("Error:")]
    assert errors == ["Error: CI gate failed: efficiency 0.5007 is below 0.9; user wasted percent "
                      "0.3906 exceeds 0.1"]  # fmt: skip
    assert json.loads(failed.stdout)["waste"]["wasted_bytes"] == 4000
    passed = invoke(
        "explain", "--ci", "--lowest-efficiency", "0.5", "--highest-wasted-bytes", "4kB",
        "--highest-user-wasted-percent", "2", ref,
    )  # fmt: skip
    assert passed.exit_code == 0, passed.output
    assert "PASS: highestWastedBytes: wasted bytes 4000" in passed.stderr
    over = invoke("explain", "--ci", "--lowest-efficiency", "0", "--highest-wasted-bytes",
                  "3999", "--highest-user-wasted-percent", "2", ref)  # fmt: skip
    assert over.exit_code == 1
    assert over.stderr.splitlines()[-1] == "Error: CI gate failed: wasted bytes 4000 exceed 3999"


def test_errors_are_one_line(tmp_path: Any) -> None:
    missing = invoke("explain", f"oci:{tmp_path}/nothing:latest")
    assert missing.exit_code == 1
    assert len(missing.stderr.splitlines()) == 1 and missing.stderr.startswith("Error: ")
    bad_size = invoke("explain", "--highest-wasted-bytes", "lots", f"oci:{tmp_path}/x")
    assert bad_size.exit_code == 1
    assert bad_size.stderr == (
        "Error: invalid size 'lots': use a number of bytes, or e.g. 20MB, 512KiB\n"
    )
    bad_ref = invoke("explain", "nonsense-transport:x")
    assert bad_ref.exit_code == 1 and len(bad_ref.stderr.splitlines()) == 1
    usage = invoke("explain", "--format", "yaml", "oci:x")
    assert usage.exit_code == 2
