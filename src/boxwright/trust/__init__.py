"""Signatures and the signature policy: what vouches for an image, and whether that suffices.

* :mod:`~boxwright.trust.signature` — the two kinds of signatures (GPG simple signing and
  sigstore), stored as containers/image stores them, and the payload both sign;
* :mod:`~boxwright.trust.sigstore` — ECDSA P-256 keys in cosign's and skopeo's files, sigstore
  signing and verifying (the sigstore signer and the policy's sigstore verifier);
* :mod:`~boxwright.trust.gpg` — simple signing and verifying through the ``gpg`` program;
* :mod:`~boxwright.trust.signing` — what a signer a copy takes offers, and the GPG signer
  (``--sign-by``);
* :mod:`~boxwright.trust.policy` — policy.json (containers-policy.json(5)), parsed and applied.

The copy pipeline applies the policy to every image it reads (:mod:`boxwright.copy.admission`).
Names are re-exported lazily (PEP 562), so importing one module loads none of the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from boxwright._lazy import lazy_package

# The public names, each imported once in the TYPE_CHECKING block below, where lazy_package
# (boxwright._lazy) finds its module; the two lists, and this file's shape, are the one way
# every package here re-exports lazily.
__all__ = [
    "GpgSigner",
    "Policy",
    "SigstoreSigner",
    "default_policy",
    "generate_key_pair",
]

__getattr__, __dir__ = lazy_package(globals())


if TYPE_CHECKING:  # what type checkers and IDEs see; nothing of this runs at import time
    from boxwright.trust.policy import Policy, default_policy
    from boxwright.trust.signing import GpgSigner
    from boxwright.trust.sigstore import SigstoreSigner, generate_key_pair
