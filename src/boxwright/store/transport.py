"""The ``store:`` transport: images of the local store as a source and a destination.

``store:NAME`` (or a bare ``NAME`` with no known transport prefix) reads the image the name or
ID resolves to (:meth:`~boxwright.store.images.ImageStore.get`), and writes an image under
that name. The destination keeps single-platform images only (a copy picks one platform out of
an index), accepts OCI and Docker schema 2 manifests as they come, keeps each layer's
compression, and records the image at commit, all while holding the store's writer lock
(:meth:`~boxwright.store.store.Store.writing`), so a concurrent prune never removes its blobs.
The store root is ``TransportOptions.store_root``, else the configured default. The source
and destination themselves are :mod:`boxwright.store.endpoints`'.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright.errors import (
    ImageNotFoundError,
    InvalidReferenceError,
)
from boxwright.store.endpoints import StoreDestination, StoreSource
from boxwright.store.images import normalize_name
from boxwright.store.store import Store
from boxwright.transport.reference import TRANSPORTS, known_transports

if TYPE_CHECKING:
    from boxwright.transport.options import TransportOptions
    from boxwright.transport.reference import TransportReference


def _store_of(options: TransportOptions | None, *, create: bool = True) -> Store:
    return Store(options.store_root if options is not None else None, create=create)


def _hint(ref: TransportReference, error: Exception) -> Exception:
    """For a bare ``word:rest`` that is no stored image, say the prefix is no transport."""
    word, sep, _ = ref.path.partition(":")
    if not (ref.implicit and sep and "/" not in word and word not in TRANSPORTS):
        return error
    return InvalidReferenceError(
        f"unknown transport {word!r} in {ref.path!r}, and {error}; boxwright knows "
        f"{known_transports()} (a bare NAME[:TAG] names an image of the local store)"
    )


# open_source and open_destination: the TransportModule signature every transport module
# offers (transport.reference dispatches to them by transport name).
def open_source(ref: TransportReference, options: TransportOptions | None = None) -> StoreSource:
    """Open a ``store:`` reference for reading (a missing store is not created)."""
    name = f"store:{ref.path}" if not ref.implicit else ref.path
    try:
        store = _store_of(options, create=False)
        return StoreSource(store, ref.path, name)
    except ImageNotFoundError as e:
        raise _hint(ref, e) from None


def open_destination(
    ref: TransportReference, options: TransportOptions | None = None
) -> StoreDestination:
    """Open a ``store:`` reference for writing an image under its name."""
    name = normalize_name(ref.path)  # an invalid name fails before a store is created
    if "@" in name:
        raise InvalidReferenceError(
            f"cannot store an image under the digest reference {ref.path!r}: give NAME[:TAG]"
        )
    return StoreDestination(_store_of(options), [name], f"store:{name}")


__all__ = ["StoreDestination", "StoreSource", "open_destination", "open_source"]
