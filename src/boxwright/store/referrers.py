"""OCI 1.1 referrers kept in the store: artifacts (an SBOM, a provenance statement, any
file ``artifact attach`` adds) whose manifest names a stored image's manifest as its
``subject``.

The artifact manifests and their blobs are blobs of the store. The referrers of one manifest
are listed in ``R/referrers/ALG/HEX``, an OCI image index of their descriptors (with
``artifactType`` and annotations), as a registry's referrers API answers; it is read,
extended and replaced atomically under the store's metadata lock. They live as long as their
subject: :func:`~boxwright.store.gc.prune` keeps the blobs of the referrers of every stored
image and removes the lists of manifests no image has any more.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from boxwright._atomic import replace_file
from boxwright.errors import BoxwrightError, DigestError, ManifestError, StoreError
from boxwright.oci import mediatype as mt
from boxwright.oci._json import MAX_DOCUMENT_SIZE
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.oci.index import ImageIndex

if TYPE_CHECKING:
    from boxwright.store.store import Store


def read_referrers(store: Store, subject: Digest) -> list[Descriptor]:
    """The referrers the store lists for the manifest ``subject`` ([] if none)."""
    path = store.layout.referrers_file(subject)
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_DOCUMENT_SIZE + 1)
    except (FileNotFoundError, NotADirectoryError):
        return []
    try:
        return list(ImageIndex.parse(raw, mt.OCI_INDEX).manifests)
    except ManifestError as error:
        raise StoreError(f"the store's referrers of {subject} are damaged: {error}") from None


def add_referrer(store: Store, subject: Digest, descriptor: Descriptor) -> None:
    """List ``descriptor`` (a manifest already among the store's blobs) as a referrer of
    ``subject``; one already listed is replaced by the new descriptor."""
    with store.metadata_lock():
        entries = [d for d in read_referrers(store, subject) if d.digest != descriptor.digest]
        entries.append(descriptor)
        path = store.layout.referrers_file(subject)
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, ImageIndex.build(mt.OCI_INDEX, entries).raw, 0o644)


def referred_subjects(store: Store) -> Iterator[Digest]:
    """Every manifest digest the store keeps a referrers list for."""
    top = store.layout.root / "referrers"
    try:
        algorithms = sorted(p for p in top.iterdir() if p.is_dir())
    except FileNotFoundError:
        return
    for directory in algorithms:
        for entry in sorted(directory.iterdir()):
            try:
                yield Digest.parse(f"{directory.name}:{entry.name}")
            except DigestError:
                continue  # a temporary file of replace_file, or a stranger


def referrer_blobs(store: Store, subject: Digest) -> set[Digest]:
    """The blobs the referrers of ``subject`` need: each manifest, its config and layers (an
    index's entries too), and the referrers of those, as deep as they go."""
    needed: set[Digest] = set()
    pending = [subject]
    while pending:
        for referrer in read_referrers(store, pending.pop()):
            if referrer.digest in needed:
                continue
            needed.add(referrer.digest)
            needed.update(_children(store, referrer.digest))
            pending.append(referrer.digest)
    return needed


def _children(store: Store, digest: Digest) -> set[Digest]:
    try:
        doc = json.loads(store.blobs.read(digest))
    except (BoxwrightError, ValueError, OSError):
        return set()
    found: set[Digest] = set()
    entries = [doc.get("config"), *(doc.get("layers") or []), *(doc.get("manifests") or [])]
    for entry in entries:
        if isinstance(entry, dict):
            try:
                found.add(Digest.parse(entry["digest"]))
            except (KeyError, DigestError):
                continue
    return found


__all__ = ["add_referrer", "read_referrers", "referred_subjects", "referrer_blobs"]
