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

httpcore itself is imported (the same way) only by :func:`load_httpcore`, which the session
calls before it makes its httpx client, so that a pull that never needs httpx's transport does
not load it. httpx itself is imported on first use too: every registry module imports the name
from here (``from ... _httpx import httpx``), and gets a stand-in module that imports the real
one the first time one of its attributes is read. An anonymous pull, whose requests all go the
:mod:`http.client` path of :mod:`.direct`, never imports httpx (~15 ms of start-up).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import TYPE_CHECKING, Any

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


def _async_stand_ins() -> dict[str, types.ModuleType]:
    """Stand-ins for the async libraries httpcore would import (none once it is loaded)."""
    if "httpcore" in sys.modules:
        return {}
    return {
        name: _Deferred(name) for name in _OPTIONAL if name not in sys.modules and _installed(name)
    }


def _import_with(stand_ins: dict[str, types.ModuleType], name: str) -> types.ModuleType:
    """Import ``name`` while ``stand_ins`` stand in for their modules; then drop them."""
    sys.modules.update(stand_ins)
    try:
        return importlib.import_module(name)
    finally:
        for stand_in_name, stand_in in stand_ins.items():
            if sys.modules.get(stand_in_name) is stand_in:
                del sys.modules[stand_in_name]


_HTTPCORE_LOCK = threading.Lock()


def load_httpcore() -> None:
    """Import httpcore (without the async libraries) before the first httpx client is made.

    httpx imports httpcore only when a client builds its transport; a pull whose requests
    all go the direct path (:mod:`.direct`) never pays for it (~10 ms).
    """
    if "httpcore" in sys.modules:
        return
    with _HTTPCORE_LOCK:
        _import_with(_async_stand_ins(), "httpcore")


_HTTPX_LOCK = threading.Lock()


def load_httpx() -> types.ModuleType:
    """The real httpx module, imported (without its command line) on the first call."""
    module = sys.modules.get("httpx")
    if module is not None and not isinstance(module, _LazyHttpx) and hasattr(module, "Client"):
        return module
    with _HTTPX_LOCK:
        stand_ins = {} if "httpx._main" in sys.modules else {"httpx._main": _cli_stub()}
        return _import_with(stand_ins, "httpx")


class _LazyHttpx(types.ModuleType):
    """What ``httpx`` names in the registry modules: the real module on first attribute use.

    A pull whose every request goes the direct path (:mod:`.direct`) never touches it, so it
    never pays httpx's import (~15 ms beyond :mod:`http.client`, which it needs anyway).
    """

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        real = load_httpx()
        # Later lookups find the names here without coming back to __getattr__.
        self.__dict__.update({k: v for k, v in vars(real).items() if not k.startswith("__")})
        return getattr(real, attr)


if TYPE_CHECKING:
    import httpx as httpx
else:
    httpx = _LazyHttpx("httpx")

__all__ = ["httpx", "load_httpcore", "load_httpx"]
