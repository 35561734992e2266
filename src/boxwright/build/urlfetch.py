"""Fetching an ``ADD`` URL's body over HTTP(S): urllib3 through the proxy the environment
names for the URL, a body bounded by a byte limit and hashed as it is written, and the
``Last-Modified`` time the added file gets. :func:`boxwright.build.files.download` imports it
only for a URL, so a build that adds no URL never loads urllib3.
"""

from __future__ import annotations

import email.utils
import hashlib
from collections.abc import Callable
from typing import IO

import urllib3

from boxwright._numbers import ascii_int
from boxwright.errors import TransportError
from boxwright.oci.digest import CHUNK as _CHUNK
from boxwright.transport.registry.origin import Origin
from boxwright.transport.registry.wire import proxy_for


def fetch(
    url: str,
    out: IO[bytes],
    hasher: hashlib._Hash,
    progress: Callable[[int], None] | None,
    limit: int | None = None,
) -> int | None:
    """Write the body of ``url`` to ``out`` (hashed by ``hasher`` as it passes), through the
    proxy the environment names for it, at most ``limit`` bytes; return its ``Last-Modified``
    time in seconds since the epoch (None when absent or unreadable). A body shorter than its
    ``Content-Length`` is an error (urllib3 checks it)."""
    try:
        proxy = proxy_for(Origin.of(url))
        manager = urllib3.ProxyManager(proxy) if proxy else urllib3.PoolManager()
        retries = urllib3.Retry(total=10, connect=0, read=0, status=0, other=0)
        response = manager.request("GET", url, preload_content=False, retries=retries, timeout=60)
        try:
            if response.status != 200:
                raise TransportError(f"downloading {url} failed: HTTP {response.status}")
            modified: str | None = response.headers.get("last-modified")
            _check_length(url, response.headers.get("content-length"), limit)
            written = 0
            for chunk in response.stream(_CHUNK):
                written += len(chunk)
                if limit is not None and written > limit:
                    raise TransportError(f"downloading {url}: more than {limit} bytes")
                hasher.update(chunk)
                out.write(chunk)
                if progress is not None:
                    progress(len(chunk))
        finally:
            response.release_conn()
            manager.clear()
    except (urllib3.exceptions.HTTPError, ValueError) as error:
        raise TransportError(f"downloading {url} failed: {error}") from None
    return _http_time(modified)


def _check_length(url: str, length: str | None, limit: int | None) -> None:
    """Refuse a body whose ``Content-Length`` is over ``limit`` before reading it."""
    if limit is None or length is None:
        return
    size = ascii_int(length.strip())
    if size is not None and size > limit:
        raise TransportError(f"downloading {url}: {size} bytes is more than {limit} bytes")


def _http_time(value: str | None) -> int | None:
    """An HTTP date (``Last-Modified``) as seconds since the epoch; None when absent or bad."""
    if not value:
        return None
    try:
        return int(email.utils.parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError):
        return None


__all__ = ["fetch"]
