"""The distribution API (Docker registry HTTP API v2) client the ``docker://`` transport uses.

:class:`RegistryClient` is the public face (``client.py``); :class:`RetryPolicy` tunes its
retries (``retry.py``) and :class:`StallPolicy` how little a transfer may move before it
counts as stalled (``stall.py``). The client knows HTTP and the distribution API, not images.
Every request passes one chain of small layers (``session.py`` composes them, ``wire.py``
describes them): retries (``retry.py``), authentication (``auth.py``: a generator flow for
anonymous, Basic and Bearer tokens; ``WWW-Authenticate`` parsing in ``challenge.py``),
redirects (``redirects.py``), the credential-origin rule (``origin.py``) and pooled urllib3
connections watched for stalls (``wire.py``, ``watched.py``). Resumable downloads are in
``blobs.py``, uploads in ``uploads.py``, bodies read whole are capped in ``capped.py``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

# The public names, each imported once in the TYPE_CHECKING block below, where lazy_package
# (boxwright._lazy) finds its module; the two lists, and this file's shape, are the one way
# every package here re-exports lazily.
__all__ = [
    "Challenge",
    "RegistryAuth",
    "RegistryClient",
    "RetryPolicy",
    "StallPolicy",
    "parse_retry_after",
    "parse_www_authenticate",
]


__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:  # what type checkers and IDEs see; nothing of this runs at import time
    from boxwright.transport.registry.auth import RegistryAuth
    from boxwright.transport.registry.challenge import Challenge, parse_www_authenticate
    from boxwright.transport.registry.client import RegistryClient
    from boxwright.transport.registry.retry import RetryPolicy, parse_retry_after
    from boxwright.transport.registry.stall import StallPolicy
