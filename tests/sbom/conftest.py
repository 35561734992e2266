"""Session images of the SBOM proof: a Debian bookworm rootfs with python3 (and pip, to ask it),
and the same image with a layer of pip-installed wheels; each image's merged filesystem
unpacked once, for the package managers inside it to be asked what they hold."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from boxwright_testing.sbom_images import (
    WHEELS,
    ProofImage,
    debian_rootfs_or_skip,
    make_wheel,
    tar_directory,
    write_layout,
)

SITE = "usr/local/lib/python3.11/dist-packages"


def _unpacked(reference: str, dest: Path) -> Path:
    from boxwright.unpack import unpack_image

    unpack_image(reference, dest, rootless=False)
    return dest


@pytest.fixture(scope="session")
def debian_tar() -> Path:
    return debian_rootfs_or_skip()


@pytest.fixture(scope="session")
def debian_image(debian_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> ProofImage:
    where = tmp_path_factory.mktemp("debian-image")
    digest = write_layout(where / "layout", [debian_tar])
    reference = f"oci:{where / 'layout'}:latest"
    return ProofImage(reference, digest, _unpacked(reference, where / "rootfs"))


@pytest.fixture(scope="session")
def pip_image(debian_tar: Path, tmp_path_factory: pytest.TempPathFactory) -> ProofImage:
    """The Debian image plus one layer: ``pip install --target`` of two local wheels into the
    image's /usr/local site directory."""
    where = tmp_path_factory.mktemp("pip-image")
    wheels = where / "wheels"
    wheels.mkdir()
    built = [make_wheel(wheels, name, version) for name, version in WHEELS]
    layer_root = where / "layer"
    target = layer_root / SITE
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
         "--disable-pip-version-check", "--no-compile", "--target", str(target), *map(str, built)],
        check=True,
    )  # fmt: skip
    for extra in target.glob("bin"):
        shutil.rmtree(extra)
    layer = tar_directory(where / "pip-layer.tar", layer_root)
    digest = write_layout(where / "layout", [debian_tar, layer])
    reference = f"oci:{where / 'layout'}:latest"
    return ProofImage(reference, digest, _unpacked(reference, where / "rootfs"))
