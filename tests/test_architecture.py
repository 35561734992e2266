"""The package's shape: the import-linter layering contract and the lazy library face."""

from __future__ import annotations

import ast
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


def _import_graph(package: Path) -> dict[str, set[str]]:
    """Module → the modules of ``package`` it imports: every ``import`` statement, at module
    level or inside a function (an import hidden in a function still ties the two modules),
    except those under ``if TYPE_CHECKING:``. A name imported from a package resolves to the
    longest module it names; a module's own ancestor packages are left out."""
    import ast

    def name_of(path: Path) -> str:
        parts = path.relative_to(package.parent).with_suffix("").parts
        return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)

    found: dict[str, set[str]] = {}
    for path in sorted(package.rglob("*.py")):
        module, tree = name_of(path), ast.parse(path.read_text(encoding="utf-8"))
        skipped = {
            id(inner)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for inner in ast.walk(node)
        }
        targets: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    keep = module.split(".")
                    drop = node.level - (1 if path.name == "__init__.py" else 0)
                    keep = keep[: len(keep) - drop] if drop else keep
                    base = ".".join([*keep, base] if base else keep)
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        found[module] = targets
    graph: dict[str, set[str]] = {}
    for module, targets in found.items():
        edges = set()
        for target in targets:
            while target and target not in found:
                target = target.rpartition(".")[0]
            if target and target != module and not module.startswith(target + "."):
                edges.add(target)
        graph[module] = edges
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(out)


def test_no_import_cycles() -> None:
    """No two modules of boxwright import each other, directly or round a loop: when two
    modules need each other, a small value passes down or the shared piece moves lower."""
    graph = _import_graph(Path(boxwright.__file__).parent)
    assert {"boxwright.build.stagerun", "boxwright.store.containers"} <= set(graph)
    assert _cycles(graph) == []


def test_the_cycle_check_sees_imports_hidden_in_functions(tmp_path: Path) -> None:
    """The check counts an import inside a function and ignores a ``TYPE_CHECKING`` one."""
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def f():\n    from pkg.a import x\n")
    (package / "c.py").write_text("from typing import TYPE_CHECKING\nfrom . import a\n")
    (package / "d.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import c\n"
    )
    graph = _import_graph(package)
    assert graph == {"pkg": set(), "pkg.a": {"pkg.b"}, "pkg.b": {"pkg.a"}, "pkg.c": {"pkg.a"},
                     "pkg.d": set()}  # fmt: skip
    assert _cycles(graph) == [["pkg.a", "pkg.b"]]


def test_only_the_log_modules_import_logging() -> None:
    """The library logs through ``boxwright._log`` (logging loaded by the first record) and the
    CLI's handler lives in ``cli/logoutput.py``; a module importing logging itself would load
    it on every run again."""
    src = Path(boxwright.__file__).parent
    allowed = {src / "_log.py", src / "cli" / "logoutput.py"}
    importers = set()
    for path in src.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            if any(name == "logging" or name.startswith("logging.") for name in names):
                importers.add(path)
    assert importers == allowed
