"""``pull`` and ``push``: the local store's side of the copy pipeline, as podman offers it.

* :func:`pull` copies one image (one platform of an index) from any reference into the store.
  A reference without a transport prefix is a registry image (``busybox`` is
  ``docker://docker.io/library/busybox:latest``), as ``podman pull`` reads it. The stored name
  are podman's (:func:`~boxwright.store.pulling.pulled_names`): the registry reference for
  ``docker://``, ``localhost/PATH:latest`` for ``oci:PATH[:TAG]``, the archive's own names
  for ``oci-archive:`` and ``docker-archive:`` (its ``RepoTags``), none for ``dir:``;
  ``name=`` overrides them. An image the store holds already keeps its stored manifest.
* :func:`push` copies a stored image to any reference; without a destination, to the registry
  its own name names (``push localhost:5000/app`` is ``docker://localhost:5000/app:latest``),
  as ``podman push NAME`` does. A destination without a transport prefix is a registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Unpack

from boxwright.store.images import ImageRecord
from boxwright.store.pulling import PullOptions, PushOptions, pull_into, pulled_names, push_from
from boxwright.store.store import Store

if TYPE_CHECKING:
    from boxwright.copy.pipeline import CopyResult


def pull(
    src_ref: str, *, store: Store | None = None, **options: Unpack[PullOptions]
) -> ImageRecord:
    """Copy the image ``src_ref`` names into the store (default: the configured one); the
    :class:`~boxwright.store.pulling.PullOptions` say how (platform, name, policy...).

    Returns the stored image's record. An image the store holds already is not copied again:
    it gets the names and keeps its stored manifest and digest.
    """
    return pull_into(store if store is not None else Store(), src_ref, **options)


def push(
    name: str,
    dest_ref: str | None = None,
    *,
    store: Store | None = None,
    **options: Unpack[PushOptions],
) -> CopyResult:
    """Copy the stored image ``name`` (a name or ID) to ``dest_ref`` (default: its own name's
    registry, ``docker://NAME``); return the copy's result (its ``digest`` is what was pushed).
    The :class:`~boxwright.store.pulling.PushOptions` say how; with ``referrers``, the image's
    referrers in the store (its SBOM, provenance, artifacts) go along.
    """
    return push_from(store if store is not None else Store(create=False), name, dest_ref, **options)


__all__ = ["pull", "pulled_names", "push"]
