"""``boxwright.config`` re-exports its public names lazily and loads nothing it does not need."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import boxwright.config


@pytest.mark.parametrize("name", boxwright.config.__all__)
def test_public_names_are_the_defining_modules_objects(name: str) -> None:
    module = importlib.import_module(boxwright.config._EXPORTS[name])
    assert getattr(boxwright.config, name) is getattr(module, name)


def test_all_sorted_and_unknown_names_raise() -> None:
    assert boxwright.config.__all__ == sorted(set(boxwright.config.__all__))
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = boxwright.config.nope


def test_auth_does_not_load_registries_or_tomllib() -> None:
    code = (
        "import sys, boxwright.config.auth, boxwright.config.certs;"
        "print(sorted(m for m in sys.modules if m in "
        "('boxwright.config.registries', 'tomllib', 'click', 'urllib3')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
