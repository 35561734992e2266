"""``boxwright sbom``: the table, the JSON forms, the one-line errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from boxwright.cli.main import main
from boxwright_testing.sbom_images import tar_of, write_layout


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def _image(tmp_path: Path) -> str:
    layer = tar_of(
        tmp_path / "l.tar",
        {
            "etc/os-release": b"ID=alpine\nVERSION_ID=3.19.0\n",
            "lib/apk/db/installed": b"P:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\n\n"
            b"P:evil\x1b[31m\nV:1\nA:x86_64\n",
            "srv/node_modules/left-pad/package.json": b'{"name":"left-pad","version":"1.3.0"}',
            "var/lib/rpm/Packages": b"\0" * 64,
        },
    )
    write_layout(tmp_path / "layout", [layer])
    return f"oci:{tmp_path / 'layout'}:latest"


def test_table_is_syfts_columns_escaped(tmp_path: Path) -> None:
    result = invoke("sbom", _image(tmp_path))
    assert result.exit_code == 0
    assert result.stdout == (
        "NAME          VERSION   TYPE\n"
        "evil\\x1b[31m  1         apk\n"
        "left-pad      1.3.0     npm\n"
        "musl          1.2.4-r2  apk\n"
    )
    assert result.stderr == (
        "note: /var/lib/rpm/Packages: rpm database in Berkeley DB or ndb format, not read\n"
    )


def test_json_formats(tmp_path: Path) -> None:
    ref = _image(tmp_path)
    own = json.loads(invoke("sbom", "--format", "json", ref).stdout)
    assert [p["purl"] for p in own["packages"]] == [
        "pkg:apk/alpine/evil%1B%5B31m@1?arch=x86_64&distro=alpine-3.19.0",
        "pkg:npm/left-pad@1.3.0",
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.19.0",
    ]
    spdx = json.loads(invoke("sbom", "-o", "spdx-json", ref).stdout)
    assert spdx["spdxVersion"] == "SPDX-2.3"
    assert [p["name"] for p in spdx["packages"]][1:] == ["evil\x1b[31m", "left-pad", "musl"]
    cdx = json.loads(invoke("sbom", "-f", "cyclonedx-json", ref).stdout)
    assert cdx["specVersion"] == "1.6"


def test_missing_image_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["sbom", f"oci:{tmp_path / 'none'}"])
    assert result.exit_code == 1
    assert result.stderr == f"Error: OCI layout directory {tmp_path / 'none'} does not exist\n"
