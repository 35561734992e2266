"""``save`` and ``load`` against the real podman: each reads what the other writes.

Images are compared by what both tools agree on exactly: image IDs (config digests) and the
names each image carries after the load.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from boxwright.cli.main import main
from boxwright.store.pulling import pull_into
from boxwright.store.store import Store
from boxwright_testing.podman import Podman, podman_or_skip
from boxwright_testing.store_images import MadeImage, make_oci_image

LISTING = "{{.ID}} {{.Repository}}:{{.Tag}}"
REF_NAME = "org.opencontainers.image.ref.name"


@pytest.fixture
def made(tmp_path: Path) -> dict[str, MadeImage]:
    layout = tmp_path / "layout"
    return {
        "app": make_oci_image(layout, "app", seed="app", created="2024-01-01T00:00:00Z"),
        "web": make_oci_image(layout, "web", seed="web", layers=3, created="2024-02-01T00:00:00Z"),
    }


@pytest.fixture
def podman(tmp_path: Path) -> Podman:
    return podman_or_skip(tmp_path / "podman")


def bw(root: Path, *args: str) -> Any:
    result = CliRunner().invoke(main, ["--root", str(root), *args])
    assert result.exit_code == 0, result.stderr
    return result


def listing(lines: str) -> list[str]:
    return sorted(lines.splitlines())


def _expected(made: dict[str, MadeImage], names: dict[str, str]) -> list[str]:
    return sorted(f"{made[k].id[:12]} localhost/{n}" for k, n in names.items())


@pytest.mark.parametrize("fmt", ["docker-archive", "oci-archive", "oci-dir", "docker-dir"])
def test_podman_loads_what_boxwright_saves(
    tmp_path: Path, made: dict[str, MadeImage], podman: Podman, fmt: str
) -> None:
    root = tmp_path / "bw"
    pull_into(Store(root), made["app"].ref, name="app:1")
    out = tmp_path / "saved"
    bw(root, "save", "-q", "--format", fmt, "-o", str(out), "app:1")
    loaded = podman.out("load", "-q", "-i", str(out))
    if fmt in ("oci-dir", "docker-dir"):
        # podman names an image loaded from a directory after the directory (a dir: image
        # carries no name; podman 4 ignores an OCI layout's ref name): the image is the same
        assert podman.out("images", "-q", "--no-trunc") == f"sha256:{made['app'].id}\n"
        if fmt == "oci-dir":
            index = json.loads((out / "index.json").read_text())
            names = [m["annotations"][REF_NAME] for m in index["manifests"]]
            assert names == ["localhost/app:1"]
        return
    assert loaded == "Loaded image: localhost/app:1\n"
    assert listing(podman.out("images", "--format", LISTING)) == _expected(made, {"app": "app:1"})


def test_podman_loads_boxwright_multi_image_archive(
    tmp_path: Path, made: dict[str, MadeImage], podman: Podman
) -> None:
    root = tmp_path / "bw"
    store = Store(root)
    pull_into(store, made["app"].ref, name="app:1")
    pull_into(store, made["web"].ref, name="web:2")
    store.images.tag("web:2", "web:latest")
    out = tmp_path / "multi.tar"
    bw(root, "save", "-q", "-m", "-o", str(out), "app:1", "web:2", "web:latest")
    with tarfile.open(out) as tar:  # each layer once, though web is named twice
        layers = [m.name for m in tar.getmembers() if "/" not in m.name and ".tar" in m.name]
    assert len(layers) == 2 + 3
    podman.run("load", "-q", "-i", str(out))
    assert listing(podman.out("images", "--format", LISTING)) == sorted(
        [
            f"{made['app'].id[:12]} localhost/app:1",
            f"{made['web'].id[:12]} localhost/web:2",
            f"{made['web'].id[:12]} localhost/web:latest",
        ]
    )


def test_without_m_more_names_are_tags_of_the_first(
    tmp_path: Path, made: dict[str, MadeImage], podman: Podman
) -> None:
    root = tmp_path / "bw"
    pull_into(Store(root), made["app"].ref, name="app:1")
    out = tmp_path / "tags.tar"
    bw(root, "save", "-q", "-o", str(out), "app:1", "extra:9")
    podman.run("load", "-q", "-i", str(out))
    assert listing(podman.out("images", "--format", LISTING)) == sorted(
        [f"{made['app'].id[:12]} localhost/app:1", f"{made['app'].id[:12]} localhost/extra:9"]
    )


@pytest.mark.parametrize("multi", [True, False])
def test_boxwright_loads_what_podman_saves(
    tmp_path: Path, made: dict[str, MadeImage], podman: Podman, multi: bool
) -> None:
    for key, name in (("app", "app:1"), ("web", "web:2")):
        podman.run("pull", "-q", made[key].ref)
        podman.run("tag", made[key].id, name)
    out = tmp_path / "podman.tar"
    names = ["app:1", "web:2"] if multi else ["app:1"]
    podman.run("save", "-q", *(["-m"] if multi else []), "-o", str(out), *names)
    root = tmp_path / "bw"
    loaded = bw(root, "load", "-q", "-i", str(out))
    assert loaded.stdout == "".join(f"Loaded image: localhost/{n}\n" for n in names)
    expected = {"app": "app:1", "web": "web:2"} if multi else {"app": "app:1"}
    assert listing(bw(root, "images", "--format", LISTING).stdout) == _expected(made, expected)


@pytest.mark.parametrize("fmt", ["oci-archive", "oci-dir", "docker-dir"])
def test_boxwright_loads_podman_single_image_formats(
    tmp_path: Path, made: dict[str, MadeImage], podman: Podman, fmt: str
) -> None:
    podman.run("pull", "-q", made["web"].ref)
    podman.run("tag", made["web"].id, "web:2")
    out = tmp_path / "podman-out"
    podman.run("save", "-q", "--format", fmt, "-o", str(out), "web:2")
    root = tmp_path / "bw"
    loaded = bw(root, "load", "-q", "-i", str(out)).stdout
    if fmt == "docker-dir":
        assert loaded == f"Loaded image: sha256:{made['web'].id}\n"
        return
    assert loaded == "Loaded image: localhost/web:2\n"
    assert listing(bw(root, "images", "--format", LISTING).stdout) == _expected(
        made, {"web": "web:2"}
    )


def test_save_to_stdout_and_load_from_stdin(
    tmp_path: Path, made: dict[str, MadeImage], podman: Podman
) -> None:
    """Piped: boxwright save | podman load, podman save | boxwright load."""
    root = tmp_path / "bw"
    pull_into(Store(root), made["app"].ref, name="app:1")
    cmd = [sys.executable, "-m", "boxwright", "--root", str(root)]
    saved = subprocess.run([*cmd, "save", "-q", "app:1"], capture_output=True, check=True)
    assert saved.stdout[:512].rstrip(b"\0")  # a tar, on stdout
    podman.run("load", "-q", input=saved.stdout)
    assert podman.out("images", "--format", LISTING) == f"{made['app'].id[:12]} localhost/app:1\n"
    podman.run("tag", "app:1", "again:3")
    piped = podman.run("save", "-q", "again:3").stdout
    other = tmp_path / "other"
    loaded = subprocess.run(
        [sys.executable, "-m", "boxwright", "--root", str(other), "load", "-q"],
        input=piped,
        capture_output=True,
        check=True,
    )
    assert loaded.stdout == b"Loaded image: localhost/again:3\n"


def test_refusals(tmp_path: Path, made: dict[str, MadeImage]) -> None:
    root = tmp_path / "bw"
    pull_into(Store(root), made["app"].ref, name="app:1")
    pull_into(Store(root), made["web"].ref, name="web:2")
    runner = CliRunner()
    multi = runner.invoke(
        main,
        ["--root", str(root), "save", "-m", "--format", "oci-archive", "-o", "x", "app:1", "web:2"],
    )
    assert multi.exit_code == 1
    assert multi.stderr == (
        "Error: unsupported format 'oci-archive' for saving multiple images (only docker-archive)\n"
    )
    junk = tmp_path / "junk.tar"
    with tarfile.open(junk, "w") as tar:
        tar.add(__file__, arcname="readme")
    bad = runner.invoke(main, ["--root", str(root), "load", "-i", str(junk)])
    assert bad.exit_code == 1
    assert "is not an image archive: it holds neither manifest.json" in bad.stderr
