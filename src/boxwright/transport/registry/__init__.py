"""The distribution API (Docker registry HTTP API v2) client the ``docker://`` transport uses.

:class:`RegistryClient` is the public face (``client.py``); :class:`RetryPolicy` tunes its
retries (``retry.py``). The client knows HTTP and the distribution API, not images.
Authentication lives in ``auth.py`` (an httpx ``Auth`` generator: anonymous, Basic, Bearer
tokens), ``WWW-Authenticate`` parsing in ``challenge.py``, the session (TLS, scheme, retries)
in ``session.py``, resumable downloads in ``blobs.py`` and uploads in ``uploads.py``.

Importing this package is cheap: httpx loads with the first name used from it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, str] = {
    "Challenge": "boxwright.transport.registry.challenge",
    "RegistryAuth": "boxwright.transport.registry.auth",
    "RegistryClient": "boxwright.transport.registry.client",
    "RetryPolicy": "boxwright.transport.registry.retry",
    "parse_retry_after": "boxwright.transport.registry.retry",
    "parse_www_authenticate": "boxwright.transport.registry.challenge",
}

__all__ = [
    "Challenge",
    "RegistryAuth",
    "RegistryClient",
    "RetryPolicy",
    "parse_retry_after",
    "parse_www_authenticate",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'boxwright.transport.registry' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:
    from boxwright.transport.registry.auth import RegistryAuth
    from boxwright.transport.registry.challenge import Challenge, parse_www_authenticate
    from boxwright.transport.registry.client import RegistryClient
    from boxwright.transport.registry.retry import RetryPolicy, parse_retry_after
