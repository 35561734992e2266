"""The signature policy at the one place every read of an image passes: the copy pipeline's
source. :class:`Admission` checks each image manifest a copy reads against the policy before
anything else of it is read, and hands the signatures it found on to the destination.

How each transport's images are named before a policy and in a signature:

The scopes follow containers/image's ``PolicyConfigurationIdentity`` and
``PolicyConfigurationNamespaces`` of each transport:

* ``docker``: ``HOST/REPO:TAG`` (or ``@DIGEST``), then ``HOST/REPO``, each parent namespace,
  ``HOST``, and ``*.DOMAIN`` for each parent domain of the host;
* ``dir``: the directory's absolute path, then each parent directory (``/`` excluded);
* ``oci``, ``oci-archive``: the layout directory's (or archive's) absolute path, then each
  parent directory (``/`` excluded); the image name inside is not part of the scope;
* ``docker-archive``: none (only the transport's ``""`` scope and the default apply);
* ``store`` (boxwright's local store): a named image as ``docker`` names it; an image ID has
  no scope.

The Docker reference a signature must name (``signedIdentity``) is the registry reference of
a ``docker://`` image, the ``NAME:TAG`` of a ``docker-archive:`` or a named ``store:``
image; ``dir:`` and ``oci:`` images have none, so only ``exactReference`` and
``exactRepository`` can accept their signatures, as in containers/image.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from boxwright.config.trust import docker_scopes
from boxwright.copy.accepting import SourceSignatures
from boxwright.errors import InvalidReferenceError, PolicyRejectedError, SignatureError
from boxwright.oci.digest import Digest
from boxwright.oci.index import ImageIndex
from boxwright.oci.parse import parse_manifest
from boxwright.oci.platform import Platform
from boxwright.oci.reference import Reference
from boxwright.transport.base import ImageSource
from boxwright.transport.reference import (
    TransportReference,
    opened_source,
    parse_transport_reference,
)
from boxwright.trust.policy import Check, ImageIdentity, Policy, default_policy
from boxwright.trust.signature import (
    SIGSTORE_TYPE,
    Signature,
    SimpleSigning,
    from_blob,
    parse_payload,
)

if TYPE_CHECKING:
    from boxwright.oci.platform import Platform
    from boxwright.transport.options import TransportOptions


def _parents(path: str, *, include_self: bool) -> tuple[str, ...]:
    found = [path] if include_self else []
    while True:
        slash = path.rfind("/")
        if slash <= 0:
            break
        path = path[:slash]
        found.append(path)
    return tuple(found)


def _resolved(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def docker_reference_of(ref: TransportReference) -> Reference | None:
    """The Docker reference images of ``ref`` are signed for (None when there is none)."""
    if ref.transport in ("docker", "docker-archive"):
        return ref.docker_reference
    if ref.transport == "store":
        try:
            named = Reference.parse_normalized(ref.path)
        except InvalidReferenceError:
            return None
        return named.with_default_tag()
    return None


def image_identity(ref: TransportReference | str) -> ImageIdentity:
    """How a policy sees the image ``ref`` names."""
    if isinstance(ref, str):
        ref = parse_transport_reference(ref)
    name = str(ref)
    transport = ref.transport
    docker = docker_reference_of(ref)
    if transport in ("docker", "store") and docker is not None:
        scopes = docker_scopes(docker)
        return ImageIdentity(transport, scopes[0], tuple(scopes[1:]), docker, name)
    if transport == "dir":
        path = _resolved(ref.path)
        return ImageIdentity(transport, path, _parents(path, include_self=False), None, name)
    if transport in ("oci", "oci-archive"):
        path = _resolved(ref.path)
        return ImageIdentity(transport, path, _parents(path, include_self=True), None, name)
    return ImageIdentity(transport, "", (), docker, name)


def source_identity(ref: TransportReference | None, source: ImageSource) -> ImageIdentity:
    """How a policy sees the image of ``source``: by its reference, else by the reference
    its name parses to, else as an image of no known transport (the default applies)."""
    if ref is None:
        try:
            ref = parse_transport_reference(source.name)
        except InvalidReferenceError:
            return ImageIdentity("", "", (), None, source.name)
    return image_identity(ref)


class Admission(SourceSignatures):
    """The policy applied to one source: :meth:`admit` each image manifest before reading it
    further; :meth:`signatures` are the signatures the source keeps for a manifest (read once
    per digest; none when the source keeps none)."""

    def __init__(self, policy: Policy, identity: ImageIdentity, source: ImageSource) -> None:
        super().__init__(source)
        self.policy = policy
        self.identity = identity
        self._admitted: set[Digest] = set()

    @classmethod
    def of(
        cls, policy: Policy | None, ref: TransportReference | None, source: ImageSource
    ) -> Admission:
        """The admission of ``source`` (opened from ``ref``, when known) under ``policy``,
        else under the policy in force (:func:`~boxwright.trust.policy.default_policy`);
        the image seen as :func:`source_identity` sees it."""
        chosen = policy if policy is not None else default_policy()
        return cls(chosen, source_identity(ref, source), source)

    def parsed(self, digest: Digest) -> Sequence[Signature | SignatureError]:
        """:meth:`signatures` parsed; one that does not parse is the error it raised."""
        out: list[Signature | SignatureError] = []
        for blob in self.signatures(digest):
            try:
                out.append(from_blob(blob))
            except SignatureError as error:
                out.append(error)
        return out

    def admit(self, digest: Digest) -> None:
        """Accept the image manifest ``digest``, or raise
        :class:`~boxwright.errors.PolicyRejectedError` naming the requirement that failed."""
        if digest in self._admitted:
            return
        self.policy.check(Check(self.identity, digest, lambda: self.parsed(digest)))
        self._admitted.add(digest)


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    """One signature an image carries, as ``boxwright trust`` lists it: its kind, and for a
    sigstore signature what its payload claims (unverified: the verdict says what holds)."""

    kind: str
    claimed_reference: str | None = None
    claimed_digest: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class TrustReport:
    """What ``boxwright trust`` reports: the image, its manifest digest, the signatures it
    carries, the policy and scope that apply, their requirements, and the verdict."""

    image: str
    digest: Digest
    signatures: tuple[SignatureInfo, ...]
    policy: str
    scope: str
    requirements: tuple[str, ...]
    accepted: bool
    reason: str


def _describe(entry: Signature | SignatureError) -> SignatureInfo:
    if isinstance(entry, SignatureError):
        return SignatureInfo("unreadable", error=str(entry))
    if isinstance(entry, SimpleSigning):
        return SignatureInfo("simple-signing (GPG)")
    try:
        payload = parse_payload(entry.payload, SIGSTORE_TYPE)
    except SignatureError as error:
        return SignatureInfo("sigstore", error=str(error))
    return SignatureInfo("sigstore", payload.docker_reference, payload.manifest_digest)


def verify_image(
    ref: str | TransportReference,
    *,
    policy: Policy | None = None,
    options: TransportOptions | None = None,
    platform: Platform | None = None,
) -> TrustReport:
    """Which signatures the image ``ref`` names carries and whether the policy accepts it.

    An index is resolved to the image for ``platform`` (default: this machine's), as a copy
    of it would be; that image's manifest is what is checked.
    """
    policy = policy if policy is not None else default_policy()
    with opened_source(ref, options) as (reference, source):
        raw, media_type = source.get_manifest()
        digest = Digest.from_bytes(raw)
        top = parse_manifest(raw, media_type)
        depth = 0
        while isinstance(top, ImageIndex) and depth < 8:
            entry = top.select(platform or Platform.host())
            digest = entry.digest
            top = parse_manifest(*source.get_manifest(digest))
            depth += 1
        identity = source_identity(reference, source)
        admission = Admission(policy, identity, source)
        found = tuple(_describe(entry) for entry in admission.parsed(digest))
        scope, requirements = policy.requirements_for(identity)
        try:
            admission.admit(digest)
        except PolicyRejectedError as error:
            accepted, reason = False, str(error)
        else:
            accepted, reason = True, ""
    return TrustReport(
        identity.name,
        digest,
        found,
        policy.source,
        scope,
        tuple(r.describe() for r in requirements),
        accepted,
        reason,
    )


__all__ = [
    "Admission",
    "SignatureInfo",
    "TrustReport",
    "docker_reference_of",
    "image_identity",
    "source_identity",
    "verify_image",
]
