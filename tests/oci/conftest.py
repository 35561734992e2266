"""Shared paths and helpers for the OCI model tests.

The containers/image fixtures and the OCI JSON schemas come from Debian packages that
``scripts/install-test-deps`` installs (golang-github-containers-image-dev,
golang-github-opencontainers-image-spec-dev); the tests fail, not skip, without them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

GOCODE = Path("/usr/share/gocode/src/github.com")
CIMAGE = GOCODE / "containers/image"
MANIFEST_FIXTURES = CIMAGE / "manifest/fixtures"
IMAGE_FIXTURES = CIMAGE / "internal/image/fixtures"


def _read(directory: Path) -> Callable[[str], bytes]:
    def read(name: str) -> bytes:
        path = directory / name
        assert path.is_file(), f"missing fixture {path}: run scripts/install-test-deps"
        return path.read_bytes()

    return read


@pytest.fixture
def manifest_fixture() -> Callable[[str], bytes]:
    """Read a file of containers/image's manifest/fixtures."""
    return _read(MANIFEST_FIXTURES)


@pytest.fixture
def image_fixture() -> Callable[[str], bytes]:
    """Read a file of containers/image's internal/image/fixtures."""
    return _read(IMAGE_FIXTURES)
