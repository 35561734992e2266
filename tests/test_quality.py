"""Code quality gates: ruff lint, ruff format and mypy --strict, with the pyproject.toml config.

These run the same commands a developer runs before committing; a failure prints the tool's own
report so the offending lines are easy to find.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def test_ruff_check() -> None:
    done = _run("ruff", "check", "--no-cache", "src", "tests")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format() -> None:
    done = _run("ruff", "format", "--check", "--no-cache", "src", "tests")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict() -> None:
    """mypy --strict on src/boxwright (``[tool.mypy]`` in pyproject.toml sets strict and files)."""
    done = _run("mypy", "--strict")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Success: no issues found")


# What edits the import path, or loads a module from a file path, by hand: helpers shared by
# test folders live in the boxwright_testing package (pyproject's ``pythonpath``), instead.
PATH_EDIT = re.compile(
    r"\bsys\.path\s*(?:\.\s*(?:insert|append|extend)\s*\(|\[[^\]]*\]\s*=[^=]|\+?=[^=])"
    r"|\bspec_from_file_location\s*\(|\bsite\.addsitedir\s*\("
)


def test_no_test_edits_the_import_path() -> None:
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sorted((REPO / "tests").rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if PATH_EDIT.search(line)
    ]
    assert found == []


def test_the_path_edit_pattern_sees_each_form() -> None:
    dot, loader = ".", "spec_from_file_location"
    edits = [
        f"sys{dot}path{dot}insert(0, helpers)",
        f"sys{dot}path{dot}append(str(here))",
        f"sys{dot}path{dot}extend([a, b])",
        f"sys{dot}path[:0] = [helpers]",
        f"sys{dot}path = [helpers, *sys{dot}path]",
        f"sys{dot}path += [helpers]",
        f"importlib{dot}util{dot}{loader}('m', path)",
        f"site{dot}addsitedir(helpers)",
    ]
    reads = [f"if helpers not in sys{dot}path:", f"print(sys{dot}path == saved)"]
    assert [bool(PATH_EDIT.search(line)) for line in edits + reads] == [True] * 8 + [False] * 2
