"""Fixtures for the unpack/repack tests: images built by umoci (the unprivileged user is the
session fixture ``unprivileged_user`` of ``tests/conftest.py``).

The helpers themselves live in ``unpack_helpers.py`` (a uniquely named module, so importing it
from a test never collides with another directory's conftest). The images are made by the real
peer (umoci) so that what boxwright unpacks is compared with what umoci unpacks from the very
same layout; they are session-scoped and read-only (tests copy a layout before writing to it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from unpack_helpers import UMOCI, UmociImage, build_umoci_image, umoci


@pytest.fixture(scope="session")
def umoci_image(tmp_path_factory: pytest.TempPathFactory) -> UmociImage:
    """The three-layer umoci image of :func:`unpack_helpers.build_umoci_image`."""
    if UMOCI is None:
        pytest.skip("umoci is not installed")
    return build_umoci_image(tmp_path_factory.mktemp("umoci-image"))


@pytest.fixture(scope="session")
def umoci_unpacked(umoci_image: UmociImage, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``umoci unpack`` of :func:`umoci_image`: the bundle directory (rootfs and config.json)."""
    bundle = tmp_path_factory.mktemp("umoci-unpacked") / "bundle"
    umoci("unpack", "--image", f"{umoci_image.layout}:{umoci_image.tag}", bundle)
    return bundle
