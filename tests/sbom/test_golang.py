"""Go build info, read from real binaries that ``go build`` makes, checked against what
``go version -m`` prints for the same binary."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from boxwright.sbom import golang

GO = shutil.which("go")
pytestmark = pytest.mark.skipif(GO is None, reason="needs the go toolchain")


@pytest.fixture(scope="module")
def go_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A binary of module example.com/app using example.com/lib v1.2.3 (vendored: no
    network)."""
    src = tmp_path_factory.mktemp("gosrc")
    (src / "go.mod").write_text(
        "module example.com/app\n\ngo 1.19\n\nrequire example.com/lib v1.2.3\n"
    )
    (src / "main.go").write_text(
        'package main\n\nimport "example.com/lib"\n\nfunc main() { println(lib.Name) }\n'
    )
    lib = src / "vendor" / "example.com" / "lib"
    lib.mkdir(parents=True)
    (lib / "lib.go").write_text('package lib\n\nconst Name = "lib"\n')
    (src / "vendor" / "modules.txt").write_text(
        "# example.com/lib v1.2.3\n## explicit\nexample.com/lib\n"
    )
    out = src / "app"
    env = {
        **os.environ,
        "GOFLAGS": "-mod=vendor",
        "GOPROXY": "off",
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
    }
    subprocess.run([GO, "build", "-o", str(out), "."], cwd=src, env=env, check=True)  # type: ignore[list-item]
    return out


def _go_version_m(binary: Path) -> tuple[str, list[list[str]]]:
    done = subprocess.run(
        [GO, "version", "-m", str(binary)],
        capture_output=True,
        text=True,
        check=True,  # type: ignore[list-item]
    )
    first, *rest = done.stdout.splitlines()
    return first.split(": ", 1)[1], [line.strip().split("\t") for line in rest]


def _as_go_prints(info: golang.BuildInfo) -> list[list[str]]:
    lines = [["path", info.path]]
    if info.main is not None:
        lines.append(
            ["mod", info.main.path, info.main.version, info.main.sum][: 3 + bool(info.main.sum)]
        )
    for dep in info.deps:
        lines.append(["dep", dep.path, dep.version, dep.sum][: 3 + bool(dep.sum)])
    lines.extend(["build", f"{key}={value}"] for key, value in info.settings)
    return lines


def _scan(binary: Path, piece: int) -> golang.BuildInfoScanner:
    scanner = golang.BuildInfoScanner()
    with binary.open("rb") as f:
        while chunk := f.read(piece):
            scanner.feed(chunk)
    return scanner


@pytest.mark.parametrize("piece", [7, 4096, 1 << 20])
def test_build_info_matches_go_version_m(go_binary: Path, piece: int) -> None:
    scanner = _scan(go_binary, piece)
    assert scanner.result is not None
    version, lines = _go_version_m(go_binary)
    assert scanner.result.go_version == version
    assert _as_go_prints(scanner.result) == lines
    assert scanner.result.main == golang.Module("example.com/app", "(devel)")
    assert scanner.result.deps == (golang.Module("example.com/lib", "v1.2.3"),)


def test_packages_of_a_binary_are_syfts(go_binary: Path) -> None:
    info = _scan(go_binary, 1 << 16).result
    assert info is not None
    go = info.go_version
    assert [(p.name, p.version, p.purl) for p in golang.packages(info, "usr/bin/app")] == [
        ("example.com/app", "(devel)", "pkg:golang/example.com/app@%28devel%29"),
        ("example.com/lib", "v1.2.3", "pkg:golang/example.com/lib@v1.2.3"),
        ("stdlib", go, f"pkg:golang/stdlib@{go[2:]}"),
    ]


def test_debian_built_binary_without_modules() -> None:
    """Debian builds its Go programs in GOPATH mode: a path line, no module lines."""
    skopeo = shutil.which("skopeo")
    if skopeo is None:
        pytest.skip("needs skopeo")
    scanner = _scan(Path(skopeo), 1 << 20)
    assert scanner.result is not None
    version, lines = _go_version_m(Path(skopeo))
    assert scanner.result.go_version == version
    assert _as_go_prints(scanner.result) == lines
    assert scanner.result.main is None


def test_a_file_with_only_the_magic_is_no_build_info() -> None:
    scanner = golang.BuildInfoScanner()
    scanner.feed(b"\x7fELF" + b"\0" * 100 + golang.MAGIC + b"\x09\x02" + b"\0" * 64)
    assert scanner.result is None and not scanner.old
