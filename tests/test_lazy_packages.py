"""The packages' re-exports, one mechanism for all (:mod:`boxwright._lazy`): each public name is
written once, as an import in the package's ``if TYPE_CHECKING:`` block; ``__all__`` lists
exactly those names, sorted; every name resolves to its defining module's object on first
access, and importing one module loads none of its siblings."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import boxwright
from boxwright._lazy import type_checking_imports

SRC = Path(boxwright.__file__).parent


def _lazy_packages() -> list[str]:
    """Every package whose ``__init__`` re-exports through :func:`lazy_package`."""
    names = []
    for init in sorted(SRC.rglob("__init__.py")):
        if "lazy_package(globals())" in init.read_text():
            parts = init.parent.relative_to(SRC.parent).parts
            names.append(".".join(parts))
    return names


PACKAGES = _lazy_packages()


def _declared(package: str) -> dict[str, str]:
    """Name → module of the imports in the package's ``TYPE_CHECKING`` block, read by ``ast``."""
    tree = ast.parse(Path(importlib.import_module(package).__file__ or "").read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom) and stmt.module, ast.unparse(stmt)
                for alias in stmt.names:
                    assert alias.asname is None, f"{package}: {ast.unparse(stmt)} renames"
                    found[alias.name] = stmt.module
    return found


def _ruff_order(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps ``__all__`` in: CONSTANTS, then Classes, then the rest."""
    if name.isupper():
        return (0, name)
    return (1 if name[:1].isupper() else 2, name)


def test_the_packages_are_found() -> None:
    assert {"boxwright", "boxwright.oci", "boxwright.layer", "boxwright.store"} <= set(PACKAGES)
    assert {"boxwright.unpack", "boxwright.explain", "boxwright.copy"} <= set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_all_lists_every_declared_name_once_and_sorted(package: str) -> None:
    module = importlib.import_module(package)
    declared = _declared(package)
    assert declared, f"{package} declares no names"
    assert sorted(module.__all__) == sorted(declared)
    assert module.__all__ == sorted(module.__all__, key=_ruff_order)


@pytest.mark.parametrize("package", PACKAGES)
def test_the_runtime_reads_the_same_table_type_checkers_read(package: str) -> None:
    source = Path(importlib.import_module(package).__file__ or "").read_text()
    assert type_checking_imports(source) == _declared(package)


def _names() -> list[tuple[str, str]]:
    return [(p, name) for p in PACKAGES for name in importlib.import_module(p).__all__]


@pytest.mark.parametrize(("package", "name"), _names())
def test_every_public_name_is_the_defining_modules_object(package: str, name: str) -> None:
    module = importlib.import_module(package)
    value = getattr(module, name)
    defining = _declared(package)[name]
    if defining == package:  # a submodule offered as an attribute
        assert value is importlib.import_module(f"{package}.{name}")
        return
    assert value is getattr(importlib.import_module(defining), name)
    assert name in dir(module)


@pytest.mark.parametrize("package", PACKAGES)
def test_no_name_is_shadowed_by_a_submodule(package: str) -> None:
    """Importing ``PACKAGE.NAME`` binds the attribute ``NAME`` to that module, so a re-exported
    name equal to a submodule's would mean one or the other depending on what ran before:
    such a name is offered as the submodule itself."""
    path = Path(importlib.import_module(package).__file__ or "").parent
    submodules = {p.stem for p in path.glob("*.py")} | {
        p.parent.name for p in path.glob("*/__init__.py")
    }
    clashes = {n for n, m in _declared(package).items() if n in submodules and m != package}
    assert clashes == set()


@pytest.mark.parametrize("package", PACKAGES)
def test_unknown_names_raise(package: str) -> None:
    module: ModuleType = importlib.import_module(package)
    with pytest.raises(AttributeError, match=f"module '{package}' has no attribute 'nope'"):
        _ = module.nope


def test_from_imports_of_package_names_still_work() -> None:
    from boxwright.layer import CompressingReader, apply_layer
    from boxwright.oci import AnyManifest, ImageConfig, mediatype

    assert apply_layer.__module__ == "boxwright.layer.apply"
    assert CompressingReader.__module__ == "boxwright.layer.compression"
    assert ImageConfig.__module__ == "boxwright.oci.config"
    assert mediatype.OCI_INDEX == "application/vnd.oci.image.index.v1+json"
    assert {t.__name__ for t in AnyManifest.__args__} == {
        "ImageManifest",
        "ImageIndex",
        "Schema1Manifest",
    }


def test_a_block_with_parentheses_and_several_statements_is_read() -> None:
    source = (
        "x = 1\n"
        "if TYPE_CHECKING:  # what type checkers see\n"
        "    from a.b import C, d\n"
        "    from a.e import (\n"
        "        F,\n"
        "        g,\n"
        "    )\n"
        "\n"
        "    from a import h\n"
        "y = 2\n"
        "from z import NotInTheBlock\n"
    )
    assert type_checking_imports(source) == {
        "C": "a.b",
        "d": "a.b",
        "F": "a.e",
        "g": "a.e",
        "h": "a",
    }


@pytest.mark.parametrize(
    ("module", "not_loaded"),
    [
        (
            "boxwright.oci.digest",
            {"boxwright.oci.config", "boxwright.oci.index", "boxwright.oci.platform"},
        ),
        ("boxwright.oci.parse", {"boxwright.oci.config", "boxwright.oci.schema1"}),
        ("boxwright.layer.compression", {"boxwright.layer.apply", "boxwright.layer.generate"}),
        ("boxwright.unpack.state", {"boxwright.unpack.unpack", "boxwright.unpack.repack"}),
        ("boxwright.explain.ci", {"boxwright.explain.report", "boxwright.explain.diff"}),
    ],
)
def test_importing_one_module_loads_no_sibling(module: str, not_loaded: set[str]) -> None:
    probe = f"import sys, {module}; print(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = set(done.stdout.split())
    assert module in loaded
    assert not_loaded & loaded == set()
