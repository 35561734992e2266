"""Pulling into and pushing from an open store: the copy pipeline between any reference and
the store's own source and destination (:mod:`boxwright.store.endpoints`). The naming rules
are :mod:`boxwright.store.pullpush`'s, which adds the default store; a working container pulls
its base image here, into the store it belongs to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright.copy.pipeline import CopyOptions, copy_image
from boxwright.errors import InvalidReferenceError, UsageError
from boxwright.store.endpoints import StoreDestination, StoreSource
from boxwright.store.images import ImageRecord, normalize_name
from boxwright.transport.reference import parse_transport_reference

if TYPE_CHECKING:
    from boxwright.copy.pipeline import CopyResult
    from boxwright.copy.progress import ProgressCallback
    from boxwright.oci.platform import Platform
    from boxwright.store.store import Store
    from boxwright.transport.options import TransportOptions
    from boxwright.transport.reference import TransportReference
    from boxwright.trust.policy import Policy
    from boxwright.trust.signing import Signer


def registry_or(text: str) -> TransportReference:
    """``text`` parsed; a bare name (no known transport prefix) is a registry reference."""
    ref = parse_transport_reference(text)
    if ref.transport == "store" and ref.implicit:
        return parse_transport_reference(f"docker://{text}")
    return ref


def pulled_name(ref: TransportReference) -> str | None:
    """The name a pulled image gets in the store (:mod:`boxwright.store.pullpush`'s rule);
    None: untagged."""
    if ref.transport == "docker":
        return ref.path
    if ref.transport in ("docker-archive", "oci", "oci-archive") and ref.image:
        try:
            return normalize_name(ref.image)
        except InvalidReferenceError:
            return None
    return None


def pull_into(
    store: Store,
    src_ref: str,
    *,
    platform: Platform | None = None,
    src_options: TransportOptions | None = None,
    name: str | None = None,
    on_progress: ProgressCallback | None = None,
    policy: Policy | None = None,
) -> ImageRecord:
    """Copy the image ``src_ref`` names into ``store``.

    Returns the stored image's record. Blobs the store has are not copied again; pulling an
    image the name already names does nothing but confirm it. The image must satisfy the
    signature ``policy`` (default: the policy.json in force); its signatures are kept with it.
    """
    ref = registry_or(src_ref)
    if ref.transport == "store":
        raise UsageError(f"{src_ref} is in the local store already; use tag to add a name")
    target = name if name is not None else pulled_name(ref)
    dest = StoreDestination(store, [target] if target else [], f"store:{target or '<none>'}")
    try:
        options = CopyOptions(
            platform=platform, src_options=src_options, on_progress=on_progress, policy=policy
        )
        copy_image(ref, dest, options)
    finally:
        dest.close()
    assert dest.record is not None  # copy_image committed, or raised
    return dest.record


# pull_into's counterpart: both take a store, a reference and copy's progress callback;
# the direction, and so the options, differ.
def push_from(
    store: Store,
    name: str,
    dest_ref: str | None = None,
    *,
    dest_options: TransportOptions | None = None,
    format: str | None = None,
    dest_compress: str | None = None,
    on_progress: ProgressCallback | None = None,
    remove_signatures: bool = False,
    signers: tuple[Signer, ...] = (),
    sign_identity: str | None = None,
) -> CopyResult:
    """Copy the image ``name`` (a name or ID) of ``store`` to ``dest_ref`` (default: its own
    name's registry, ``docker://NAME``); return the copy's result (its ``digest`` is what was
    pushed). The signing keywords are :class:`~boxwright.copy.CopyOptions`'.
    """
    record, matched = store.images.resolve(name)
    if dest_ref is None:
        if matched is None:
            raise UsageError(
                f"{name} is an image ID: give a destination (push ID docker://HOST/REPO:TAG)"
            )
        dest = registry_or(matched)
    else:
        dest = registry_or(dest_ref)
    source = StoreSource(store, record.id, f"store:{matched or record.id}")
    options = CopyOptions(
        format=format,
        dest_compress=dest_compress,
        dest_options=dest_options,
        on_progress=on_progress,
        remove_signatures=remove_signatures,
        signers=signers,
        sign_identity=sign_identity,
    )
    try:
        return copy_image(source, dest, options)
    finally:
        source.close()


__all__ = ["pull_into", "pulled_name", "push_from", "registry_or"]
