"""Fixtures for the explain tests (helpers in explain_helpers.py and diff_pair.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from diff_pair import Pair, make_pair
from explain_helpers import write_layout


@pytest.fixture
def layout_writer(tmp_path: Path) -> Callable[..., str]:
    """:func:`write_layout` into a fresh directory under ``tmp_path`` per call."""
    count = [0]

    def write(layers: Sequence[bytes], **kwargs: Any) -> str:
        count[0] += 1
        return write_layout(tmp_path / f"layout{count[0]}", layers, **kwargs)

    return write


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """Images ``a``, ``b`` and ``c`` of :mod:`diff_pair` in one OCI layout, per test module."""
    return make_pair(tmp_path_factory.mktemp("diff") / "layout")
