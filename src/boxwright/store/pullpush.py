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

from typing import TYPE_CHECKING

from boxwright.store.images import ImageRecord
from boxwright.store.pulling import pull_into, pulled_names, push_from
from boxwright.store.store import Store

if TYPE_CHECKING:
    from boxwright.copy.pipeline import CopyResult
    from boxwright.copy.progress import ProgressCallback
    from boxwright.oci.platform import Platform
    from boxwright.transport.options import TransportOptions
    from boxwright.trust.policy import Policy
    from boxwright.trust.signing import Signer


# pull and push are the library's entry points: the keywords of pull_into and push_from again,
# with the configured store as the default.
def pull(
    src_ref: str,
    *,
    store: Store | None = None,
    platform: Platform | None = None,
    src_options: TransportOptions | None = None,
    name: str | None = None,
    on_progress: ProgressCallback | None = None,
    policy: Policy | None = None,
) -> ImageRecord:
    """Copy the image ``src_ref`` names into the store (default: the configured one).

    Returns the stored image's record. An image the store holds already is not copied again:
    it gets the names and keeps its stored manifest and digest.
    """
    return pull_into(
        store if store is not None else Store(),
        src_ref,
        platform=platform,
        src_options=src_options,
        name=name,
        on_progress=on_progress,
        policy=policy,
    )


def push(
    name: str,
    dest_ref: str | None = None,
    *,
    store: Store | None = None,
    dest_options: TransportOptions | None = None,
    format: str | None = None,
    dest_compress: str | None = None,
    on_progress: ProgressCallback | None = None,
    remove_signatures: bool = False,
    signers: tuple[Signer, ...] = (),
    sign_identity: str | None = None,
    referrers: bool = False,
) -> CopyResult:
    """Copy the stored image ``name`` (a name or ID) to ``dest_ref`` (default: its own name's
    registry, ``docker://NAME``); return the copy's result (its ``digest`` is what was pushed).
    With ``referrers``, the image's referrers in the store (its SBOM, provenance, artifacts)
    go along.
    """
    return push_from(
        store if store is not None else Store(create=False),
        name,
        dest_ref,
        dest_options=dest_options,
        format=format,
        dest_compress=dest_compress,
        on_progress=on_progress,
        remove_signatures=remove_signatures,
        signers=signers,
        sign_identity=sign_identity,
        referrers=referrers,
    )


__all__ = ["pull", "pulled_names", "push"]
