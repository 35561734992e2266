"""httpx, imported without the parts a synchronous client never touches.

Importing httpx eagerly imports three optional families that boxwright's synchronous client
never uses: httpx's own command line (``httpx._main``: rich and pygments, ~25 ms), and, when
they happen to be installed, the async libraries trio (with attrs, ~30 ms) and anyio (~5 ms),
which httpcore loads for its async locks and backends. On a 2-core machine that is a third of
a ``boxwright copy`` of a 100 MB image to a loopback registry.

While httpx and httpcore are first imported, each of those modules is stood in for by a
:class:`_Deferred` module that imports the real one the first time any attribute of it is
used (so ``httpx.main()``, and httpcore under trio or asyncio, keep working in a process that
also uses them); once the import is done the stand-ins leave ``sys.modules``, so a later
``import trio`` gets the real module. Nothing is deferred when httpx was already imported,
or for a module that is not installed (httpcore's "is it installed?" checks stay right).

Every registry module imports httpx from here: ``from ... _httpx import httpx``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from typing import Any

_OPTIONAL = ("trio", "anyio")
"""Async libraries httpcore imports at import time when installed."""


class _Deferred(types.ModuleType):
    """A stand-in for module ``name``: the real module is imported on first attribute use."""

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        real = importlib.import_module(name)
        return getattr(real, attr)


def _cli_stub() -> types.ModuleType:
    """A stand-in for ``httpx._main`` whose ``main`` imports the real command on call."""
    module = _Deferred("httpx._main")

    def main(*args: Any, **kwargs: Any) -> Any:
        if sys.modules.get("httpx._main") is module:
            del sys.modules["httpx._main"]
        real = importlib.import_module("httpx._main")
        return real.main(*args, **kwargs)

    module.main = main  # type: ignore[attr-defined]
    return module


def _installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _stand_ins() -> dict[str, types.ModuleType]:
    """The stand-ins to install before httpx is first imported (none when it already is)."""
    if "httpx" in sys.modules:
        return {}
    stand_ins: dict[str, types.ModuleType] = {}
    if "httpx._main" not in sys.modules:
        stand_ins["httpx._main"] = _cli_stub()
    if "httpcore" not in sys.modules:
        for name in _OPTIONAL:
            if name not in sys.modules and _installed(name):
                stand_ins[name] = _Deferred(name)
    return stand_ins


_STAND_INS = _stand_ins()
sys.modules.update(_STAND_INS)
try:
    import httpcore  # noqa: F401  (httpx imports it lazily; the stand-ins must cover it)
    import httpx as httpx
finally:
    for _name, _stand_in in _STAND_INS.items():
        if sys.modules.get(_name) is _stand_in:
            del sys.modules[_name]
    del _STAND_INS

__all__ = ["httpx"]
