"""Artifacts attached to images as OCI 1.1 referrers (what oras does).

:func:`attach_artifact`, :func:`list_referrers` and :func:`fetch_artifact` work on images of
registries, OCI layouts and the store (:mod:`boxwright.attest.artifacts`);
:mod:`boxwright.transport.registry.referrers` is how a registry keeps them (the referrers API,
or the referrers tag schema).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

__all__ = [
    "ArtifactFile",
    "Referrer",
    "attach_artifact",
    "attach_to",
    "fetch_artifact",
    "list_referrers",
    "referrers_in",
]

__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:
    from boxwright.attest.artifacts import (
        ArtifactFile,
        attach_artifact,
        attach_to,
        fetch_artifact,
        list_referrers,
        referrers_in,
    )
    from boxwright.transport.registry.referrers import Referrer
