"""OCI 1.1 referrers in a registry, as :mod:`boxwright.attest` uses them: the names of
:mod:`boxwright.transport.registry.referrers` (where the registry's ``docker://`` source and
destination find them), offered here beside the artifacts built on them."""

from __future__ import annotations

from boxwright.transport.registry.referrers import (
    Referrer,
    add_to_tag_index,
    index_bytes,
    parse_referrers_index,
    registry_referrers,
    subject_descriptor,
    tag_for,
)

__all__ = [
    "Referrer",
    "add_to_tag_index",
    "index_bytes",
    "parse_referrers_index",
    "registry_referrers",
    "subject_descriptor",
    "tag_for",
]
