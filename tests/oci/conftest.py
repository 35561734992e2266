"""Shared paths and helpers for the OCI model tests.

The containers/image fixtures and the OCI JSON schemas come from Debian packages that
``scripts/install-test-deps`` installs (golang-github-containers-image-dev,
golang-github-opencontainers-image-spec-dev); the tests fail, not skip, without them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

GOCODE = Path("/usr/share/gocode/src/github.com")
CIMAGE = GOCODE / "containers/image"
MANIFEST_FIXTURES = CIMAGE / "manifest/fixtures"
IMAGE_FIXTURES = CIMAGE / "internal/image/fixtures"
IMAGE_SPEC_SCHEMAS = GOCODE / "opencontainers/image-spec/schema"
RUNTIME_SPEC_SCHEMAS = GOCODE / "opencontainers/runtime-spec/schema"


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


def _validator(directory: Path, schema_name: str) -> Any:
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    def retrieve(uri: str) -> Resource[Any]:
        name = uri.rstrip("/").rsplit("/", 1)[-1]
        return DRAFT4.create_resource(json.loads((directory / name).read_text()))

    schema = json.loads((directory / schema_name).read_text())
    schema.setdefault("id", f"https://schemas.test/{schema_name}")
    registry: Registry[Any] = Registry(retrieve=retrieve)  # type: ignore[call-arg]
    return jsonschema.Draft4Validator(schema, registry=registry)


@pytest.fixture(scope="session")
def image_spec_validator() -> Callable[[str], Any]:
    """A Draft 4 validator for one of image-spec's schemas (refs resolved from its folder)."""
    assert IMAGE_SPEC_SCHEMAS.is_dir(), "missing image-spec schemas: run scripts/install-test-deps"
    return lambda name: _validator(IMAGE_SPEC_SCHEMAS, name)


@pytest.fixture(scope="session")
def runtime_spec_validator() -> Any:
    """A Draft 4 validator for runtime-spec's config-schema.json."""
    assert RUNTIME_SPEC_SCHEMAS.is_dir(), "missing runtime-spec schemas"
    return _validator(RUNTIME_SPEC_SCHEMAS, "config-schema.json")
