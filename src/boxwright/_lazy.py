"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package names each public name once, in its ``if TYPE_CHECKING:`` block::

    if TYPE_CHECKING:
        from boxwright.copy.pipeline import CopyOptions, copy_image

    __getattr__, __dir__ = lazy_package(globals())

Type checkers read those imports; at run time nothing of them runs, and
:func:`lazy_package` reads the same lines to learn which module defines each name. A name's
module is imported on its first access only, so ``import boxwright`` and ``boxwright --help``
stay fast. ``from PACKAGE import SUBMODULE`` in the block offers a submodule as an attribute.
The package's ``__all__`` lists the same names (``tests/test_lazy_packages.py`` checks it is
complete and sorted).
"""

from __future__ import annotations

import re
from collections.abc import Callable, MutableMapping
from importlib import import_module
from typing import Any

Getattr = Callable[[str], Any]
Dir = Callable[[], list[str]]


def lazy_package(namespace: MutableMapping[str, Any]) -> tuple[Getattr, Dir]:
    """The ``__getattr__`` and ``__dir__`` of the package whose globals are ``namespace``,
    re-exporting what its ``if TYPE_CHECKING:`` block imports."""
    table: dict[str, str] = {}

    def module_of(name: str) -> str | None:
        if not table:
            with open(namespace["__file__"], encoding="utf-8") as f:
                table.update(type_checking_imports(f.read()))
        return table.get(name)

    return _accessors(namespace["__name__"], namespace, module_of)


def type_checking_imports(source: str) -> dict[str, str]:
    """Name → module of every ``from MODULE import NAME`` in ``source``'s top-level
    ``if TYPE_CHECKING:`` block (``__init__`` files write them plainly, without aliases)."""
    block = re.search(r"^if TYPE_CHECKING:[^\n]*\n((?:[ \t]+[^\n]*\n|[ \t]*\n)*)", source, re.M)
    if block is None:
        return {}
    names: dict[str, str] = {}
    for module, listed in re.findall(r"from\s+([\w.]+)\s+import\s+(\([^)]*\)|[^\n]*)", block[1]):
        for name in listed.strip("()").replace("\n", " ").split(","):
            if name.strip():
                names[name.strip()] = module
    return names


def _accessors(
    package: str, namespace: MutableMapping[str, Any], module_of: Callable[[str], str | None]
) -> tuple[Getattr, Dir]:
    """``__getattr__`` importing a name from the module ``module_of`` gives for it (the package
    itself for a submodule) and keeping it in ``namespace``; ``__dir__`` listing them all."""

    def __getattr__(name: str) -> Any:
        module_name = module_of(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        if module_name == package:  # ``from PACKAGE import SUBMODULE`` in the block
            return import_module(f"{package}.{name}")
        value = getattr(import_module(module_name), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *namespace.get("__all__", ())})

    return __getattr__, __dir__
