"""``pull`` and ``push``: the local store's side of the copy pipeline, as podman offers it.

* :func:`pull` copies one image (one platform of an index) from any reference into the store.
  A reference without a transport prefix is a registry image (``busybox`` is
  ``docker://docker.io/library/busybox:latest``), as ``podman pull`` reads it. The stored name
  is the registry reference for ``docker://``; the archive's ``NAME:TAG`` for
  ``docker-archive:``; for ``oci:`` and ``oci-archive:`` the layout's image name normalized
  (``oci:dir:app:1`` is ``localhost/app:1``, ``oci:dir:v1`` is ``localhost/v1:latest``) and no
  name when the reference gives none; no name for ``dir:`` (a path is not a name) — podman's
  rule (containers/common libimage); ``name=`` overrides it.
* :func:`push` copies a stored image to any reference; without a destination, to the registry
  its own name names (``push localhost:5000/app`` is ``docker://localhost:5000/app:latest``),
  as ``podman push NAME`` does. A destination without a transport prefix is a registry.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright.copy.pipeline import CopyOptions, copy_image
from boxwright.errors import InvalidReferenceError, UsageError
from boxwright.store.images import ImageRecord, normalize_name
from boxwright.store.store import Store
from boxwright.store.transport import StoreDestination, StoreSource
from boxwright.transport.reference import parse_transport_reference

if TYPE_CHECKING:
    from boxwright.copy.pipeline import CopyResult
    from boxwright.copy.progress import ProgressCallback
    from boxwright.oci.platform import Platform
    from boxwright.transport.options import TransportOptions
    from boxwright.transport.reference import TransportReference


def _registry_or(text: str) -> TransportReference:
    """``text`` parsed; a bare name (no known transport prefix) is a registry reference."""
    ref = parse_transport_reference(text)
    if ref.transport == "store" and ref.implicit:
        return parse_transport_reference(f"docker://{text}")
    return ref


def pulled_name(ref: TransportReference) -> str | None:
    """The name a pulled image gets in the store (see the module docstring); None: untagged."""
    if ref.transport == "docker":
        return ref.path
    if ref.transport in ("docker-archive", "oci", "oci-archive") and ref.image:
        try:
            return normalize_name(ref.image)
        except InvalidReferenceError:
            return None
    return None


def pull(
    src_ref: str,
    *,
    store: Store | None = None,
    platform: Platform | None = None,
    src_options: TransportOptions | None = None,
    name: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> ImageRecord:
    """Copy the image ``src_ref`` names into the store (default: the configured one).

    Returns the stored image's record. Blobs the store has are not copied again; pulling an
    image the name already names does nothing but confirm it.
    """
    ref = _registry_or(src_ref)
    if ref.transport == "store":
        raise UsageError(f"{src_ref} is in the local store already; use tag to add a name")
    target = name if name is not None else pulled_name(ref)
    store = store if store is not None else Store()
    dest = StoreDestination(store, [target] if target else [], f"store:{target or '<none>'}")
    try:
        options = CopyOptions(platform=platform, src_options=src_options, on_progress=on_progress)
        copy_image(ref, dest, options)
    finally:
        dest.close()
    assert dest.record is not None  # copy_image committed, or raised
    return dest.record


def push(
    name: str,
    dest_ref: str | None = None,
    *,
    store: Store | None = None,
    dest_options: TransportOptions | None = None,
    format: str | None = None,
    dest_compress: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> CopyResult:
    """Copy the stored image ``name`` (a name or ID) to ``dest_ref`` (default: its own name's
    registry, ``docker://NAME``); return the copy's result (its ``digest`` is what was pushed).
    """
    store = store if store is not None else Store(create=False)
    record, matched = store.images.resolve(name)
    if dest_ref is None:
        if matched is None:
            raise UsageError(
                f"{name} is an image ID: give a destination (push ID docker://HOST/REPO:TAG)"
            )
        dest = _registry_or(matched)
    else:
        dest = _registry_or(dest_ref)
    source = StoreSource(store, record.id, f"store:{matched or record.id}")
    options = CopyOptions(
        format=format,
        dest_compress=dest_compress,
        dest_options=dest_options,
        on_progress=on_progress,
    )
    try:
        return copy_image(source, dest, options)
    finally:
        source.close()


__all__ = ["pull", "pulled_name", "push"]
