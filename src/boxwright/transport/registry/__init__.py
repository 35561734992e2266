"""The distribution API (Docker registry HTTP API v2) client the ``docker://`` transport uses.

:class:`RegistryClient` is the public face (``client.py``); :class:`RetryPolicy` tunes its
retries (``retry.py``) and :class:`StallPolicy` how little a transfer may move before it
counts as stalled (``stall.py``). The client knows HTTP and the distribution API, not images.
Authentication lives in ``auth.py`` (an httpx ``Auth`` generator: anonymous, Basic, Bearer
tokens), ``WWW-Authenticate`` parsing in ``challenge.py``, the session (TLS, scheme, retries)
in ``session.py``, resumable downloads in ``blobs.py`` and uploads in ``uploads.py``.

Importing this package is cheap, and httpx loads only when a request needs it (see
``_httpx.py``): an anonymous pull never imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "Challenge": "boxwright.transport.registry.challenge",
    "RegistryAuth": "boxwright.transport.registry.auth",
    "RegistryClient": "boxwright.transport.registry.client",
    "RetryPolicy": "boxwright.transport.registry.retry",
    "StallPolicy": "boxwright.transport.registry.stall",
    "parse_retry_after": "boxwright.transport.registry.retry",
    "parse_www_authenticate": "boxwright.transport.registry.challenge",
}

__all__ = [
    "Challenge",
    "RegistryAuth",
    "RegistryClient",
    "RetryPolicy",
    "StallPolicy",
    "parse_retry_after",
    "parse_www_authenticate",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


if TYPE_CHECKING:
    from boxwright.transport.registry.auth import RegistryAuth
    from boxwright.transport.registry.challenge import Challenge, parse_www_authenticate
    from boxwright.transport.registry.client import RegistryClient
    from boxwright.transport.registry.retry import RetryPolicy, parse_retry_after
    from boxwright.transport.registry.stall import StallPolicy
