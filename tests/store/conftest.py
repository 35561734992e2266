"""Fixtures of the store tests, shared by every store engineer.

* ``store`` — a fresh :class:`~boxwright.store.Store` under ``tmp_path / "store"``.
* ``store_root`` — ``$BOXWRIGHT_ROOT`` pointed at a fresh ``tmp_path / "root"`` (not created),
  for CLI tests and library calls that use the default store; returns the path.
* ``oci_image`` — a small OCI layout made here (2 gzip layers), as a
  :class:`boxwright_testing.store_images.MadeImage` (``.ref``, ``.id``, ``.manifest_digest``, ...).
* ``make_image`` — the factory behind it: ``make_image(seed="x", tag="t", layers=2,
  big_layer_mib=0)`` writes into ``tmp_path / "layouts"`` (one layout, many tags).
* ``base`` — the buildah-made test image (``peer_images``) imported into ``store`` under
  :data:`container_helpers.PEER_NAME`, as its :class:`~boxwright.store.images.ImageRecord`.
* ``cli`` — run ``boxwright ARGS...`` in-process (click's runner, stderr kept apart) with
  ``--root`` set to ``store_root``; returns the click ``Result``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from container_helpers import PEER_NAME, import_oci

from boxwright.store import Store
from boxwright.store.images import ImageRecord
from boxwright_testing.registry_servers import REGISTRY_BINARY, start_registry
from boxwright_testing.store_images import MadeImage, make_oci_image


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store")


@pytest.fixture
def base(store: Store, peer_images: Any) -> ImageRecord:
    return import_oci(store, peer_images.oci, peer_images.tag, [PEER_NAME])


@pytest.fixture
def store_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "root"
    monkeypatch.setenv("BOXWRIGHT_ROOT", str(root))
    return root


@pytest.fixture
def make_image(tmp_path: Path) -> Callable[..., MadeImage]:
    def make(seed: str = "0", tag: str | None = None, **kwargs: Any) -> MadeImage:
        return make_oci_image(tmp_path / "layouts", tag or f"t{seed}", seed=seed, **kwargs)

    return make


@pytest.fixture
def oci_image(make_image: Callable[..., MadeImage]) -> MadeImage:
    return make_image("base", tag="latest")


@pytest.fixture
def cli(store_root: Path) -> Callable[..., Any]:
    from click.testing import CliRunner

    from boxwright.cli.main import main

    def run(*args: str, input: str | None = None) -> Any:
        runner = CliRunner()
        return runner.invoke(main, ["--root", str(store_root), *args], input=input)

    return run


@pytest.fixture(scope="session")
def plain_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Debian's docker-registry over plain HTTP (``registry_plain``'s setup),
    started for the store tests; skips only when ``docker-registry`` is not installed."""
    if REGISTRY_BINARY is None:
        pytest.skip("docker-registry is not installed (scripts/install-test-deps installs it)")
    server = start_registry(tmp_path_factory.mktemp("store-registry"), "plain")
    yield server
    server.stop()
