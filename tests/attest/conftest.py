"""A real registry without the referrers API (Debian's docker-registry, distribution 2.8) for the
attestation tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from boxwright_testing.registry_servers import REGISTRY_BINARY, RegistryServer, start_registry


@pytest.fixture(scope="session")
def plain_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    if REGISTRY_BINARY is None:
        pytest.skip("docker-registry is not installed (scripts/install-test-deps installs it)")
    server = start_registry(tmp_path_factory.mktemp("registry-attest"), "plain")
    yield server
    server.stop()
