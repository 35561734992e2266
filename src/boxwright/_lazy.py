"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package lists its public names and the modules that define them; a name's module is
imported on first access only, so ``import boxwright`` and ``boxwright --help`` stay fast.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, MutableMapping
from importlib import import_module
from typing import Any


def lazy_exports(
    package: str,
    exports: Mapping[str, str],
    namespace: MutableMapping[str, Any],
    submodules: Collection[str] = (),
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose globals are ``namespace``.

    ``exports`` maps a public name to the module defining it; ``submodules`` are offered as
    attributes too. A resolved name is cached in ``namespace``, so it is looked up once.
    """

    def __getattr__(name: str) -> Any:
        if name in submodules:
            return import_module(f"{package}.{name}")
        module_name = exports.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(module_name), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *namespace.get("__all__", ())})

    return __getattr__, __dir__
