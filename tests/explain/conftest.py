"""Fixtures for the explain tests (helpers in explain_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from explain_helpers import write_layout


@pytest.fixture
def layout_writer(tmp_path: Path) -> Callable[..., str]:
    """:func:`write_layout` into a fresh directory under ``tmp_path`` per call."""
    count = [0]

    def write(layers: Sequence[bytes], **kwargs: Any) -> str:
        count[0] += 1
        return write_layout(tmp_path / f"layout{count[0]}", layers, **kwargs)

    return write
