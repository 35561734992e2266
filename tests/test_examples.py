"""The bundled example image: reproducible from its script, and what the README promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import boxwright

REPO = Path(__file__).resolve().parents[1]
HELLO = REPO / "examples" / "hello"


def _manifest(layout: Path) -> Any:
    index = json.loads((layout / "index.json").read_bytes())
    digest = index["manifests"][0]["digest"].split(":", 1)[1]
    return json.loads((layout / "blobs" / "sha256" / digest).read_bytes())


def test_make_hello_reproduces_the_committed_layout(tmp_path: Path) -> None:
    """Same tars, same config (byte for byte); gzip bytes may differ only with another zlib."""
    out = tmp_path / "hello"
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "make-hello.py"), str(out)],
        check=True,
        capture_output=True,
    )
    fresh, committed = _manifest(out), _manifest(HELLO)
    assert fresh["config"] == committed["config"]  # its digest covers the diff_ids
    assert [layer["size"] > 0 for layer in fresh["layers"]] == [True, True]
    assert (out / "oci-layout").read_bytes() == (HELLO / "oci-layout").read_bytes()
    total = sum(p.stat().st_size for p in HELLO.rglob("*") if p.is_file())
    assert total < 16 * 1024, f"examples/hello should stay tiny, is {total} bytes"


def test_hello_is_what_the_readme_shows(tmp_path: Path) -> None:
    info = boxwright.inspect_image(f"oci:{HELLO}:latest")
    assert (info.os, info.architecture, len(info.layers)) == ("linux", "amd64", 2)
    assert info.labels == {
        "org.opencontainers.image.title": "hello",
        "org.opencontainers.image.description": "boxwright's bundled example image",
    }
    rootfs = tmp_path / "rootfs"
    boxwright.unpack_image(f"oci:{HELLO}:latest", rootfs)
    assert (rootfs / "hello.txt").read_text() == "Hello from boxwright, second layer!\n"
    assert (rootfs / "greeting").readlink() == Path("hello.txt")
    assert not (rootfs / "etc" / "motd").exists()  # deleted by the second layer's whiteout
    assert (rootfs / "usr/local/bin/hello").stat().st_mode & 0o777 == 0o755
