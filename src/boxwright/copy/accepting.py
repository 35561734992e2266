"""What the copy pipeline asks of the signature policy, and the answer of a policy that
accepts every image.

The pipeline admits each image manifest it reads and carries the source's signatures of each
manifest it writes unchanged (:class:`Admits`). Under a policy that accepts every image
(:func:`~boxwright.trust.policyfile.accepts_every_image`) it takes :class:`AcceptEverything`,
which checks nothing and so needs neither the policy model nor the signature formats;
otherwise :class:`~boxwright.copy.admission.Admission` applies the policy. Both read the
source's signatures through :class:`SourceSignatures`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from boxwright.transport.base import signatures_of

if TYPE_CHECKING:
    from boxwright.oci.digest import Digest
    from boxwright.transport.base import ImageSource


class Admits(Protocol):
    """The policy applied to one source, as the copy pipeline uses it."""

    def admit(self, digest: Digest) -> None:
        """Accept the image manifest ``digest``, or raise
        :class:`~boxwright.errors.PolicyRejectedError`."""
        ...

    def signatures(self, digest: Digest) -> list[bytes]:
        """The signature blobs the source keeps for manifest ``digest``."""
        ...


class SourceSignatures:
    """The signature blobs ``source`` keeps, read once per manifest digest (none when the
    source keeps none)."""

    def __init__(self, source: ImageSource) -> None:
        self._holder = signatures_of(source)
        self._found: dict[Digest, list[bytes]] = {}

    def signatures(self, digest: Digest) -> list[bytes]:
        """The signature blobs of manifest ``digest``."""
        if self._holder is None:
            return []
        if digest not in self._found:
            self._found[digest] = self._holder.get_signatures(digest)
        return self._found[digest]


class AcceptEverything(SourceSignatures):
    """The admission of a policy that accepts every image: :meth:`admit` checks nothing,
    and the source's signatures are still carried to the destination."""

    def admit(self, digest: Digest) -> None:
        """Accept ``digest``, as the policy accepts every image."""


__all__ = ["AcceptEverything", "Admits", "SourceSignatures"]
