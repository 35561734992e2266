"""Fixtures for the build tests: a directory the unprivileged user owns (the user itself is the
session fixture ``unprivileged_user`` of ``tests/conftest.py``; see
``boxwright_testing/users.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from boxwright_testing.users import User, owned_dir


@pytest.fixture
def user_dir(unprivileged_user: User) -> Iterator[Path]:
    """A fresh directory the unprivileged user owns, under a world-searchable parent."""
    with owned_dir(unprivileged_user, "bx-build-") as path:
        yield path
