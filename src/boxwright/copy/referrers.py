"""Carrying referrers with a copy (``copy --referrers``, ``sync --referrers``): the OCI 1.1
artifacts whose ``subject`` is a manifest the copy wrote byte for byte, moved to the
destination and listed there under the same subject, then their own referrers, as deep as
:data:`MAX_DEPTH`.

A source lists them through :class:`~boxwright.transport.base.HoldsReferrers` (a registry,
an OCI layout, the store) and a destination keeps them through
:class:`~boxwright.transport.base.StoresReferrers`. Each artifact's blobs pass the source's
verifying reader, and its manifest is checked against its digest before it is stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from contextlib import closing
from typing import Final

from boxwright._log import Logger
from boxwright.errors import DigestMismatchError, ManifestError
from boxwright.oci import mediatype as mt
from boxwright.oci.descriptor import Descriptor
from boxwright.oci.digest import Digest
from boxwright.transport.base import (
    ImageDestination,
    ImageSource,
    referrer_store_of,
    referrers_of,
)

MAX_DEPTH: Final = 4
"""How deep referrers of referrers are followed (a signature of an SBOM of an image is 2)."""

_log = Logger(__name__)


def _blobs_of(raw: bytes, where: Digest) -> list[Descriptor]:
    """The config and layers an artifact manifest names."""
    try:
        doc = json.loads(raw)
        entries = [doc["config"], *doc.get("layers", [])]
        return [Descriptor.from_dict(entry, where=f"referrer {where}") for entry in entries]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ManifestError(f"referrer {where} is not an image manifest: {error}") from None


def carry_referrers(
    source: ImageSource, dest: ImageDestination, subjects: Iterable[Digest]
) -> list[Digest]:
    """Copy the referrers of each manifest of ``subjects`` (present at the destination
    under the same digest) from ``source`` to ``dest``; the digests carried, in order.
    A referrer that is an index is left behind with a warning."""
    holder, keeper = referrers_of(source), referrer_store_of(dest)
    if holder is None or keeper is None:
        return []
    carried: list[Digest] = []
    seen: set[Digest] = set()
    pending = [(subject, 0) for subject in subjects]
    while pending:
        subject, depth = pending.pop(0)
        for found in holder.get_referrers(subject):
            if found.digest in seen:
                continue
            seen.add(found.digest)
            if found.media_type not in (mt.OCI_MANIFEST, mt.DOCKER_MANIFEST):
                _log.warning("referrer %s of %s is a %s: not carried", found.digest, subject,
                             found.media_type)  # fmt: skip
                continue
            raw, media_type = source.get_manifest(found.digest)
            if Digest.from_bytes(raw) != found.digest:
                raise DigestMismatchError(
                    f"referrer {found.digest} of {subject} from {source.name} has other bytes"
                )
            for blob in _blobs_of(raw, found.digest):
                if not dest.has_blob(blob):
                    with closing(source.get_blob(blob)) as stream:
                        dest.put_blob(stream, blob)
            keeper.put_referrer(subject, raw, found.with_(media_type=media_type, size=len(raw)))
            carried.append(found.digest)
            if depth + 1 < MAX_DEPTH:
                pending.append((found.digest, depth + 1))
    return carried


__all__ = ["MAX_DEPTH", "carry_referrers"]
