"""The package's shape: the import-linter layering contract and the lazy library face."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import boxwright

REPO = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold() -> None:
    """Lower layers never import higher ones; only the CLI prints (pyproject.toml contracts)."""
    done = subprocess.run(
        [sys.executable, "-c", "from importlinter.cli import lint_imports_command as c; c()"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


def test_all_is_sorted_and_unique() -> None:
    assert boxwright.__all__ == sorted(set(boxwright.__all__))


@pytest.mark.parametrize("name", boxwright.__all__)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(boxwright, name)
    assert value is not None
    if name[0].isupper():
        assert isinstance(value, type), f"boxwright.{name} should be a class"
        assert value.__name__ == name
    elif name not in {"__version__", "errors"}:
        assert callable(value), f"boxwright.{name} should be a function"
        assert value.__name__ == name


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = boxwright.nope


def test_import_boxwright_is_lazy() -> None:
    """``import boxwright`` loads none of its subpackages (they load on first attribute use);
    only the tiny helper that makes the re-exports lazy."""
    probe = "import sys, boxwright; print(sorted(m for m in sys.modules if 'boxwright' in m))"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "['boxwright', 'boxwright._lazy']"


def test_every_error_class_is_exported() -> None:
    from boxwright import errors

    assert set(errors.__all__) <= set(boxwright.__all__)
    for name in errors.__all__:
        assert getattr(boxwright, name) is getattr(errors, name)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    """The README's second command is what CI runs, so a newcomer runs what CI runs."""
    readme = (REPO / "README.md").read_text().splitlines()
    commands = [line.strip() for line in readme[:12] if line.startswith("    ")]
    assert len(commands) == 2, commands
    ci = REPO / ".ci" / "run"
    assert ci.stat().st_mode & 0o111, ".ci/run must be executable"
    lines = ci.read_text().splitlines()
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines
    assert lines[-1] == commands[1]
    assert (REPO / "scripts" / "install-test-deps").stat().st_mode & 0o111


def test_the_default_run_collects_every_test_directory() -> None:
    """pytest skips directories matching ``norecursedirs``, whose default list holds
    ``build``: without the project's own list, tests/build would never run in CI."""
    import fnmatch
    import tomllib

    options = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]
    patterns = options["ini_options"]["norecursedirs"]
    skipped = [
        str(path.parent.relative_to(REPO))
        for path in (REPO / "tests").rglob("test_*.py")
        if any(
            fnmatch.fnmatch(part, pattern)
            for part in path.parent.relative_to(REPO).parts
            for pattern in patterns
        )
    ]
    assert skipped == []
