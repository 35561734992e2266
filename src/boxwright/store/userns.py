"""The store's single-ID user namespaces, on :mod:`boxwright.rootless.forked`.

:func:`run_in_namespace` is how an unprivileged user mounts an overlay: a forked child enters
a new user namespace where it is root (a single-ID map, ``0`` → the caller's euid and egid,
with ``setgroups`` denied, as ``unshare -r`` does; no helper binaries or subordinate IDs are
needed) and a private mount namespace, runs the function, and sends its pickled result back
(:func:`~boxwright.rootless.forked.call_in_namespace`). Every mount the child makes
disappears with it, so nothing leaks when the function fails or the process is killed.
Inside, the caller's own files appear owned by ``0:0`` and no other ID can be used (a
``chown`` to one fails with ``EINVAL``); :func:`inside_single_id_namespace` tells code that
must then keep owners in a side record.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from boxwright._idmaps import own_uid_map
from boxwright.errors import StoreError
from boxwright.rootless.forked import call_in_namespace

T = TypeVar("T")


def inside_single_id_namespace() -> bool:
    """Whether this process runs as the root of a user namespace that maps no other ID (the
    namespace :func:`run_in_namespace` makes for an unprivileged caller)."""
    rows = own_uid_map()
    # Its own question of the map: layer.ownership's owners_in_side_record also counts a
    # single ID that is the host's root, which this namespace never maps.
    if rows is None or len(rows) != 1:
        return False
    inside, outside, count = rows[0]
    return inside == 0 and outside != 0 and count == 1


def run_in_namespace(fn: Callable[[], T], *, user: bool, mount: bool) -> T:
    """``fn()`` in a forked child, in a new single-ID user namespace (``user``) and a private
    mount namespace (``mount``, implied by ``user``); an error that is not a
    :class:`~boxwright.errors.BoxwrightError` of its own comes back as a :class:`StoreError`."""
    return call_in_namespace(fn, error=StoreError, user=user, mount=mount)


__all__ = ["inside_single_id_namespace", "run_in_namespace"]
